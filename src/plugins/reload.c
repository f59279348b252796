/*
 * reload.c -- `reload [INTERVAL [JITTER]]`: check the Corefile every
 * INTERVAL +/- JITTER (default 30s 15s; at least 2s and 1s) and reload it
 * when its content changed.
 *
 * The process does the reloading (daemon.h); this directive only sets how
 * often it looks, for the whole process (the first block's `reload`
 * counts, as CoreDNS's is process-wide too).
 */
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"

struct reload_conf {
	long interval_ms, jitter_ms;
};

static int reload_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "reload";
	struct reload_conf *rc = calloc(1, sizeof(*rc));

	if (!rc)
		return -1;
	rc->interval_ms = 30000;
	rc->jitter_ms = 15000;
	if (d->nargs > 2)
		PLUGIN_FAIL(d, "takes at most INTERVAL and JITTER");
	if (d->nargs > 0 && (cf_parse_duration_ms(d->args[0], &rc->interval_ms) < 0
	    || rc->interval_ms < 2000))
		PLUGIN_FAIL(d, "interval \"%s\": needs a duration of at least 2s", d->args[0]);
	if (d->nargs > 1 && (cf_parse_duration_ms(d->args[1], &rc->jitter_ms) < 0
	    || rc->jitter_ms < 1000))
		PLUGIN_FAIL(d, "jitter \"%s\": needs a duration of at least 1s", d->args[1]);
	if (d->nargs == 1)
		rc->jitter_ms = rc->interval_ms / 2;
	if (rc->jitter_ms > rc->interval_ms / 2)
		rc->jitter_ms = rc->interval_ms / 2;
	if (d->nchildren)
		PLUGIN_FAIL(&d->children[0], "takes no properties");
	if (!ctx->process->reload_set) {
		ctx->process->reload_set = 1;
		ctx->process->reload_interval_ms = rc->interval_ms;
		ctx->process->reload_jitter_ms = rc->jitter_ms;
	}
	*state = rc;
	return 0;
fail:
	free(rc);
	return -1;
}

const struct plugin_ops reload_plugin = {
	.name = "reload",
	.setup = reload_setup,
	.free = free,
};
