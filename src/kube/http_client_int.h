/*
 * http_client_int.h -- the inside of http_client.h, shared by its two
 * files: http_client.c (the multi on the loop, completion, liveness) and
 * http_client_opts.c (what one request asks of libcurl: URL, TLS,
 * credentials, headers, proxy; the copies libcurl keeps pointers to).
 */
#ifndef GLOBALDNS_HTTP_CLIENT_INT_H
#define GLOBALDNS_HTTP_CLIENT_INT_H

#include <stddef.h>

#include <curl/curl.h>

#include "globaldns/util.h"
#include "http_types.h"

#define HTTP_DEFAULT_MAX_BODY (64u * 1024 * 1024)

struct event_base;
struct sock_ev;

struct http_client {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct event *tick;             /* read-idle deadlines, health checks */
	struct http_req *reqs;          /* every request in flight */
	size_t nreqs;
	struct sock_ev *socks;          /* every socket libcurl watches */
	unsigned long next_sock_id;
	unsigned long probes, dead;
};

struct http_req {
	struct http_client *c;
	struct http_req *prev, *next;
	CURL *easy;
	struct curl_slist *headers;
	struct strbuf body;             /* capped at the body limit */
	int stream, too_big, aborted;
	int failed;                     /* HTTP_ERR_IDLE / HTTP_ERR_DEAD, or 0 */
	long status;                    /* of the current response head */
	int version;                    /* of that head: 1, 2 */
	long retry_after;
	char content_type[128];
	double last_rx;                 /* when the last byte came (or the start) */
	long read_idle_ms;
	int health;                     /* watch its connection */
	int is_probe;
	unsigned long probe_sock;       /* a probe: the socket it checks */
	http_data_fn on_data;
	http_done_fn on_done;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
	/* copies of what libcurl keeps pointers to, and what a probe reuses */
	char *url, *auth, *userpwd, *ca_file, *cert_file, *key_file, *sni;
	char *proxy, *health_url;
	struct curl_slist *extra;       /* the caller's header lines */
	struct curl_slist *connect_to;  /* tls-server-name: the name -> the URL's host */
	char *ca_pem, *cert_pem, *key_pem;
	size_t ca_pem_len, cert_pem_len, key_pem_len;
	int insecure, no_compression;
	long connect_timeout_ms;
};

/* The monotonic clock in ms. */
double http_now_ms(void);

/* Copy o into r and make r->easy with every option but the callbacks of
 * http_client.c; 0 or -1 (r then freed by the caller). */
int http_req_setup(struct http_req *r, const struct http_opts *o);

/* Free what http_req_setup copied (not the easy handle, not r). */
void http_req_free_copies(struct http_req *r);


#endif
