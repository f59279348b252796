/*
 * kube_proxy.h -- which proxy a request to the API server goes through,
 * decided as kubectl (client-go, Go's net/http) decides it, not as
 * libcurl would read the environment:
 *
 *   - the cluster's proxy-url in the kubeconfig, if set, for every
 *     request (http://, https:// or socks5://; socks5 resolves names at
 *     the proxy, as Go's dialer does);
 *   - else the environment, as Go's http.ProxyFromEnvironment: HTTPS_PROXY
 *     (or https_proxy) for an https server, HTTP_PROXY (or http_proxy) for
 *     an http one -- ignored when REQUEST_METHOD is set (CGI) -- a value
 *     without a scheme taken as http://; never for "localhost" or a
 *     loopback address; never for a host NO_PROXY (or no_proxy) matches:
 *     "*", an IP, a CIDR, a domain ("example.com" matches it and its
 *     subdomains, ".example.com" and "*.example.com" only subdomains),
 *     each with an optional ":port".  ALL_PROXY is not read (Go does not).
 */
#ifndef GLOBALDNS_KUBE_PROXY_H
#define GLOBALDNS_KUBE_PROXY_H

#include <stddef.h>

#include "kubeconfig.h"

/*
 * The proxy for server_url from these values (any may be NULL or ""):
 * a new string, "" for none; NULL with err if memory ran out or a value
 * is not a usable proxy URL.
 */
char *kube_proxy_for(const char *server_url, const char *http_proxy,
	const char *https_proxy, const char *no_proxy, int cgi, char *err, size_t errlen);

/* Set c->proxy from c->proxy_url, else from the environment; 0 or -1 with err. */
int kube_proxy_resolve(struct kube_conn *c, char *err, size_t errlen);

#endif
