/*
 * forward_int.h -- the `forward` directive (and proxy's DNS lines): a stub forwarder
 * for the names a block does not answer itself.
 *
 * Design (after CoreDNS's plugin/forward, in C):
 *   - every upstream (TO) has its own c-ares channels, each with that one
 *     server, one try and ARES_FLAG_NOCHECKRESP, so SERVFAIL and REFUSED
 *     come back to us and this module alone decides policy, failover and
 *     health: one channel for UDP (c-ares retries a truncated answer over
 *     TCP itself) and one that always uses TCP (force_tcp, or a client
 *     that asked over TCP);
 *   - c-ares sockets are libevent events; no thread per query;
 *   - a query is held (query_hold) and tried on the upstreams in policy
 *     order, skipping those that are down, each try bounded by `timeout`
 *     (default 2 s), the whole query by `deadline` (default 5 s): then the
 *     client gets SERVFAIL, never silence;
 *   - timer work per query is O(1): the deadline and the try timeout are
 *     libevent common timeouts (one queue per duration: add and delete
 *     in constant time, however many queries wait), and c-ares's own
 *     timeouts are swept by one timer per channel every FWD_TICK_MS while
 *     it has queries out.  ares_timeout(), which walks every query in
 *     flight (c-ares 1.18), is never called: with a black-holed upstream
 *     at 5,000 queries/s it took 92 % of the CPU;
 *   - at most `max_concurrent` queries in flight per instance, 1000 by
 *     default (CoreDNS: unlimited); past it the query is answered at once,
 *     SERVFAIL by default, REFUSED when `max_concurrent` is written (as
 *     CoreDNS does); so memory stays bounded whatever the upstream does;
 *   - a try that timed out stays in c-ares until c-ares times it out too:
 *     if its answer arrives while the client still waits, it is used;
 *   - a failed try (timeout, refused connection, an answer that does not
 *     match the question) counts against the upstream and starts health
 *     checks: a `. IN NS` query every `health_check` interval until one is
 *     answered; `max_fails` consecutive failures mark it down.  When every
 *     upstream is down they are all tried anyway (CoreDNS does the same).
 *
 * Files: forward.c (the query path, metrics), forward_conf.c (the
 * directive's configuration) and forward_upstream.c (per upstream: the
 * c-ares channels on the loop, socket expiry, failures and health
 * checks).  This header is theirs
 * (and the unit tests'); the counters are plain integers updated on the
 * event loop thread and exported by forward.c's collect hook.
 */
#ifndef GLOBALDNS_PLUGINS_FORWARD_INT_H
#define GLOBALDNS_PLUGINS_FORWARD_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#include <ares.h>

#include "globaldns/wire.h"

struct dns_request;
struct event;
struct event_base;
struct forward;

#define FWD_MAX_UPSTREAMS 15            /* as CoreDNS */
#define FWD_MAX_EXCEPT 64
#define FWD_SOCKS 8                     /* per channel: c-ares opens 1 UDP + 1 TCP */
#define FWD_DEFAULT_TIMEOUT_MS 2000     /* CoreDNS's read timeout */
#define FWD_DEFAULT_DEADLINE_MS 5000    /* CoreDNS's defaultTimeout */
#define FWD_DEFAULT_HC_MS 500
#define FWD_DEFAULT_MAX_FAILS 2
#define FWD_DEFAULT_EXPIRE_MS 10000     /* CoreDNS's expire */
#define FWD_DEFAULT_MAX_CONCURRENT 1000 /* queries in flight per instance */
#define FWD_TRY_SLOTS 4                 /* tries of one query out at once */
#define FWD_TICK_MS 250                 /* sweep of c-ares timeouts per channel */

/* Answers by rcode 0..15; FORWARD_RCODE_OTHER counts extended rcodes. */
#define FORWARD_RCODES 17
#define FORWARD_RCODE_OTHER 16
/* Request duration histogram: bucket i counts answers that took at most
 * 0.25 ms * 2^i (CoreDNS's plugin.TimeBuckets); the last counts the rest. */
#define FORWARD_BUCKETS 17

struct forward_upstream_stats {
	const char *to;                 /* "127.0.0.1:53", "[::1]:53" */
	uint64_t requests;              /* tries sent to it */
	uint64_t answers[FORWARD_RCODES];
	uint64_t duration_ns[FORWARD_RCODES]; /* sum over answers by rcode */
	uint64_t buckets[FORWARD_RCODES][FORWARD_BUCKETS]; /* by rcode */
	uint64_t failures;              /* timeouts, errors, mismatched answers */
	uint64_t hc_failures;           /* failed health checks */
	int down;                       /* 1 while marked down */
};

struct forward_stats {
	uint64_t max_concurrent_rejects;
	uint64_t hc_broken;             /* queries sent while every upstream was down */
	uint64_t servfail_deadline;     /* queries answered SERVFAIL: no upstream answered */
	uint64_t inflight;              /* queries waiting for an upstream now */
};

/* Number of upstreams of a forward instance (its plugin state). */
size_t forward_upstream_count(const struct forward *f);
/* Counters of upstream i (< count); valid as long as the instance. */
const struct forward_upstream_stats *forward_upstream_stats(
	const struct forward *f, size_t i);
/* Instance-wide counters. */
const struct forward_stats *forward_get_stats(const struct forward *f);
/* Its per-query deadline in ms: a held query is answered within it. */
long forward_deadline_ms(const struct forward *f);

