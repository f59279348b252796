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
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "globaldns/log.h"
#include "globaldns/query.h"
#include "globaldns/workers.h"

#include "listen_int.h"

static void listener_unref(struct listener *l)
{
	if (--l->refs == 0) {
		free(l->udp);
		free(l);
	}
}

/* ---- UDP ---- */

/*
 * One readiness event reads up to UDP_BATCH datagrams with one recvmmsg,
 * answers each into its own slot's buffer, and sends every answer with
 * one sendmmsg; then reads again until the socket is empty, at most
 * UDP_ROUNDS batches per event, so that TCP and timers on the same loop
 * still get their turn under a flood.  Reading until empty (one recvmmsg
 * that finds nothing) rather than stopping at a short batch is measured:
 * it takes what arrived while the batch was answered, so the loop sleeps
 * and is woken less often, and a wakeup costs more than the syscall.
 */
#define UDP_ROUNDS 4

struct udp_slot {
	uint8_t pkt[TCP_MAX_MSG];       /* a UDP datagram is at most 65507 bytes */
	uint8_t resp[QUERY_RESP_MAX];
};

struct udp_batch {
	struct mmsghdr in[UDP_BATCH];
	struct mmsghdr out[UDP_BATCH];
	struct iovec in_iov[UDP_BATCH];
	struct iovec out_iov[UDP_BATCH];
	struct sockaddr_storage peer[UDP_BATCH];
	struct udp_slot slot[UDP_BATCH];
};

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

/* Send the n answers queued in out[]; one that fails (a full socket
 * buffer, an address the kernel refuses) is dropped, as sendto did. */
static void udp_send_batch(int fd, struct mmsghdr *out, unsigned int n)
{
	unsigned int i = 0;

	while (i < n) {
		int r = sendmmsg(fd, out + i, n - i, MSG_DONTWAIT);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			i++;            /* out[i] could not be sent: skip it */
		} else {
			i += (unsigned int)r;
		}
	}
}

/*
 * Read, answer and send on fd (the listener's socket, or a worker's) with
 * batch b.  The answering runs under the data lock (workers.h), the system
 * calls outside it; a listener closed meanwhile (a reload) drops what came.
 */
static void udp_serve(struct listener *l, int fd, struct udp_batch *b)
{
	struct dns_request req;

	for (int round = 0; round < UDP_ROUNDS; round++) {
		unsigned int nout = 0;
		int n;

		for (int i = 0; i < UDP_BATCH; i++)
			b->in[i].msg_hdr.msg_namelen = sizeof(b->peer[i]);
		n = recvmmsg(fd, b->in, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		workers_lock();
		if (l->udp_fd < 0) {
			workers_unlock();
			return;
		}
		workers_count_queries((unsigned int)n);
		for (int i = 0; i < n; i++) {
			struct udp_slot *s = &b->slot[i];
			socklen_t alen = b->in[i].msg_hdr.msg_namelen;

			listener_request(l, &req, 0);
			req.pkt = s->pkt;
			req.resp = s->resp;
			req.pktlen = b->in[i].msg_len;
			if (alen > sizeof(req.client))
				alen = sizeof(req.client);
			memcpy(&req.client, &b->peer[i], alen);
			req.clientlen = alen;
			req.transport.reply = udp_reply;
			req.transport.ctx = l;
			req.transport.ref = udp_ref;
			/* resp_len 0 (acl drop, rrl): nothing is sent */
			if (!query_process(l->d, &req) || req.resp_len == 0)
				continue;
			b->out_iov[nout].iov_base = s->resp;
			b->out_iov[nout].iov_len = req.resp_len;
			b->out[nout].msg_hdr.msg_name = &b->peer[i];
			b->out[nout].msg_hdr.msg_namelen = alen;
			nout++;
		}
		workers_unlock();
		if (nout)
			udp_send_batch(fd, b->out, nout);
	}
}

static void on_udp(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)what;
	udp_serve(l, fd, l->udp);
}

/* The batch buffers, wired once: only lengths change per datagram. */
static struct udp_batch *udp_batch_new(void)
{
	struct udp_batch *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	for (int i = 0; i < UDP_BATCH; i++) {
		b->in_iov[i].iov_base = b->slot[i].pkt;
		b->in_iov[i].iov_len = sizeof(b->slot[i].pkt);
		b->in[i].msg_hdr.msg_name = &b->peer[i];
		b->in[i].msg_hdr.msg_iov = &b->in_iov[i];
		b->in[i].msg_hdr.msg_iovlen = 1;
		b->out[i].msg_hdr.msg_iov = &b->out_iov[i];
		b->out[i].msg_hdr.msg_iovlen = 1;
	}
	return b;
}

