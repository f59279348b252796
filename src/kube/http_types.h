/*
 * http_types.h -- what a request to http_client.h is made of (its
 * options, TLS settings and result) and the callbacks it reports to.
 * Apart from http_client.h so that http_client_opts.c, which turns the
 * options into libcurl's, needs nothing of http_client.c.
 */
#ifndef GLOBALDNS_HTTP_TYPES_H
#define GLOBALDNS_HTTP_TYPES_H

#include <stddef.h>

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

#endif
