/*
 * forward_upstream.c -- one upstream of `forward`: its c-ares channels on
 * the libevent loop (one UDP, one TCP; replaced after `expire`, the old
 * one drained), failures that mark it down, and the health checks that
 * bring it back (forward_int.h has the design).
 */
#include "forward_int.h"

#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <event2/event.h>

#include "globaldns/log.h"
#include "globaldns/query.h"
#include "globaldns/wire.h"
#include "globaldns/workers.h"

/* ---- small helpers ---- */

uint32_t fwd_rand(struct forward *f)
{
	/* xorshift64*: query IDs and the random policy, not cryptography */
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return (uint32_t)((f->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

int fwd_up_down(const struct forward *f, const struct fwd_upstream *u)
{
	return f->max_fails && u->fails >= f->max_fails;
}

void fwd_ms_to_tv(long ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* ---- c-ares on libevent ---- */

static void chan_destroy(struct fwd_chan *c);

/* Keep the channel's sweep armed while it has queries out (or must be
 * freed): one timer per channel, never one per query. */
static void chan_arm(struct fwd_chan *c)
{
	struct timeval tv;

	if (!c->ok || evtimer_pending(c->timer, NULL))
		return;
	fwd_ms_to_tv(c->draining && !c->outstanding ? 0 : FWD_TICK_MS, &tv);
	evtimer_add(c->timer, &tv);
}

void fwd_send(struct fwd_chan *c, struct fwd_try *t, const uint8_t *pkt,
	size_t len, ares_callback cb)
{
	t->c = c;
	t->live = 1;
	c->outstanding++;
	chan_arm(c);
	ares_send(c->ch, pkt, (int)len, cb, t);
}

void fwd_came_back(struct fwd_try *t)
{
	t->live = 0;
	t->c->outstanding--;
}

static void on_chan_sock_locked(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_chan *c = arg;

	ares_process_fd(c->ch, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
		(what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
}

WORKERS_LOCKED_EVENT_CB(on_chan_sock)

/*
 * The sweep: c-ares's timeouts (its queries live `timeout` + one sweep;
 * the query path has given up on them at `timeout` already), and a
 * drained channel freed -- from the loop, never inside a c-ares callback
 * (a send that fails at once calls back inside ares_send).
 */
static void on_chan_timer_locked(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_chan *c = arg;

	(void)fd;
	(void)what;
	if (c->draining && !c->outstanding) {
		struct fwd_chan **pp = &c->u->draining;
		while (*pp && *pp != c)
			pp = &(*pp)->next;
		if (*pp)
			*pp = c->next;
		chan_destroy(c);
		return;
	}
	ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	if (c->outstanding || c->draining)
		chan_arm(c);
}

WORKERS_LOCKED_EVENT_CB(on_chan_timer)

static void sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct fwd_chan *c = data;
	struct fwd_sock *s = NULL, *free_slot = NULL;
	short what = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

	for (int i = 0; i < FWD_SOCKS; i++) {
		if (c->socks[i].fd == fd) {
			s = &c->socks[i];
			break;
		}
		if (c->socks[i].fd < 0 && !free_slot)
			free_slot = &c->socks[i];
	}
	if (s)
		event_del(s->ev);
	if (!what) {
		if (s)
			s->fd = -1;
		return;
	}
	if (!s) {
		if (!free_slot) {
			log_error("plugin/forward: %s: too many sockets", c->u->name);
			return;
		}
		s = free_slot;
		if (!s->ev)
			s->ev = event_new(c->u->f->base, fd, what | EV_PERSIST, on_chan_sock, c);
		else
			event_assign(s->ev, c->u->f->base, fd, what | EV_PERSIST, on_chan_sock, c);
		if (!s->ev)
			return;
		s->fd = fd;
	} else {
		event_assign(s->ev, c->u->f->base, fd, what | EV_PERSIST, on_chan_sock, c);
	}
	event_add(s->ev, NULL);
}

static int chan_init(struct fwd_chan *c, struct fwd_upstream *u, int tcp)
{
	struct ares_options o;
	struct ares_addr_port_node srv;
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES
		| ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS;

	memset(&o, 0, sizeof(o));
	c->u = u;
	for (int i = 0; i < FWD_SOCKS; i++)
		c->socks[i].fd = -1;
	o.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_STAYOPEN | (tcp ? ARES_FLAG_USEVC : 0);
	/* the query path times a try out itself at `timeout`; c-ares keeps
	 * it a sweep longer, for a late answer */
	o.timeout = (int)(u->f->timeout_ms + FWD_TICK_MS);
	o.tries = 1;
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = c;
	o.lookups = (char *)"b";
	if (ares_init_options(&c->ch, &o, mask) != ARES_SUCCESS)
		return -1;
	c->ok = 1;
	memset(&srv, 0, sizeof(srv));
	srv.family = u->family;
	if (u->family == AF_INET)
		memcpy(&srv.addr.addr4, u->addr, 4);
	else
		memcpy(&srv.addr.addr6, u->addr, 16);
	srv.udp_port = u->port;
	srv.tcp_port = u->port;
	if (ares_set_servers_ports(c->ch, &srv) != ARES_SUCCESS)
		return -1;
	c->born_ns = query_now_ns();
	c->timer = evtimer_new(u->f->base, on_chan_timer, c);
	return c->timer ? 0 : -1;
}

static void chan_destroy(struct fwd_chan *c)
{
	if (!c)
		return;
	if (c->ok)
		ares_destroy(c->ch);   /* callbacks run with ARES_EDESTRUCTION */
	c->ok = 0;
	for (int i = 0; i < FWD_SOCKS; i++)
		if (c->socks[i].ev)
			event_free(c->socks[i].ev);
	if (c->timer)
		event_free(c->timer);
	free(c);
}

static struct fwd_chan *chan_new(struct fwd_upstream *u, int tcp)
{
	struct fwd_chan *c = calloc(1, sizeof(*c));

	if (c && chan_init(c, u, tcp) < 0) {
		chan_destroy(c);
		c = NULL;
	}
	return c;
}

/*
 * The channel for a new query to u over UDP or TCP; past `expire` a new
 * one replaces it and the old drains (its timer fires at once, so it is
 * freed from the loop if nothing is in flight).  Allocates once per
 * expire period; if that fails the old channel serves another period.
 */
struct fwd_chan *fwd_chan_current(struct fwd_upstream *u, int idx)
{
	struct fwd_chan *c = u->chan[idx], *n;
	uint64_t now = query_now_ns();

	if (!u->f->expire_ms || now - c->born_ns < (uint64_t)u->f->expire_ms * 1000000u)
		return c;
	if (!(n = chan_new(u, idx == CH_TCP))) {
		c->born_ns = now;
		return c;
	}
	c->draining = 1;
	c->next = u->draining;
	u->draining = c;
	evtimer_del(c->timer);
	chan_arm(c);
	u->chan[idx] = n;
	return n;
}

/* ---- health checks ---- */

static void hc_arm(struct fwd_upstream *u)
{
	struct timeval tv;

	if (u->probing || !u->f->hc_ms || !u->hc_timer)
		return;
	fwd_ms_to_tv(u->f->hc_ms, &tv);
	u->probing = 1;
	evtimer_add(u->hc_timer, &tv);
}

void fwd_up_failed(struct fwd_upstream *u, const char *why)
{
	struct forward *f = u->f;
	int was = fwd_up_down(f, u);

	u->fails++;
	u->stats.down = fwd_up_down(f, u);
	if (!was && u->stats.down)
		log_warning("plugin/%s: %s: marked down after %u failures (last: %s)",
			f->plugin_name, u->name, u->fails, why);
	if (f->max_fails)
		hc_arm(u);
}

void fwd_up_ok(struct fwd_upstream *u, const char *how)
{
	struct forward *f = u->f;

	if (fwd_up_down(f, u))
		log_info("plugin/%s: %s: up again (%s)", f->plugin_name, u->name, how);
	u->fails = 0;
	u->stats.down = 0;
	f->all_down_logged = 0;
}

static void on_probe(void *arg, int status, int timeouts, unsigned char *abuf,
	int alen)
{
	struct fwd_try *t = arg;
	struct fwd_upstream *u = t->u;

	(void)timeouts;
	(void)abuf;
	(void)alen;
	fwd_came_back(t);
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED)
		return;
	if (status == ARES_SUCCESS) {
		fwd_up_ok(u, "health check answered");
		return;
	}
	u->stats.hc_failures++;
	fwd_up_failed(u, "health check");
}

static void on_hc_timer_locked(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_upstream *u = arg;
	struct forward *f = u->f;
	uint8_t q[WIRE_HDR + WIRE_MAXNAME + 4];
	size_t len = WIRE_HDR;
	struct fwd_chan *c;

	(void)fd;
	(void)what;
	u->probing = 0;
	if (u->fails == 0)
		return;                 /* answered since: stop probing */
	hc_arm(u);                      /* probe until one is answered */
	if (u->probe.live)
		return;
	memset(q, 0, WIRE_HDR);
	q[0] = (uint8_t)fwd_rand(f);
	q[1] = (uint8_t)fwd_rand(f);
	q[2] = f->hc_rd ? 0x01 : 0x00;  /* RD */
	q[5] = 1;                       /* QDCOUNT */
	memcpy(q + len, f->hc_name, (size_t)f->hc_name_len);
	len += (size_t)f->hc_name_len;
	q[len++] = 0;                   /* root label */
	q[len++] = 0;
	q[len++] = DNS_TYPE_NS;
	q[len++] = 0;
	q[len++] = DNS_CLASS_IN;
	c = fwd_chan_current(u, f->force_tcp ? CH_TCP : CH_UDP);
	u->probe.fq = NULL;
	u->probe.u = u;
	fwd_send(c, &u->probe, q, len, on_probe);
}

WORKERS_LOCKED_EVENT_CB(on_hc_timer)

/* ---- life of an upstream ---- */

int fwd_upstream_start(struct fwd_upstream *u, struct event_base *base)
{
	if (!(u->chan[CH_UDP] = chan_new(u, 0)) || !(u->chan[CH_TCP] = chan_new(u, 1))) {
		log_error("plugin/%s: %s: cannot set up c-ares", u->f->plugin_name, u->name);
		return -1;
	}
	u->hc_timer = evtimer_new(base, on_hc_timer, u);
	return u->hc_timer ? 0 : -1;
}

void fwd_upstream_stop(struct fwd_upstream *u)
{
	chan_destroy(u->chan[CH_UDP]);
	chan_destroy(u->chan[CH_TCP]);
	u->chan[CH_UDP] = u->chan[CH_TCP] = NULL;
	while (u->draining) {
		struct fwd_chan *c = u->draining;
		u->draining = c->next;
		chan_destroy(c);
	}
	if (u->hc_timer)
		event_free(u->hc_timer);
	u->hc_timer = NULL;
}
