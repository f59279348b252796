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

/* What went wrong below HTTP (the status code is separate). */
enum http_error {
	HTTP_OK = 0,            /* a response arrived, whatever its status */
	HTTP_ERR_CONNECT,       /* refused, unreachable, resolve failure */
	HTTP_ERR_TLS,           /* handshake, verification, certificates */
	HTTP_ERR_TIMEOUT,       /* connect, idle or total timeout */
	HTTP_ERR_TOO_BIG,       /* body over max_body */
	HTTP_ERR_ABORTED,       /* on_data asked to stop */
	HTTP_ERR_TRANSFER,      /* connection cut, bad chunking, bad gzip ... */
	HTTP_ERR_NOMEM,
	HTTP_ERR_IDLE,          /* no byte for read_idle_ms */
	HTTP_ERR_DEAD           /* its connection did not answer a health probe */
};

/* client-go's HTTP/2 health check: ReadIdleTimeout 30 s, PingTimeout 15 s */
#define HTTP_HEALTH_IDLE_MS 30000L
#define HTTP_HEALTH_TIMEOUT_MS 15000L

struct http_result {
	enum http_error error;
	long status;                    /* HTTP status, 0 if none arrived */
	const char *body;               /* collected body, NUL-terminated */
	size_t len;
	const char *content_type;       /* "" when absent */
	long retry_after;               /* Retry-After in seconds, -1 if absent */
	const char *message;            /* libcurl's message for error != HTTP_OK */
	int http_version;               /* 1 (1.0/1.1), 2, 0 if no answer */
};

/* TLS and credentials of a request; strings are copied by http_get. */
struct http_tls {
	const char *ca_file;            /* PEM file, or NULL */
	const char *ca_pem;             /* PEM text (beats ca_file), or NULL */
	size_t ca_pem_len;
	const char *cert_file, *key_file;
	const char *cert_pem, *key_pem; /* beat the files */
	size_t cert_pem_len, key_pem_len;
	int insecure;                   /* skip verification entirely */
	/*
	 * Send this name as SNI and verify the certificate against it, or
	 * NULL.  For https only; done with CURLOPT_CONNECT_TO (the URL is
	 * rewritten to the name, the connection still goes to the URL's host
	 * and port, and the Host header keeps the URL's host).
	 */
	const char *server_name;
};

struct http_opts {
	const char *url;
	const char *bearer;             /* token, or NULL */
	const char *username, *password;/* basic auth, or NULL */
	const struct http_tls *tls;     /* may be NULL */
	/* more header lines ("Name: value"), NULL-terminated; may be NULL */
	const char *const *headers;
	/* "" or NULL: no proxy (the environment is not read here); else a
	 * proxy URL: http://, https:// (TLS to the proxy checked with the
	 * request's CA, as Go does), socks5:// (names resolved by the proxy) */
	const char *proxy;
	int no_compression;             /* no Accept-Encoding: gzip */
	long connect_timeout_ms;        /* TCP + TLS handshake */
	long read_idle_ms;              /* fail after this long without a byte; 0: never */
	long total_timeout_ms;          /* 0: none */
	size_t max_body;                /* collected body cap; 0: 64 MiB */
	int stream;                     /* 2xx body goes to on_data */
	int health;                     /* watch the connection (see above) */
	const char *health_url;         /* what the probe asks; NULL: the URL's /version */
};

/*
 * on_data: a piece of a streaming 2xx body; return 0 to go on, -1 to abort
 * the request (it then completes with HTTP_ERR_ABORTED).  Runs inside
 * libcurl: must not call http_get, http_cancel or http_client_free.
 * on_done: the request is over (res valid only during the call); the
 * request is freed right after it returns.
 */
typedef int (*http_data_fn)(void *arg, const char *data, size_t len);
typedef void (*http_done_fn)(void *arg, const struct http_result *res);

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
