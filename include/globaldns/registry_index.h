/*
 * registry_index.h -- two indexes built beside a registry snapshot
 * (registry.h), from the same snapshot, off the query path, and looked up
 * without allocation:
 *
 *   srv_index  the ports (spec.ports) of every served name, for SRV
 *              records: a name's ports are the union of the ports of the
 *              ServiceEntries it was served from (deduplicated, sorted by
 *              name, protocol, number).  Every served wildcard owner
 *              (`*.ext.global`) is in it, with or without ports, so that
 *              the nearest wildcard is found as the registry finds it.
 *   ptr_index  the served names holding each address inside configured
 *              reverse networks, for PTR records (names sorted label by
 *              label from the left, as they read), and the reverse
 *              zones those networks split into.
 *
 * Both read the registry only through registry.h (registry_foreach and
 * registry_source_list), so the registry's inside can change freely.
 */
#ifndef GLOBALDNS_REGISTRY_INDEX_H
#define GLOBALDNS_REGISTRY_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "globaldns/wire.h"

struct registry;

/* ---- SRV ---- */

struct srv_port {
	uint32_t name_off;              /* the port name (lowercase, no '_'): */
	uint16_t number;                /* srv_index_port_name() */
	uint8_t udp;                    /* 1: under _udp, 0: under _tcp */
	uint8_t namelen;
};

struct srv_index;
struct se_list;

/* The name of one of x's ports (namelen bytes, not terminated). */
const char *srv_index_port_name(const struct srv_index *x,
	const struct srv_port *p);

/* Build from r and the entries it was built from, whose ports it reads
 * (NULL on memory exhaustion). */
struct srv_index *srv_index_build(const struct registry *r, const struct se_list *entries);
void srv_index_free(struct srv_index *x);

/*
 * The ports of the served name `wire` (lowercased wire form, len bytes):
 * 1 with *ports and *n set (n may be 0 for a wildcard owner), or 0 when
 * the name is not in the index (*ports NULL, *n 0).
 */
int srv_index_find(const struct srv_index *x, const uint8_t *wire,
	size_t len, const struct srv_port **ports, size_t *n);

/* 1 if both hold the same names with the same ports (NULL: empty). */
int srv_index_same(const struct srv_index *a, const struct srv_index *b);
/* SRV records the index answers (names x ports), for the log. */
size_t srv_index_records(const struct srv_index *x);

/* ---- reverse zones and PTR ---- */

/* A reverse zone apex: its name and the network it stands for. */
struct rev_zone {
	struct wire_zone z;             /* "240.in-addr.arpa." */
	int family;                     /* AF_INET or AF_INET6 */
	uint8_t addr[16];               /* the network, host bits 0 */
	int bits;                       /* its prefix length: 8k (v4), 4k (v6) */
};

/*
 * Split the network "240.0.0.0/4" or "fd00::/8" into the reverse zones
 * that cover exactly it, as CoreDNS splits a CIDR server key: prefixes
 * rounded up to a label boundary (8 bits in in-addr.arpa, 4 in ip6.arpa),
 * so 240.0.0.0/4 is the 16 zones 240.in-addr.arpa ... 255.in-addr.arpa.
 * Appends to out (max slots, *n used).  0, or -1 with why ("not a
 * network", "host bits set", "splits into more than N zones").
 */
int rev_zones_from_cidr(const char *text, struct rev_zone *out, size_t max,
	size_t *n, char *why, size_t whylen);

/*
 * The address (prefix) a reverse name stands for.  q is at or below the
 * reverse zone rz (the caller matched it).  Returns the number of address
 * bits the name gives (a multiple of 8 or 4, the zone's bits or more) and
 * fills addr (bits beyond zero); -1 when the name is no address name at
 * all ("01.0.0.240.in-addr.arpa", a label below a full address).
 */
int rev_name_addr(const struct dns_query *q, const struct rev_zone *rz,
	uint8_t addr[16]);

struct ptr_name {
	const uint8_t *wire;            /* lowercased wire form */
	uint16_t len;
};

struct ptr_index;

/* Build from r, keeping only addresses inside one of zones. NULL: ENOMEM. */
struct ptr_index *ptr_index_build(const struct registry *r,
	const struct rev_zone *zones, size_t nzones);
void ptr_index_free(struct ptr_index *x);

/*
 * For a full address (bits 32 or 128): the names holding it, count
 * returned, *names set.  For a shorter prefix: 1 if an indexed address
 * lies under it, else 0 (the name does not exist); *names NULL.
 */
size_t ptr_index_lookup(const struct ptr_index *x, int family,
	const uint8_t *addr, int bits, const struct ptr_name **names);
/* Addresses indexed. */
size_t ptr_index_addresses(const struct ptr_index *x);

#endif
