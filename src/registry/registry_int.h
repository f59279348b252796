/*
 * registry_int.h -- the layout of a registry snapshot, shared by its
 * builder (registry_build.c) and its readers (registry.c).  Not for use
 * outside src/registry.
 *
 * A snapshot is one allocation: the struct below, then its arrays, each
 * aligned to 8 bytes and addressed by offsets from the struct:
 *
 *   nodes    struct reg_node[nnodes]: every name (served hosts, empty
 *            non-terminals, zone apexes, wildcard bases), 28 bytes each
 *   table    uint32_t[table_mask + 1]: open addressing by name hash, node
 *            index + 1 (0 empty), filled to at most half
 *   names    the names in wire form, lowercased, each once
 *   rrs      the A and AAAA records of every name, rendered as they go on
 *            the wire: owner a compression pointer to the question (0xC00C),
 *            type, class IN, the TTL, rdlength, the address -- 16 bytes an A
 *            record, 28 an AAAA; a node's A records then its AAAA records
 *   srcs     uint32_t: for each served name, the indexes of the entries it
 *            came from
 *   strs     for each entry "namespace/name\0"; for each reject three
 *            strings, each a presence byte (0: null) then the text and NUL
 *   str_off  uint32_t[nentries + nrejects]: where each one starts in strs
 *
 * Nothing points outside the allocation: the entry list a snapshot is
 * built from is freed once it is built.
 */
#ifndef GLOBALDNS_REGISTRY_INT_H
#define GLOBALDNS_REGISTRY_INT_H

#include <stdint.h>
#include <string.h>

#include "globaldns/util.h"

#define NODE_WILDBASE 0x01      /* "*.<this name>" is a node too */
#define NODE_NSHOST 0x02        /* ns.dns.<zone> from registry_conf, no entry */

#define REG_RR_A REGISTRY_RR_A  /* bytes of one rendered A record */
#define REG_RR_AAAA REGISTRY_RR_AAAA

struct reg_node {
	uint32_t hash;
	uint32_t name_off;      /* into names */
	uint32_t rr_off;        /* into rrs */
	uint32_t src_first;     /* into srcs */
	uint32_t wild;          /* node index of "*.<name>" if WILDBASE */
	uint16_t nv4, nv6;
	uint16_t nsrc;
	uint8_t name_len;
	uint8_t flags;
};

struct registry {
	uint32_t serial;
	uint32_t nnodes, nserved;
	uint32_t nentries, nrejects;
	uint32_t table_mask;
	size_t bytes;                   /* the whole allocation */
	const struct reg_node *nodes;
	const uint32_t *table;
	const uint8_t *names;
	const uint8_t *rrs;
	const uint32_t *srcs;
	const char *strs;
	const uint32_t *str_off;
	void *extra;                    /* registry_set_extra */
	void (*extra_free)(void *);
};

static inline uint32_t reg_hash(const uint8_t *name, size_t len)
{
	return (uint32_t)hash_fnv1a(HASH_FNV1A_INIT, name, len);
}

/* The node for a wire name, or -1. */
static inline int reg_find(const struct registry *r, const uint8_t *name,
	size_t len, uint32_t h)
{
	for (uint32_t i = h & r->table_mask;; i = (i + 1) & r->table_mask) {
		uint32_t slot = r->table[i];
		const struct reg_node *n;
		if (slot == 0)
			return -1;
		n = &r->nodes[slot - 1];
		if (n->hash == h && n->name_len == len
		    && memcmp(r->names + n->name_off, name, len) == 0)
			return (int)(slot - 1);
	}
}

#endif
