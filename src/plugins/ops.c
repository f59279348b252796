/*
 * plugin_ops.c -- the operational directives: health, ready, prometheus,
 * reload and bind.
 *
 *   health [ADDRESS] { lameduck DURATION }   GET /health -> 200 OK (default :8080)
 *   ready [ADDRESS]                          GET /ready, GET /registry (default :8181)
 *   prometheus [ADDRESS]                     GET /metrics (default :9153)
 *   reload [INTERVAL [JITTER]]               Corefile checks (default 30s 15s)
 *   bind ADDRESS...                          DNS listening addresses of the block
 *
 * health, ready and prometheus are process-wide as in CoreDNS: blocks that
 * name the same address share one listener (httpd.h), and they answer
 * for the whole process, not for their block.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "globaldns/corefile.h"
#include "globaldns/daemon.h"
#include "cache.h"
#include "forward.h"
#include "globaldns/httpd.h"
#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/server.h"

/* An HTTP endpoint instance: its address and routes. */
struct http_plugin {
	char addr[128];
	long lameduck_ms;               /* health only */
	struct httpd_route *routes[2];
	struct http_plugin *next;       /* health: the running instances */
	int listed;
};

static struct http_plugin *health_list;
static int prometheus_running;
static void chain_collect(void *arg, struct metrics_out *o);

/* `NAME [ADDRESS]`, with properties only where the caller reads them. */
static int http_setup(const char *name, const char *def,
	const struct cf_directive *d, int properties, struct http_plugin **out,
	char *err, size_t errlen)
{
	struct http_plugin *hp = calloc(1, sizeof(*hp));
	char aerr[256];

	if (!hp)
		return -1;
	if (d->nargs > 1)
		PLUGIN_FAIL(d, "takes at most one address, got %zu arguments", d->nargs);
	if (httpd_parse_addr(d->nargs ? d->args[0] : def, hp->addr, sizeof(hp->addr),
		aerr, sizeof(aerr)) < 0)
		PLUGIN_FAIL(d, "%s", aerr);
	if (!properties && d->nchildren)
		PLUGIN_FAIL(&d->children[0], "takes no properties");
	*out = hp;
	return 0;
fail:
	free(hp);
	return -1;
}

static void http_free(void *state)
{
	struct http_plugin *hp = state;

	if (!hp)
		return;
	if (hp->listed == 2 && --prometheus_running == 0)
		metrics_remove_collector(chain_collect, NULL);
	if (hp->listed == 1) {
		for (struct http_plugin **p = &health_list; *p; p = &(*p)->next)
			if (*p == hp) {
				*p = hp->next;
				break;
			}
	}
	for (size_t i = 0; i < 2; i++)
		httpd_route_remove(hp->routes[i]);
	free(hp);
}

/* ---- health ---- */

static void on_health(struct evhttp_request *req, void *arg)
{
	uint64_t t0 = query_now_ns();

	(void)arg;
	/* healthy as long as the loop turns: this answer is the proof */
	httpd_reply_text(req, 200, "OK", "OK");
	metrics_health_observe((double)(query_now_ns() - t0) / 1e9);
}

static int health_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "health";
	struct http_plugin *hp = NULL;

	(void)ctx;
	if (http_setup(name, ":8080", d, 1, &hp, err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		if (strcmp(c->name, "lameduck") != 0)
			PLUGIN_FAIL(c, "unknown property \"%s\"; supported: lameduck", c->name);
		if (c->nargs != 1 || cf_parse_duration_ms(c->args[0], &hp->lameduck_ms) < 0)
			PLUGIN_FAIL(c, "lameduck: needs one duration, e.g. 5s");
	}
	*state = hp;
	return 0;
fail:
	http_free(hp);
	return -1;
}

static int health_start(void *state, struct event_base *base)
{
	struct http_plugin *hp = state;
	char err[512];

	hp->routes[0] = httpd_route_add(base, hp->addr, "/health", on_health, hp, err, sizeof(err));
	if (!hp->routes[0]) {
		log_error("plugin/health: %s", err);
		return -1;
	}
	hp->next = health_list;
	health_list = hp;
	hp->listed = 1;
	return 0;
}

