/*
 * chaos.c -- the `chaos` directive, as CoreDNS's: the server's identity in
 * class CH.
 *
 *   chaos [VERSION] [AUTHORS...]
 *
 * TXT queries of class CH for
 *   version.bind, version.server   VERSION (default "globaldns-<version>")
 *   authors.bind                   one TXT per AUTHOR, in the order given
 *   hostname.bind, id.server       the host name (the pod's name)
 * are answered with TTL 0, not authoritative (as CoreDNS, NSD and Knot).
 * Everything else -- other names, types and classes -- goes to the next
 * plugin; so does authors.bind when no AUTHORS are given (CoreDNS would
 * answer its own maintainers).  Strings longer than 255 bytes are cut.
 * Off unless configured: without `chaos` a CH query goes where its zone
 * sends it, as in CoreDNS (serviceentries refuses it, forward passes it
 * upstream).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/wire.h"

static const char name[] = "chaos";

/* A TXT RDATA of one string: its length, then the bytes. */
struct txt {
	uint8_t rdata[256];
	uint16_t len;
};

struct chaos {
	struct txt version;
	struct txt hostname;
	struct txt *authors;
	size_t nauthors;
};

static void txt_set(struct txt *t, const char *s)
{
	size_t n = strlen(s);

	if (n > 255)
		n = 255;
	t->rdata[0] = (uint8_t)n;
	memcpy(t->rdata + 1, s, n);
	t->len = (uint16_t)(n + 1);
}

static void chaos_free(void *state)
{
	struct chaos *c = state;

	if (!c)
		return;
	free(c->authors);
	free(c);
}

static int chaos_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	struct chaos *c = calloc(1, sizeof(*c));
	char host[256];

	(void)ctx;
	if (!c)
		return -1;
	if (d->nchildren)
		PLUGIN_FAIL(&d->children[0], "takes no properties: chaos [VERSION] [AUTHORS...]");
	txt_set(&c->version, d->nargs ? d->args[0] : "globaldns-" PACKAGE_VERSION);
	if (d->nargs > 1) {
		c->authors = calloc(d->nargs - 1, sizeof(*c->authors));
		if (!c->authors)
			PLUGIN_FAIL(d, "out of memory");
		for (size_t i = 1; i < d->nargs; i++)
			txt_set(&c->authors[c->nauthors++], d->args[i]);
	}
	/* once: no system call on the query path */
	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	txt_set(&c->hostname, host);
	*state = c;
	return 0;
fail:
	chaos_free(c);
	return -1;
}

/* 1 if q's name is exactly `want` (lowercase wire form, ends in "\0"). */
static int is_name(const struct dns_query *q, const char *want, size_t len)
{
	return q->qname_len == len && memcmp(q->qname_lc, want, len) == 0;
}

#define IS(q, lit) is_name((q), (lit), sizeof(lit))

static enum plugin_result chaos_serve(void *state, struct dns_request *req)
{
	const struct chaos *c = state;
	const struct dns_query *q = &req->q;
	const struct txt *list;
	size_t n;
	struct wire_resp w;

	if (q->qclass != DNS_CLASS_CH || q->qtype != DNS_TYPE_TXT)
		return PLUGIN_NEXT;
	if (IS(q, "\007version\004bind") || IS(q, "\007version\006server")) {
		list = &c->version;
		n = 1;
	} else if (IS(q, "\010hostname\004bind") || IS(q, "\002id\006server")) {
		list = &c->hostname;
		n = 1;
	} else if (IS(q, "\007authors\004bind") && c->nauthors) {
		list = c->authors;
		n = c->nauthors;
	} else {
		return PLUGIN_NEXT;
	}
	query_begin(req, &w, DNS_RCODE_NOERROR, 0);
	for (size_t i = 0; i < n; i++)
		if (wire_resp_rr(&w, WIRE_SEC_ANSWER, WIRE_HDR, DNS_TYPE_TXT, DNS_CLASS_CH,
			0, list[i].rdata, list[i].len) < 0)
			break;
	query_finish(req, &w, name);
	return PLUGIN_DONE;
}

const struct plugin_ops chaos_plugin = {
	.name = name,
	.setup = chaos_setup,
	.serve = chaos_serve,
	.free = chaos_free,
};
