/*
 * reload.c -- `reload [INTERVAL [JITTER]]`: check the Corefile every
 * INTERVAL +/- JITTER (default 30s 15s; at least 2s and 1s) and reload it
 * when its content changed.
 *
 * The process does the reloading (daemon.h); this directive only sets how
 * often it looks, for the whole process (the first block's `reload`
 * counts, as CoreDNS's is process-wide too).  That instance exports
 * coredns_reload_version_info{hash="sha512",value=HEX} 1, the SHA-512 of
 * the running Corefile's text (CoreDNS hashes its parsed server blocks, so
 * the values differ from CoreDNS's; it sets the metric at the first reload,
 * globaldns from the start).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/readfile.h"
#include "globaldns/util.h"

struct reload_conf {
	long interval_ms, jitter_ms;
	int primary;                    /* the process's reload: exports the version */
};

/* The hash of the Corefile last set up, whether that configuration then
 * started or not (CoreDNS sets the metric at every reload attempt).  Kept
 * here, not in the instance: an unchanged `reload` line keeps its running
 * instance across a reload of a changed Corefile. */
static char corefile_sha512[SHA512_HEX_LEN];

/* The SHA-512 of the file's text in hex ("" if it cannot be read). */
static void file_sha512(const char *path, char *hex)
{
	char *text;
	size_t len;

	hex[0] = '\0';
	if (read_whole_file(path, 16u << 20, &text, &len) < 0)
		return;
	sha512_hex(text, len, hex);
	free(text);
}

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
		rc->primary = 1;
		if (!ctx->validate)
			file_sha512(ctx->block->file, corefile_sha512);
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

static void reload_collect(void *state, const struct plugin_block *b,
	struct metrics_out *o)
{
	const struct reload_conf *rc = state;

	(void)b;
	if (!rc->primary || !corefile_sha512[0])
		return;
	metrics_out_family(o, "coredns_reload_version_info", METRICS_GAUGE,
		"A metric with a constant '1' value labeled by hash, and value which type of hash generated.");
	metrics_out_sample(o, "coredns_reload_version_info", "", 1, "hash", "sha512",
		"value", corefile_sha512, NULL);
}

const struct plugin_ops reload_plugin = {
	.name = "reload",
	.setup = reload_setup,
	.free = free,
	.collect = reload_collect,
};
