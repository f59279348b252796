/*
 * debug.c -- `debug`: accepted, as in CoreDNS's Corefiles.
 *
 * In CoreDNS it turns off the recovery from panics (there are none to
 * recover from here) and prints log.Debug lines.  Here, as there, it is
 * process-wide: while any running block has `debug`, the "[DEBUG]" lines
 * (the Kubernetes source's retries, files skipped, ...) are printed; it
 * changes no answer.
 */
#include <stdlib.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/plugin.h"

/* Started `debug` instances: the level is DEBUG while there is one, so a
 * reload that starts one block's and frees another's keeps it right in
 * whichever order that happens. */
static unsigned int debug_running;

struct debug {
	int started;
};

static int debug_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "debug";
	struct debug *g;

	(void)ctx;
	if (d->nargs)
		PLUGIN_FAIL(d, "takes no arguments");
	if (d->nchildren)
		PLUGIN_FAIL(&d->children[0], "takes no properties");
	if (!(g = calloc(1, sizeof(*g))))
		PLUGIN_FAIL(d, "out of memory");
	*state = g;
	return 0;
fail:
	return -1;
}

static int debug_start(void *state, const struct plugin_env *env)
{
	struct debug *g = state;

	(void)env;
	g->started = 1;
	if (debug_running++ == 0)
		log_set_level(LOGL_DEBUG);
	return 0;
}

static void debug_free(void *state)
{
	struct debug *g = state;

	if (g && g->started && --debug_running == 0)
		log_set_level(LOGL_INFO);
	free(g);
}

const struct plugin_ops debug_plugin = {
	.name = "debug",
	.setup = debug_setup,
	.start = debug_start,
	.free = debug_free,
};
