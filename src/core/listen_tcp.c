/*
 * listen_tcp.c -- DNS over TCP for a listener (listen.h): framing,
 * pipelining, and the limits that keep slow or greedy clients from
 * holding every slot -- the per-message read deadline, the idle deadline,
 * the per-client cap, eviction of the oldest idle connection.
 */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "globaldns/listen.h"
#include "globaldns/log.h"
#include "globaldns/util.h"
#include "globaldns/workers.h"

#include "listen_int.h"

/* A client that sends queries but does not read its answers stops being
 * read once this much output waits, or this many queries are held. */
#define TCP_MAX_PENDING_OUT (256 * 1024)
#define TCP_MAX_HELD 64
/* A buffer a connection grew past this is given back once empty. */
#define TCP_KEEP_BUF 4096

enum conn_state { CONN_IDLE, CONN_READING, CONN_BUSY };

/*
 * A connection is a socket and two events on the loop, not a bufferevent:
 * a read goes into the listener's shared buffer (l->rbuf) and its queries
 * are answered in place, so a connection keeps bytes of its own only when
 * a read ends inside a message (part) or the socket does not take all of
 * an answer (pend) -- nothing is allocated for a query that comes whole
 * and is answered at once, and a read costs one recv and one sendmsg.
 */
struct tcp_conn {
	struct listener *l;
	int fd;
	struct event *rev;              /* readable, while reading */
	struct event *wev;              /* writable, while pend waits */
	struct event *timer;            /* the idle or read deadline */
	int refs;                       /* 1 while open + held queries */
	int closed;
	int eof;                        /* the client half-closed */
	int paused;                     /* reading stopped: too much pending */
	enum conn_state state;
	int new_msg;                    /* a message was taken since the deadline was set */
	int queries;                    /* messages taken (for tcp_limits.max_queries) */
	uint64_t last_ms;               /* idle since (monotonic ms) */
	uint8_t *part;                  /* input not yet taken */
	size_t partlen, partcap;
	uint8_t *pend;                  /* output the socket did not take */
	size_t pendoff, pendlen, pendcap;
	uint8_t client[9];              /* family, then the address or /64 */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct tcp_conn *prev, *next;   /* every open connection */
	struct tcp_conn *iprev, *inext; /* idle ones, oldest first */
};

static uint64_t now_ms(void)
{
	return query_now_ns() / 1000000;
}

/* The client a peer address belongs to: an IPv4 address (IPv4-mapped
 * ones too), or the /64 of an IPv6 one. */
static void client_key(const struct sockaddr_storage *ss, uint8_t key[9])
{
	memset(key, 0, 9);
	if (ss->ss_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		if (memcmp(a, mapped, 12) == 0) {
			key[0] = 4;
			memcpy(key + 1, a + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a, 8);
		}
	}
}

/* ---- the idle list ---- */

static void idle_remove(struct tcp_conn *c)
{
	struct listener *l = c->l;

	if (c->state != CONN_IDLE)
		return;
	if (c->iprev)
		c->iprev->inext = c->inext;
	else
		l->idle_head = c->inext;
	if (c->inext)
		c->inext->iprev = c->iprev;
	else
		l->idle_tail = c->iprev;
	c->iprev = c->inext = NULL;
}

static void idle_append(struct tcp_conn *c)
{
	struct listener *l = c->l;

	c->inext = NULL;
	c->iprev = l->idle_tail;
	if (l->idle_tail)
		l->idle_tail->inext = c;
	else
		l->idle_head = c;
	l->idle_tail = c;
}

/* ---- life of a connection ---- */

static void conn_unref(struct tcp_conn *c)
{
	if (--c->refs == 0)
		free(c);
}

static void conn_close(struct tcp_conn *c)
{
	if (c->closed)
		return;
	idle_remove(c);
	c->state = CONN_BUSY;
	c->closed = 1;
	if (c->prev)
		c->prev->next = c->next;
	else
		c->l->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->timer);
	c->rev = c->wev = c->timer = NULL;
	evutil_closesocket(c->fd);
	c->fd = -1;
	free(c->part);
	free(c->pend);
	c->part = c->pend = NULL;
	c->partlen = c->partcap = c->pendoff = c->pendlen = c->pendcap = 0;
	c->l->tcp_conns--;
	conn_unref(c);
}

static int conn_output_empty(const struct tcp_conn *c)
{
	return c->pendlen == 0;
}

/* Nothing more to read (half-closed or draining), nothing held, nothing
 * left to write: the connection is done. */
