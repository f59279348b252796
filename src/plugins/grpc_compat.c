/*
 * grpc_compat.c -- lines for FROM zones, and the istio-coredns-plugin's
 * address read as `serviceentries` (see grpc_compat.h).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/util.h"

#include "grpc_compat.h"

extern const struct plugin_ops serviceentries_plugin;

/* The port the istio-coredns-plugin listened on (`:8053`, every address). */
#define PLUGIN_PORT 8053

int gc_is_plugin_address(const char *s)
{
	char host[64];
	const char *colon;
	uint8_t a[16];
	int port;

	if (strncmp(s, "grpc://", 7) == 0 || strncmp(s, "dns://", 6) == 0)
		s = strchr(s, '/') + 2;
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof(host))
			return 0;
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		colon = e + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host) || memchr(s, ':', (size_t)(colon - s)))
			return 0;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	if (parse_port(colon + 1, &port) < 0 || port != PLUGIN_PORT)
		return 0;
	if (strcmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	return inet_pton(AF_INET6, host, a) == 1 && memcmp(a, in6addr_loopback.s6_addr, 16) == 0;
}

void gc_line_text(const struct cf_directive *d, char *out, size_t len)
{
	size_t o = (size_t)snprintf(out, len, "%s", d->name);

	for (size_t i = 0; i < d->nargs && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, " %s", d->args[i]);
	if (d->has_block && o < len)
		snprintf(out + o, len - o, " { ... }");
}

static int add_se_zone(struct gc *g, const char *zone)
{
	for (size_t i = 0; i < g->nse_zones; i++)
		if (strcmp(g->se_zones[i], zone) == 0)
			return 0;
	if (g->nse_zones >= sizeof(g->se_zones) / sizeof(g->se_zones[0]))
		return -1;
	if (!(g->se_zones[g->nse_zones] = strdup(zone)))
		return -1;
	g->nse_zones++;
	return 0;
}

/* Is zone a at or below zone b (presentation, lowercase, FQDN)? */
static int zone_within(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (strcmp(b, ".") == 0)
		return 1;
	return la >= lb && strcmp(a + la - lb, b) == 0 && (la == lb || a[la - lb - 1] == '.');
}

int gc_add_istio(struct gc *g, struct gc_line *l, const struct plugin_ctx *ctx,
	const struct cf_directive *d, const char *text, char *err, size_t errlen)
{
	const char *name = g->name;
	const struct plugin_block *b = ctx->block;
	char native[300], zones[256];
	int inside = 0, covers = 0;

	for (size_t z = 0; z < b->nzones; z++) {
		inside |= zone_within(l->from.name, b->zones[z]);
		covers |= zone_within(b->zones[z], l->from.name);
	}
	if (!inside && !covers)
		PLUGIN_FAIL(d, "FROM %s is outside the server block's zones: no query would reach it",
			l->from.name);
	if (inside && strcmp(l->from.name, ".") != 0) {
		if (add_se_zone(g, l->from.name) < 0)
			PLUGIN_FAIL(d, "too many zones");
		snprintf(zones, sizeof(zones), "%s", l->from.name);
		snprintf(native, sizeof(native), "serviceentries %.*s", (int)(strlen(l->from.name) - 1),
			l->from.name);
	} else {
		/* FROM "." (or above the block's zones): the block's zones */
		g->se_block_zones = 1;
		snprintf(zones, sizeof(zones), "%s%s", b->zones[0], b->nzones > 1 ? " ..." : "");
		snprintf(native, sizeof(native), "serviceentries");
	}
	l->istio = 1;
	{
		char note[1024];
		snprintf(note, sizeof(note), "plugin/%s: %s:%d: \"%s\" is read as \"%s\": %s was the "
			"istio-coredns-plugin's address, which globaldns replaces; %s is answered from the "
			"ServiceEntries of the in-cluster Kubernetes API%s", name, d->file, d->line, text, native,
			d->args[1], zones, l->nexcept ? " (its except zones pass on to the next plugin)" : "");
		if (!(l->note = strdup(note)))
			PLUGIN_FAIL(d, "out of memory");
	}
	return 0;
fail:
	return -1;
}

int gc_finish(struct gc *g, const struct plugin_ctx *ctx,
	const struct cf_directive *d, char *err, size_t errlen)
{
	struct plugin_ctx sctx = *ctx;
	struct cf_directive sed;
	const struct cf_directive *lines[1] = { &sed };
	char *args[GC_MAX_LINES * 2 + 16];
	size_t nargs = 0;
	int istio = 0;

	for (size_t i = 0; i < g->nlines; i++)
		istio |= g->lines[i].istio;
	if (!istio)
		return 0;
	/* zones named by the lines; with one that covers the block, the
	 * block's zones too (serviceentries without arguments takes them) */
	if (g->se_block_zones && g->nse_zones)
		for (size_t z = 0; z < ctx->block->nzones && nargs < 16; z++)
			args[nargs++] = ctx->block->zones[z];
	for (size_t z = 0; z < g->nse_zones; z++)
		args[nargs++] = g->se_zones[z];
	memset(&sed, 0, sizeof(sed));
	sed.name = (char *)"serviceentries";
	sed.args = args;
	sed.nargs = nargs;
	sed.file = d->file;
	sed.line = d->line;
	sctx.lines = lines;
	sctx.nlines = 1;
	return serviceentries_plugin.setup(&sctx, &sed, &g->se, err, errlen);
}

