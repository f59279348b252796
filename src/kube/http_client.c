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
 *
 * A one-second tick, while requests are in flight, enforces read_idle_ms
 * and runs the HTTP/2 health check (http_client.h): each socket keeps when
 * it last became readable (libevent says so; any frame counts, the answer
 * to a probe too), each request when its last byte came.  The options of
 * a request (TLS, proxy, headers) are set in http_client_opts.c.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include "http_client.h"
#include "http_client_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#define TICK_MS 1000

struct sock_ev {
	struct event *ev;
	struct http_client *c;
	struct sock_ev *next;
	curl_socket_t fd;
	unsigned long id;
	long lport;                     /* its local port, 0 until known */
	double last_read;               /* when it last became readable */
	int probing;                    /* a probe is out for it */
};

static int curl_users;

static void check_done(struct http_client *c);

double http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static struct sock_ev *sock_by_id(const struct http_client *c, unsigned long id)
{
	for (struct sock_ev *se = c->socks; se; se = se->next)
		if (se->id == id)
			return se;
	return NULL;
}

static void on_socket_ready(evutil_socket_t fd, short what, void *arg)
{
	struct sock_ev *se = arg;
	struct http_client *c = se->c;
	int flags = 0, running;

	if (what & EV_READ) {
		flags |= CURL_CSELECT_IN;
		se->last_read = http_now_ms();
	}
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	/* se may be freed inside: use nothing of it after this */
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

static void sock_forget(struct http_client *c, struct sock_ev *se)
{
	for (struct sock_ev **p = &c->socks; *p; p = &(*p)->next)
		if (*p == se) {
			*p = se->next;
			break;
		}
	event_free(se->ev);
	free(se);
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
			curl_multi_assign(c->multi, s, NULL);
			sock_forget(c, se);
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
		se->fd = s;
		se->id = ++c->next_sock_id;
		se->last_read = http_now_ms();
		se->ev = event_new(c->base, s, kind, on_socket_ready, se);
		if (!se->ev) {
			free(se);
			return -1;
		}
		se->next = c->socks;
		c->socks = se;
		curl_multi_assign(c->multi, s, se);
	} else {
		event_del(se->ev);
		if (event_assign(se->ev, c->base, s, kind, on_socket_ready, se) < 0)
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

static void arm_tick(struct http_client *c)
{
	struct timeval tv = { TICK_MS / 1000, (TICK_MS % 1000) * 1000 };

	if (!evtimer_pending(c->tick, NULL))
		evtimer_add(c->tick, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg);

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
	c->tick = evtimer_new(base, on_tick, c);
	if (!c->multi || !c->timer || !c->tick) {
		http_client_free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
}

static void http_req_free(struct http_req *r)
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
	http_req_free_copies(r);
	free(r->body.p);
	free(r);
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	while (c->reqs)
		http_req_free(c->reqs);
	if (c->multi)
		curl_multi_cleanup(c->multi);
	while (c->socks)        /* normally gone with the multi */
		sock_forget(c, c->socks);
	if (c->timer)
		event_free(c->timer);
	if (c->tick)
		event_free(c->tick);
	free(c);
	if (--curl_users == 0)
		curl_global_cleanup();
}

size_t http_client_active(const struct http_client *c)
{
	return c ? c->nreqs : 0;
}

unsigned long http_client_probes(const struct http_client *c)
{
	return c ? c->probes : 0;
}

unsigned long http_client_dead(const struct http_client *c)
{
	return c ? c->dead : 0;
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

	r->last_rx = http_now_ms();
	if (r->stream && r->status >= 200 && r->status < 300) {
		if (r->on_data(r->arg, data, n) < 0) {
			r->aborted = 1;
			return 0;
		}
		return n;
	}
	return append(r, data, n) < 0 ? 0 : n;
}

long http_req_status(const struct http_req *r)
{
	return r ? r->status : 0;
}

int http_req_version(const struct http_req *r)
{
	return r ? r->version : 0;
}

/* Header lines: status line (a new response), Content-Type, Retry-After. */
static size_t header_cb(char *data, size_t size, size_t nmemb, void *userp)
{
	struct http_req *r = userp;
	size_t n = size * nmemb, vl;
	const char *v;

	r->last_rx = http_now_ms();
	if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		const char *sp = memchr(data, ' ', n);
		r->status = 0;
		r->retry_after = -1;
		r->content_type[0] = '\0';
		r->version = n > 5 && data[5] == '2' ? 2 : 1;
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
	if (r->failed)
		return (enum http_error)r->failed;
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

/* Report the end of r (outside libcurl) and free it. */
static void finish(struct http_req *r, CURLcode rc)
{
	struct http_client *c = r->c;
	struct http_result res;

	memset(&res, 0, sizeof(res));
	res.error = map_error(r, rc);
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res.status);
	res.body = r->body.p ? r->body.p : "";
	res.len = r->body.len;
	res.content_type = r->content_type;
	res.retry_after = r->retry_after;
	res.http_version = r->version;
	res.message = res.error == HTTP_OK ? ""
		: r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc);
	if (res.error == HTTP_ERR_TOO_BIG)
		res.message = "body larger than the configured cap";
	if (res.error == HTTP_ERR_IDLE)
		res.message = "no data for longer than the read deadline";
	if (res.error == HTTP_ERR_DEAD)
		res.message = "the connection went silent and did not answer a health probe";
	/* take it off the multi first so on_done may start new transfers */
	curl_multi_remove_handle(c->multi, r->easy);
	r->on_done(r->arg, &res);
	curl_easy_cleanup(r->easy);
	r->easy = NULL;
	http_req_free(r);
}

static void check_done(struct http_client *c)
{
	CURLMsg *m;
	int left;

	/* a completion callback may free or start requests: collect in a loop */
	while ((m = curl_multi_info_read(c->multi, &left))) {
		struct http_req *r = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r)
			finish(r, m->data.result);
	}
}

