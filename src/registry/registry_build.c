/*
 * registry_build.c -- a registry snapshot from a list of entries
 * (registry.h), in two steps: the names, their addresses and sources are
 * worked out in growable scratch arrays (struct builder), then packed into
 * the snapshot's one allocation (layout in registry_int.h) with the
 * records rendered in wire form; the scratch and the entry list are freed.
 */
#include "globaldns/registry.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "globaldns/util.h"
#include "globaldns/wire.h"
#include "registry_int.h"

/* At most this many addresses of a family, and sources, per name: more
 * A records than fit in the largest DNS message are of no use. */
#define MAX_PER_NAME 65535u

struct bnode {
	uint32_t hash, name_off;
	uint8_t name_len, flags;
	uint32_t wild;
	uint32_t addr_first, nv4, nv6;  /* into addrs: the v4 ones first */
	uint32_t src_first, nsrc;
};

struct builder {
	struct bnode *nodes;
	size_t nnodes, nodes_cap;
	uint32_t *table;                /* node index + 1; 0 = empty */
	size_t table_mask;
	uint8_t *names;
	size_t names_len, names_cap;
	struct se_addr *addrs;
	size_t naddrs, addrs_cap;
	uint32_t *srcs;
	size_t nsrcs, srcs_cap;
	size_t nserved;
};

/* One (host, address, entry) fact, before grouping. */
struct fact {
	const char *host;
	uint32_t entry;
	struct se_addr addr;
};

static int b_find(const struct builder *b, const uint8_t *name, size_t len,
	uint32_t h)
{
	for (size_t i = h & b->table_mask;; i = (i + 1) & b->table_mask) {
		uint32_t slot = b->table[i];
		const struct bnode *n;
		if (slot == 0)
			return -1;
		n = &b->nodes[slot - 1];
		if (n->hash == h && n->name_len == len
		    && memcmp(b->names + n->name_off, name, len) == 0)
			return (int)(slot - 1);
	}
}

/* A table of at least 2 * want slots (a power of two) over the nodes. */
static uint32_t *table_fill(const struct bnode *nodes, size_t nnodes,
	size_t want, size_t *mask, uint32_t *t)
{
	size_t size = 16;

	while (size < want * 2)
		size *= 2;
	if (!t && !(t = calloc(size, sizeof(*t))))
		return NULL;
	*mask = size - 1;
	for (size_t n = 0; n < nnodes; n++) {
		size_t i = nodes[n].hash & *mask;
		while (t[i])
			i = (i + 1) & *mask;
		t[i] = (uint32_t)n + 1;
	}
	return t;
}

static size_t table_size(size_t want)
{
	size_t size = 16;

	while (size < want * 2)
		size *= 2;
	return size;
}

/* Find or add the node for a wire name; returns its index or -1. */
static int intern(struct builder *b, const uint8_t *name, size_t len)
{
	uint32_t h = reg_hash(name, len);
	int idx = b_find(b, name, len, h);
	struct bnode *n;

	if (idx >= 0)
		return idx;
	if ((b->nnodes + 1) * 2 > b->table_mask + 1) {
		uint32_t *t = table_fill(b->nodes, b->nnodes, (b->nnodes + 1) * 2, &b->table_mask, NULL);
		if (!t)
			return -1;
		free(b->table);
		b->table = t;
	}
	if (grow_array((void **)&b->nodes, &b->nodes_cap, b->nnodes + 1, sizeof(*b->nodes)) < 0
	    || grow_array((void **)&b->names, &b->names_cap, b->names_len + len, 1) < 0)
		return -1;
	n = &b->nodes[b->nnodes];
	memset(n, 0, sizeof(*n));
	n->hash = h;
	n->name_off = (uint32_t)b->names_len;
	n->name_len = (uint8_t)len;
	memcpy(b->names + b->names_len, name, len);
	b->names_len += len;
	{
		size_t i = h & b->table_mask;
		while (b->table[i])
			i = (i + 1) & b->table_mask;
		b->table[i] = (uint32_t)b->nnodes + 1;
	}
	return (int)b->nnodes++;
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

static int add_fact(struct fact **facts, size_t *n, size_t *cap,
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
				if (add_fact(facts, nfacts, &cap, host, (uint32_t)e, &en->addrs[a]) < 0)
					return -1;
			/* Istio's DNS proxy serves NONE entries only from
			 * their explicit addresses. */
			if (got || en->resolution == SE_RES_NONE)
				continue;
			for (size_t a = 0; a < en->nstatus_addrs; a++) {
				const struct se_status_addr *sa = &en->status_addrs[a];
				if (sa->host && strcmp(sa->host, host) != 0)
					continue;
				if (add_fact(facts, nfacts, &cap, host, (uint32_t)e, &sa->addr) < 0)
					return -1;
				got++;
			}
			for (size_t a = 0; !got && a < conf->ndefaults; a++)
				if (add_fact(facts, nfacts, &cap, host, (uint32_t)e, &conf->defaults[a]) < 0)
					return -1;
		}
	}
	return 0;
}

