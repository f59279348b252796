/*
 * http_client.c -- libcurl's multi interface on the libevent loop.
 *
 * libcurl asks, through the socket callback, for each socket it wants to
 * hear about (read, write, both, or no longer); each gets a persistent
 * libevent event whose callback hands the readiness back with
 * curl_multi_socket_action().  The timer callback asks to be woken after
 * some milliseconds; one libevent timer does that.  After every action the
 * finished transfers are collected (curl_multi_info_read) and their
 * completion callbacks run, outside libcurl.
 */
#include "config.h"

#include "http_client.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "globaldns/util.h"


#define HTTP_DEFAULT_MAX_BODY (64u * 1024 * 1024)

struct http_client {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct http_req *reqs;          /* every request in flight */
	size_t nreqs;
	int in_check;
};

struct http_req {
	struct http_client *c;
	struct http_req *prev, *next;
	CURL *easy;
	struct curl_slist *headers;
	struct strbuf body;             /* capped at the body limit */
	int stream, too_big, aborted;
	long status;                    /* of the current response head */
	long retry_after;
	char content_type[128];
	http_data_fn on_data;
	http_done_fn on_done;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
	/* copies of what libcurl keeps pointers to */
	char *url, *auth, *userpwd, *ca_file, *cert_file, *key_file, *sni;
	struct curl_slist *connect_to;  /* tls-server-name: the name -> the URL's host */
	char *ca_pem, *cert_pem, *key_pem;
	size_t ca_pem_len, cert_pem_len, key_pem_len;
};

struct sock_ev {
	struct event *ev;
	struct http_client *c;
};

static int curl_users;

static void check_done(struct http_client *c);

static void on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *c = arg;
	int flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	check_done(c);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *c = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
	void *socketp)
{
	struct http_client *c = userp;
	struct sock_ev *se = socketp;
	short kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (se) {
			event_free(se->ev);
			free(se);
			curl_multi_assign(c->multi, s, NULL);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (!se) {
		se = calloc(1, sizeof(*se));
		if (!se)
			return -1;
		se->c = c;
		se->ev = event_new(c->base, s, kind, on_socket_ready, c);
		if (!se->ev) {
			free(se);
			return -1;
		}
		curl_multi_assign(c->multi, s, se);
	} else {
		event_del(se->ev);
		if (event_assign(se->ev, c->base, s, kind, on_socket_ready, c) < 0)
			return -1;
	}
	return event_add(se->ev, NULL) < 0 ? -1 : 0;
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0)
		return evtimer_del(c->timer);
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(c->timer, &tv);
}

