/*
 * registry.c -- immutable snapshots of served names (see registry.h).
 */
#include "globaldns/registry.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "globaldns/util.h"
#include "globaldns/wire.h"

#define NODE_WILDBASE 0x01      /* "*.<this name>" is a node too */
#define NODE_NSHOST 0x02        /* ns.dns.<zone> from registry_conf, no entry */

struct reg_node {
	uint32_t hash;
	uint32_t name_off;      /* into names arena: wire, lowercased */
	uint16_t name_len;
	uint8_t flags;
	uint32_t wild;          /* node index of "*.<name>" if WILDBASE */
	uint32_t v4_first, nv4;
	uint32_t v6_first, nv6;
	uint32_t src_first, nsrc;
};

struct registry {
	uint32_t serial;
	struct se_list list;            /* what it was built from */
	struct reg_node *nodes;
	size_t nnodes, nodes_cap;
	uint32_t *table;                /* node index + 1; 0 = empty */
	size_t table_mask;
	uint8_t *names;
	size_t names_len, names_cap;
	uint8_t (*v4)[4];
	size_t nv4, v4_cap;
	uint8_t (*v6)[16];
	size_t nv6, v6_cap;
	uint32_t *srcs;                 /* entry indexes */
	size_t nsrcs, srcs_cap;
	size_t nserved;
};

/* One (host, address, entry) fact, before grouping. */
struct fact {
	const char *host;
	uint32_t entry;
	struct se_addr addr;
};

static uint32_t name_hash(const uint8_t *name, size_t len)
{
	return (uint32_t)hash_fnv1a(HASH_FNV1A_INIT, name, len);
}

