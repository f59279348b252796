/*
 * kube_proxy.c -- the proxy for the API server, by Go's rules
 * (kube_proxy.h): golang.org/x/net/http/httpproxy's useProxy and
 * NO_PROXY matching, which libcurl's own no_proxy handling does not
 * follow (it proxies loopback, and reads ALL_PROXY).
 */
#define _GNU_SOURCE 1

#include "kube_proxy.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "globaldns/util.h"

struct ip {
	int family;                     /* 0: not an IP */
	uint8_t a[16];
};

static struct ip parse_ip(const char *s)
{
	struct ip ip = { 0, { 0 } };

	if (inet_pton(AF_INET, s, ip.a) == 1)
		ip.family = AF_INET;
	else if (inet_pton(AF_INET6, s, ip.a) == 1)
		ip.family = AF_INET6;
	return ip;
}

static int ip_equal(const struct ip *x, const struct ip *y)
{
	/* Go's IP.Equal: an IPv4 address equals its IPv4-mapped IPv6 form */
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (x->family == y->family)
		return memcmp(x->a, y->a, x->family == AF_INET ? 4 : 16) == 0;
	if (x->family == AF_INET6)
		return memcmp(x->a, mapped, 12) == 0 && memcmp(x->a + 12, y->a, 4) == 0;
	return memcmp(y->a, mapped, 12) == 0 && memcmp(y->a + 12, x->a, 4) == 0;
}

static int is_loopback(const struct ip *ip)
{
	static const uint8_t v6[16] = { [15] = 1 };
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (ip->family == AF_INET)
		return ip->a[0] == 127;
	return memcmp(ip->a, v6, 16) == 0 || (memcmp(ip->a, mapped, 12) == 0 && ip->a[12] == 127);
}

/* "a.b.c.d/n" or "x::/n": does it hold ip? -1 if cidr is not one. */
static int cidr_match(const char *cidr, const struct ip *ip)
{
	char buf[64];
	const char *slash = strchr(cidr, '/');
	unsigned long bits;
	struct ip net;
	size_t len = slash ? (size_t)(slash - cidr) : 0;

	if (!slash || len >= sizeof(buf) || parse_uint(slash + 1, 128, &bits) < 0)
		return -1;
	memcpy(buf, cidr, len);
	buf[len] = '\0';
	net = parse_ip(buf);
	if (!net.family || (net.family == AF_INET && bits > 32))
		return -1;
	if (!ip->family)
		return 0;
	if (ip->family != net.family)
		return 0;
	for (unsigned long i = 0; i < bits; i++) {
		uint8_t m = (uint8_t)(0x80 >> (i % 8));
		if ((ip->a[i / 8] & m) != (net.a[i / 8] & m))
			return 0;
	}
	return 1;
}

/* Split "host:port" / "[v6]:port" / "host": host into h, port or "". */
static void split_host_port(const char *e, char *h, size_t hl, const char **port)
{
	const char *colon = strrchr(e, ':');

	*port = "";
	if (e[0] == '[') {
		const char *rb = strchr(e, ']');
		if (rb) {
			snprintf(h, hl, "%.*s", (int)(rb - e - 1), e + 1);
			if (rb[1] == ':')
				*port = rb + 2;
			return;
		}
	}
	/* one colon: host:port; more: a bare IPv6 address */
	if (colon && strchr(e, ':') == colon) {
		snprintf(h, hl, "%.*s", (int)(colon - e), e);
		*port = colon + 1;
		return;
	}
	snprintf(h, hl, "%s", e);
}

/* Does one NO_PROXY entry (trimmed, lowercase) cover host:port? */
static int no_proxy_entry(const char *e, const char *host, const struct ip *ip,
	const char *port)
{
	char h[300], dom[302];
	const char *p;
	struct ip eip;
	int c;
	size_t hl, dl;

	if ((c = cidr_match(e, ip)) >= 0)
		return c;
	split_host_port(e, h, sizeof(h), &p);
	if (!h[0])
		return 0;
	eip = parse_ip(h);
	if (eip.family)
		return ip->family && ip_equal(&eip, ip) && (!*p || strcmp(p, port) == 0);
	if (ip->family)
		return 0;               /* a domain never matches an IP host */
	/* "*.x" and ".x": subdomains; "x": x and its subdomains */
	snprintf(dom, sizeof(dom), "%s%s", h[0] == '.' ? "" : ".", h[0] == '*' && h[1] == '.' ? h + 2 : h);
	dl = strlen(dom);
	hl = strlen(host);
	if (!((hl >= dl && strcmp(host + hl - dl, dom) == 0) ||
	      (h[0] != '.' && !(h[0] == '*' && h[1] == '.') && strcmp(host, dom + 1) == 0)))
		return 0;
	return !*p || strcmp(p, port) == 0;
}