int gc_setup(const char *name, gc_line_fn line_fn, const struct plugin_ctx *ctx,
	const struct cf_directive *d, void **state, char *err, size_t errlen)
{
	struct gc *g = calloc(1, sizeof(*g));
	size_t n = ctx->nlines ? ctx->nlines : 1;

	if (!g) {
		snprintf(err, errlen, "%s:%d: %s: out of memory", d->file, d->line, name);
		return -1;
	}
	g->name = name;
	for (size_t i = 0; i < n; i++)
		if (line_fn(g, ctx, ctx->nlines ? ctx->lines[i] : d, err, errlen) < 0)
			goto fail;
	if (gc_finish(g, ctx, d, err, errlen) < 0)
		goto fail;
	*state = g;
	return 0;
fail:
	gc_free(g);
	return -1;
}

int gc_except(struct gc *g, struct gc_line *l, const struct cf_directive *c,
	char *err, size_t errlen)
{
	const char *name = g->name;
	char why[256];

	if (c->nargs == 0)
		PLUGIN_FAIL(c, "except: needs at least one zone");
	for (size_t a = 0; a < c->nargs; a++) {
		if (l->nexcept == GC_MAX_EXCEPT)
			PLUGIN_FAIL(c, "except: more than %d zones", GC_MAX_EXCEPT);
		if (cf_parse_zone(c->args[a], &l->except[l->nexcept], why, sizeof(why)) < 0)
			PLUGIN_FAIL(c, "except: \"%s\": %s", c->args[a], why);
		l->nexcept++;
	}
	return 0;
fail:
	return -1;
}

int gc_start(void *state, const struct plugin_env *env)
{
	struct gc *g = state;

	for (size_t i = 0; i < g->nlines; i++) {
		struct gc_line *l = &g->lines[i];
		if (l->note)
			log_info("%s", l->note);
		if (l->ops && l->ops->start && l->ops->start(l->state, env) < 0)
			return -1;
	}
	return g->se ? serviceentries_plugin.start(g->se, env) : 0;
}

/* CoreDNS's proxy: the line with the longest FROM that matches the name
 * and does not except it. */
enum plugin_result gc_serve(void *state, struct dns_request *req)
{
	struct gc *g = state;
	const struct gc_line *best = NULL;

	for (size_t i = 0; i < g->nlines; i++) {
		const struct gc_line *l = &g->lines[i];
		int excepted = 0;
		if (best && l->from.nlabels <= best->from.nlabels)
			continue;
		if (wire_zone_match(&req->q, &l->from) < 0)
			continue;
		for (size_t e = 0; e < l->nexcept && !excepted; e++)
			excepted = wire_zone_match(&req->q, &l->except[e]) >= 0;
		if (!excepted)
			best = l;
	}
	if (!best)
		return PLUGIN_NEXT;
	if (best->istio)
		return serviceentries_plugin.serve(g->se, req);
	return best->ops->serve(best->state, req);
}

int gc_ready(void *state, char *why, size_t whylen)
{
	struct gc *g = state;

	for (size_t i = 0; i < g->nlines; i++) {
		const struct gc_line *l = &g->lines[i];
		if (l->ops && l->ops->ready && !l->ops->ready(l->state, why, whylen))
			return 0;
	}
	return g->se ? serviceentries_plugin.ready(g->se, why, whylen) : 1;
}

void gc_free(void *state)
{
	struct gc *g = state;

	if (!g)
		return;
	for (size_t i = 0; i < g->nlines; i++) {
		if (g->lines[i].ops)
			g->lines[i].ops->free(g->lines[i].state);
		free(g->lines[i].note);
	}
	if (g->se)
		serviceentries_plugin.free(g->se);
	for (size_t z = 0; z < g->nse_zones; z++)
		free(g->se_zones[z]);
	free(g);
}

void gc_collect(void *state, const struct plugin_block *b, struct metrics_out *o)
{
	struct gc *g = state;

	for (size_t i = 0; i < g->nlines; i++)
		if (g->lines[i].ops && g->lines[i].ops->collect)
			g->lines[i].ops->collect(g->lines[i].state, b, o);
	if (g->se)
		serviceentries_plugin.collect(g->se, b, o);
}

/* /registry: what the ServiceEntries answer, as for serviceentries itself */
int gc_introspect(void *state, struct cJSON *obj)
{
	struct gc *g = state;

	if (g->se)
		return serviceentries_plugin.introspect(g->se, obj);
	cJSON_AddStringToObject(obj, "serves", "forwarded zones only");
	return 0;
}
