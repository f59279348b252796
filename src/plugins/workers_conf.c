/*
 * workers_conf.c -- the `workers` directive: how many workers answer UDP
 * (workers.h), for the whole process.
 *
 *     workers [N|auto]
 *
 * auto (the default, also with no argument): the CPUs the process may use
 * -- its affinity, capped by a cgroup CPU quota.  N from 1 (one thread,
 * no worker threads) to WORKERS_MAX.  Any block may say it; two blocks
 * that say it must agree.  The number is read at start: a reload that
 * changes it is logged, and takes effect at the next start.
 */
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"
#include "globaldns/util.h"
#include "globaldns/workers.h"

static int workers_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "workers";
	struct plugin_process *pp = ctx->process;
	int *n = calloc(1, sizeof(*n));
	unsigned long v = 0;

	if (!n)
		return -1;
	if (d->nargs > 1)
		PLUGIN_FAIL(d, "takes one argument: a number of workers, or auto");
	if (d->nargs == 1 && strcmp(d->args[0], "auto") != 0) {
		if (parse_uint(d->args[0], WORKERS_MAX, &v) < 0 || v < 1)
			PLUGIN_FAIL(d, "\"%s\": needs auto or a number from 1 to %d", d->args[0], WORKERS_MAX);
	}
	if (d->nchildren)
		PLUGIN_FAIL(&d->children[0], "takes no properties");
	*n = (int)v;                    /* 0: auto */
	if (pp->workers_file && pp->workers != *n)
		PLUGIN_FAIL(d, "%s here, but %s:%d says %s: the process has one number of workers",
			d->nargs ? d->args[0] : "auto", pp->workers_file, pp->workers_line,
			pp->workers ? "another number" : "auto");
	pp->workers = *n;
	pp->workers_file = d->file;
	pp->workers_line = d->line;
	*state = n;
	return 0;
fail:
	free(n);
	return -1;
}

const struct plugin_ops workers_plugin = {
	.name = "workers",
	.setup = workers_setup,
	.free = free,
};