long health_lameduck_ms(void)
{
	long ms = 0;

	for (struct http_plugin *hp = health_list; hp; hp = hp->next)
		if (hp->lameduck_ms > ms)
			ms = hp->lameduck_ms;
	return ms;
}

const struct plugin_ops health_plugin = {
	.name = "health",
	.setup = health_setup,
	.start = health_start,
	.free = http_free,
};

/* ---- ready and registry ---- */

static void on_ready(struct evhttp_request *req, void *arg)
{
	const struct server *s = daemon_server();
	char why[2048];

	(void)arg;
	if (daemon_stopping()) {
		httpd_reply_text(req, 503, "Service Unavailable", "shutting down (lameduck)\n");
		return;
	}
	if (!s || !server_ready(s, why, sizeof(why))) {
		size_t n;
		if (!s)
			snprintf(why, sizeof(why), "not started");
		n = strlen(why);
		if (n + 1 < sizeof(why))
			why[n] = '\n', why[n + 1] = '\0';
		httpd_reply_text(req, 503, "Service Unavailable", why);
		return;
	}
	httpd_reply_text(req, 200, "OK", "OK");
}

static void describe(void *arg, const struct server_block *b,
	const struct plugin_inst *p)
{
	cJSON *arr = arg, *obj, *zones;
	char where[512];

	if (!p->ops->introspect || !(obj = cJSON_CreateObject()))
		return;
	cJSON_AddStringToObject(obj, "plugin", p->ops->name);
	snprintf(where, sizeof(where), "%s:%d", b->file, b->line);
	cJSON_AddStringToObject(obj, "server_block", where);
	cJSON_AddNumberToObject(obj, "port", b->port);
	zones = cJSON_AddArrayToObject(obj, "block_zones");
	for (size_t z = 0; zones && z < b->nzones; z++)
		cJSON_AddItemToArray(zones, cJSON_CreateString(b->zones[z]));
	p->ops->introspect(p->state, obj);
	cJSON_AddItemToArray(arr, obj);
}

static void on_registry(struct evhttp_request *req, void *arg)
{
	const struct server *s = daemon_server();
	cJSON *root = cJSON_CreateObject(), *arr;
	char why[2048] = "", *text = NULL;
	struct evbuffer *b;
	int ready;

	(void)arg;
	if (!root)
		goto oom;
	ready = s && !daemon_stopping() && server_ready(s, why, sizeof(why));
	cJSON_AddBoolToObject(root, "ready", ready);
	if (!ready)
		cJSON_AddStringToObject(root, "not_ready", daemon_stopping() ? "shutting down (lameduck)" : why);
	arr = cJSON_AddArrayToObject(root, "registries");
	if (arr && s)
		server_foreach_plugin(s, describe, arr);
	text = cJSON_Print(root);
	cJSON_Delete(root);
	if (!text || !(b = evbuffer_new()))
		goto oom;
	evbuffer_add(b, text, strlen(text));
	evbuffer_add(b, "\n", 1);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		"application/json");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
	cJSON_free(text);
	return;
oom:
	cJSON_free(text);
	httpd_reply_text(req, 500, "Internal Server Error", "out of memory\n");
}

static int ready_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	(void)ctx;
	return http_setup("ready", ":8181", d, 0, (struct http_plugin **)state, err, errlen);
}

static int ready_start(void *state, struct event_base *base)
{
	struct http_plugin *hp = state;
	char err[512];

	hp->routes[0] = httpd_route_add(base, hp->addr, "/ready", on_ready, hp, err, sizeof(err));
	if (hp->routes[0])
		hp->routes[1] = httpd_route_add(base, hp->addr, "/registry", on_registry, hp, err, sizeof(err));
	if (!hp->routes[1]) {
		log_error("plugin/ready: %s", err);
		return -1;
	}
	return 0;
}

const struct plugin_ops ready_plugin = {
	.name = "ready",
	.setup = ready_setup,
	.start = ready_start,
	.free = http_free,
};

/* ---- prometheus ---- */