static int use_proxy(const char *host, const char *port, const char *no_proxy)
{
	struct ip ip = parse_ip(host);
	char *list, *save = NULL;

	if (strcasecmp(host, "localhost") == 0 || (ip.family && is_loopback(&ip)))
		return 0;
	if (!no_proxy || !*no_proxy)
		return 1;
	if (!(list = strdup(no_proxy)))
		return 1;
	for (char *e = strtok_r(list, ",", &save); e; e = strtok_r(NULL, ",", &save)) {
		char *end;
		while (*e == ' ' || *e == '\t')
			e++;
		end = e + strlen(e);
		while (end > e && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		for (char *c = e; *c; c++)
			if (*c >= 'A' && *c <= 'Z')
				*c = (char)(*c - 'A' + 'a');
		if (!*e)
			continue;
		if (strcmp(e, "*") == 0 || no_proxy_entry(e, host, &ip, port)) {
			free(list);
			return 0;
		}
	}
	free(list);
	return 1;
}

/* A proxy value as libcurl takes it: a scheme (http:// if none), socks5 -> socks5h. */
static char *proxy_url(const char *v, char *err, size_t errlen)
{
	const char *sep = strstr(v, "://");
	size_t n = strlen(v) + 16;
	char *out = malloc(n);

	if (!out) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	if (!sep)
		snprintf(out, n, "http://%s", v);
	else if (strncasecmp(v, "socks5://", 9) == 0)
		snprintf(out, n, "socks5h://%s", v + 9);
	else if (strncasecmp(v, "http://", 7) == 0 || strncasecmp(v, "https://", 8) == 0 ||
		 strncasecmp(v, "socks5h://", 10) == 0)
		snprintf(out, n, "%s", v);
	else {
		errf(err, errlen, "proxy \"%.200s\": unsupported scheme, must be http, https or socks5", v);
		free(out);
		return NULL;
	}
	if (strpbrk(out, "\r\n ")) {
		errf(err, errlen, "proxy \"%.200s\": not a URL", v);
		free(out);
		return NULL;
	}
	return out;
}

char *kube_proxy_for(const char *server_url, const char *http_proxy,
	const char *https_proxy, const char *no_proxy, int cgi, char *err, size_t errlen)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
	const char *val = NULL;
	char h[300];

	if (!u || curl_url_set(u, CURLUPART_URL, server_url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		out = strdup("");       /* not a URL we can reason about: no proxy */
		goto done;
	}
	if (strcasecmp(scheme, "https") == 0)
		val = https_proxy;
	else if (strcasecmp(scheme, "http") == 0 && !cgi)
		val = http_proxy;
	snprintf(h, sizeof(h), "%s", host);
	for (char *c = h; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	if (h[0] == '[') {              /* curl brackets an IPv6 host */
		memmove(h, h + 1, strlen(h));
		h[strcspn(h, "]")] = '\0';
	}
	if (!val || !*val || !use_proxy(h, port, no_proxy))
		out = strdup("");
	else
		out = proxy_url(val, err, errlen);
done:
	if (!out && !err[0])
		errf(err, errlen, "out of memory");
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

static const char *env_any(const char *a, const char *b)
{
	const char *v = getenv(a);

	return v && *v ? v : getenv(b);
}

int kube_proxy_resolve(struct kube_conn *c, char *err, size_t errlen)
{
	free(c->proxy);
	c->proxy = NULL;
	err[0] = '\0';
	if (c->proxy_url && *c->proxy_url)
		c->proxy = proxy_url(c->proxy_url, err, errlen);
	else if (c->server)
		c->proxy = kube_proxy_for(c->server, env_any("HTTP_PROXY", "http_proxy"),
			env_any("HTTPS_PROXY", "https_proxy"), env_any("NO_PROXY", "no_proxy"),
			getenv("REQUEST_METHOD") && *getenv("REQUEST_METHOD"), err, errlen);
	else
		c->proxy = strdup("");
	if (!c->proxy && !err[0])
		errf(err, errlen, "out of memory");
	return c->proxy ? 0 : -1;
}