static int conn_finished(const struct tcp_conn *c)
{
	return !c->closed && (c->eof || c->l->draining) && c->refs == 1
		&& conn_output_empty(c);
}

/* ev pending for ms from now (the deadline timer, or the write event) */
static void arm_ms(struct event *ev, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };

	event_add(ev, &tv);
}

/*
 * Move c to the state its buffers say (listen.h): a timer is set only on
 * entering a state (or, reading, for a new message), never because bytes
 * arrived.  A connection that stays idle across a query and its answer
 * only moves last_ms; the idle timer, when it fires, counts from there.
 */
static void conn_update(struct tcp_conn *c)
{
	enum conn_state s;

	if (c->closed)
		return;
	if (c->paused || c->refs > 1 || !conn_output_empty(c))
		s = CONN_BUSY;
	else if (c->partlen > 0)
		s = CONN_READING;
	else
		s = CONN_IDLE;
	/* idle from now: on entering the state, or after another answer */
	if (s == CONN_IDLE && (c->new_msg || s != c->state))
		c->last_ms = now_ms();
	if (s == c->state && !(s == CONN_READING && c->new_msg)) {
		c->new_msg = 0;
		return;
	}
	idle_remove(c);
	c->state = s;
	c->new_msg = 0;
	switch (s) {
	case CONN_IDLE:
		idle_append(c);
		arm_ms(c->timer, (uint64_t)c->l->tcp_limits.idle_ms);
		break;
	case CONN_READING:
		arm_ms(c->timer, (uint64_t)c->l->tcp_limits.read_ms);
		break;
	case CONN_BUSY:
		event_del(c->timer);
		break;
	}
}

static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_conn *c = arg;

	(void)fd;
	(void)what;
	/* RFC 7766 6.2.3: the server may close a connection idle for a
	 * while -- counted from its last answer, not from when it first
	 * went idle; a message that does not come whole in time is a
	 * client holding a slot (slowloris) */
	if (c->state == CONN_IDLE) {
		uint64_t idle = now_ms() - c->last_ms;

		if (idle < (uint64_t)c->l->tcp_limits.idle_ms) {
			arm_ms(c->timer, (uint64_t)c->l->tcp_limits.idle_ms - idle);
			return;
		}
		c->l->stats.closed_idle++;
	} else {
		c->l->stats.closed_read++;
	}
	conn_close(c);
}

static int conn_overloaded(const struct tcp_conn *c)
{
	return c->pendlen > TCP_MAX_PENDING_OUT || c->refs - 1 > TCP_MAX_HELD;
}

static void conn_pause(struct tcp_conn *c)
{
	c->paused = 1;
	event_del(c->rev);
}

/* Read again once the client has taken its answers; the queries already
 * buffered are taken from the read callback, run from the loop. */
static void conn_resume(struct tcp_conn *c)
{
	if (!c->paused || c->closed || conn_overloaded(c))
		return;
	c->paused = 0;
	c->new_msg = 1;                 /* what is buffered gets a fresh deadline */
	if (!c->eof)
		event_add(c->rev, NULL);
	if (c->partlen)
		event_active(c->rev, EV_READ, 1);
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
		/* the last answer may have been written at once (conn_writev):
		 * a finished connection closes here, and closing frees it */
		if (conn_finished(c)) {
			conn_close(c);
			return;
		}
		conn_resume(c);
		conn_update(c);
	}
}

static int send_failed(void)
{
	return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* Wait for the socket to take pend; no progress for tcp_limits.write_ms closes. */
static void wait_writable(struct tcp_conn *c)
{
	arm_ms(c->wev, (uint64_t)c->l->tcp_limits.write_ms);
}

/*
 * Write iov to c: straight to the socket when nothing is queued before it;
 * what the socket does not take is kept in pend and written when the
 * socket is writable.  A send that fails (the client reset) closes c.
 */
static void conn_writev(struct tcp_conn *c, struct iovec *iov, int niov)
{
	int queued = c->pendlen > 0;

	if (c->closed)
		return;
	if (!queued) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)niov };
		ssize_t n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && send_failed()) {
			conn_close(c);
			return;
		}
		for (int i = 0; i < niov && n > 0; i++) {
			size_t take = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + take;
			iov[i].iov_len -= take;
			n -= (ssize_t)take;
		}
	}
	for (int i = 0; i < niov; i++) {
		if (!iov[i].iov_len)
			continue;
		if (grow_array((void **)&c->pend, &c->pendcap, c->pendoff + c->pendlen + iov[i].iov_len, 1) < 0) {
			conn_close(c);
			return;
		}
		memcpy(c->pend + c->pendoff + c->pendlen, iov[i].iov_base, iov[i].iov_len);
		c->pendlen += iov[i].iov_len;
	}
	if (!queued && c->pendlen)
		wait_writable(c);
}

