/*
 * listen_tcp.c -- DNS over TCP for a listener (listen.h): framing,
 * pipelining, and the limits that keep slow or greedy clients from
 * holding every slot -- the per-message read deadline, the idle deadline,
 * the per-client cap, eviction of the oldest idle connection.
 */
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "globaldns/listen.h"
#include "globaldns/log.h"
#include "globaldns/workers.h"

#include "listen_int.h"

/* A client that sends queries but does not read its answers stops being
 * read once this much output waits, or this many queries are held. */
#define TCP_MAX_PENDING_OUT (256 * 1024)
#define TCP_MAX_HELD 64

enum conn_state { CONN_IDLE, CONN_READING, CONN_BUSY };

struct tcp_conn {
	struct listener *l;
	struct bufferevent *bev;
	struct event *timer;            /* the idle or read deadline */
	int refs;                       /* 1 while open + held queries */
	int closed;
	int eof;                        /* the client half-closed */
	int paused;                     /* reading stopped: too much pending */
	enum conn_state state;
	int new_msg;                    /* a message was taken since the deadline was set */
	uint8_t client[9];              /* family, then the address or /64 */
	struct sockaddr_storage peer;
	socklen_t peerlen;
	struct tcp_conn *prev, *next;   /* every open connection */
	struct tcp_conn *iprev, *inext; /* idle ones, oldest first */
};

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
	bufferevent_free(c->bev);
	c->bev = NULL;
	event_free(c->timer);
	c->timer = NULL;
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

static void arm(struct tcp_conn *c, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_add(c->timer, &tv);
}

/*
 * Move c to the state its buffers say (listen.h): a timer is set only on
 * entering a state (or for a new message), never because bytes arrived.
 */
static void conn_update(struct tcp_conn *c)
{
	enum conn_state s;

	if (c->closed)
		return;
	if (c->paused || c->refs > 1 || !conn_output_empty(c))
		s = CONN_BUSY;
	else if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		s = CONN_READING;
	else
		s = CONN_IDLE;
	if (s == c->state && !(s == CONN_READING && c->new_msg))
		return;
	idle_remove(c);
	c->state = s;
	c->new_msg = 0;
	switch (s) {
	case CONN_IDLE:
		idle_append(c);
		arm(c, c->l->tcp_idle_ms);
		break;
	case CONN_READING:
		arm(c, c->l->tcp_read_ms);
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
	/* RFC 7766 6.2.3: the server may close an idle connection; a
	 * message that does not come whole in time is a client holding a
	 * slot (slowloris) */
	if (c->state == CONN_READING)
		c->l->stats.closed_read++;
	else
		c->l->stats.closed_idle++;
	conn_close(c);
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
	c->new_msg = 1;                 /* what is buffered gets a fresh deadline */
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

/*
 * Write iov to c: straight to the socket when nothing is queued before it
 * (no copy, no write event, no wait for the next turn of the loop); what
 * the socket does not take goes to the bufferevent, which writes it when
 * the socket is writable.  A send error is left to the bufferevent too:
 * its own write fails the same way and closes the connection.
 */
static void conn_writev(struct tcp_conn *c, struct iovec *iov, int niov)
{
	if (c->closed)
		return;
	if (conn_output_empty(c)) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)niov };
		ssize_t n = sendmsg(bufferevent_getfd(c->bev), &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		for (int i = 0; i < niov && n > 0; i++) {
			size_t take = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + take;
			iov[i].iov_len -= take;
			n -= (ssize_t)take;
		}
	}
	for (int i = 0; i < niov; i++)
		if (iov[i].iov_len)
			bufferevent_write(c->bev, iov[i].iov_base, iov[i].iov_len);
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

/* The answers staged in l->out for c (on_tcp_read) go out in one write. */
static void out_flush(struct tcp_conn *c, size_t *staged)
{
	struct iovec iov = { .iov_base = c->l->out, .iov_len = *staged };

	if (*staged)
		conn_writev(c, &iov, 1);
	*staged = 0;
}

/*
 * Every complete message in the input is answered; the synchronous
 * answers are rendered one after another into l->out, each behind its
 * 2-byte length, and written together when the input is done (or l->out
 * has no room for one more), so pipelined queries cost one send.
 */
static void on_tcp_read_locked(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;
	struct listener *l = c->l;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t staged = 0;

	/* refs keeps c alive if a reply path closes it under us */
	c->refs++;
	while (!c->closed && !c->paused) {
		uint8_t hdr[2];
		size_t need;
		struct dns_request req;

		if (conn_overloaded(c)) {
			out_flush(c, &staged);
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
		c->new_msg = 1;
		if (staged + 2 + QUERY_RESP_MAX > sizeof(l->out))
			out_flush(c, &staged);
		listener_request(l, &req, 1);
		req.resp = l->out + staged + 2;
		req.pktlen = need;
		req.transport.reply = tcp_reply;
		req.transport.ref = tcp_ref;
		req.transport.ctx = c;
		memcpy(&req.client, &c->peer, c->peerlen);
		req.clientlen = c->peerlen;
		if (query_process(l->d, &req) && !c->closed) {
			l->out[staged] = (uint8_t)(req.resp_len >> 8);
			l->out[staged + 1] = (uint8_t)req.resp_len;
			staged += 2 + req.resp_len;
		}
	}
	out_flush(c, &staged);
	c->refs--;
	if (c->refs == 0) {
		free(c);
		return;
	}
	conn_update(c);
}

/* on_tcp_read under the data lock (workers.h) */
static void on_tcp_read(struct bufferevent *bev, void *arg)
{
	workers_lock();
	on_tcp_read_locked(bev, arg);
	workers_unlock();
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
	/* an error, or a write that made no progress for tcp_idle_ms */
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_close(c);
}

static void on_tcp_write(struct bufferevent *bev, void *arg)
{
	struct tcp_conn *c = arg;

	(void)bev;
	/* half-closed or draining: the answers in flight are written */
	if (conn_finished(c)) {
		conn_close(c);
		return;
	}
	conn_resume(c);
	conn_update(c);
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
	struct timeval wr = { l->tcp_idle_ms / 1000, (l->tcp_idle_ms % 1000) * 1000 };
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
	c->refs = 1;
	c->state = CONN_BUSY;
	memcpy(c->client, key, sizeof(key));
	c->peer = peer;
	c->peerlen = salen > 0 && (size_t)salen <= sizeof(peer) ? (socklen_t)salen : 0;
	c->bev = bufferevent_socket_new(l->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->timer = evtimer_new(l->base, on_conn_timer, c);
	if (!c->bev || !c->timer) {
		if (c->bev)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		if (c->timer)
			event_free(c->timer);
		free(c);
		return;
	}
	l->tcp_conns++;
	l->stats.accepted++;
	c->next = l->conns;
	if (l->conns)
		l->conns->prev = c;
	l->conns = c;
	bufferevent_setcb(c->bev, on_tcp_read, on_tcp_write, on_tcp_event, c);
	/* the read side has its own deadlines (conn_update); a write that
	 * makes no progress ends the connection */
	bufferevent_set_timeouts(c->bev, NULL, &wr);
	/* bound what one connection may buffer */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 4 * (TCP_MAX_MSG + 2));
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
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
		if (c->refs == 1 && conn_output_empty(c)
		    && evbuffer_get_length(bufferevent_get_input(c->bev)) == 0) {
			conn_close(c);
			continue;
		}
		open++;
	}
	return open;
}