/* ---- liveness: read deadlines, the HTTP/2 health check ---- */

static void on_probe_done(void *arg, const struct http_result *res);

/*
 * The socket r's transfer runs on, or NULL.  libcurl 7.88 tells the
 * socket of a transfer only once it is done (CURLINFO_ACTIVESOCKET), but
 * its local port while it runs, multiplexed ones too: matched with the
 * local port of each socket it asked us to watch.
 */
static struct sock_ev *sock_of(const struct http_req *r)
{
	long lport = 0;

	if (curl_easy_getinfo(r->easy, CURLINFO_LOCAL_PORT, &lport) != CURLE_OK || lport <= 0)
		return NULL;
	for (struct sock_ev *se = r->c->socks; se; se = se->next) {
		if (!se->lport) {
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			if (getsockname(se->fd, (struct sockaddr *)&ss, &sl) == 0)
				se->lport = ss.ss_family == AF_INET6
					? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
					: ntohs(((struct sockaddr_in *)&ss)->sin_port);
		}
		if (se->lport == lport)
			return se;
	}
	return NULL;
}

/* A new request on r's client asking r->health_url with r's credentials,
 * TLS and proxy, for at most HTTP_HEALTH_TIMEOUT_MS; started, or NULL. */
static struct http_req *clone_probe(const struct http_req *r, http_done_fn on_done)
{
	struct http_tls tls = {
		.ca_file = r->ca_file, .ca_pem = r->ca_pem, .ca_pem_len = r->ca_pem_len,
		.cert_file = r->cert_file, .key_file = r->key_file,
		.cert_pem = r->cert_pem, .cert_pem_len = r->cert_pem_len,
		.key_pem = r->key_pem, .key_pem_len = r->key_pem_len,
		.insecure = r->insecure, .server_name = r->sni,
	};
	struct http_opts o = {
		.url = r->health_url, .tls = &tls, .proxy = r->proxy, .no_compression = 1,
		.connect_timeout_ms = r->connect_timeout_ms,
		.total_timeout_ms = HTTP_HEALTH_TIMEOUT_MS, .max_body = 65536,
	};
	const char *hdrs[33];
	char *user = NULL, *colon;
	size_t n = 0;
	struct http_req *p;