static void on_metrics(struct evhttp_request *req, void *arg)
{
	size_t len;
	char *text = metrics_render(&len);
	struct evbuffer *b;

	(void)arg;
	if (!text || !(b = evbuffer_new())) {
		free(text);
		httpd_reply_text(req, 500, "Internal Server Error", "out of memory\n");
		return;
	}
	evbuffer_add(b, text, len);
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
		"text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/*
 * The forward instances of the running configuration, read through
 * forward.h's getters at scrape time.  One collector for the process
 * (registered while any prometheus instance runs).
 */
static void forward_families(struct metrics_out *o)
{
	metrics_out_family(o, "coredns_proxy_request_duration_seconds", METRICS_HISTOGRAM,
		"Histogram of the time each request took.");
	metrics_out_family(o, "coredns_forward_requests_total", METRICS_COUNTER,
		"Counter of requests made per upstream.");
	metrics_out_family(o, "coredns_forward_responses_total", METRICS_COUNTER,
		"Counter of responses received per upstream.");
	metrics_out_family(o, "coredns_forward_healthcheck_failures_total", METRICS_COUNTER,
		"Counter of the number of failed healthchecks.");
	metrics_out_family(o, "coredns_forward_healthcheck_broken_total", METRICS_COUNTER,
		"Counter of the number of complete failures of the healthchecks.");
	metrics_out_family(o, "coredns_forward_max_concurrent_rejects_total", METRICS_COUNTER,
		"Counter of the number of queries rejected because the concurrent queries were at maximum.");
	metrics_out_family(o, "globaldns_forward_request_duration_seconds", METRICS_HISTOGRAM,
		"Histogram of the time each upstream took to answer, all rcodes.");
	metrics_out_family(o, "globaldns_forward_upstream_down", METRICS_GAUGE,
		"1 while the upstream is marked down by its health checks.");
}

static void collect_forward(void *arg, const struct server_block *b,
	const struct plugin_inst *p)
{
	struct metrics_out *o = arg;
	const struct forward *f = p->state;
	const struct forward_stats *fs;

	(void)b;
	if (p->ops != &forward_plugin)
		return;
	fs = forward_get_stats(f);
	metrics_out_sample(o, "coredns_forward_healthcheck_broken_total", "",
		(double)fs->hc_broken, NULL);
	metrics_out_sample(o, "coredns_forward_max_concurrent_rejects_total", "",
		(double)fs->max_concurrent_rejects, NULL);
	for (size_t i = 0; i < forward_upstream_count(f); i++) {
		const struct forward_upstream_stats *u = forward_upstream_stats(f, i);
		struct metrics_hist all;
		size_t nrc = 0;
		double sum = 0;
		uint64_t count = 0;
		for (size_t r = 0; r < FORWARD_RCODES; r++) {
			nrc += u->answers[r] > 0;
			sum += (double)u->duration_ns[r] / 1e9;
			count += u->answers[r];
		}
		metrics_hist_init(&all, metrics_time_buckets, metrics_time_nbuckets);
		for (size_t k = 0; k < FORWARD_BUCKETS && k <= METRICS_HIST_MAX; k++)
			all.buckets[k] = u->buckets[k];
		all.count = count;
		all.sum = sum;
		for (size_t r = 0; r < FORWARD_RCODES; r++) {
			struct metrics_hist h;
			if (!u->answers[r])
				continue;
			metrics_out_sample(o, "coredns_forward_responses_total", "",
				(double)u->answers[r], "to", u->to, "rcode", (r < FORWARD_RCODE_OTHER ? dns_rcode_name((int)r) : "other"), NULL);
			/* the buckets are per upstream: exact only when one rcode has answers;
			 * otherwise export the count and sum with the +Inf bucket alone */
			if (nrc == 1) {
				h = all;
			} else {
				metrics_hist_init(&h, metrics_time_buckets, 0);
				h.buckets[0] = u->answers[r];
				h.count = u->answers[r];
				h.sum = (double)u->duration_ns[r] / 1e9;
			}
			metrics_out_histogram(o, "coredns_proxy_request_duration_seconds", &h,
				"proxy_name", "forward", "to", u->to, "rcode", (r < FORWARD_RCODE_OTHER ? dns_rcode_name((int)r) : "other"), NULL);
		}
		metrics_out_sample(o, "coredns_forward_requests_total", "",
			(double)u->requests, "to", u->to, NULL);
		metrics_out_sample(o, "coredns_forward_healthcheck_failures_total", "",
			(double)u->hc_failures, "to", u->to, NULL);
		metrics_out_sample(o, "globaldns_forward_upstream_down", "",
			u->down ? 1 : 0, "to", u->to, NULL);
		if (count)
			metrics_out_histogram(o, "globaldns_forward_request_duration_seconds",
				&all, "to", u->to, NULL);
	}
}

/* CoreDNS's labels for a block: server "dns://[ADDR]:PORT", zones joined by ",". */
static void block_labels(const struct server_block *b, char *server,
	size_t slen, char *zones, size_t zlen)
{
	const char *addr = "";
	size_t o = 0;

	for (size_t j = 0; j < b->nchain; j++) {
		const char *const *addrs;
		if (b->chain[j].ops == &bind_plugin && bind_addresses(b->chain[j].state, &addrs))
			addr = addrs[0];
	}
	snprintf(server, slen, strchr(addr, ':') ? "dns://[%s]:%d" : "dns://%s:%d", addr, b->port);
	zones[0] = '\0';
	for (size_t z = 0; z < b->nzones && o < zlen; z++)
		o += (size_t)snprintf(zones + o, zlen - o, "%s%s", z ? "," : "", b->zones[z]);
}

static void cache_families(struct metrics_out *o)
{
	metrics_out_family(o, "coredns_cache_entries", METRICS_GAUGE,
		"The number of elements in the cache.");
	metrics_out_family(o, "coredns_cache_requests_total", METRICS_COUNTER,
		"The count of cache requests.");
	metrics_out_family(o, "coredns_cache_hits_total", METRICS_COUNTER,
		"The count of cache hits.");
	metrics_out_family(o, "coredns_cache_misses_total", METRICS_COUNTER,
		"The count of cache misses. Deprecated, derive misses from cache hits/requests counters.");
	metrics_out_family(o, "coredns_cache_prefetch_total", METRICS_COUNTER,
		"The number of times the cache has prefetched a cached item.");
	metrics_out_family(o, "coredns_cache_served_stale_total", METRICS_COUNTER,
		"The number of requests served from stale cache entries.");
	metrics_out_family(o, "globaldns_cache_evictions_total", METRICS_COUNTER,
		"Entries removed from the cache to make room.");
}

static void collect_cache(void *arg, const struct server_block *b,
	const struct plugin_inst *p)
{
	struct metrics_out *o = arg;
	const struct cache_stats *cs;
	char server[128], zones[1024];

	if (p->ops != &cache_plugin)
		return;
	cs = cache_get_stats(p->state);
	block_labels(b, server, sizeof(server), zones, sizeof(zones));
#define L "server", server, "zone", zones, "view", ""
	metrics_out_sample(o, "coredns_cache_entries", "", (double)cs->entries_success, L, "type", "success", NULL);
	metrics_out_sample(o, "coredns_cache_entries", "", (double)cs->entries_denial, L, "type", "denial", NULL);
	metrics_out_sample(o, "coredns_cache_requests_total", "",
		(double)(cs->hits_success + cs->hits_denial + cs->misses), L, NULL);
	metrics_out_sample(o, "coredns_cache_hits_total", "", (double)cs->hits_success, L, "type", "success", NULL);
	metrics_out_sample(o, "coredns_cache_hits_total", "", (double)cs->hits_denial, L, "type", "denial", NULL);
	metrics_out_sample(o, "coredns_cache_misses_total", "", (double)cs->misses, L, NULL);
	metrics_out_sample(o, "coredns_cache_prefetch_total", "", (double)cs->prefetches, L, NULL);
	metrics_out_sample(o, "coredns_cache_served_stale_total", "", (double)cs->served_stale, L, NULL);
	metrics_out_sample(o, "globaldns_cache_evictions_total", "", (double)cs->evictions, L, NULL);
#undef L
}

static void chain_collect(void *arg, struct metrics_out *o)
{
	const struct server *s = daemon_server();

	(void)arg;
	if (server_find_plugin(s, &forward_plugin)) {
		forward_families(o);
		server_foreach_plugin(s, collect_forward, o);
	}
	if (server_find_plugin(s, &cache_plugin)) {
		cache_families(o);
		server_foreach_plugin(s, collect_cache, o);
	}
}

static int prometheus_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	(void)ctx;
	return http_setup("prometheus", ":9153", d, 0, (struct http_plugin **)state, err, errlen);
}