static void on_tcp_writable(evutil_socket_t fd, short what, void *arg)
{
	struct tcp_conn *c = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {        /* the client stopped reading */
		conn_close(c);
		return;
	}
	n = send(fd, c->pend + c->pendoff, c->pendlen, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0) {
		if (send_failed())
			conn_close(c);
		return;
	}
	c->pendoff += (size_t)n;
	c->pendlen -= (size_t)n;
	if (c->pendlen) {
		wait_writable(c);       /* progress: a fresh deadline */
		return;
	}
	event_del(c->wev);
	c->pendoff = 0;
	if (c->pendcap > TCP_KEEP_BUF) {
		free(c->pend);
		c->pend = NULL;
		c->pendcap = 0;
	}
	/* half-closed or draining: the answers in flight are written */
	if (conn_finished(c)) {
		conn_close(c);
		return;
	}
	conn_resume(c);
	conn_update(c);
}

/* An answer completed later (a held query): length, then the message. */
static void tcp_reply(struct dns_request *req, const uint8_t *resp, size_t len)
{
	struct tcp_conn *c = req->transport.ctx;
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = 2 },
		{ .iov_base = (void *)resp, .iov_len = len },
	};

	conn_writev(c, iov, 2);
	conn_update(c);
}

/* The answers staged in l->out for c (tcp_read) go out in one write. */
static void out_flush(struct tcp_conn *c, size_t *staged)
{
	struct iovec iov = { .iov_base = c->l->out, .iov_len = *staged };

	if (*staged)
		conn_writev(c, &iov, 1);
	*staged = 0;
}

/* Keep the n bytes at p, not yet taken, for the next read. */
static int keep_part(struct tcp_conn *c, const uint8_t *p, size_t n)
{
	if (c->partcap > TCP_KEEP_BUF && n <= TCP_KEEP_BUF) {
		free(c->part);
		c->part = NULL;
		c->partcap = 0;
	}
	if (grow_array((void **)&c->part, &c->partcap, n, 1) < 0)
		return -1;
	memcpy(c->part, p, n);
	c->partlen = n;
	return 0;
}

/*
 * Read what the client sent after what was kept from its last read, and
 * answer every complete message in it, in place; the synchronous answers
 * are rendered one after another into l->out, each behind its 2-byte
 * length, and written together when the input is done (or l->out has no
 * room for one more), so pipelined queries cost one send.
 */
static void tcp_read(struct tcp_conn *c)
{
	struct listener *l = c->l;
	size_t have = c->partlen, pos = 0, staged = 0;

	/* refs keeps c alive if a reply path closes it under us */
	c->refs++;
	if (have)
		memcpy(l->rbuf, c->part, have);
	c->partlen = 0;
	/* (a full buffer -- queries kept while paused -- is taken first) */
	if (!c->eof && !c->paused && have < sizeof(l->rbuf)) {
		ssize_t n = recv(c->fd, l->rbuf + have, sizeof(l->rbuf) - have, MSG_DONTWAIT);

		if (n > 0) {
			have += (size_t)n;
		} else if (n == 0) {
			/* a half-close still gets the answers to the queries
			 * already sent; close once they are written */
			c->eof = 1;
			event_del(c->rev);
		} else if (send_failed()) {
			conn_close(c);
		}
	}
	while (!c->closed && !c->paused) {
		size_t need;
		struct dns_request req;
		int answered;

		if (conn_overloaded(c)) {
			out_flush(c, &staged);
			conn_pause(c);
			break;
		}
		if (have - pos < 2)
			break;
		need = ((size_t)l->rbuf[pos] << 8) | l->rbuf[pos + 1];
		if (have - pos < need + 2)
			break;
		c->new_msg = 1;
		if (staged + 2 + QUERY_RESP_MAX > sizeof(l->out))
			out_flush(c, &staged);
		listener_request(l, &req, 1);
		req.pkt = l->rbuf + pos + 2;
		req.pktlen = need;
		pos += need + 2;
		req.resp = l->out + staged + 2;
		req.transport.reply = tcp_reply;
		req.transport.ref = tcp_ref;
		req.transport.ctx = c;
		memcpy(&req.client, &c->peer, c->peerlen);
		req.clientlen = c->peerlen;
		/* the data lock (workers.h) for one query at a time: a long
		 * pipelined read never holds the workers' UDP back, and the
		 * sends run outside it */
		workers_lock();
		answered = query_process(l->d, &req);
		workers_unlock();
		if (answered && !c->closed) {
			l->out[staged] = (uint8_t)(req.resp_len >> 8);
			l->out[staged + 1] = (uint8_t)req.resp_len;
			staged += 2 + req.resp_len;
		}
		if (l->tcp_limits.max_queries && ++c->queries >= l->tcp_limits.max_queries && !c->closed) {
			/* the last query this connection may ask: what else it
			 * sent is dropped, and it closes once answered */
			pos = have;
			if (!c->eof) {
				c->eof = 1;
				event_del(c->rev);
			}
			break;
		}
	}
	out_flush(c, &staged);
	if (!c->closed && have > pos && keep_part(c, l->rbuf + pos, have - pos) < 0)
		conn_close(c);
	if (--c->refs == 0) {
		free(c);
		return;
	}
	if (conn_finished(c))
		conn_close(c);
	else
		conn_update(c);
}

