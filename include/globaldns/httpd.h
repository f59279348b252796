/*
 * httpd.h -- the process-wide HTTP endpoints (health, ready, metrics,
 * registry) on the main loop, with libevent's evhttp.  One `struct httpd`
 * per process; plugins reach it through their environment (plugin.h).
 *
 * CoreDNS's health, ready and prometheus listeners are process-wide: two
 * server blocks naming the same address share one listener.  Here a plugin
 * instance adds a *route* (address + path + callback); routes on the same
 * address share one socket, which is opened with the first route and
 * closed with the last.  A reload adds the new configuration's routes
 * before removing the old ones, so an unchanged address is never closed.
 */
#ifndef GLOBALDNS_HTTPD_H
#define GLOBALDNS_HTTPD_H

#include <stddef.h>

struct event_base;
struct evhttp_request;
struct httpd;
struct httpd_route;

typedef void (*httpd_cb)(struct evhttp_request *req, void *arg);

/*
 * Check an ADDRESS argument: "[HOST]:PORT" with HOST empty (every address),
 * an IPv4 or bracketed IPv6 address, or "localhost"; a bare ":PORT" or
 * "PORT" is accepted too.  Writes the canonical "HOST:PORT" form to out.
 * 0, or -1 with what is wrong in err.
 */
int httpd_parse_addr(const char *text, char *out, size_t outlen, char *err,
	size_t errlen);

/* The endpoints of a process, on base (NULL on memory exhaustion). */
struct httpd *httpd_new(struct event_base *base);
/* Close every listener and drop every route; NULL is fine. */
void httpd_free(struct httpd *h);

/*
 * Serve GET/HEAD `path` on addr (as httpd_parse_addr gives it) by calling
 * cb(req, arg), which must send a reply.  Opens the address if no route
 * uses it yet.  Returns the route (remove with httpd_route_remove) or NULL
 * with "listen ADDR: what" in err.  When several routes give the same
 * address and path, the most recently added one answers.
 */
struct httpd_route *httpd_route_add(struct httpd *h, const char *addr,
	const char *path, httpd_cb cb, void *arg, char *err, size_t errlen);

/* Remove a route; the last one on an address closes it.  NULL is fine. */
void httpd_route_remove(struct httpd_route *r);

/*
 * An HTTP endpoint directive (health, ready, prometheus): `NAME [ADDRESS]`
 * and the routes it serves there.  Embed it in the plugin's state.
 */
struct cf_directive;
struct httpd_endpoint {
	char addr[128];                 /* canonical (httpd_parse_addr) */
	struct httpd_route *routes[2];
};

/* Set up from the directive: its ADDRESS, def when there is none; a
 * sub-block is refused unless `properties`.  0, or -1 with "FILE:LINE:
 * NAME: what is wrong" in err. */
int httpd_endpoint_setup(struct httpd_endpoint *ep, const struct cf_directive *d,
	const char *def, int properties, char *err, size_t errlen);

/* Serve path there (the next free route slot); 0, or -1 with the reason
 * logged as "plugin/NAME: ...". */
int httpd_endpoint_route(struct httpd_endpoint *ep, struct httpd *h,
	const char *name, const char *path, httpd_cb cb, void *arg);

/* Remove its routes (the last route on an address closes it). */
void httpd_endpoint_close(struct httpd_endpoint *ep);

/* Send a text reply with the given status (Content-Type text/plain). */
void httpd_reply_text(struct evhttp_request *req, int code,
	const char *reason, const char *body);

#endif