static int prometheus_start(void *state, struct event_base *base)
{
	struct http_plugin *hp = state;
	char err[512];

	hp->routes[0] = httpd_route_add(base, hp->addr, "/metrics", on_metrics, hp, err, sizeof(err));
	if (!hp->routes[0]) {
		log_error("plugin/prometheus: %s", err);
		return -1;
	}
	if (prometheus_running++ == 0 && metrics_add_collector(chain_collect, NULL) < 0)
		return -1;
	hp->listed = 2;
	return 0;
}

const struct plugin_ops prometheus_plugin = {
	.name = "prometheus",
	.setup = prometheus_setup,
	.start = prometheus_start,
	.free = http_free,
};

/* ---- reload ---- */

struct reload_conf {
	long interval_ms, jitter_ms;
};

static int reload_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "reload";
	struct reload_conf *rc = calloc(1, sizeof(*rc));

	(void)ctx;
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
	*state = rc;
	return 0;
fail:
	free(rc);
	return -1;
}

void reload_interval(const void *state, long *interval_ms, long *jitter_ms)
{
	const struct reload_conf *rc = state;

	*interval_ms = rc->interval_ms;
	*jitter_ms = rc->jitter_ms;
}

const struct plugin_ops reload_plugin = {
	.name = "reload",
	.setup = reload_setup,
	.free = free,
};

