/*
 * health.c -- `health [ADDRESS] { lameduck DURATION }`: GET /health
 * answers 200 OK while the process runs (default :8080).
 *
 * As CoreDNS's plugin/health, the instance asks its own /health once a
 * second (3 s timeout): coredns_health_request_duration_seconds is how
 * long that took -- a slow answer means a process that cannot keep up --
 * and coredns_health_request_failures_total counts the asks that failed
 * (each logged as a warning, as one taking more than a second is).
 *
 * Process-wide as in CoreDNS: blocks naming the same address share one
 * listener (httpd.h), and the answer is for the whole process.  The
 * longest lameduck of the configuration is how long the process keeps
 * serving after SIGTERM (plugin_process).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>

#include "globaldns/corefile.h"
#include "globaldns/httpd.h"
#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/workers.h"

struct health {
	struct httpd_endpoint ep;
	long lameduck_ms;
	struct metrics_hist *duration;  /* coredns_health_request_duration_seconds */
	uint64_t *failures;             /* coredns_health_request_failures_total */
	/* the self-check */
	struct event_base *base;
	struct event *tick;
	struct evhttp_connection *conn;
	char host[64];
	int port;
	uint64_t sent_ns;
	int inflight;
	unsigned long failing;          /* failures in a row (logged once) */
};

static void on_health(struct evhttp_request *req, void *arg)
{
	(void)arg;
	/* healthy as long as the loop turns: this answer is the proof */
	httpd_reply_text(req, 200, "OK", "OK");
}

/* Every failure counts; the log says when the checks start failing and
 * when they pass again, not every second in between (the process may be
 * out of descriptors, and the log must not add to the trouble). */
static void self_failed(struct health *h, const char *why)
{
	(*h->failures)++;
	if (h->failing++ == 0)
		log_warning("plugin/health: Local health request to \"http://%s/health\" failed: %s",
			h->ep.addr, why);
}

static void self_ok(struct health *h)
{
	if (h->failing)
		log_info("plugin/health: Local health request to \"http://%s/health\" answered again after %lu failure%s",
			h->ep.addr, h->failing, h->failing == 1 ? "" : "s");
	h->failing = 0;
}

static void on_self(struct evhttp_request *req, void *arg)
{
	struct health *h = arg;
	double s = (double)(query_now_ns() - h->sent_ns) / 1e9;
	int code = req ? evhttp_request_get_response_code(req) : 0;

	h->inflight = 0;
	metrics_hist_observe(h->duration, s);
	if (code != 200) {
		char why[64];
		snprintf(why, sizeof(why), code ? "HTTP %d" : "no answer", code);
		self_failed(h, why);
		return;
	}
	self_ok(h);
	if (s > 1) {
		log_warning("plugin/health: Local health request to \"http://%s/health\" took more than 1s: %.3fs",
			h->ep.addr, s);
	}
}

static void on_tick_locked(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	struct evhttp_request *req;

	(void)fd;
	(void)what;
	if (h->inflight)
		return;
	if (!h->conn && (h->conn = evhttp_connection_base_new(h->base, NULL, h->host,
		(unsigned short)h->port)))
		evhttp_connection_set_timeout(h->conn, 3);
	if (!h->conn || !(req = evhttp_request_new(on_self, h))) {
		self_failed(h, "out of memory");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", h->host);
	h->sent_ns = query_now_ns();
	h->inflight = 1;
	if (evhttp_make_request(h->conn, req, EVHTTP_REQ_GET, "/health") < 0) {
		h->inflight = 0;
		self_failed(h, "cannot send");
	}
}

WORKERS_LOCKED_EVENT_CB(on_tick)

static void health_free(void *state)
{
	struct health *h = state;

	if (!h)
		return;
	if (h->tick)
		event_free(h->tick);
	if (h->conn)
		evhttp_connection_free(h->conn);
	httpd_endpoint_close(&h->ep);
	free(h);
}

static int health_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "health";
	struct health *h = calloc(1, sizeof(*h));

	if (!h)
		return -1;
	if (httpd_endpoint_setup(&h->ep, d, ":8080", 1, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		if (strcmp(c->name, "lameduck") != 0)
			PLUGIN_FAIL(c, "unknown property \"%s\"; supported: lameduck", c->name);
		if (c->nargs != 1 || cf_parse_duration_ms(c->args[0], &h->lameduck_ms) < 0)
			PLUGIN_FAIL(c, "lameduck: needs one duration, e.g. 5s");
	}
	if (h->lameduck_ms > ctx->process->lameduck_ms)
		ctx->process->lameduck_ms = h->lameduck_ms;
	*state = h;
	return 0;
fail:
	health_free(h);
	return -1;
}

static int health_start(void *state, const struct plugin_env *env)
{
	struct health *h = state;

	struct timeval second = { 1, 0 };
	const char *colon = strrchr(h->ep.addr, ':');
	size_t hl = colon ? (size_t)(colon - h->ep.addr) : 0;

	h->duration = metrics_histogram(env->metrics, "coredns_health_request_duration_seconds",
		"Histogram of the time (in seconds) each request took.",
		metrics_slim_buckets, sizeof(metrics_slim_buckets) / sizeof(metrics_slim_buckets[0]));
	h->failures = metrics_counter(env->metrics, "coredns_health_request_failures_total",
		"The number of times the health check failed.");
	if (httpd_endpoint_route(&h->ep, env->httpd, "health", "/health", on_health, h) < 0)
		return -1;
	/* the self-check asks the address it serves: "[::1]" -> ::1, none -> 127.0.0.1 */
	if (hl >= 2 && h->ep.addr[0] == '[')
		snprintf(h->host, sizeof(h->host), "%.*s", (int)(hl - 2), h->ep.addr + 1);
	else if (hl && hl < sizeof(h->host))
		snprintf(h->host, sizeof(h->host), "%.*s", (int)hl, h->ep.addr);
	else
		snprintf(h->host, sizeof(h->host), "127.0.0.1");
	if (strcmp(h->host, "0.0.0.0") == 0)
		snprintf(h->host, sizeof(h->host), "127.0.0.1");
	else if (strcmp(h->host, "::") == 0)
		snprintf(h->host, sizeof(h->host), "::1");
	h->port = colon ? atoi(colon + 1) : 8080;
	h->base = env->base;
	if (!(h->tick = event_new(env->base, -1, EV_PERSIST, on_tick, h)))
		return -1;
	return event_add(h->tick, &second);
}

const struct plugin_ops health_plugin = {
	.name = "health",
	.setup = health_setup,
	.start = health_start,
	.free = health_free,
};
