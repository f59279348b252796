/*
 * listen.c -- UDP and TCP transports for the query core (see listen.h).
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

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "globaldns/log.h"
#include "globaldns/query.h"

#define UDP_BATCH 64
#define TCP_MAX_MSG 65535
/* A client that sends queries but does not read its answers stops being
 * read once this much output waits, or this many queries are held. */
#define TCP_MAX_PENDING_OUT (256 * 1024)
#define TCP_MAX_HELD 64

struct listener {
	int refs;                       /* 1 while open + held UDP queries */
	struct event_base *base;
	const struct dispatch *d;
	char addr[64];                  /* as given; "" = every address */
	int port;
	int draining;                   /* listener_drain: close when written */
	int udp_fd;
	struct event *udp_ev;
	struct evconnlistener *tcp;
	int tcp_idle_ms;
	int tcp_max_conns;
	int tcp_conns;
	struct tcp_conn *conns;         /* open connections, for shutdown */
	uint8_t pkt[TCP_MAX_MSG];       /* one query at a time on this loop */
	uint8_t resp[QUERY_RESP_MAX + 2];
};

struct tcp_conn {
	struct listener *l;
	struct bufferevent *bev;
	int refs;                       /* 1 while open + held queries */
	int closed;
	int eof;                        /* the client half-closed */
	int paused;                     /* reading stopped: too much pending */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct tcp_conn *prev, *next;
};

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

		memset(&req, 0, offsetof(struct dns_request, q));
		req.clientlen = sizeof(req.client);
		req.start_ns = 0;
		n = recvfrom(fd, l->pkt, sizeof(l->pkt), MSG_DONTWAIT,
			(struct sockaddr *)&req.client, &req.clientlen);
		if (n < 0)
			return;
		req.pkt = l->pkt;
		req.pktlen = (size_t)n;
		req.tcp = 0;
		req.server_port = l->port;
		req.server_addr = l->addr;
		req.resp = l->resp;
		req.transport.reply = udp_reply;
		req.transport.ctx = l;
		req.transport.ref = udp_ref;
		if (query_process(l->d, &req))
			udp_reply(&req, req.resp, req.resp_len);
	}
}

/* ---- TCP ---- */

static void conn_unref(struct tcp_conn *c)
{
	if (--c->refs == 0)
		free(c);
}

static void conn_close(struct tcp_conn *c)
{
	if (c->closed)
		return;
	c->closed = 1;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->l->tcp_conns--;
	conn_unref(c);
}

static int conn_output_empty(const struct tcp_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

/* Nothing more to read (half-closed or draining), nothing held, nothing
 * left to write: the connection is done. */
static int conn_finished(const struct tcp_conn *c)
{
	return !c->closed && (c->eof || c->l->draining) && c->refs == 1
		&& conn_output_empty(c);
}

static int conn_overloaded(const struct tcp_conn *c)
{
	return evbuffer_get_length(bufferevent_get_output(c->bev)) > TCP_MAX_PENDING_OUT
		|| c->refs - 1 > TCP_MAX_HELD;
}

static void conn_pause(struct tcp_conn *c)
{
	c->paused = 1;
	bufferevent_disable(c->bev, EV_READ);
}

/* Read again once the client has taken its answers; the queries already
 * buffered are handled from a deferred read callback. */
static void conn_resume(struct tcp_conn *c)
{
	if (!c->paused || c->closed || conn_overloaded(c))
		return;
	c->paused = 0;
	if (!c->eof)
		bufferevent_enable(c->bev, EV_READ);
	bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

static void tcp_ref(void *ctx, int delta)
{
	struct tcp_conn *c = ctx;

	if (delta > 0) {
		c->refs++;
		return;
	}
	if (c->refs == 1) {             /* closed, and this was the last */
		conn_unref(c);
		return;
	}
	c->refs--;
	if (c->refs == 1 && !c->closed) {
		if (conn_finished(c))
			conn_close(c);
		else
			conn_resume(c);
	}
}

static void tcp_send(struct tcp_conn *c, const uint8_t *resp, size_t len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };

	if (c->closed)
		return;
	bufferevent_write(c->bev, hdr, 2);
	bufferevent_write(c->bev, resp, len);
}

static void tcp_reply(struct dns_request *req, const uint8_t *resp, size_t len)
{
	tcp_send(req->transport.ctx, resp, len);
}

static void on_tcp_read(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;
	struct listener *l = c->l;
	struct evbuffer *in = bufferevent_get_input(bev);

	/* refs keeps c alive if a reply path closes it under us */
	c->refs++;
	while (!c->closed && !c->paused) {
		uint8_t hdr[2];
		size_t need;
		struct dns_request req;

		if (conn_overloaded(c)) {
			conn_pause(c);
			break;
		}
		if (evbuffer_copyout(in, hdr, 2) < 2)
			break;
		need = ((size_t)hdr[0] << 8) | hdr[1];
		if (evbuffer_get_length(in) < need + 2)
			break;
		evbuffer_drain(in, 2);
		evbuffer_remove(in, l->pkt, need);
		memset(&req, 0, offsetof(struct dns_request, q));
		req.pkt = l->pkt;
		req.pktlen = need;
		req.start_ns = 0;
		req.tcp = 1;
		req.server_port = l->port;
		req.server_addr = l->addr;
		req.resp = l->resp;
		req.transport.reply = tcp_reply;
		req.transport.ref = tcp_ref;
		req.transport.ctx = c;
		memcpy(&req.client, &c->peer, c->peerlen);
		req.clientlen = c->peerlen;
		if (query_process(l->d, &req))
			tcp_send(c, req.resp, req.resp_len);
	}
	conn_unref(c);
}

static void on_tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct tcp_conn *c = arg;

	(void)bev;
	/* A half-close (EOF on reading) still gets the answers to the
	 * queries already sent; close once they are written. */
	if ((what & BEV_EVENT_EOF) && (what & BEV_EVENT_READING)
	    && !(what & BEV_EVENT_ERROR)) {
		c->eof = 1;
		bufferevent_disable(c->bev, EV_READ);
		if (conn_finished(c))
			conn_close(c);
		return;
	}
	/* error or idle timeout: RFC 7766 6.2.3, the server may close */
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_close(c);
}

