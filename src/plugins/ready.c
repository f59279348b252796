/*
 * ready.c -- `ready [ADDRESS] { registry ADDRESS }`: GET /ready answers
 * 200 OK once every plugin of the running configuration is ready, else
 * 503 with the reasons (and 503 during the lameduck) (default :8181).
 *
 * GET /registry describes what each plugin instance serves, as JSON: the
 * whole inventory of the mesh's external services, so by default it is
 * answered on ready's address to clients on the host itself only
 * (127.0.0.0/8, ::1; `kubectl port-forward` and `kubectl exec` arrive
 * there) and others get 403.  `registry ADDRESS` serves it on ADDRESS to
 * anyone who can reach it instead (ready's own address too).
 *
 * Process-wide as in CoreDNS: it answers for the whole process, which it
 * asks through the host of its environment (plugin.h).
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/http.h>

#include "globaldns/httpd.h"
#include "globaldns/plugin.h"

static const char name[] = "ready";

struct ready {
	struct httpd_endpoint ep;
	struct httpd_endpoint reg;      /* `registry ADDRESS`: addr set */
	const struct plugin_host *host;
};

/* 1 if the process is ready; else 0 with why ("" if it cannot say). */
static int process_ready(const struct ready *r, char *why, size_t whylen)
{
	const struct plugin_host *h = r->host;

	why[0] = '\0';
	if (h && h->stopping && h->stopping(h->arg)) {
		snprintf(why, whylen, "shutting down (lameduck)");
		return 0;
	}
	if (!h || !h->ready) {
		snprintf(why, whylen, "not started");
		return 0;
	}
	return h->ready(h->arg, why, whylen);
}

static void on_ready(struct evhttp_request *req, void *arg)
{
	char why[2048];
	size_t n;

	if (process_ready(arg, why, sizeof(why) - 1)) {
		httpd_reply_text(req, 200, "OK", "OK");
		return;
	}
	n = strlen(why);
	why[n] = '\n';
	why[n + 1] = '\0';
	httpd_reply_text(req, 503, "Service Unavailable", why);
}

static void describe(void *arg, const struct plugin_block *b,
	const struct plugin_ops *ops, void *state)
{
	cJSON *arr = arg, *obj, *zones;
	char where[512];

	if (!ops->introspect || !(obj = cJSON_CreateObject()))
		return;
	cJSON_AddStringToObject(obj, "plugin", ops->name);
	snprintf(where, sizeof(where), "%s:%d", b->file, b->line);
	cJSON_AddStringToObject(obj, "server_block", where);
	cJSON_AddNumberToObject(obj, "port", b->port);
	zones = cJSON_AddArrayToObject(obj, "block_zones");
	for (size_t z = 0; zones && z < b->nzones; z++)
		cJSON_AddItemToArray(zones, cJSON_CreateString(b->zones[z]));
	ops->introspect(state, obj);
	cJSON_AddItemToArray(arr, obj);
}

/* 1 if the request came from this host: 127.0.0.0/8, ::1, or an
 * IPv4-mapped 127.0.0.0/8. */
static int from_loopback(struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const struct sockaddr *sa = conn ? evhttp_connection_get_addr(conn) : NULL;

	if (!sa)
		return 0;
	if (sa->sa_family == AF_INET)
		return ((const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr)[0] == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return 0;
}

static void on_registry(struct evhttp_request *req, void *arg)
{
	const struct ready *r = arg;
	cJSON *root, *arr;
	char why[2048], *text = NULL;
	struct evbuffer *b;
	int ready;

	if (!r->reg.addr[0] && !from_loopback(req)) {
		httpd_reply_text(req, 403, "Forbidden",
			"GET /registry is answered to clients on this host only (127.0.0.1, ::1);"
			" to serve it elsewhere configure: ready [ADDRESS] { registry ADDRESS }\n");
		return;
	}
	root = cJSON_CreateObject();
	if (!root)
		goto oom;
	ready = process_ready(r, why, sizeof(why));
	cJSON_AddBoolToObject(root, "ready", ready);
	if (!ready)
		cJSON_AddStringToObject(root, "not_ready", why);
	arr = cJSON_AddArrayToObject(root, "registries");
	if (arr && r->host && r->host->foreach)
		r->host->foreach(r->host->arg, describe, arr);
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

static void ready_free(void *state)
{
	struct ready *r = state;

	if (!r)
		return;
	httpd_endpoint_close(&r->ep);
	httpd_endpoint_close(&r->reg);
	free(r);
}

static int ready_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	struct ready *r = calloc(1, sizeof(*r));
	char aerr[256];

	(void)ctx;
	if (!r)
		return -1;
	if (httpd_endpoint_setup(&r->ep, d, ":8181", 1, err, errlen) < 0)
		goto fail;
	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		if (strcmp(c->name, "registry") != 0)
			PLUGIN_FAIL(c, "unknown property \"%s\"; supported: registry", c->name);
		if (c->nargs != 1)
			PLUGIN_FAIL(c, "registry: needs one ADDRESS where GET /registry is served to anyone, e.g. :8181");
		if (httpd_parse_addr(c->args[0], r->reg.addr, sizeof(r->reg.addr), aerr, sizeof(aerr)) < 0)
			PLUGIN_FAIL(c, "registry: %s", aerr);
	}
	*state = r;
	return 0;
fail:
	free(r);
	return -1;
}

static int ready_start(void *state, const struct plugin_env *env)
{
	struct ready *r = state;

	r->host = env->host;
	if (httpd_endpoint_route(&r->ep, env->httpd, name, "/ready", on_ready, r) < 0)
		return -1;
	return httpd_endpoint_route(r->reg.addr[0] ? &r->reg : &r->ep, env->httpd, name,
		"/registry", on_registry, r);
}

const struct plugin_ops ready_plugin = {
	.name = "ready",
	.setup = ready_setup,
	.start = ready_start,
	.free = ready_free,
};