struct http_client *http_client_new(struct event_base *base)
{
	struct http_client *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (curl_users == 0 && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(c);
		return NULL;
	}
	curl_users++;
	c->base = base;
	c->multi = curl_multi_init();
	c->timer = evtimer_new(base, on_timeout, c);
	if (!c->multi || !c->timer) {
		http_client_free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
}

static void req_free(struct http_req *r)
{
	struct http_client *c = r->c;

	if (r->easy) {
		curl_multi_remove_handle(c->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	if (r->prev)
		r->prev->next = r->next;
	else if (c->reqs == r)
		c->reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	c->nreqs--;
	curl_slist_free_all(r->headers);
	curl_slist_free_all(r->connect_to);
	free(r->body.p);
	free(r->url);
	free(r->auth);
	free(r->userpwd);
	free(r->ca_file);
	free(r->cert_file);
	free(r->key_file);
	free(r->sni);
	free(r->ca_pem);
	free(r->cert_pem);
	free(r->key_pem);
	free(r);
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	while (c->reqs)
		req_free(c->reqs);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	if (c->timer)
		event_free(c->timer);
	free(c);
	if (--curl_users == 0)
		curl_global_cleanup();
}

size_t http_client_active(const struct http_client *c)
{
	return c ? c->nreqs : 0;
}

static int append(struct http_req *r, const char *data, size_t n)
{
	if (n > r->body.max - r->body.len)
		r->too_big = 1;
	return strbuf_add(&r->body, data, n);
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_req *r = userp;
	size_t n = size * nmemb;

	if (r->stream && r->status >= 200 && r->status < 300) {
		if (r->on_data(r->arg, data, n) < 0) {
			r->aborted = 1;
			return 0;
		}
		return n;
	}
	return append(r, data, n) < 0 ? 0 : n;
}

/* Header lines: status line (a new response), Content-Type, Retry-After. */
long http_req_status(const struct http_req *r)
{
	return r ? r->status : 0;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_req *r = userp;
	size_t n = size * nmemb, vl;
	const char *v;

	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		const char *sp = memchr(data, ' ', n);
		r->status = 0;
		r->retry_after = -1;
		r->content_type[0] = '\0';
		if (sp && (size_t)(sp - data) + 4 <= n)
			r->status = strtol(sp + 1, NULL, 10);
		return n;
	}
	if (n > 12 && strncasecmp(data, "Retry-After:", 12) == 0) {
		char tmp[32];
		char *end;
		long s;
		v = data + 12;
		vl = n - 12;
		if (vl >= sizeof(tmp))
			vl = sizeof(tmp) - 1;
		memcpy(tmp, v, vl);
		tmp[vl] = '\0';
		errno = 0;
		s = strtol(tmp, &end, 10);
		while (*end == ' ' || *end == '\r' || *end == '\n' || *end == '\t')
			end++;
		if (!errno && end != tmp && *end == '\0' && s >= 0)
			r->retry_after = s;
		return n;
	}
	if (n > 13 && strncasecmp(data, "Content-Type:", 13) == 0) {
		v = data + 13;
		vl = n - 13;
		while (vl && (*v == ' ' || *v == '\t')) {
			v++;
			vl--;
		}
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl >= sizeof(r->content_type))
			vl = sizeof(r->content_type) - 1;
		memcpy(r->content_type, v, vl);
		r->content_type[vl] = '\0';
	}
	return n;
}

static enum http_error map_error(const struct http_req *r, CURLcode rc)
{
	if (rc == CURLE_OK)
		return HTTP_OK;
	if (r->too_big)
		return HTTP_ERR_TOO_BIG;
	if (r->aborted)
		return HTTP_ERR_ABORTED;
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return HTTP_ERR_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return HTTP_ERR_TIMEOUT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return HTTP_ERR_TLS;
	case CURLE_OUT_OF_MEMORY:
		return HTTP_ERR_NOMEM;
	case CURLE_WRITE_ERROR:
		return HTTP_ERR_NOMEM;  /* append failed without too_big */
	default:
		return HTTP_ERR_TRANSFER;
	}
}

static void check_done(struct http_client *c)
{
	CURLMsg *m;
	int left;

	/* a completion callback may free or start requests: collect in a loop */
	while ((m = curl_multi_info_read(c->multi, &left))) {
		struct http_req *r = NULL;
		struct http_result res;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (!r)
			continue;
		memset(&res, 0, sizeof(res));
		res.error = map_error(r, m->data.result);
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
		res.body = r->body.p ? r->body.p : "";
		res.len = r->body.len;
		res.content_type = r->content_type;
		res.retry_after = r->retry_after;
		res.message = res.error == HTTP_OK ? ""
			: r->errbuf[0] ? r->errbuf : curl_easy_strerror(m->data.result);
		if (res.error == HTTP_ERR_TOO_BIG)
			res.message = "body larger than the configured cap";
		/* take it off the multi first so on_done may start new transfers */
		curl_multi_remove_handle(c->multi, r->easy);
		r->on_done(r->arg, &res);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
		req_free(r);
	}
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int copy_tls(struct http_req *r, const struct http_tls *t)
{
	if (t->ca_pem && !(r->ca_pem = dupn(t->ca_pem, r->ca_pem_len = t->ca_pem_len)))
		return -1;
	if (t->cert_pem && !(r->cert_pem = dupn(t->cert_pem, r->cert_pem_len = t->cert_pem_len)))
		return -1;
	if (t->key_pem && !(r->key_pem = dupn(t->key_pem, r->key_pem_len = t->key_pem_len)))
		return -1;
	if (t->ca_file && !(r->ca_file = strdup(t->ca_file)))
		return -1;
	if (t->cert_file && !(r->cert_file = strdup(t->cert_file)))
		return -1;
	if (t->key_file && !(r->key_file = strdup(t->key_file)))
		return -1;
	if (t->server_name && !(r->sni = strdup(t->server_name)))
		return -1;
	return 0;
}

static void set_tls(struct http_req *r, const struct http_tls *t)
{
	CURL *e = r->easy;

	if (t->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (r->ca_pem) {
		struct curl_blob b = { r->ca_pem, r->ca_pem_len, CURL_BLOB_NOCOPY };
		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	} else if (r->ca_file) {
		curl_easy_setopt(e, CURLOPT_CAINFO, r->ca_file);
	}
	if (r->cert_pem) {
		struct curl_blob b = { r->cert_pem, r->cert_pem_len, CURL_BLOB_NOCOPY };
		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
		curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
	} else if (r->cert_file) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, r->cert_file);
	}
	if (r->key_pem) {
		struct curl_blob b = { r->key_pem, r->key_pem_len, CURL_BLOB_NOCOPY };
		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
		curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
	} else if (r->key_file) {
		curl_easy_setopt(e, CURLOPT_SSLKEY, r->key_file);
	}
	if (r->connect_to)
		curl_easy_setopt(e, CURLOPT_CONNECT_TO, r->connect_to);
}

