/*
 * proxy.c -- `proxy FROM TO... { ... }`, CoreDNS's proxy (removed in 1.7),
 * as Istio's istiocoredns Corefile for CoreDNS before 1.4 wrote it:
 *
 *   .:53 {
 *       proxy global 127.0.0.1:8053 {
 *           protocol grpc insecure
 *       }
 *       proxy . /etc/resolv.conf
 *   }
 *
 * As in CoreDNS the directive may be written several times in a block; a
 * query goes to the line with the longest FROM that matches its name and
 * does not except it, and no line matching, to the next plugin.
 *
 *   - `protocol grpc ...` to the istio-coredns-plugin's address
 *     (127.0.0.1:8053, any loopback address on port 8053) is read as
 *     `serviceentries FROM` from the in-cluster Kubernetes API
 *     (grpc_compat.h), logged once at start; `except` is honoured, the
 *     other old options (policy, fail_timeout, max_fails, health_check,
 *     spray) have nothing to do.  gRPC to another address is refused.
 *   - every other line is a `forward` instance: `protocol dns` is its
 *     default and `protocol dns force_tcp` its force_tcp; its other
 *     properties are forward's (old ones such as spray are refused with
 *     the line's FILE:LINE, to be rewritten with forward's options).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"

#include "grpc_compat.h"

extern const struct plugin_ops forward_plugin;

#define PROXY_MAX_PROPS 32

/* A line to the istio-coredns-plugin. */
static int grpc_line(struct gc *g, struct gc_line *l, const struct plugin_ctx *ctx,
	const struct cf_directive *d, const char *text, char *err, size_t errlen)
{
	const char *name = "proxy";

	for (size_t a = 1; a < d->nargs; a++)
		if (!gc_is_plugin_address(d->args[a]))
			PLUGIN_FAIL(d, "\"%s\": protocol grpc to another server is not supported. globaldns "
				"accepts it only for the istio-coredns-plugin's address (127.0.0.1:8053, any "
				"loopback address on port 8053), whose ServiceEntries it serves itself "
				"(serviceentries %s); to reach another DNS server write forward %s ADDRESS",
				d->args[a], d->args[0], d->args[0]);
	for (size_t i = 0; i < d->nchildren; i++)
		if (strcmp(d->children[i].name, "except") == 0
		    && gc_except(g, l, &d->children[i], err, errlen) < 0)
			return -1;
	return gc_add_istio(g, l, ctx, d, text, err, errlen);
fail:
	return -1;
}

/* A line to DNS upstreams: forward's, without the old `protocol dns`. */
static int dns_line(struct gc *g, struct gc_line *l, const struct plugin_ctx *ctx,
	const struct cf_directive *d, char *err, size_t errlen)
{
	const char *name = "proxy";
	struct cf_directive fd = *d, kids[PROXY_MAX_PROPS], force = { 0 };
	size_t n = 0;

	if (d->nchildren > PROXY_MAX_PROPS)
		PLUGIN_FAIL(d, "more than %d properties", PROXY_MAX_PROPS);
	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		if (strcmp(c->name, "protocol") == 0) {
			if (c->nargs == 2 && strcmp(c->args[1], "force_tcp") == 0) {
				force = *c;
				force.name = (char *)"force_tcp";
				force.nargs = 0;
				kids[n++] = force;
			} else if (c->nargs != 1) {
				PLUGIN_FAIL(c, "protocol: dns takes only force_tcp");
			}
			continue;
		}
		if (strcmp(c->name, "except") == 0 && gc_except(g, l, c, err, errlen) < 0)
			return -1;
		kids[n++] = *c;
	}
	fd.children = kids;
	fd.nchildren = n;
	l->ops = &forward_plugin;
	return forward_plugin.setup(ctx, &fd, &l->state, err, errlen);
fail:
	return -1;
}

static int proxy_line(struct gc *g, const struct plugin_ctx *ctx,
	const struct cf_directive *d, char *err, size_t errlen)
{
	const char *name = "proxy";
	struct gc_line *l = &g->lines[g->nlines];
	const struct cf_directive *proto = NULL;
	char why[256], text[512];

	gc_line_text(d, text, sizeof(text));
	if (g->nlines == GC_MAX_LINES)
		PLUGIN_FAIL(d, "more than %d lines in one block", GC_MAX_LINES);
	if (d->nargs < 2)
		PLUGIN_FAIL(d, "needs FROM and at least one TO (proxy . /etc/resolv.conf)");
	if (cf_parse_zone(d->args[0], &l->from, why, sizeof(why)) < 0)
		PLUGIN_FAIL(d, "FROM \"%s\": %s", d->args[0], why);
	g->nlines++;
	for (size_t i = 0; i < d->nchildren; i++)
		if (strcmp(d->children[i].name, "protocol") == 0)
			proto = &d->children[i];
	if (proto && (proto->nargs == 0 || (strcmp(proto->args[0], "grpc") != 0
	    && strcmp(proto->args[0], "dns") != 0)))
		PLUGIN_FAIL(proto, "protocol: dns or grpc");
	if (proto && strcmp(proto->args[0], "grpc") == 0)
		return grpc_line(g, l, ctx, d, text, err, errlen);
	return dns_line(g, l, ctx, d, err, errlen);
fail:
	return -1;
}

static int proxy_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	return gc_setup("proxy", proxy_line, ctx, d, state, err, errlen);
}

const struct plugin_ops proxy_plugin = {
	.name = "proxy",
	.setup = proxy_setup,
	.start = gc_start,
	.serve = gc_serve,
	.ready = gc_ready,
	.free = gc_free,
	.collect = gc_collect,
	.introspect = gc_introspect,
	.repeatable = 1,
};