enum fwd_policy { POLICY_RANDOM, POLICY_ROUND_ROBIN, POLICY_SEQUENTIAL };
enum { CH_UDP = 0, CH_TCP = 1 };

struct fwd_upstream;

struct fwd_sock {
	int fd;                         /* -1: free slot */
	struct event *ev;               /* kept for reuse */
};

/*
 * One c-ares channel: its sockets to one upstream, UDP or TCP.  A channel
 * older than `expire` is replaced for new queries (so a UDP query leaves
 * from a new source port, a TCP one on a new connection); the old one
 * drains and is freed from the loop once it has nothing in flight.
 */
struct fwd_chan {
	struct fwd_upstream *u;
	ares_channel ch;
	int ok;                         /* channel initialised */
	int draining;                   /* replaced: freed once idle */
	uint64_t born_ns;
	unsigned long outstanding;      /* sent, c-ares has not called back */
	struct fwd_chan *next;          /* in the upstream's draining list */
	struct event *timer;            /* the sweep; frees a drained channel */
	struct fwd_sock socks[FWD_SOCKS];
};

/*
 * One query sent through c-ares, the argument of its callback: a try of
 * a client's query, or a health check (fq NULL).
 */
struct fwd_try {
	struct fwd_query *fq;
	struct fwd_upstream *u;
	struct fwd_chan *c;
	uint64_t sent_ns;
	int live;                       /* c-ares has not called back yet */
	int current;                    /* the try the query waits on: its
	                                 * failure counts and moves on */
};

struct fwd_upstream {
	struct forward *f;
	char name[64];
	int family;
	uint8_t addr[16];
	uint16_t port;
	struct fwd_chan *chan[2];       /* current: UDP, TCP */
	struct fwd_chan *draining;      /* replaced, queries still in flight */
	unsigned int fails;
	int probing;                    /* health check timer armed */
	struct fwd_try probe;           /* the health check in flight */
	struct event *hc_timer;
	struct forward_upstream_stats stats;
};

struct fwd_query {
	struct forward *f;
	struct dns_request *req;        /* held; NULL once answered */
	struct event *deadline;         /* common timeouts (O(1)) */
	struct event *try_timer;
	struct fwd_try tries_out[FWD_TRY_SLOTS];
	uint8_t order[FWD_MAX_UPSTREAMS];
	unsigned int n, pos, tries, max_tries;
	int pending;                    /* c-ares callbacks outstanding */
	int use_tcp;
	char why[160];                  /* the last try's failure, for `errors` */
	struct fwd_query *next_free;
	struct fwd_query *all_next;
};

struct forward {
	struct wire_zone from;
	struct wire_zone except[FWD_MAX_EXCEPT];
	size_t nexcept;
	struct fwd_upstream up[FWD_MAX_UPSTREAMS];
	size_t nup;
	int force_tcp, prefer_udp, failfast;
	unsigned int max_fails;
	long hc_ms;
	int hc_rd;
	uint8_t hc_name[WIRE_MAXNAME];
	int hc_name_len;
	enum fwd_policy policy;
	unsigned long max_concurrent;   /* 0: no limit */
	int reject_rcode;               /* past it: SERVFAIL, or REFUSED if written */
	long timeout_ms, deadline_ms;
	long expire_ms;                 /* 0: sockets are never replaced */
	const char *plugin_name;        /* "forward" or "proxy" */

	struct event_base *base;
	const struct timeval *ct_deadline, *ct_try; /* common timeouts on base */
	int ares_init;
	unsigned int rr;
	uint64_t rng;
	struct fwd_query *free_q, *all_q;
	struct forward_stats stats;
	int all_down_logged;
	uint8_t *sendbuf;               /* send_copy() */
	size_t sendbuf_cap;
};

/* ---- forward_conf.c: the plugin's setup (forward.c holds its ops) ---- */

struct plugin_ctx;
struct cf_directive;
int fwd_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen);

/* ---- forward_upstream.c ---- */

/* xorshift64*: query IDs and the random policy, not cryptography. */
uint32_t fwd_rand(struct forward *f);
/* 1 while u is marked down (max_fails failures in a row). */
int fwd_up_down(const struct forward *f, const struct fwd_upstream *u);
void fwd_ms_to_tv(long ms, struct timeval *tv);
/* The channel a new query to u goes through (idx CH_UDP or CH_TCP);
 * past `expire` a new one replaces it. */
struct fwd_chan *fwd_chan_current(struct fwd_upstream *u, int idx);
/* Send pkt through c; cb(t, ...) gets the answer or the failure (t->u
 * and t->fq set by the caller).  Counts it out and keeps the channel's
 * sweep armed.  c-ares may call back before this returns (a send that
 * fails at once). */
void fwd_send(struct fwd_chan *c, struct fwd_try *t, const uint8_t *pkt,
	size_t len, ares_callback cb);
/* First thing in such a callback: t is back, no longer counted out. */
void fwd_came_back(struct fwd_try *t);
/* A try failed (counts toward down, starts health checks) / answered. */
void fwd_up_failed(struct fwd_upstream *u, const char *why);
void fwd_up_ok(struct fwd_upstream *u, const char *how);
/* Channels and the health-check timer on base; 0 or -1.  Stop frees them
 * (c-ares calls back what is in flight with ARES_EDESTRUCTION). */
int fwd_upstream_start(struct fwd_upstream *u, struct event_base *base);
void fwd_upstream_stop(struct fwd_upstream *u);

#endif
