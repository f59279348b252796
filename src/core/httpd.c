/*
 * httpd.c -- shared evhttp listeners keyed by address (see httpd.h).
 */
#include "globaldns/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/util.h"
#include "globaldns/workers.h"

#include "accept_backoff.h"

struct httpd {
	struct event_base *base;
	struct http_listener *listeners;
};

struct http_listener {
	struct http_listener *next;
	struct httpd *h;
	char addr[128];
	struct evhttp *http;
	struct accept_backoff accept;   /* EMFILE: pause, do not spin */
	struct httpd_route *routes;     /* newest first */
};

struct httpd_route {
	struct httpd_route *next;
	struct http_listener *l;
	char path[64];
	httpd_cb cb;
	void *arg;
};

struct httpd *httpd_new(struct event_base *base)
{
	struct httpd *h = calloc(1, sizeof(*h));

	if (h)
		h->base = base;
	return h;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	while (h->listeners) {
		struct http_listener *l = h->listeners;
		h->listeners = l->next;
		while (l->routes) {
			struct httpd_route *r = l->routes;
			l->routes = r->next;
			free(r);
		}
		accept_backoff_free(&l->accept);
		evhttp_free(l->http);
		free(l);
	}
	free(h);
}

int httpd_parse_addr(const char *text, char *out, size_t outlen, char *err,
	size_t errlen)
{
	char host[64] = "";
	const char *colon, *ps;
	int port;
	struct in6_addr a6;
	struct in_addr a4;

	if (text[0] == '[') {
		const char *rb = strchr(text, ']');
		if (!rb || rb[1] != ':' || (size_t)(rb - text - 1) >= sizeof(host)) {
			snprintf(err, errlen, "\"%s\": not HOST:PORT", text);
			return -1;
		}
		memcpy(host, text + 1, (size_t)(rb - text - 1));
		host[rb - text - 1] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			snprintf(err, errlen, "\"%s\": not an IPv6 address", host);
			return -1;
		}
		ps = rb + 2;
	} else if ((colon = strrchr(text, ':'))) {
		if ((size_t)(colon - text) >= sizeof(host)) {
			snprintf(err, errlen, "\"%s\": not HOST:PORT", text);
			return -1;
		}
		memcpy(host, text, (size_t)(colon - text));
		host[colon - text] = '\0';
		if (strcmp(host, "localhost") == 0)
			snprintf(host, sizeof(host), "127.0.0.1");
		if (host[0] && inet_pton(AF_INET, host, &a4) != 1) {
			snprintf(err, errlen, "\"%s\": not an IP address (write IPv6 as [ADDR]:PORT)", host);
			return -1;
		}
		ps = colon + 1;
	} else {
		ps = text;
	}
	if (parse_port(ps, &port) < 0) {
		snprintf(err, errlen, "\"%s\": port out of range 1-65535", text);
		return -1;
	}
	if (strchr(host, ':'))
		snprintf(out, outlen, "[%s]:%d", host, port);
	else
		snprintf(out, outlen, "%s:%d", host, port);
	return 0;
}

int httpd_endpoint_setup(struct httpd_endpoint *ep, const struct cf_directive *d,
	const char *def, int properties, char *err, size_t errlen)
{
	char aerr[256];

	memset(ep, 0, sizeof(*ep));
	if (d->nargs > 1) {
		cf_errorf(err, errlen, d, d->name, "takes at most one address, got %zu arguments", d->nargs);
		return -1;
	}
	if (httpd_parse_addr(d->nargs ? d->args[0] : def, ep->addr, sizeof(ep->addr),
		aerr, sizeof(aerr)) < 0) {
		cf_errorf(err, errlen, d, d->name, "%s", aerr);
		return -1;
	}
	if (!properties && d->nchildren) {
		cf_errorf(err, errlen, &d->children[0], d->name, "takes no properties");
		return -1;
	}
	return 0;
}

int httpd_endpoint_route(struct httpd_endpoint *ep, struct httpd *h,
	const char *name, const char *path, httpd_cb cb, void *arg)
{
	char err[512];
	size_t i = 0;

	while (i < 2 && ep->routes[i])
		i++;
	if (i == 2 || !(ep->routes[i] = httpd_route_add(h, ep->addr, path, cb, arg, err, sizeof(err)))) {
		log_error("plugin/%s: %s", name, i == 2 ? "too many routes" : err);
		return -1;
	}
	return 0;
}

void httpd_endpoint_close(struct httpd_endpoint *ep)
{
	for (size_t i = 0; i < 2; i++) {
		httpd_route_remove(ep->routes[i]);
		ep->routes[i] = NULL;
	}
}