/* ---- a worker thread's socket ---- */

struct udp_sub {
	struct listener *l;             /* holds a reference */
	int worker;
	int fd;
	struct event *ev;               /* on the worker's loop */
	struct udp_batch *b;
};

static void on_udp_sub(evutil_socket_t fd, short what, void *arg)
{
	struct udp_sub *u = arg;

	(void)what;
	udp_serve(u->l, fd, u->b);
}

/* On the worker's thread: watch the socket. */
static void sub_attach(void *arg, struct event_base *base)
{
	struct udp_sub *u = arg;

	u->ev = event_new(base, u->fd, EV_READ | EV_PERSIST, on_udp_sub, u);
	if (!u->ev || event_add(u->ev, NULL) < 0)
		log_error("listen udp [%s]:%d: worker %d cannot watch its socket",
			u->l->addr, u->l->port, u->worker);
}

/* On the worker's thread (or the main one once the threads are gone):
 * close the socket, drop the listener. */
static void sub_detach(void *arg, struct event_base *base)
{
	struct udp_sub *u = arg;

	(void)base;
	if (u->ev)
		event_free(u->ev);
	close(u->fd);
	free(u->b);
	workers_lock();
	listener_unref(u->l);
	workers_unlock();
	free(u);
}

static void subs_close(struct listener *l)
{
	for (int i = 0; i < l->nsubs; i++)
		if (workers_run(l->subs[i]->worker, sub_detach, l->subs[i]) < 0)
			sub_detach(l->subs[i], NULL);
	free(l->subs);
	l->subs = NULL;
	l->nsubs = 0;
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
	/* With worker threads each has a UDP socket of its own on the port:
	 * the kernel spreads the clients over them (only sockets of the same
	 * user join the group; TCP stays one socket, so a second server on
	 * the port still fails to start). */
	if (type == SOCK_DGRAM && workers_count() > 1
	    && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
		close(fd);
		return -1;
	}
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, dual ? &zero : &one, sizeof(int));
	return fd;
}

/* A socket for each worker thread, bound where the listener's is. */
static int subs_open(struct listener *l, int family, int dual,
	const struct sockaddr_storage *ss, socklen_t sslen, char *err,
	size_t errlen)
{
	int n = workers_count() - 1;

	if (n <= 0)
		return 0;
	if (!(l->subs = calloc((size_t)n, sizeof(*l->subs)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct udp_sub *u = calloc(1, sizeof(*u));
		if (!u || !(u->b = udp_batch_new())) {
			free(u);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		u->fd = open_socket(family, SOCK_DGRAM, dual);
		if (u->fd < 0 || bind(u->fd, (const struct sockaddr *)ss, sslen) < 0) {
			snprintf(err, errlen, "listen udp [%s]:%d (worker %d): %s", l->addr,
				l->port, i + 1, strerror(errno));
			if (u->fd >= 0)
				close(u->fd);
			free(u->b);
			free(u);
			return -1;
		}
		u->l = l;
		u->worker = i + 1;
		l->refs++;
		l->subs[l->nsubs++] = u;
		if (workers_run(u->worker, sub_attach, u) < 0) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
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
	if (!(l->udp = udp_batch_new())) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	listener_set_tcp_limits(l, &o->tcp);
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
	if (subs_open(l, family, !o->addr && family == AF_INET6, &ss, sslen, err, errlen) < 0)
		goto fail;
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
	l->udp_fd = -1;                 /* the workers drop what comes now */
	subs_close(l);
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

void listener_set_tcp_limits(struct listener *l, const struct listener_tcp_limits *t)
{
	l->tcp_limits.idle_ms = t->idle_ms > 0 ? t->idle_ms : LISTEN_TCP_IDLE_MS;
	l->tcp_limits.read_ms = t->read_ms > 0 ? t->read_ms : LISTEN_TCP_READ_MS;
	l->tcp_limits.write_ms = t->write_ms > 0 ? t->write_ms : LISTEN_TCP_WRITE_MS;
	l->tcp_limits.max_queries = t->max_queries > 0 ? t->max_queries : 0;
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