/* Add the nodes for name's ancestors down to (and including) its zone. */
static int add_ancestors(struct builder *b, const uint8_t *name, int len,
	int zlen)
{
	int off = 0;

	while (len - off > zlen) {
		off += name[off] + 1;
		if (intern(b, name + off, (size_t)(len - off)) < 0)
			return -1;
	}
	return 0;
}

static int push_addr(struct builder *b, const struct se_addr *a)
{
	if (grow_array((void **)&b->addrs, &b->addrs_cap, b->naddrs + 1, sizeof(*b->addrs)) < 0)
		return -1;
	b->addrs[b->naddrs++] = *a;
	return 0;
}

/* One host's facts, [i, j): its addresses (sorted, deduplicated) and the
 * entries they came from. */
static int add_host(struct builder *b, struct bnode *n, const struct fact *f,
	size_t i, size_t j)
{
	n->addr_first = (uint32_t)b->naddrs;
	n->src_first = (uint32_t)b->nsrcs;
	for (size_t k = i; k < j; k++) {
		const struct se_addr *a = &f[k].addr;
		int seen = 0;
		for (size_t s = n->src_first; s < b->nsrcs; s++)
			seen |= b->srcs[s] == f[k].entry;
		if (!seen && n->nsrc < MAX_PER_NAME) {
			if (grow_array((void **)&b->srcs, &b->srcs_cap, b->nsrcs + 1, sizeof(*b->srcs)) < 0)
				return -1;
			b->srcs[b->nsrcs++] = f[k].entry;
			n->nsrc++;
		}
		if (k > i && addr_cmp(a, &f[k - 1].addr) == 0)
			continue;
		if (a->family == AF_INET ? n->nv4 >= MAX_PER_NAME : n->nv6 >= MAX_PER_NAME)
			continue;
		if (push_addr(b, a) < 0)
			return -1;
		if (a->family == AF_INET)
			n->nv4++;
		else
			n->nv6++;
	}
	return 0;
}

static int build_nodes(struct builder *b, const struct registry_conf *conf,
	const struct fact *facts, size_t nfacts)
{
	uint8_t zones[conf->nzones ? conf->nzones : 1][WIRE_MAXNAME];
	int zlen[conf->nzones ? conf->nzones : 1];

	for (size_t z = 0; z < conf->nzones; z++) {
		zlen[z] = wire_name_from_str(conf->zones[z], zones[z]);
		if (zlen[z] < 0)
			return -1;
		if (intern(b, zones[z], (size_t)zlen[z]) < 0)
			return -1;
	}
	for (size_t i = 0; i < nfacts;) {
		uint8_t wire[WIRE_MAXNAME];
		size_t j = i;
		int len, zl, idx;

		while (j < nfacts && strcmp(facts[j].host, facts[i].host) == 0)
			j++;
		len = wire_name_from_str(facts[i].host, wire);
		zl = len < 0 ? -1 : zone_of((const uint8_t (*)[WIRE_MAXNAME])zones, zlen, conf->nzones, wire, len);
		if (zl < 0) {
			i = j;
			continue;
		}
		if (add_ancestors(b, wire, len, zl) < 0 || (idx = intern(b, wire, (size_t)len)) < 0
		    || add_host(b, &b->nodes[idx], facts, i, j) < 0)
			return -1;
		b->nserved++;
		if (wire[0] == 1 && wire[1] == '*') {
			int base = intern(b, wire + 2, (size_t)len - 2);
			if (base < 0)
				return -1;
			b->nodes[base].flags |= NODE_WILDBASE;
			b->nodes[base].wild = (uint32_t)idx;
		}
		i = j;
	}
	return 0;
}

