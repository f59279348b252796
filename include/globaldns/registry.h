/*
 * registry.h -- an immutable snapshot of the names served from
 * ServiceEntries, and the lookup the query path does in it.
 *
 * Design: a snapshot is built whole, off the query path (on a thread of its
 * own: registry_builder), from a list of entries (registry_build), then
 * published on the event loop by swapping one pointer; it is
 * never changed after.  Readers need no lock; with several workers the old
 * snapshot is freed only when no worker can still hold it.
 *
 * Inside (src/registry/registry_int.h): one allocation per snapshot, the
 * names interned (each stored once, in wire form), the entry list it was
 * built from not kept (only each entry's "namespace/name" and the rejects,
 * for introspection).  One open-addressing hash table keyed by the
 * lowercased wire name holds every served host (with its A and AAAA
 * records, rendered in wire form for the query path to copy), every empty
 * non-terminal between a host and its zone apex, and every wildcard owner
 * (`*.ext.global`).  The name server host ns.dns.<zone> is a node like any
 * other (so dns.<zone> is an empty non-terminal, RFC 8020), marked so that
 * it is not counted, listed or diffed as a served ServiceEntry host.  Wildcard bases (`ext.global`) are marked so a lookup
 * that misses walks up the query's ancestors looking for the longest
 * wildcard, Istio's semantics: `*.ext.global` covers every name below
 * ext.global at any depth, never ext.global itself, and never a name that
 * exists on its own.  Lookups do no allocation.
 *
 * Address choice per host (the rules in man/globaldns.8):
 *   1. the entry's usable spec.addresses;
 *   2. if none, and resolution is not NONE: status.addresses for the host
 *      (or for all hosts), then the block's default_address(es);
 *   3. otherwise the host is not served by that entry.
 * The same host in several entries gets the union, deduplicated and sorted
 * (numerically, IPv4 before IPv6).
 */
#ifndef GLOBALDNS_REGISTRY_H
#define GLOBALDNS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "globaldns/seentry.h"

struct registry;
struct dns_query;

struct registry_conf {
	const char *const *zones;       /* presentation, lowercase, FQDN; "." ok */
	size_t nzones;
	const struct se_addr *defaults; /* default_address values, may be NULL */
	size_t ndefaults;
	/* What ns.dns.<zone>, the target of the apex NS, answers in every
	 * zone, unless an entry names that host itself; none: not served */
	const uint8_t (*ns_v4)[4];
	size_t nns_v4;
	const uint8_t (*ns_v6)[16];
	size_t nns_v6;
	uint32_t ttl;                   /* of the rendered A and AAAA records */
	/*
	 * Optional: what is built from the same entries beside the snapshot
	 * (an index of their ports, ...).  registry_build calls it with the
	 * finished snapshot and the entries, before it frees them (on the
	 * build thread when built off the loop); it may hang its result on
	 * the snapshot (registry_set_extra), which is then published and
	 * freed with it.  -1 fails the build (entries unchanged).
	 */
	int (*attach)(void *arg, const struct se_list *entries,
		struct registry *r);
	void *attach_arg;
};

/*
 * Build a snapshot from entries, which are freed (*entries is left empty):
 * the snapshot keeps what it needs in its own allocation.  Hosts outside
 * every zone are not served.  A name keeps at most 65535 addresses of a
 * family and lists at most 65535 source entries (more A records than fit
 * in any DNS message).  Returns the snapshot (free with registry_free) or
 * NULL on memory exhaustion (entries then unchanged).
 */
struct registry *registry_build(const struct registry_conf *conf,
	struct se_list *entries, uint32_t serial);

void registry_free(struct registry *r);

/* The extra of conf->attach: set once, before publication; extra_free
 * (may be NULL) runs in registry_free. */
void registry_set_extra(struct registry *r, void *extra,
	void (*extra_free)(void *));
void *registry_extra(const struct registry *r);

/*
 * Building off the event loop: a builder owns a thread that builds each
 * submitted list and hands the snapshot (serial 0: set it before
 * publishing) to fn on the loop of `base`, or NULL if memory ran out.
 * A list submitted while another waits replaces it (rebuilds coalesce);
 * submit moves *entries in (left empty): 0, or -1 if the thread cannot
 * start (entries untouched).  conf is copied shallowly: its arrays must
 * outlive the builder.  registry_builder_free waits for a build in flight
 * and drops what was not delivered.
 */
