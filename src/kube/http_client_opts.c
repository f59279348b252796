/*
 * http_client_opts.c -- what one request asks of libcurl (http_client.h):
 * the URL, TLS and credentials, header lines, the proxy, timeouts, and
 * the copies of every string libcurl keeps a pointer to.
 */
#define _GNU_SOURCE 1
#include "config.h"

#include "http_client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <curl/curl.h>

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = '\0';
	}
	return d;
}

static int dup_opt(char **dst, const char *s)
{
	return s && !(*dst = strdup(s)) ? -1 : 0;
}

static int copy_tls(struct http_req *r, const struct http_tls *t)
{
	if (t->ca_pem && !(r->ca_pem = dupn(t->ca_pem, r->ca_pem_len = t->ca_pem_len)))
		return -1;
	if (t->cert_pem && !(r->cert_pem = dupn(t->cert_pem, r->cert_pem_len = t->cert_pem_len)))
		return -1;
	if (t->key_pem && !(r->key_pem = dupn(t->key_pem, r->key_pem_len = t->key_pem_len)))
		return -1;
	r->insecure = t->insecure;
	return dup_opt(&r->ca_file, t->ca_file) || dup_opt(&r->cert_file, t->cert_file) ||
		dup_opt(&r->key_file, t->key_file) || dup_opt(&r->sni, t->server_name) ? -1 : 0;
}

/* The request's CA and verification, for the server or (proxy) an https proxy. */
static void set_ca(struct http_req *r, int proxy)
{
	CURL *e = r->easy;

	if (r->insecure) {
		curl_easy_setopt(e, proxy ? CURLOPT_PROXY_SSL_VERIFYPEER : CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, proxy ? CURLOPT_PROXY_SSL_VERIFYHOST : CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (r->ca_pem) {
		struct curl_blob b = { r->ca_pem, r->ca_pem_len, CURL_BLOB_NOCOPY };
		curl_easy_setopt(e, proxy ? CURLOPT_PROXY_CAINFO_BLOB : CURLOPT_CAINFO_BLOB, &b);
	} else if (r->ca_file) {
		curl_easy_setopt(e, proxy ? CURLOPT_PROXY_CAINFO : CURLOPT_CAINFO, r->ca_file);
	}
}

static void set_tls(struct http_req *r)
{
	CURL *e = r->easy;

	set_ca(r, 0);
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
 * The proxy, always explicit (libcurl would read the environment by its
 * own rules, not Go's): "" for none.  socks5:// resolves names at the
 * proxy, as Go's SOCKS5 dialer does (libcurl calls that socks5h); the TLS
 * of an https:// proxy is checked with the request's CA, as Go's
 * transport uses its TLS configuration for the proxy too.
 */
static void set_proxy(struct http_req *r)
{
	CURL *e = r->easy;

	if (!r->proxy || !*r->proxy) {
		curl_easy_setopt(e, CURLOPT_PROXY, "");
		return;
	}
	curl_easy_setopt(e, CURLOPT_PROXY, r->proxy);
	/* and libcurl's reading of NO_PROXY is off too: the choice is made */
	curl_easy_setopt(e, CURLOPT_NOPROXY, "");
	if (strncasecmp(r->proxy, "https://", 8) == 0)
		set_ca(r, 1);
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

/* Sockets close-on-exec: an exec credential plugin must not inherit them. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
	struct curl_sockaddr *a)
{
	(void)clientp;
	(void)purpose;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

static int add_header(struct http_req *r, const char *line)
{
	struct curl_slist *h = curl_slist_append(r->headers, line);

	if (!h)
		return -1;
	r->headers = h;
	return 0;
}

int http_req_setup(struct http_req *r, const struct http_opts *o)
{
	CURL *e;

	if (!(r->url = strdup(o->url)) || dup_opt(&r->proxy, o->proxy) < 0 ||
	    dup_opt(&r->health_url, o->health_url) < 0)
		return -1;
	if (o->tls && copy_tls(r, o->tls) < 0)
		return -1;
	r->no_compression = o->no_compression;
	r->connect_timeout_ms = o->connect_timeout_ms;
	if (add_header(r, "Accept: application/json") < 0)
		return -1;
	if (r->sni && apply_server_name(r) < 0)
		return -1;
	if (o->bearer) {
		size_t n = strlen(o->bearer) + 32;
		if (!(r->auth = malloc(n)))
			return -1;
		snprintf(r->auth, n, "Authorization: Bearer %s", o->bearer);
		if (add_header(r, r->auth) < 0)
			return -1;
	}
	for (const char *const *h = o->headers; h && *h; h++) {
		struct curl_slist *x = curl_slist_append(r->extra, *h);
		if (!x || add_header(r, *h) < 0) {
			if (x)
				r->extra = x;
			return -1;
		}
		r->extra = x;
	}
	if (!(e = r->easy = curl_easy_init()))
		return -1;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	/* client-go's DisableCompression: no Accept-Encoding at all */
	if (!o->no_compression)
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
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
	if (o->connect_timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
	if (o->total_timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, o->total_timeout_ms);
	if (o->username && o->password) {
		size_t n = strlen(o->username) + strlen(o->password) + 2;
		if (!(r->userpwd = malloc(n)))
			return -1;
		snprintf(r->userpwd, n, "%s:%s", o->username, o->password);
		curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(e, CURLOPT_USERPWD, r->userpwd);
	}
	set_tls(r);
	set_proxy(r);
	return 0;
}

void http_req_free_copies(struct http_req *r)
{
	curl_slist_free_all(r->headers);
	curl_slist_free_all(r->extra);
	curl_slist_free_all(r->connect_to);
	free(r->url);
	free(r->auth);
	free(r->userpwd);
	free(r->ca_file);
	free(r->cert_file);
	free(r->key_file);
	free(r->sni);
	free(r->proxy);
	free(r->health_url);
	free(r->ca_pem);
	free(r->cert_pem);
	free(r->key_pem);
}