/*
 * ns.dns.<zone> for every zone, with the configured addresses, unless an
 * entry serves that host (then the entry's addresses stand).
 */
static int add_ns_hosts(struct builder *b, const struct registry_conf *conf)
{
	if (conf->nns_v4 + conf->nns_v6 == 0)
		return 0;
	for (size_t z = 0; z < conf->nzones; z++) {
		uint8_t wire[WIRE_MAXNAME + 8];
		int zlen, idx;
		struct bnode *n;

		memcpy(wire, "\002ns\003dns", 7);
		zlen = wire_name_from_str(conf->zones[z], wire + 7);
		if (zlen < 0 || 7 + zlen > WIRE_MAXNAME)
			continue;
		idx = b_find(b, wire, (size_t)(7 + zlen), reg_hash(wire, (size_t)(7 + zlen)));
		if (idx >= 0 && b->nodes[idx].nv4 + b->nodes[idx].nv6 > 0)
			continue;
		if (add_ancestors(b, wire, 7 + zlen, zlen) < 0
		    || (idx = intern(b, wire, (size_t)(7 + zlen))) < 0)
			return -1;
		n = &b->nodes[idx];
		n->flags |= NODE_NSHOST;
		n->addr_first = (uint32_t)b->naddrs;
		for (size_t i = 0; i < conf->nns_v4 + conf->nns_v6; i++) {
			struct se_addr a = { .family = i < conf->nns_v4 ? AF_INET : AF_INET6 };
			if (i < conf->nns_v4)
				memcpy(a.addr, conf->ns_v4[i], 4);
			else
				memcpy(a.addr, conf->ns_v6[i - conf->nns_v4], 16);
			if (push_addr(b, &a) < 0)
				return -1;
		}
		n->nv4 = (uint32_t)conf->nns_v4;
		n->nv6 = (uint32_t)conf->nns_v6;
	}
	return 0;
}

static void builder_free(struct builder *b)
{
	free(b->nodes);
	free(b->table);
	free(b->names);
	free(b->addrs);
	free(b->srcs);
}

static size_t align8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* The strings of an entry or a reject, as registry_int.h lays them out. */
static size_t put_opt(char *p, const char *s)
{
	size_t n = s ? strlen(s) + 1 : 0;

	if (p) {
		p[0] = s != NULL;
		if (s)
			memcpy(p + 1, s, n);
	}
	return 1 + n;
}

static size_t put_strings(char *strs, uint32_t *off, const struct se_list *l)
{
	size_t o = 0;

	for (size_t e = 0; e < l->n; e++) {
		size_t nl = strlen(l->items[e].ns), ml = strlen(l->items[e].name);
		if (off)
			off[e] = (uint32_t)o;
		if (strs) {
			memcpy(strs + o, l->items[e].ns, nl);
			strs[o + nl] = '/';
			memcpy(strs + o + nl + 1, l->items[e].name, ml + 1);
		}
		o += nl + ml + 2;
	}
	for (size_t i = 0; i < l->nrejects; i++) {
		const struct se_reject *rj = &l->rejects[i];
		if (off)
			off[l->n + i] = (uint32_t)o;
		o += put_opt(strs ? strs + o : NULL, rj->ns);
		o += put_opt(strs ? strs + o : NULL, rj->name);
		o += put_opt(strs ? strs + o : NULL, rj->reason);
	}
	return o;
}

static uint8_t *put_rr(uint8_t *p, const struct se_addr *a, uint32_t ttl)
{
	int v4 = a->family == AF_INET;

	wire_put16(p, 0xC000 | WIRE_HDR);
	wire_put16(p + 2, v4 ? DNS_TYPE_A : DNS_TYPE_AAAA);
	wire_put16(p + 4, DNS_CLASS_IN);
	wire_put32(p + 6, ttl);
	wire_put16(p + 10, v4 ? 4 : 16);
	memcpy(p + 12, a->addr, v4 ? 4 : 16);
	return p + (v4 ? REG_RR_A : REG_RR_AAAA);
}

