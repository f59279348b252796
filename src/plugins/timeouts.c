/*
 * timeouts.c -- `timeouts`: the block's TCP connection limits, with
 * CoreDNS's syntax (plugin/timeouts):
 *
 *     timeouts {
 *         read DURATION       a message must come whole within this of its first byte (2s)
 *         write DURATION      a write that makes no progress this long closes (10s)
 *         idle DURATION       an idle connection closes this long after its last answer (10s)
 *         max_queries N       close after N queries (0, the default: no limit)
 *     }
 *
 * DURATION is Go's ("500ms", "1m30s") or a number of seconds, from 1 s to
 * 24 h; at least one property.  It sets the block's fields, which the core
 * hands to the listeners of the block's addresses (listen.h); blocks that
 * share an address and port share its listener, and for each limit the
 * last block that sets it wins, as in CoreDNS.  A reload applies new
 * values to listeners it keeps open.
 */
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"
#include "globaldns/util.h"

#define TIMEOUT_MIN_MS 1000L
#define TIMEOUT_MAX_MS (24L * 3600 * 1000)

static int timeouts_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "timeouts";
	struct plugin_block *b = ctx->block;

	*state = NULL;
	if (d->nargs)
		PLUGIN_FAIL(d, "takes no arguments, only a block of read, write, idle or max_queries");
	if (!d->nchildren)
		PLUGIN_FAIL(d, "timeouts block with no timeouts or limits specified");
	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *p = &d->children[i];
		int *slot = NULL;
		long ms;

		if (strcmp(p->name, "read") == 0)
			slot = &b->tcp.read_ms;
		else if (strcmp(p->name, "write") == 0)
			slot = &b->tcp.write_ms;
		else if (strcmp(p->name, "idle") == 0)
			slot = &b->tcp.idle_ms;
		else if (strcmp(p->name, "max_queries") != 0)
			PLUGIN_FAIL(p, "unknown option: '%s' (read, write, idle, max_queries)", p->name);
		if (p->nargs != 1 || p->nchildren)
			PLUGIN_FAIL(p, "%s takes one value", p->name);
		if (!slot) {
			unsigned long n;

			if (parse_uint(p->args[0], 1000000, &n) < 0)
				PLUGIN_FAIL(p, "max_queries \"%s\": needs a whole number (0: no limit)", p->args[0]);
			b->tcp.max_queries = (int)n;
			continue;
		}
		if (cf_parse_duration_ms(p->args[0], &ms) < 0)
			PLUGIN_FAIL(p, "%s \"%s\": not a duration (e.g. 10s, 1m)", p->name, p->args[0]);
		if (ms < TIMEOUT_MIN_MS || ms > TIMEOUT_MAX_MS)
			PLUGIN_FAIL(p, "%s \"%s\": needs to be between 1 second and 24 hours", p->name, p->args[0]);
		*slot = (int)ms;                /* at most 24 h */
	}
	return 0;
fail:
	return -1;
}

static void timeouts_free(void *state)
{
	(void)state;
}

const struct plugin_ops timeouts_plugin = {
	.name = "timeouts",
	.setup = timeouts_setup,
	.free = timeouts_free,
};
