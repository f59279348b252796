/*
 * kube_util.c -- what the files of the Kubernetes source share (kube_int.h):
 * the API versions, the clock and timers, URLs, error counts and
 * messages, and the settings and credentials of a request.
 */
#define _GNU_SOURCE 1

#include "kube_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

const char *const kube_api_versions[] = { "v1", "v1beta1", "v1alpha3" };

double kube_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void kube_arm(struct event *ev, long ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(ev, &tv);
}

void kube_set_str(char **dst, const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		return;                 /* out of memory: keep the old value */
	free(*dst);
	*dst = d;
}

const char *kube_scope_name(const struct kscope *sc)
{
	return sc->ns ? sc->ns : "all namespaces";
}

void kube_count_http_error(struct kscope *sc, long code)
{
	struct kube_stats *st = &sc->stats;

	for (size_t i = 0; i < KUBE_STATS_CODES; i++) {
		if (st->http_errors[i].code == code) {
			st->http_errors[i].count++;
			return;
		}
		if (st->http_errors[i].code == 0) {
			st->http_errors[i].code = (int)code;
			st->http_errors[i].count = 1;
			return;
		}
	}
	st->http_errors_other++;
}

void kube_scope_url(const struct kscope *sc, int vidx, char *out, size_t outlen)
{
	const struct kube_client *cl = sc->cl;

	if (sc->ns)
		snprintf(out, outlen, "%s/apis/networking.istio.io/%s/namespaces/%s/serviceentries",
			cl->conn.server, kube_api_versions[vidx], sc->ns);
	else
		snprintf(out, outlen, "%s/apis/networking.istio.io/%s/serviceentries",
			cl->conn.server, kube_api_versions[vidx]);
}

/* Append "&name=escaped(value)". */
void kube_add_param(char *url, size_t urllen, const char *name, const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0);
	size_t l = strlen(url);

	if (!esc)
		return;
	snprintf(url + l, urllen - l, "%c%s=%s", strchr(url, '?') ? '&' : '?', name, esc);
	curl_free(esc);
}

void kube_transport_msg(struct kscope *sc, const struct http_result *res,
	char *msg, size_t msglen)
{
	if (res->error == HTTP_ERR_TOO_BIG) {
		sc->stats.oversize++;
		snprintf(msg, msglen, "answer larger than max_body (%zu bytes)", sc->cl->o.max_body);
	} else {
		sc->stats.transport_errors++;
		snprintf(msg, msglen, "%s: %s",
			res->error == HTTP_ERR_TIMEOUT ? "timeout" :
			res->error == HTTP_ERR_IDLE ? "silent" :
			res->error == HTTP_ERR_DEAD ? "connection dead" :
			res->error == HTTP_ERR_TLS ? "TLS" :
			res->error == HTTP_ERR_CONNECT ? "cannot connect" :
			res->error == HTTP_ERR_NOMEM ? "out of memory" : "transfer failed",
			res->message);
	}
}

int kube_prepare(struct kscope *sc, struct http_opts *o, struct http_tls *tls,
	enum scope_next then, char *err, size_t errlen)
{
	struct kube_client *cl = sc->cl;
	int rc;

	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = cl->o.timeout_ms;
	o->max_body = cl->o.max_body;
	o->proxy = cl->conn.proxy;
	o->no_compression = cl->conn.disable_compression;
	o->headers = (const char *const *)cl->conn.headers;
	o->health_url = cl->health_url;
	rc = kube_auth_prepare(cl->auth, o, tls, err, errlen);
	if (rc > 0) {
		sc->state = SC_AUTH;
		sc->next_step = then;
	}
	return rc;
}
