/*
 * any.c -- `any`: CoreDNS's minimal answer to ANY queries (RFC 8482).
 *
 * Every ANY query of the block, whatever its name, gets NOERROR with one
 * record, as CoreDNS's plugin/any writes it:
 *
 *   NAME. 8482 IN HINFO "ANY obsoleted" "See RFC 8482"
 *
 * It runs early in the chain (CoreDNS's order), so it answers before
 * serviceentries or forward see the query.  Without `any`, serviceentries
 * answers ANY itself with one RRset (also RFC 8482) and forward passes ANY
 * upstream.
 */
#include <stdlib.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/wire.h"

/* HINFO rdata: CPU "ANY obsoleted", OS "See RFC 8482" (character strings) */
static const uint8_t any_hinfo[] = {
	13, 'A', 'N', 'Y', ' ', 'o', 'b', 's', 'o', 'l', 'e', 't', 'e', 'd',
	12, 'S', 'e', 'e', ' ', 'R', 'F', 'C', ' ', '8', '4', '8', '2',
};

static enum plugin_result any_serve(void *state, struct dns_request *req)
{
	struct wire_resp w;

	(void)state;
	if (req->q.qtype != DNS_TYPE_ANY)
		return PLUGIN_NEXT;
	query_begin(req, &w, DNS_RCODE_NOERROR, 0);
	wire_resp_rr(&w, WIRE_SEC_ANSWER, WIRE_HDR, DNS_TYPE_HINFO, DNS_CLASS_IN,
		8482, any_hinfo, sizeof(any_hinfo));
	query_finish(req, &w, "any");
	return PLUGIN_DONE;
}

static int any_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "any";

	(void)ctx;
	*state = NULL;
	if (d->nargs)
		PLUGIN_FAIL(d, "takes no arguments");
	if (d->nchildren)
		PLUGIN_FAIL(&d->children[0], "unknown property \"%s\"", d->children[0].name);
	return 0;
fail:
	return -1;
}

static void any_free(void *state)
{
	(void)state;
}

const struct plugin_ops any_plugin = {
	.name = "any",
	.setup = any_setup,
	.serve = any_serve,
	.free = any_free,
};