/*
 * tls-server-name: send this name as SNI and verify the certificate
 * against it, while connecting to the URL's host.  libcurl 7.88 has no
 * option for that, so the URL is rewritten to name the server name,
 * CURLOPT_CONNECT_TO maps "name:port" back to the real host and port, and
 * an explicit Host header keeps what the original URL would have sent.
 * Only for https URLs whose host differs.  0, or -1 (out of memory, or a
 * name that cannot be a URL host).
 */
static int apply_server_name(struct http_req *r)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *given = NULL, *url = NULL;
	char *line = NULL;
	struct curl_slist *h;
	size_t n;
	int rc = -1;

	if (!u || curl_url_set(u, CURLUPART_URL, r->url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	if (strcasecmp(scheme, "https") != 0 || strcasecmp(host, r->sni) == 0) {
		rc = 0;
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &given, 0) != CURLUE_OK)
		given = NULL;           /* the scheme's default: no port in Host */
	if (curl_url_set(u, CURLUPART_HOST, r->sni, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
		goto out;
	n = strlen(r->sni) + strlen(host) + 2 * strlen(port) + 8;
	if (!(line = malloc(n)))
		goto out;
	snprintf(line, n, "%s:%s:%s:%s", r->sni, port, host, port);
	if (!(r->connect_to = curl_slist_append(NULL, line)))
		goto out;
	snprintf(line, n, "Host: %s%s%s", host, given ? ":" : "", given ? given : "");
	if (!(h = curl_slist_append(r->headers, line)))
		goto out;
	r->headers = h;
	free(r->url);
	if (!(r->url = strdup(url)))
		goto out;
	rc = 0;
out:
	free(line);
	curl_free(url);
	curl_free(given);
	curl_free(port);
	curl_free(host);
	curl_free(scheme);
	curl_url_cleanup(u);
	return rc;
}

struct http_req *http_get(struct http_client *c, const struct http_opts *o,
	http_data_fn on_data, http_done_fn on_done, void *arg)
{
	struct http_req *r = calloc(1, sizeof(*r));
	struct curl_slist *h;
	CURL *e;

	if (!r)
		return NULL;
	r->c = c;
	r->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = r;
	c->reqs = r;
	c->nreqs++;
	r->body.max = o->max_body ? o->max_body : HTTP_DEFAULT_MAX_BODY;
	r->stream = o->stream && on_data;
	r->on_data = on_data;
	r->on_done = on_done;
	r->arg = arg;
	r->retry_after = -1;
	if (!(r->url = strdup(o->url)))
		goto fail;
	if (o->tls && copy_tls(r, o->tls) < 0)
		goto fail;
	if (!(h = curl_slist_append(NULL, "Accept: application/json")))
		goto fail;
	r->headers = h;
	if (r->sni && apply_server_name(r) < 0)
		goto fail;
	if (o->bearer) {
		size_t n = strlen(o->bearer) + 32;
		if (!(r->auth = malloc(n)))
			goto fail;
		snprintf(r->auth, n, "Authorization: Bearer %s", o->bearer);
		if (!(h = curl_slist_append(r->headers, r->auth)))
			goto fail;
		r->headers = h;
	}
	if (!(e = r->easy = curl_easy_init()))
		goto fail;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "globaldns/" PACKAGE_VERSION);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* HTTP/2 (curl's default over TLS, as the API server speaks it):
	 * requests started together wait for the first connection and share
	 * it as streams, one connection per server as client-go keeps */
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
	if (o->connect_timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	if (o->total_timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
	if (o->idle_timeout_s > 0) {
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, o->idle_timeout_s);
	}
	if (o->username && o->password) {
		size_t n = strlen(o->username) + strlen(o->password) + 2;
		if (!(r->userpwd = malloc(n)))
			goto fail;
		snprintf(r->userpwd, n, "%s:%s", o->username, o->password);
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERPWD, r->userpwd);
	}
	if (o->tls)
		set_tls(r, o->tls);
	if (curl_multi_add_handle(c->multi, e) != CURLM_OK)
		goto fail;
	return r;
fail:
	req_free(r);
	return NULL;
}

void http_cancel(struct http_req *r)
{
	if (r)
		req_free(r);
}
