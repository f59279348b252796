/*
 * http_client.h -- HTTP(S) GETs driven by the libevent loop, through
 * libcurl's multi interface.
 *
 * Design: one `struct http_client` per event base holds a CURLM handle.
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 * when to wake it (CURLMOPT_TIMERFUNCTION); we turn those into libevent
 * events and hand every readiness back with curl_multi_socket_action().
 * Nothing here ever blocks: the DNS listeners on the same loop keep
 * answering while a large body downloads.
 *
 * A request either collects its whole body (up to max_body bytes) and
 * reports it at the end, or, for a streaming request (a watch, a list
 * parsed as it arrives), passes each piece of a 2xx body to on_data; a
 * non-2xx body is always collected, so an error Status can be read.
 * Completion callbacks run from the loop, outside libcurl, so they may
 * start or cancel requests.
 *
 * Liveness, as client-go's HTTP/2 transport and more: a request with
 * read_idle_ms fails when no byte of it has arrived for that long (a
 * stream that went quiet: past the API server's minute between
 * bookmarks, a watch is dead).  A request with `health` set has its
 * connection watched: when it is HTTP/2 and no byte has come in on it for
 * HTTP_HEALTH_IDLE_MS, a probe (a GET of health_url with the request's own
 * credentials, on the same connection, any HTTP answer will do) must be
 * answered within HTTP_HEALTH_TIMEOUT_MS, or the connection is shut down:
 * every stream on it fails (HTTP_ERR_DEAD) and new requests open a new
 * connection.  (libcurl's own HTTP/2 PING, curl_easy_upkeep, neither works
 * on multi handles nor waits for the answer.)
 *
 * Sockets are made close-on-exec (an exec credential plugin must not
 * inherit them).  The proxy is always set explicitly: libcurl would
 * otherwise read the proxy environment by its own rules.
 */
#ifndef GLOBALDNS_HTTP_CLIENT_H
#define GLOBALDNS_HTTP_CLIENT_H

#include <stddef.h>

struct event_base;
struct http_client;
struct http_req;

#include "http_types.h"

/* A client on base; NULL on failure.  Initialises libcurl once. */
struct http_client *http_client_new(struct event_base *base);

/* Cancel every request (no callbacks) and free; NULL is fine. */
void http_client_free(struct http_client *c);

/*
 * Start a GET.  Returns the request (valid until on_done returns or
 * http_cancel), or NULL on failure (nothing will be called).  Headers
 * "Accept: application/json" and "Accept-Encoding: gzip" are always sent;
 * gzip bodies are decoded before on_data / the cap.
 */
struct http_req *http_get(struct http_client *c, const struct http_opts *o,
	http_data_fn on_data, http_done_fn on_done, void *arg);

/* The status of the response head received so far, 0 before one. */
long http_req_status(const struct http_req *r);

/* The HTTP version of that response: 1, 2, or 0 before one. */
int http_req_version(const struct http_req *r);

/* Probes sent and connections found dead (for metrics and tests). */
unsigned long http_client_probes(const struct http_client *c);
unsigned long http_client_dead(const struct http_client *c);

/* Stop a request without calling on_done; NULL is fine. */
void http_cancel(struct http_req *r);

/* Requests in flight (for tests and leak checks). */
size_t http_client_active(const struct http_client *c);

#endif
