/*
 * listen.c -- a listener's sockets and DNS over UDP (see listen.h); its
 * TCP connections are listen_tcp.c's.
 */
#include "globaldns/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "globaldns/log.h"
#include "globaldns/query.h"

#include "listen_int.h"

#define UDP_BATCH 64

static void listener_unref(struct listener *l)
{
	if (--l->refs == 0)
		free(l);
}

/* ---- UDP ---- */

static void udp_reply(struct dns_request *req, const uint8_t *resp, size_t len)
{
	struct listener *l = req->transport.ctx;

	/* A full socket buffer drops the answer: the client retries.  A
	 * listener closed by a reload while the query was held has no
	 * socket any more: the answer is dropped too. */
	if (l->udp_fd >= 0)
		(void)sendto(l->udp_fd, resp, len, MSG_DONTWAIT,
			(const struct sockaddr *)&req->client, req->clientlen);
}

/* A held UDP query keeps its listener's memory (not its socket) alive. */
static void udp_ref(void *ctx, int delta)
{
	struct listener *l = ctx;

	if (delta > 0)
		l->refs++;
	else
		listener_unref(l);
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	struct dns_request req;

	(void)what;
	for (int i = 0; i < UDP_BATCH; i++) {
		ssize_t n;

		listener_request(l, &req, 0);
		req.clientlen = sizeof(req.client);
		n = recvfrom(fd, l->pkt, sizeof(l->pkt), MSG_DONTWAIT,
			(struct sockaddr *)&req.client, &req.clientlen);
		if (n < 0)
			return;
		req.pktlen = (size_t)n;
		req.transport.reply = udp_reply;
		req.transport.ctx = l;
		req.transport.ref = udp_ref;
		if (query_process(l->d, &req))
			udp_reply(&req, req.resp, req.resp_len);
	}
}

/* ---- setup ---- */

/* Append how to bind a privileged port without root. */
static void listen_eacces_hint(char *err, size_t errlen, int port)
{
	size_t n = strlen(err);
	char start[32] = "?";
	char exe[256] = "/usr/sbin/globaldns";
	ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");

	if (el > 0)
		exe[el] = '\0';

	if (f) {
		if (!fgets(start, sizeof(start), f))
			snprintf(start, sizeof(start), "?");
		start[strcspn(start, "\n")] = '\0';
		fclose(f);
	}
	snprintf(err + n, errlen - n,
		"; port %d is privileged here (net.ipv4.ip_unprivileged_port_start = %s)"
		" and globaldns runs as uid %ld without CAP_NET_BIND_SERVICE. To fix, either:"
		" start it as root with -user USER (it binds, then drops to USER);"
		" or give the binary the capability: setcap cap_net_bind_service=+ep %s"
		" (Kubernetes: securityContext.capabilities.add: [NET_BIND_SERVICE]);"
		" or allow unprivileged ports from %d: sysctl -w net.ipv4.ip_unprivileged_port_start=%d"
		" (Kubernetes: the pod sysctl net.ipv4.ip_unprivileged_port_start);"
		" or listen on a port above 1023 (a port in the server block key, or -dns.port for keys without one)",
		port, start, (long)getuid(), exe, port, port);
}

static int make_addr(const struct listener_opts *o, struct sockaddr_storage *ss,
	socklen_t *len, int *family)
{
	memset(ss, 0, sizeof(*ss));
	if (!o->addr || strcmp(o->addr, "::") == 0 || strchr(o->addr, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)o->port);
		if (o->addr && inet_pton(AF_INET6, o->addr, &s6->sin6_addr) != 1)
			return -1;
		if (!o->addr)
			s6->sin6_addr = in6addr_any;
		*len = sizeof(*s6);
		*family = AF_INET6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)o->port);
		if (inet_pton(AF_INET, o->addr, &s4->sin_addr) != 1)
			return -1;
		*len = sizeof(*s4);
		*family = AF_INET;
	}
	return 0;
}

static int open_socket(int family, int type, int dual)
{
	int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, zero = 0;

	if (fd < 0)
		return -1;
	/* Only TCP: on UDP it would let a second server share the port. */
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual ? &zero : &one, sizeof(int));
	return fd;
}