void httpd_reply_text(struct evhttp_request *req, int code,
	const char *reason, const char *body)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
		"Content-Type", "text/plain; charset=utf-8");
	if (b)
		evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req, code, reason, b);
	if (b)
		evbuffer_free(b);
}

static void on_request_locked(struct evhttp_request *req, void *arg)
{
	struct http_listener *l = arg;
	const char *uri = evhttp_request_get_uri(req);
	char path[256];
	size_t n;

	accept_backoff_ok(&l->accept);  /* a request: accept works again */
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET
	    && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		httpd_reply_text(req, 405, "Method Not Allowed", "method not allowed\n");
		return;
	}
	n = strcspn(uri ? uri : "", "?#");
	if (n >= sizeof(path))
		n = sizeof(path) - 1;
	memcpy(path, uri ? uri : "", n);
	path[n] = '\0';
	for (struct httpd_route *r = l->routes; r; r = r->next) {
		if (strcmp(r->path, path) == 0) {
			r->cb(req, r->arg);
			return;
		}
	}
	httpd_reply_text(req, 404, "Not Found", "404 page not found\n");
}

/* on_request under the data lock (workers.h) */
static void on_request(struct evhttp_request *req, void *arg)
{
	workers_lock();
	on_request_locked(req, arg);
	workers_unlock();
}

/* A listening socket for "HOST:PORT"; -1 with err. */
static int open_listen(const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	char host[64];
	const char *colon = strrchr(addr, ':');
	int port = atoi(colon + 1), fd, one = 1, zero = 0;
	size_t hl = (size_t)(colon - addr);

	memset(&ss, 0, sizeof(ss));
	if (addr[0] == '[') {
		memcpy(host, addr + 1, hl - 2);
		host[hl - 2] = '\0';
	} else {
		memcpy(host, addr, hl);
		host[hl] = '\0';
	}
	if (!host[0] || strchr(host, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (host[0])
			inet_pton(AF_INET6, host, &s6->sin6_addr);
		sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, host, &s4->sin_addr);
		sslen = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 && !host[0]) {
		/* no IPv6: every IPv4 address */
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sslen = sizeof(*s4);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	}
	if (fd < 0) {
		snprintf(err, errlen, "listen %s: %s", addr, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, host[0] ? &one : &zero, sizeof(int));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "listen %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct httpd_route *httpd_route_add(struct httpd *h, const char *addr,
	const char *path, httpd_cb cb, void *arg, char *err, size_t errlen)
{
	struct http_listener *l;
	struct httpd_route *r;

	if (!h) {
		snprintf(err, errlen, "listen %s: no HTTP endpoints in this process", addr);
		return NULL;
	}
	if (!(r = calloc(1, sizeof(*r)))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (l = h->listeners; l; l = l->next)
		if (strcmp(l->addr, addr) == 0)
			break;
	if (!l) {
		struct evhttp_bound_socket *bound;
		char what[160];
		int fd;
		l = calloc(1, sizeof(*l));
		if (!l || !(l->http = evhttp_new(h->base))) {
			free(l);
			free(r);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		snprintf(l->addr, sizeof(l->addr), "%s", addr);
		fd = open_listen(addr, err, errlen);
		if (fd < 0 || !(bound = evhttp_accept_socket_with_handle(l->http, fd))) {
			if (fd >= 0) {
				close(fd);
				snprintf(err, errlen, "listen %s: cannot watch the socket", addr);
			}
			evhttp_free(l->http);
			free(l);
			free(r);
			return NULL;
		}
		snprintf(what, sizeof(what), "http %s", addr);
		if (accept_backoff_init(&l->accept, h->base, evhttp_bound_socket_get_listener(bound), what) < 0) {
			snprintf(err, errlen, "out of memory");
			evhttp_free(l->http);
			free(l);
			free(r);
			return NULL;
		}
		evhttp_set_timeout(l->http, 10);
		evhttp_set_gencb(l->http, on_request, l);
		l->h = h;
		l->next = h->listeners;
		h->listeners = l;
	}
	r->l = l;
	snprintf(r->path, sizeof(r->path), "%s", path);
	r->cb = cb;
	r->arg = arg;
	r->next = l->routes;
	l->routes = r;
	return r;
}

void httpd_route_remove(struct httpd_route *r)
{
	struct http_listener *l, **lp;
	struct httpd_route **rp;

	if (!r)
		return;
	l = r->l;
	for (rp = &l->routes; *rp; rp = &(*rp)->next) {
		if (*rp == r) {
			*rp = r->next;
			break;
		}
	}
	free(r);
	if (l->routes)
		return;
	for (lp = &l->h->listeners; *lp; lp = &(*lp)->next) {
		if (*lp == l) {
			*lp = l->next;
			break;
		}
	}
	accept_backoff_free(&l->accept);
	evhttp_free(l->http);
	free(l);
}