static int find_node(const struct registry *r, const uint8_t *name,
	size_t len, uint32_t h)
{
	size_t i;

	if (!r->table)
		return -1;
	for (i = h & r->table_mask;; i = (i + 1) & r->table_mask) {
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

static int rehash(struct registry *r, size_t want)
{
	size_t size = 64;
	uint32_t *t;

	while (size < want * 2)
		size *= 2;
	t = calloc(size, sizeof(*t));
	if (!t)
		return -1;
	free(r->table);
	r->table = t;
	r->table_mask = size - 1;
	for (size_t n = 0; n < r->nnodes; n++) {
		size_t i = r->nodes[n].hash & r->table_mask;
		while (t[i])
			i = (i + 1) & r->table_mask;
		t[i] = (uint32_t)n + 1;
	}
	return 0;
}

/* Find or add the node for a wire name; returns its index or -1. */
static int intern(struct registry *r, const uint8_t *name, size_t len)
{
	uint32_t h = name_hash(name, len);
	int idx = find_node(r, name, len, h);
	struct reg_node *n;

	if (idx >= 0)
		return idx;
	if ((r->nnodes + 1) * 2 > r->table_mask + 1 || !r->table)
		if (rehash(r, (r->nnodes + 1) * 2) < 0)
			return -1;
	if (grow_array((void **)&r->nodes, &r->nodes_cap, r->nnodes + 1, sizeof(*r->nodes)) < 0
	    || grow_array((void **)&r->names, &r->names_cap, r->names_len + len, 1) < 0)
		return -1;
	n = &r->nodes[r->nnodes];
	memset(n, 0, sizeof(*n));
	n->hash = h;
	n->name_off = (uint32_t)r->names_len;
	n->name_len = (uint16_t)len;
	memcpy(r->names + r->names_len, name, len);
	r->names_len += len;
	{
		size_t i = h & r->table_mask;
		while (r->table[i])
			i = (i + 1) & r->table_mask;
		r->table[i] = (uint32_t)r->nnodes + 1;
	}
	return (int)r->nnodes++;
}

static int addr_cmp(const struct se_addr *a, const struct se_addr *b)
{
	if (a->family != b->family)
		return a->family == AF_INET ? -1 : 1;
	return memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
}

static int fact_cmp(const void *pa, const void *pb)
{
	const struct fact *a = pa, *b = pb;
	int c = strcmp(a->host, b->host);

	if (c)
		return c;
	c = addr_cmp(&a->addr, &b->addr);
	if (c)
		return c;
	return a->entry < b->entry ? -1 : a->entry > b->entry;
}

/* The wire length of the zone that contains name, or -1 if none. */
static int zone_of(const uint8_t (*zones)[WIRE_MAXNAME], const int *zlen,
	size_t nzones, const uint8_t *name, int len)
{
	int best = -1;

	for (size_t z = 0; z < nzones; z++) {
		int off = 0;
		if (zlen[z] > len)
			continue;
		/* walk label boundaries so "xglobal" never matches "global" */
		while (off < len) {
			if (len - off == zlen[z]) {
				if (memcmp(name + off, zones[z], (size_t)zlen[z]) == 0
				    && zlen[z] > best)
					best = zlen[z];
				break;
			}
			off += name[off] + 1;
		}
	}
	return best;
}

static int add_facts(struct fact **facts, size_t *n, size_t *cap,
	const char *host, uint32_t entry, const struct se_addr *a)
{
	if (grow_array((void **)facts, cap, *n + 1, sizeof(**facts)) < 0)
		return -1;
	(*facts)[*n].host = host;
	(*facts)[*n].entry = entry;
	(*facts)[*n].addr = *a;
	(*n)++;
	return 0;
}

static int collect(const struct registry_conf *conf, const struct se_list *l,
	struct fact **facts, size_t *nfacts)
{
	size_t cap = 0;

	for (size_t e = 0; e < l->n; e++) {
		const struct se_entry *en = &l->items[e];
		for (size_t h = 0; h < en->nhosts; h++) {
			const char *host = en->hosts[h];
			size_t got = 0;
			for (size_t a = 0; a < en->naddrs; a++, got++)
				if (add_facts(facts, nfacts, &cap, host, (uint32_t)e, &en->addrs[a]) < 0)
					return -1;
			/* Istio's DNS proxy serves NONE entries only from
			 * their explicit addresses. */
			if (got || en->resolution == SE_RES_NONE)
				continue;
			for (size_t a = 0; a < en->nstatus_addrs; a++) {
				const struct se_status_addr *sa = &en->status_addrs[a];
				if (sa->host && strcmp(sa->host, host) != 0)
					continue;
				if (add_facts(facts, nfacts, &cap, host, (uint32_t)e, &sa->addr) < 0)
					return -1;
				got++;
			}
			for (size_t a = 0; !got && a < conf->ndefaults; a++)
				if (add_facts(facts, nfacts, &cap, host, (uint32_t)e, &conf->defaults[a]) < 0)
					return -1;
		}
	}
	return 0;
}

/* Add the nodes for name's ancestors down to (and including) its zone. */
static int add_ancestors(struct registry *r, const uint8_t *name, int len,
	int zlen)
{
	int off = 0;

	while (len - off > zlen) {
		off += name[off] + 1;
		if (intern(r, name + off, (size_t)(len - off)) < 0)
			return -1;
	}
	return 0;
}

static int build_nodes(struct registry *r, const struct registry_conf *conf,
	struct fact *facts, size_t nfacts)
{
	uint8_t zones[conf->nzones ? conf->nzones : 1][WIRE_MAXNAME];
	int zlen[conf->nzones ? conf->nzones : 1];

	for (size_t z = 0; z < conf->nzones; z++) {
		zlen[z] = wire_name_from_str(conf->zones[z], zones[z]);
		if (zlen[z] < 0)
			return -1;
		if (intern(r, zones[z], (size_t)zlen[z]) < 0)
			return -1;
	}
	for (size_t i = 0; i < nfacts;) {
		uint8_t wire[WIRE_MAXNAME];
		size_t j = i;
		int len, zl, idx;
		struct reg_node *n;

		while (j < nfacts && strcmp(facts[j].host, facts[i].host) == 0)
			j++;
		len = wire_name_from_str(facts[i].host, wire);
		zl = len < 0 ? -1 : zone_of((const uint8_t (*)[WIRE_MAXNAME])zones, zlen, conf->nzones, wire, len);
		if (zl < 0) {
			i = j;
			continue;
		}
		if (add_ancestors(r, wire, len, zl) < 0 || (idx = intern(r, wire, (size_t)len)) < 0)
			return -1;
		n = &r->nodes[idx];
		n->v4_first = (uint32_t)r->nv4;
		n->v6_first = (uint32_t)r->nv6;
		n->src_first = (uint32_t)r->nsrcs;
		for (size_t k = i; k < j; k++) {
			const struct se_addr *a = &facts[k].addr;
			int dup = k > i && addr_cmp(a, &facts[k - 1].addr) == 0;
			int seen = 0;
			for (size_t s = n->src_first; s < r->nsrcs; s++)
				seen |= r->srcs[s] == facts[k].entry;
			if (!seen) {
				if (grow_array((void **)&r->srcs, &r->srcs_cap, r->nsrcs + 1, sizeof(*r->srcs)) < 0)
					return -1;
				r->srcs[r->nsrcs++] = facts[k].entry;
				n->nsrc++;
			}
			if (dup)
				continue;
			if (a->family == AF_INET) {
				if (grow_array((void **)&r->v4, &r->v4_cap, r->nv4 + 1, 4) < 0)
					return -1;
				memcpy(r->v4[r->nv4++], a->addr, 4);
				n->nv4++;
			} else {
				if (grow_array((void **)&r->v6, &r->v6_cap, r->nv6 + 1, 16) < 0)
					return -1;
				memcpy(r->v6[r->nv6++], a->addr, 16);
				n->nv6++;
			}
		}
		r->nserved++;
		if (wire[0] == 1 && wire[1] == '*') {
			int base = intern(r, wire + 2, (size_t)len - 2);
			if (base < 0)
				return -1;
			r->nodes[base].flags |= NODE_WILDBASE;
			r->nodes[base].wild = (uint32_t)idx;
		}
		i = j;
	}
	return 0;
}

/*
 * ns.dns.<zone> for every zone, with the configured addresses, unless an
 * entry serves that host (then the entry's addresses stand).
 */
static int add_ns_hosts(struct registry *r, const struct registry_conf *conf)
{
	if (conf->nns_v4 + conf->nns_v6 == 0)
		return 0;
	for (size_t z = 0; z < conf->nzones; z++) {
		uint8_t wire[WIRE_MAXNAME + 8];
		int zlen, idx;
		struct reg_node *n;

		memcpy(wire, "\002ns\003dns", 7);
		zlen = wire_name_from_str(conf->zones[z], wire + 7);
		if (zlen < 0 || 7 + zlen > WIRE_MAXNAME)
			continue;
		idx = find_node(r, wire, (size_t)(7 + zlen), name_hash(wire, (size_t)(7 + zlen)));
		if (idx >= 0 && r->nodes[idx].nv4 + r->nodes[idx].nv6 > 0)
			continue;
		if (add_ancestors(r, wire, 7 + zlen, zlen) < 0
		    || (idx = intern(r, wire, (size_t)(7 + zlen))) < 0
		    || (conf->nns_v4 && grow_array((void **)&r->v4, &r->v4_cap, r->nv4 + conf->nns_v4, 4) < 0)
		    || (conf->nns_v6 && grow_array((void **)&r->v6, &r->v6_cap, r->nv6 + conf->nns_v6, 16) < 0))
			return -1;
		n = &r->nodes[idx];
		n->flags |= NODE_NSHOST;
		n->v4_first = (uint32_t)r->nv4;
		n->nv4 = (uint32_t)conf->nns_v4;
		if (conf->nns_v4)       /* no memcpy with NULL, even of 0 bytes */
			memcpy(r->v4[r->nv4], conf->ns_v4, conf->nns_v4 * 4);
		r->nv4 += conf->nns_v4;
		n->v6_first = (uint32_t)r->nv6;
		n->nv6 = (uint32_t)conf->nns_v6;
		if (conf->nns_v6)
			memcpy(r->v6[r->nv6], conf->ns_v6, conf->nns_v6 * 16);
		r->nv6 += conf->nns_v6;
	}
	return 0;
}

struct registry *registry_build(const struct registry_conf *conf,
	struct se_list *entries, uint32_t serial)
{
	struct registry *r = calloc(1, sizeof(*r));
	struct fact *facts = NULL;
	size_t nfacts = 0;

	if (!r)
		return NULL;
	r->serial = serial;
	if (collect(conf, entries, &facts, &nfacts) < 0)
		goto fail;
	if (nfacts)             /* facts is NULL for an empty list */
		qsort(facts, nfacts, sizeof(*facts), fact_cmp);
	if (rehash(r, nfacts + conf->nzones + 16) < 0
	    || build_nodes(r, conf, facts, nfacts) < 0
	    || add_ns_hosts(r, conf) < 0)
		goto fail;
	free(facts);
	r->list = *entries;
	se_list_init(entries);
	return r;
fail:
	free(facts);
	registry_free(r);
	return NULL;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	se_list_free(&r->list);
	free(r->nodes);
	free(r->table);
	free(r->names);
	free(r->v4);
	free(r->v6);
	free(r->srcs);
	free(r);
}

/* A node's addresses; NULL when it has none (the snapshot's arrays are
 * NULL when it holds no address of a family: NULL + 0 is undefined). */
static const uint8_t (*node_v4(const struct registry *r, const struct reg_node *n))[4]
{
	return n->nv4 ? (const uint8_t (*)[4])r->v4 + n->v4_first : NULL;
}

static const uint8_t (*node_v6(const struct registry *r, const struct reg_node *n))[16]
{
	return n->nv6 ? (const uint8_t (*)[16])r->v6 + n->v6_first : NULL;
}

static void fill(const struct registry *r, int idx, struct registry_answer *ans)
{
	const struct reg_node *n = &r->nodes[idx];

	ans->v4 = node_v4(r, n);
	ans->nv4 = n->nv4;
	ans->v6 = node_v6(r, n);
	ans->nv6 = n->nv6;
	ans->source = idx;
}

enum registry_match registry_lookup(const struct registry *r,
	const struct dns_query *q, struct registry_answer *ans)
{
	int idx;

	memset(ans, 0, sizeof(*ans));
	ans->source = -1;
	idx = find_node(r, q->qname_lc, q->qname_len,
		name_hash(q->qname_lc, q->qname_len));
	if (idx >= 0) {
		fill(r, idx, ans);
		return REG_NAME;
	}
	/* Longest wildcard first: the nearest ancestor that is a base. */
	for (unsigned int i = 1; i <= q->nlabels; i++) {
		const uint8_t *suffix = q->qname_lc + (i < q->nlabels ? q->label_off[i] : q->qname_len - 1);
		size_t len = (size_t)q->qname_len - (size_t)(suffix - q->qname_lc);
		idx = find_node(r, suffix, len, name_hash(suffix, len));
		if (idx >= 0 && (r->nodes[idx].flags & NODE_WILDBASE)) {
			fill(r, (int)r->nodes[idx].wild, ans);
			return REG_WILDCARD;
		}
	}
	return REG_NXDOMAIN;
}

uint32_t registry_serial(const struct registry *r)
{
	return r->serial;
}

void registry_set_serial(struct registry *r, uint32_t serial)
{
	r->serial = serial;
}

size_t registry_names(const struct registry *r)
{
	return r->nserved;
}

size_t registry_entries(const struct registry *r)
{
	return r->list.n;
}

size_t registry_rejects(const struct registry *r)
{
	return r->list.nrejects;
}

const struct se_list *registry_source_list(const struct registry *r)
{
	return &r->list;
}

/* A ServiceEntry host with addresses (not the configured ns.dns). */
static int node_served(const struct reg_node *n)
{
	return n->nv4 + n->nv6 > 0 && !(n->flags & NODE_NSHOST);
}

static int same_addrs(const struct registry *a, const struct reg_node *na,
	const struct registry *b, const struct reg_node *nb)
{
	/* no memcmp on empty arrays: their pointers may be NULL */
	return na->nv4 == nb->nv4 && na->nv6 == nb->nv6
		&& (na->nv4 == 0 || memcmp(a->v4[na->v4_first], b->v4[nb->v4_first], (size_t)na->nv4 * 4) == 0)
		&& (na->nv6 == 0 || memcmp(a->v6[na->v6_first], b->v6[nb->v6_first], (size_t)na->nv6 * 16) == 0);
}

void registry_diff(const struct registry *old, const struct registry *new_,
	size_t *added, size_t *removed, size_t *changed)
{
	*added = *removed = *changed = 0;
	for (size_t i = 0; new_ && i < new_->nnodes; i++) {
		const struct reg_node *n = &new_->nodes[i];
		int o;
		if (!node_served(n))
			continue;
		o = old ? find_node(old, new_->names + n->name_off, n->name_len, n->hash) : -1;
		if (o < 0 || !node_served(&old->nodes[o]))
			(*added)++;
		else if (!same_addrs(new_, n, old, &old->nodes[o]))
			(*changed)++;
	}
	for (size_t i = 0; old && i < old->nnodes; i++) {
		const struct reg_node *n = &old->nodes[i];
		int o;
		if (!node_served(n))
			continue;
		o = new_ ? find_node(new_, old->names + n->name_off, n->name_len, n->hash) : -1;
		if (o < 0 || !node_served(&new_->nodes[o]))
			(*removed)++;
	}
}

void registry_foreach(const struct registry *r, registry_visit_fn fn,
	void *arg)
{
	for (size_t i = 0; i < r->nnodes; i++) {
		const struct reg_node *n = &r->nodes[i];
		char name[WIRE_MAXNAME * 4 + 1];
		const char **srcs;
		char **owned;
		if (!node_served(n))
			continue;
		srcs = calloc(n->nsrc + 1, sizeof(*srcs));
		owned = calloc(n->nsrc + 1, sizeof(*owned));
		if (!srcs || !owned) {
			free(srcs);
			free(owned);
			return;
		}
		for (uint32_t s = 0; s < n->nsrc; s++) {
			const struct se_entry *e = &r->list.items[r->srcs[n->src_first + s]];
			size_t len = strlen(e->ns) + strlen(e->name) + 2;
			owned[s] = malloc(len);
			if (owned[s])
				snprintf(owned[s], len, "%s/%s", e->ns, e->name);
			srcs[s] = owned[s] ? owned[s] : "?";
		}
		wire_name_to_str(r->names + n->name_off, name, sizeof(name));
		fn(arg, name, node_v4(r, n), n->nv4, node_v6(r, n), n->nv6, srcs, n->nsrc);
		for (uint32_t s = 0; s < n->nsrc; s++)
			free(owned[s]);
		free(owned);
		free(srcs);
	}
}
