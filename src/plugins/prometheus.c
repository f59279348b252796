/*
 * prometheus.c -- `prometheus [ADDRESS]`: GET /metrics, the process's
 * metrics registry in Prometheus text format 0.0.4 (default localhost:9153,
 * as CoreDNS: a bare `prometheus` is not reachable from other hosts; write
 * `prometheus :9153` for a pod that Prometheus scrapes).
 *
 * Process-wide as in CoreDNS: every listener serves the one registry
 * (metrics.h), whose families the core and the plugins fill themselves.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "globaldns/httpd.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"

struct prometheus {
	struct httpd_endpoint ep;
	struct metrics *metrics;
};

static void on_metrics(struct evhttp_request *req, void *arg)
{
	struct prometheus *p = arg;
	size_t len;
	char *text = p->metrics ? metrics_render(p->metrics, &len) : NULL;
	struct evbuffer *b;

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

static void prometheus_free(void *state)
{
	struct prometheus *p = state;

	if (!p)
		return;
	httpd_endpoint_close(&p->ep);
	free(p);
}

static int prometheus_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	struct prometheus *p = calloc(1, sizeof(*p));

	(void)ctx;
	if (!p)
		return -1;
	if (httpd_endpoint_setup(&p->ep, d, "localhost:9153", 0, err, errlen) < 0) {
		free(p);
		return -1;
	}
	*state = p;
	return 0;
}

static int prometheus_start(void *state, const struct plugin_env *env)
{
	struct prometheus *p = state;

	p->metrics = env->metrics;
	return httpd_endpoint_route(&p->ep, env->httpd, "prometheus", "/metrics", on_metrics, p);
}

const struct plugin_ops prometheus_plugin = {
	.name = "prometheus",
	.setup = prometheus_setup,
	.start = prometheus_start,
	.free = prometheus_free,
};