struct event_base;
struct registry_builder;
typedef void (*registry_built_fn)(void *arg, struct registry *r);
struct registry_builder *registry_builder_new(struct event_base *base,
	const struct registry_conf *conf, registry_built_fn fn, void *arg);
int registry_builder_submit(struct registry_builder *b, struct se_list *entries);
void registry_builder_free(struct registry_builder *b);
/* Have the build thread return freed heap to the system (malloc_trim)
 * once it is idle: 0, or -1 if there is no thread (b NULL or no build
 * yet: trim in place then). */
int registry_builder_trim(struct registry_builder *b);

enum registry_match {
	REG_NXDOMAIN = 0,  /* no such name (and no wildcard covers it) */
	REG_NAME,          /* the name exists; nv4/nv6 may be 0 (NODATA) */
	REG_WILDCARD       /* synthesised from a wildcard */
};

/* Bytes of one rendered record: owner 0xC00C (the question's name), type,
 * class IN, TTL, rdlength, then the address at REGISTRY_RR_ADDR. */
#define REGISTRY_RR_A 16
#define REGISTRY_RR_AAAA 28
#define REGISTRY_RR_ADDR 12

struct registry_answer {
	const uint8_t *a_rrs;           /* nv4 A records, REGISTRY_RR_A bytes each */
	size_t nv4;
	const uint8_t *aaaa_rrs;        /* nv6 AAAA records */
	size_t nv6;
	int source;                     /* node index, for introspection */
};

/* The i-th IPv4 / IPv6 address of an answer. */
static inline const uint8_t *registry_answer_v4(const struct registry_answer *a,
	size_t i)
{
	return a->a_rrs + i * REGISTRY_RR_A + REGISTRY_RR_ADDR;
}

static inline const uint8_t *registry_answer_v6(const struct registry_answer *a,
	size_t i)
{
	return a->aaaa_rrs + i * REGISTRY_RR_AAAA + REGISTRY_RR_ADDR;
}

/*
 * Look up the name of q (its lowercased form); the caller has checked that
 * it is inside one of the snapshot's zones.  Returns what matched and
 * points *ans at the records (valid as long as the snapshot lives): the
 * answer is a copy of a_rrs or aaaa_rrs, whose owner is the question.
 * The apex of every zone exists (as a name without addresses, unless a
 * host is the apex itself).
 */
enum registry_match registry_lookup(const struct registry *r,
	const struct dns_query *q, struct registry_answer *ans);

uint32_t registry_serial(const struct registry *r);
/* Only before the snapshot is published. */
void registry_set_serial(struct registry *r, uint32_t serial);
/* Names that have at least one address. */
size_t registry_names(const struct registry *r);
/* Entries used / rejected while building the source list. */
size_t registry_entries(const struct registry *r);
size_t registry_rejects(const struct registry *r);
/* Reject i (< registry_rejects): its namespace, name (NULL when the object
 * had none) and reason, valid as long as the snapshot. */
void registry_reject(const struct registry *r, size_t i, const char **ns,
	const char **name, const char **reason);
/* The size of the snapshot's allocation, and its names (served hosts,
 * empty non-terminals, apexes, wildcard bases): for bytes per name. */
size_t registry_bytes(const struct registry *r);
size_t registry_nodes(const struct registry *r);

/*
 * Compare two snapshots' served names and addresses: counts of names
 * added, removed and changed going from old to new.  old may be NULL.
 */
void registry_diff(const struct registry *old, const struct registry *new_,
	size_t *added, size_t *removed, size_t *changed);

/*
 * Visit every served name (presentation form) with its addresses and the
 * "namespace/name" of the entries it came from.  For introspection and
 * tests; not for the query path.
 */
typedef void (*registry_visit_fn)(void *arg, const char *name,
	const uint8_t (*v4)[4], size_t nv4, const uint8_t (*v6)[16], size_t nv6,
	const char *const *sources, size_t nsources);
void registry_foreach(const struct registry *r, registry_visit_fn fn,
	void *arg);

#endif