	if (!r->health_url)
		return NULL;
	/* the same identity: bearer, basic auth, impersonation */
	if (r->auth)
		o.bearer = r->auth + strlen("Authorization: Bearer ");
	for (const struct curl_slist *h = r->extra; h && n < 32; h = h->next)
		hdrs[n++] = h->data;
	hdrs[n] = NULL;
	o.headers = hdrs;
	if (r->userpwd && (user = strdup(r->userpwd)) && (colon = strchr(user, ':'))) {
		*colon = '\0';
		o.username = user;
		o.password = colon + 1;
	}
	p = http_get(r->c, &o, NULL, on_done, NULL);
	free(user);
	return p;
}

/* Ask, on r's connection, for something any API server answers. */
static void start_probe(struct http_req *r, struct sock_ev *se)
{
	struct http_req *p = clone_probe(r, on_probe_done);

	if (!p)
		return;
	p->arg = p;
	p->is_probe = 1;
	p->probe_sock = se->id;
	se->probing = 1;
	r->c->probes++;
}

/*
 * A connection that did not answer: shut it down.  libcurl then sees the
 * end of it and fails every stream on it; those the owner asked to watch
 * say why (HTTP_ERR_DEAD).
 */
static void kill_connection(struct http_client *c, struct sock_ev *se)
{
	for (struct http_req *r = c->reqs; r; r = r->next)
		if (!r->is_probe && sock_of(r) == se)
			r->failed = HTTP_ERR_DEAD;
	c->dead++;
	shutdown(se->fd, SHUT_RDWR);
}

static void on_probe_done(void *arg, const struct http_result *res)
{
	struct http_req *self = arg;
	struct http_client *c = self->c;
	struct sock_ev *se = sock_by_id(c, self->probe_sock);

	if (!se)
		return;         /* the connection is gone anyway */
	se->probing = 0;
	if (res->error == HTTP_OK)
		return;         /* any answer: it lives (its bytes moved last_read) */
	/* no answer in time, and nothing else came meanwhile either */
	if (http_now_ms() - se->last_read >= HTTP_HEALTH_TIMEOUT_MS)
		kill_connection(c, se);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct http_client *c = arg;
	double now = http_now_ms();
	struct http_req *r, *next;

	(void)fd;
	(void)what;
	for (r = c->reqs; r; r = next) {
		next = r->next;
		if (r->read_idle_ms > 0 && now - r->last_rx >= (double)r->read_idle_ms) {
			r->failed = HTTP_ERR_IDLE;
			/* finish may free any request: start over */
			finish(r, CURLE_OPERATION_TIMEDOUT);
			next = c->reqs;
			continue;
		}
		if (r->health && r->version == 2 && !r->is_probe) {
			struct sock_ev *se = sock_of(r);
			if (se && !se->probing && now - se->last_read >= HTTP_HEALTH_IDLE_MS)
				start_probe(r, se);
		}
	}
	if (c->nreqs)
		arm_tick(c);
}

/* ---- requests ---- */

struct http_req *http_get(struct http_client *c, const struct http_opts *o,
	http_data_fn on_data, http_done_fn on_done, void *arg)
{
	struct http_req *r = calloc(1, sizeof(*r));

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
	r->last_rx = http_now_ms();
	r->read_idle_ms = o->read_idle_ms;
	r->health = o->health;
	if (http_req_setup(r, o) < 0)
		goto fail;
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK)
		goto fail;
	arm_tick(c);
	return r;
fail:
	http_req_free(r);
	return NULL;
}

void http_cancel(struct http_req *r)
{
	if (r)
		http_req_free(r);
}
