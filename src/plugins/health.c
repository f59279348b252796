/*
 * health.c -- `health [ADDRESS] { lameduck DURATION }`: GET /health
 * answers 200 OK while the process runs (default :8080).
 *
 * Process-wide as in CoreDNS: blocks naming the same address share one
 * listener (httpd.h), and the answer is for the whole process.  The
 * longest lameduck of the configuration is how long the process keeps
 * serving after SIGTERM (plugin_process).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/httpd.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"

struct health {
	struct httpd_endpoint ep;
	long lameduck_ms;
	struct metrics_hist *duration;  /* coredns_health_request_duration_seconds */
};

static void on_health(struct evhttp_request *req, void *arg)
{
	struct health *h = arg;
	uint64_t t0 = query_now_ns();

	/* healthy as long as the loop turns: this answer is the proof */
	httpd_reply_text(req, 200, "OK", "OK");
	metrics_hist_observe(h->duration, (double)(query_now_ns() - t0) / 1e9);
}

static void health_free(void *state)
{
	struct health *h = state;

	if (!h)
		return;
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

	h->duration = metrics_histogram(env->metrics, "coredns_health_request_duration_seconds",
		"Histogram of the time (in seconds) each request took.",
		metrics_slim_buckets, sizeof(metrics_slim_buckets) / sizeof(metrics_slim_buckets[0]));
	return httpd_endpoint_route(&h->ep, env->httpd, "health", "/health", on_health, h);
}

const struct plugin_ops health_plugin = {
	.name = "health",
	.setup = health_setup,
	.start = health_start,
	.free = health_free,
};