static void on_tcp_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tcp_read(arg);
}

/* ---- accepting: the caps ---- */

/* The oldest idle connection of a client (key), or of anyone (NULL). */
static struct tcp_conn *oldest_idle(const struct listener *l, const uint8_t *key)
{
	for (struct tcp_conn *c = l->idle_head; c; c = c->inext)
		if (!key || memcmp(c->client, key, sizeof(c->client)) == 0)
			return c;
	return NULL;
}

/* 1 if there is a slot for a new connection from key (closing an idle
 * connection to make one if need be), 0 to refuse it. */
static int make_room(struct listener *l, const uint8_t *key)
{
	int same = 0;
	struct tcp_conn *victim;

	for (const struct tcp_conn *c = l->conns; c; c = c->next)
		same += memcmp(c->client, key, sizeof(c->client)) == 0;
	if (same >= l->tcp_max_per_client) {
		if (!(victim = oldest_idle(l, key))) {
			l->stats.refused_client++;
			return 0;
		}
		l->stats.evicted++;
		conn_close(victim);
	}
	if (l->tcp_conns >= l->tcp_max_conns) {
		if (!(victim = oldest_idle(l, NULL))) {
			l->stats.refused_full++;
			return 0;
		}
		l->stats.evicted++;
		conn_close(victim);
	}
	return 1;
}

void tcp_on_accept(struct evconnlistener *lis, evutil_socket_t fd,
	struct sockaddr *sa, int salen, void *arg)
{
	struct listener *l = arg;
	struct tcp_conn *c;
	struct sockaddr_storage peer;
	uint8_t key[9];

	(void)lis;
	accept_backoff_ok(&l->accept);
	memset(&peer, 0, sizeof(peer));
	if (salen > 0 && (size_t)salen <= sizeof(peer))
		memcpy(&peer, sa, (size_t)salen);
	client_key(&peer, key);
	if (l->draining || !make_room(l, key) || !(c = calloc(1, sizeof(*c)))) {
		evutil_closesocket(fd);
		return;
	}
	c->l = l;
	c->fd = fd;
	c->refs = 1;
	c->state = CONN_BUSY;
	memcpy(c->client, key, sizeof(key));
	c->peer = peer;
	c->peerlen = salen > 0 && (size_t)salen <= sizeof(peer) ? (socklen_t)salen : 0;
	c->rev = event_new(l->base, fd, EV_READ | EV_PERSIST, on_tcp_readable, c);
	c->wev = event_new(l->base, fd, EV_WRITE | EV_PERSIST, on_tcp_writable, c);
	c->timer = evtimer_new(l->base, on_conn_timer, c);
	if (!c->rev || !c->wev || !c->timer || event_add(c->rev, NULL) < 0) {
		if (c->rev)
			event_free(c->rev);
		if (c->wev)
			event_free(c->wev);
		if (c->timer)
			event_free(c->timer);
		evutil_closesocket(fd);
		free(c);
		return;
	}
	l->tcp_conns++;
	l->stats.accepted++;
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	conn_update(c);                 /* idle until its first byte */
}

/* ---- closing ---- */

void tcp_close_all(struct listener *l)
{
	while (l->conns)
		conn_close(l->conns);
}

int tcp_drain(struct listener *l)
{
	int open = 0;

	for (struct tcp_conn *c = l->conns, *next; c; c = next) {
		next = c->next;
		if (c->refs == 1 && conn_output_empty(c) && c->partlen == 0) {
			conn_close(c);
			continue;
		}
		open++;
	}
	return open;
}