/* The snapshot: the builder's result in one allocation. */
static struct registry *pack(const struct builder *b,
	const struct registry_conf *conf, const struct se_list *l)
{
	size_t tsize = table_size(b->nnodes), nrr = 0, nstr = put_strings(NULL, NULL, l);
	size_t o_nodes, o_table, o_names, o_rrs, o_srcs, o_strs, o_off, total;
	struct registry *r;
	char *base;
	uint8_t *rr;
	size_t mask;

	for (size_t i = 0; i < b->nnodes; i++)
		nrr += b->nodes[i].nv4 * REG_RR_A + b->nodes[i].nv6 * REG_RR_AAAA;
	if (b->names_len > UINT32_MAX || nrr > UINT32_MAX || nstr > UINT32_MAX
	    || l->n + l->nrejects > UINT32_MAX)
		return NULL;
	o_nodes = align8(sizeof(*r));
	o_table = align8(o_nodes + b->nnodes * sizeof(struct reg_node));
	o_names = align8(o_table + tsize * sizeof(uint32_t));
	o_rrs = align8(o_names + b->names_len);
	o_srcs = align8(o_rrs + nrr);
	o_off = align8(o_srcs + b->nsrcs * sizeof(uint32_t));
	o_strs = align8(o_off + (l->n + l->nrejects) * sizeof(uint32_t));
	total = o_strs + nstr;
	if (!(base = calloc(1, total)))
		return NULL;
	r = (struct registry *)(void *)base;
	r->bytes = total;
	r->nnodes = (uint32_t)b->nnodes;
	r->nserved = (uint32_t)b->nserved;
	r->nentries = (uint32_t)l->n;
	r->nrejects = (uint32_t)l->nrejects;
	table_fill(b->nodes, b->nnodes, b->nnodes, &mask, (uint32_t *)(void *)(base + o_table));
	r->table_mask = (uint32_t)mask;
	r->table = (const uint32_t *)(void *)(base + o_table);
	r->names = (const uint8_t *)base + o_names;
	if (b->names_len)
		memcpy(base + o_names, b->names, b->names_len);
	r->srcs = (const uint32_t *)(void *)(base + o_srcs);
	if (b->nsrcs)
		memcpy(base + o_srcs, b->srcs, b->nsrcs * sizeof(uint32_t));
	r->str_off = (const uint32_t *)(void *)(base + o_off);
	r->strs = base + o_strs;
	put_strings(base + o_strs, (uint32_t *)(void *)(base + o_off), l);
	r->rrs = (const uint8_t *)base + o_rrs;
	rr = (uint8_t *)base + o_rrs;
	r->nodes = (const struct reg_node *)(void *)(base + o_nodes);
	for (size_t i = 0; i < b->nnodes; i++) {
		const struct bnode *bn = &b->nodes[i];
		struct reg_node *n = (struct reg_node *)(void *)(base + o_nodes) + i;
		n->hash = bn->hash;
		n->name_off = bn->name_off;
		n->name_len = bn->name_len;
		n->flags = bn->flags;
		n->wild = bn->wild;
		n->nv4 = (uint16_t)bn->nv4;
		n->nv6 = (uint16_t)bn->nv6;
		n->src_first = bn->src_first;
		n->nsrc = (uint16_t)bn->nsrc;
		n->rr_off = (uint32_t)(rr - r->rrs);
		for (uint32_t k = 0; k < bn->nv4 + bn->nv6; k++)
			rr = put_rr(rr, &b->addrs[bn->addr_first + k], conf->ttl);
	}
	return r;
}

struct registry *registry_build(const struct registry_conf *conf,
	struct se_list *entries, uint32_t serial)
{
	struct builder b = { 0 };
	struct registry *r = NULL;
	struct fact *facts = NULL;
	size_t nfacts = 0;

	if (entries->n > UINT32_MAX)
		return NULL;
	if (collect(conf, entries, &facts, &nfacts) < 0)
		goto done;
	if (nfacts)             /* facts is NULL for an empty list */
		qsort(facts, nfacts, sizeof(*facts), fact_cmp);
	if (!(b.table = table_fill(NULL, 0, nfacts + conf->nzones + 16, &b.table_mask, NULL))
	    || build_nodes(&b, conf, facts, nfacts) < 0
	    || add_ns_hosts(&b, conf) < 0)
		goto done;
	free(facts);
	facts = NULL;
	if ((r = pack(&b, conf, entries)) != NULL) {
		r->serial = serial;
		if (conf->attach && conf->attach(conf->attach_arg, entries, r) < 0) {
			registry_free(r);
			r = NULL;
		} else {
			se_list_free(entries);
		}
	}
done:
	free(facts);
	builder_free(&b);
	return r;
}
