/*
 * grpc.c -- `grpc FROM TO... { except ZONES...; tls ...; tls_servername
 * NAME; policy P }` as Istio's istiocoredns Corefiles wrote it:
 *
 *   grpc global 127.0.0.1:8053               (Istio 1.1 - 1.8, CoreDNS >= 1.4)
 *   grpc internal 127.0.0.1:8053             (multi-zone guides: one line per zone)
 *   cluster-2 { grpc . 127.0.0.1:8053 }      (a block per remote cluster)
 *
 * 127.0.0.1:8053 was the istio-coredns-plugin, which globaldns replaces: a
 * line whose every TO is a loopback address on port 8053 is read as
 * `serviceentries FROM` from the in-cluster Kubernetes API (grpc_compat.h),
 * and the log says so once at start.  `except` zones go on to the next
 * plugin; tls, tls_servername and policy are accepted and have nothing to
 * do (no connection is made).
 *
 * DNS over gRPC to any other server is refused with the line's FILE:LINE:
 * the istiocoredns pod only ever used grpc to reach its own sidecar.
 *
 * Unlike CoreDNS (once per block) several grpc lines may share a block, as
 * the multi-zone guides wrote them; the longest matching FROM answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"

#include "grpc_compat.h"

static int grpc_line(struct gc *g, const struct plugin_ctx *ctx,
	const struct cf_directive *d, char *err, size_t errlen)
{
	const char *name = "grpc";
	struct gc_line *l = &g->lines[g->nlines];
	char why[256], text[512];

	gc_line_text(d, text, sizeof(text));
	if (g->nlines == GC_MAX_LINES)
		PLUGIN_FAIL(d, "more than %d lines in one block", GC_MAX_LINES);
	if (d->nargs < 2)
		PLUGIN_FAIL(d, "needs FROM and at least one TO (grpc global 127.0.0.1:8053)");
	if (cf_parse_zone(d->args[0], &l->from, why, sizeof(why)) < 0)
		PLUGIN_FAIL(d, "FROM \"%s\": %s", d->args[0], why);
	g->nlines++;
	for (size_t a = 1; a < d->nargs; a++)
		if (!gc_is_plugin_address(d->args[a]))
			PLUGIN_FAIL(d, "\"%s\": DNS over gRPC to another server is not supported. globaldns "
				"accepts grpc only for the istio-coredns-plugin's address (127.0.0.1:8053, any "
				"loopback address on port 8053), whose ServiceEntries it serves itself "
				"(serviceentries %s); to reach another DNS server write forward %s ADDRESS",
				d->args[a], d->args[0], d->args[0]);
	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		if (strcmp(c->name, "except") == 0) {
			if (gc_except(g, l, c, err, errlen) < 0)
				return -1;
		} else if (strcmp(c->name, "tls") != 0 && strcmp(c->name, "tls_servername") != 0
			   && strcmp(c->name, "policy") != 0) {
			PLUGIN_FAIL(c, "unknown property \"%s\"; supported: except, tls, tls_servername, policy",
				c->name);
		}
	}
	return gc_add_istio(g, l, ctx, d, text, err, errlen);
fail:
	return -1;
}

static int grpc_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	return gc_setup("grpc", grpc_line, ctx, d, state, err, errlen);
}

const struct plugin_ops grpc_plugin = {
	.name = "grpc",
	.setup = grpc_setup,
	.start = gc_start,
	.serve = gc_serve,
	.ready = gc_ready,
	.free = gc_free,
	.collect = gc_collect,
	.introspect = gc_introspect,
	.repeatable = 1,
};
