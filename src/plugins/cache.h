/*
 * cache.h -- the `cache` directive: CoreDNS 1.11's response cache, for
 * what the forwarder brings back.
 *
 * Design: two bounded tables (success, denial), each a chained hash table
 * over a slot array with an LRU list; both are indexed by the key
 * (lowercased qname, qtype, qclass, DO, CD).  A slot keeps the response
 * in wire form without its OPT record, in a buffer that is reused when
 * the slot is recycled, so a warm cache allocates nothing: a hit copies
 * the message into the response buffer, puts in the client's ID and
 * question (case as asked), counts every TTL down to the entry's
 * remaining life and adds an OPT if the client sent one.
 *
 * What goes in (CoreDNS's rules): only answers the `forward` plugin
 * produced (never `serviceentries`, which must show registry changes at
 * once); not truncated ones; NOERROR with records -> success; NXDOMAIN
 * and NODATA -> denial, for the smallest TTL of the message and the SOA
 * minimum; SERVFAIL an upstream returned -> denial for `servfail` seconds
 * (5) at most, never the forwarder's own (req->synthesized); other rcodes
 * never; nor a message too big to add an OPT to (QUERY_RESP_MAX - 11).
 * AA is kept as the upstream set it.  The TTL is then clamped to [MINTTL, TTL] of the table
 * (defaults 5 and 3600 / 1800).  With serve_stale an expired entry is
 * kept for DURATION and answered (TTL 0) when the upstreams fail; a
 * SERVFAIL never replaces it.  With prefetch an entry asked for often is
 * refreshed in the background before it expires.
 */
#ifndef GLOBALDNS_CACHE_H
#define GLOBALDNS_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cache;

enum cache_kind {
	CACHE_NONE = 0,         /* not cacheable */
	CACHE_SUCCESS,
	CACHE_DENIAL,           /* NXDOMAIN or NODATA */
	CACHE_SERVFAIL
};

/*
 * Classify a complete response message (CoreDNS's response.Typify) and
 * find the TTL it may be cached for before clamping: the smallest TTL of
 * every record (the OPT excepted) and, for a denial, the SOA minimum;
 * 5 s when there is no record at all.  Truncated messages, other rcodes
 * and unparsable messages are CACHE_NONE.
 */
enum cache_kind cache_classify(const uint8_t *msg, size_t len, uint32_t *ttl);

struct cache_stats {
	uint64_t hits_success, hits_denial;
	uint64_t misses;
	uint64_t inserts, evictions;            /* evictions: both tables */
	uint64_t evictions_success, evictions_denial;
	uint64_t drops;                         /* answers not stored: malformed */
	uint64_t prefetches;
	uint64_t served_stale;
	size_t entries_success, entries_denial;
};

/* Counters of a cache instance (its plugin state). */
const struct cache_stats *cache_get_stats(const struct cache *c);

#endif
