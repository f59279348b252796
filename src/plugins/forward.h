/*
 * forward.h -- the `forward` directive (alias `proxy`): a stub forwarder
 * for the names a block does not answer itself.
 *
 * Design (after CoreDNS's plugin/forward, in C):
 *   - every upstream (TO) has its own c-ares channels, each with that one
 *     server, one try and ARES_FLAG_NOCHECKRESP, so SERVFAIL and REFUSED
 *     come back to us and this module alone decides policy, failover and
 *     health: one channel for UDP (c-ares retries a truncated answer over
 *     TCP itself) and one that always uses TCP (force_tcp, or a client
 *     that asked over TCP);
 *   - c-ares sockets are libevent events, c-ares timeouts one timer per
 *     channel; no thread per query;
 *   - a query is held (query_hold) and tried on the upstreams in policy
 *     order, skipping those that are down, each try bounded by `timeout`
 *     (default 2 s), the whole query by `deadline` (default 5 s): then the
 *     client gets SERVFAIL, never silence;
 *   - a failed try (timeout, refused connection, an answer that does not
 *     match the question) counts against the upstream and starts health
 *     checks: a `. IN NS` query every `health_check` interval until one is
 *     answered; `max_fails` consecutive failures mark it down.  When every
 *     upstream is down they are all tried anyway (CoreDNS does the same).
 *
 * The counters below are for the metrics plugin: it finds the forward
 * instance in a block's chain (ops == &forward_plugin) and reads them with
 * the getters; they are plain counters updated on the event loop thread.
 */
#ifndef GLOBALDNS_FORWARD_H
#define GLOBALDNS_FORWARD_H

#include <stddef.h>
#include <stdint.h>

struct forward;

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
	uint64_t buckets[FORWARD_BUCKETS];
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

#endif