struct listener *listener_new(struct event_base *base,
	const struct dispatch *d, const struct listener_opts *o, char *err,
	size_t errlen)
{
	struct listener *l = calloc(1, sizeof(*l));
	struct sockaddr_storage ss;
	socklen_t sslen;
	int family, tcp_fd = -1;
	const char *shown = o->addr ? o->addr : "";
	struct listener_opts any4 = *o;

	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->refs = 1;
	l->base = base;
	l->d = d;
	snprintf(l->addr, sizeof(l->addr), "%s", o->addr ? o->addr : "");
	l->port = o->port;
	l->udp_fd = -1;
	l->tcp_idle_ms = o->tcp_idle_ms > 0 ? o->tcp_idle_ms : LISTEN_TCP_IDLE_MS;
	l->tcp_read_ms = o->tcp_read_ms > 0 ? o->tcp_read_ms : LISTEN_TCP_READ_MS;
	l->tcp_max_conns = o->tcp_max_conns > 0 ? o->tcp_max_conns : LISTEN_TCP_MAX_CONNS;
	l->tcp_max_per_client = o->tcp_max_per_client > 0 ? o->tcp_max_per_client
		: LISTEN_TCP_MAX_PER_CLIENT;
	if (make_addr(o, &ss, &sslen, &family) < 0) {
		snprintf(err, errlen, "listen: \"%s\": not an IP address", shown);
		goto fail;
	}
	l->udp_fd = open_socket(family, SOCK_DGRAM, !o->addr);
	if (l->udp_fd < 0 && !o->addr) {
		/* no IPv6 on this host: all IPv4 addresses instead */
		any4.addr = "0.0.0.0";
		make_addr(&any4, &ss, &sslen, &family);
		l->udp_fd = open_socket(family, SOCK_DGRAM, 0);
	}
	if (l->udp_fd < 0 || bind(l->udp_fd, (struct sockaddr *)&ss, sslen) < 0) {
		int e = errno;
		snprintf(err, errlen, "listen udp [%s]:%d: %s", shown, o->port, strerror(e));
		if (e == EACCES)
			listen_eacces_hint(err, errlen, o->port);
		goto fail;
	}
	tcp_fd = open_socket(family, SOCK_STREAM, !o->addr);
	if (tcp_fd < 0 || bind(tcp_fd, (struct sockaddr *)&ss, sslen) < 0
	    || listen(tcp_fd, 128) < 0) {
		snprintf(err, errlen, "listen tcp [%s]:%d: %s", shown, o->port, strerror(errno));
		if (tcp_fd >= 0)
			close(tcp_fd);
		goto fail;
	}
	l->tcp = evconnlistener_new(base, tcp_on_accept, l, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, tcp_fd);
	if (!l->tcp) {
		close(tcp_fd);
		snprintf(err, errlen, "listen tcp: cannot watch the socket");
		goto fail;
	}
	{
		char what[96];
		snprintf(what, sizeof(what), strchr(l->addr, ':') ? "listen tcp [%s]:%d" : "listen tcp %s:%d",
			l->addr, l->port);
		if (accept_backoff_init(&l->accept, base, l->tcp, what) < 0) {
			snprintf(err, errlen, "listen tcp: out of memory");
			goto fail;
		}
		l->accept_watched = 1;
	}
	l->udp_ev = event_new(base, l->udp_fd, EV_READ | EV_PERSIST, on_udp, l);
	if (!l->udp_ev || event_add(l->udp_ev, NULL) < 0) {
		snprintf(err, errlen, "listen udp: cannot watch the socket");
		goto fail;
	}
	return l;
fail:
	listener_free(l);
	return NULL;
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	tcp_close_all(l);
	if (l->accept_watched)
		accept_backoff_free(&l->accept);
	l->accept_watched = 0;
	if (l->udp_ev)
		event_free(l->udp_ev);
	l->udp_ev = NULL;
	if (l->udp_fd >= 0)
		close(l->udp_fd);
	l->udp_fd = -1;
	if (l->tcp)
		evconnlistener_free(l->tcp);
	l->tcp = NULL;
	listener_unref(l);
}

const char *listener_addr(const struct listener *l)
{
	return l->addr;
}

int listener_port(const struct listener *l)
{
	return l->port;
}

void listener_set_dispatch(struct listener *l, const struct dispatch *d)
{
	l->d = d;
}

int listener_drain(struct listener *l)
{
	if (!l->draining) {
		l->draining = 1;
		if (l->accept_watched)
			accept_backoff_stop(&l->accept);
		else if (l->tcp)
			evconnlistener_disable(l->tcp);
	}
	return tcp_drain(l);
}

int listener_tcp_conns(const struct listener *l)
{
	return l->tcp_conns;
}

void listener_tcp_stats(const struct listener *l, struct listener_tcp_stats *out)
{
	*out = l->stats;
	out->accept_errors = l->accept.errors;
}