static void on_tcp_write(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;

	(void)bev;
	/* half-closed or draining: the answers in flight are written */
	if (conn_finished(c))
		conn_close(c);
	else
		conn_resume(c);
}

static void on_accept(struct evconnlistener *lis, evutil_socket_t fd,
	struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;
	struct tcp_conn *c;
	struct timeval idle = { l->tcp_idle_ms / 1000, (l->tcp_idle_ms % 1000) * 1000 };

	(void)lis;
	if (l->tcp_conns >= l->tcp_max_conns || !(c = calloc(1, sizeof(*c)))) {
		evutil_closesocket(fd);
		return;
	}
	c->l = l;
	c->refs = 1;
	if (salen > 0 && (size_t)salen <= sizeof(c->peer)) {
		memcpy(&c->peer, sa, (size_t)salen);
		c->peerlen = (socklen_t)salen;
	}
	c->bev = bufferevent_socket_new(l->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	l->tcp_conns++;
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	bufferevent_setcb(c->bev, on_tcp_read, on_tcp_write, on_tcp_event, c);
	bufferevent_set_timeouts(c->bev, &idle, &idle);
	/* bound what one connection may buffer */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 4 * (TCP_MAX_MSG + 2));
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---- setup ---- */

/* Append how to bind a privileged port without root. */
static void listen_eacces_hint(char *err, size_t errlen, int port)
{
	size_t n = strlen(err);
	char start[32] = "?";
	char exe[256] = "/usr/sbin/globaldns";
	ssize_t el = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");

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
	l->tcp_idle_ms = o->tcp_idle_ms > 0 ? o->tcp_idle_ms : 10000;
	l->tcp_max_conns = o->tcp_max_conns > 0 ? o->tcp_max_conns : 1000;
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
	l->tcp = evconnlistener_new(base, on_accept, l, LEV_OPT_CLOSE_ON_FREE, -1, tcp_fd);
	if (!l->tcp) {
		close(tcp_fd);
		snprintf(err, errlen, "listen tcp: cannot watch the socket");
		goto fail;
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
	while (l->conns)
		conn_close(l->conns);
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
	int open = 0;

	if (!l->draining) {
		l->draining = 1;
		if (l->tcp)
			evconnlistener_disable(l->tcp);
	}
	for (struct tcp_conn *c = l->conns, *next; c; c = next) {
		next = c->next;
		if (c->refs == 1 && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0
		    && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
			conn_close(c);
			continue;
		}
		open++;
	}
	return open;
}