/* ---- bind ---- */

struct bind_conf {
	char **addrs;
	size_t n;
};

static void bind_free(void *state)
{
	struct bind_conf *bc = state;

	if (!bc)
		return;
	for (size_t i = 0; i < bc->n; i++)
		free(bc->addrs[i]);
	free(bc->addrs);
	free(bc);
}

static int bind_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "bind";
	struct bind_conf *bc = calloc(1, sizeof(*bc));

	(void)ctx;
	if (!bc || !(bc->addrs = calloc(d->nargs + 1, sizeof(*bc->addrs)))) {
		free(bc);
		return -1;
	}
	if (d->nargs == 0)
		PLUGIN_FAIL(d, "needs at least one address");
	for (size_t a = 0; a < d->nargs; a++) {
		const char *s = d->args[a];
		char canon[INET6_ADDRSTRLEN];
		unsigned char buf[16];
		int fam = strchr(s, ':') ? AF_INET6 : AF_INET;
		if (strcmp(s, "except") == 0)
			PLUGIN_FAIL(d, "\"except\" is not supported; list the addresses to listen on");
		if (inet_pton(fam, s, buf) != 1)
			PLUGIN_FAIL(d, "\"%s\": not an IP address (interface names are not supported)", s);
		inet_ntop(fam, buf, canon, sizeof(canon));
		for (size_t i = 0; i < bc->n; i++)
			if (strcmp(bc->addrs[i], canon) == 0)
				PLUGIN_FAIL(d, "\"%s\": listed twice", s);
		bc->addrs[bc->n] = strdup(canon);
		if (!bc->addrs[bc->n])
			PLUGIN_FAIL(d, "out of memory");
		bc->n++;
	}
	if (d->nchildren)
		PLUGIN_FAIL(&d->children[0], "takes no properties");
	*state = bc;
	return 0;
fail:
	bind_free(bc);
	return -1;
}

size_t bind_addresses(const void *state, const char *const **addrs)
{
	const struct bind_conf *bc = state;

	*addrs = (const char *const *)bc->addrs;
	return bc->n;
}

const struct plugin_ops bind_plugin = {
	.name = "bind",
	.setup = bind_setup,
	.free = bind_free,
};
