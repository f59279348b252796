/*
 * registry.c -- reading a registry snapshot (registry.h): the lookup the
 * query path does, the diff of two snapshots, and the walks for
 * introspection.  The snapshot is built by registry_build.c; its layout
 * is in registry_int.h.
 */
#include "globaldns/registry.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "globaldns/util.h"
#include "globaldns/wire.h"
#include "registry_int.h"

void registry_free(struct registry *r)
{
	if (r && r->extra_free)
		r->extra_free(r->extra);
	free(r);        /* one allocation */
}

void registry_set_extra(struct registry *r, void *extra,
	void (*extra_free)(void *))
{
	r->extra = extra;
	r->extra_free = extra_free;
}

void *registry_extra(const struct registry *r)
{
	return r->extra;
}

static void fill(const struct registry *r, int idx, struct registry_answer *ans)
{
	const struct reg_node *n = &r->nodes[idx];

	ans->a_rrs = r->rrs + n->rr_off;
	ans->nv4 = n->nv4;
	ans->aaaa_rrs = ans->a_rrs + (size_t)n->nv4 * REG_RR_A;
	ans->nv6 = n->nv6;
	ans->source = idx;
}

enum registry_match registry_lookup(const struct registry *r,
	const struct dns_query *q, struct registry_answer *ans)
{
	int idx;

	memset(ans, 0, sizeof(*ans));
	ans->source = -1;
	idx = reg_find(r, q->qname_lc, q->qname_len,
		reg_hash(q->qname_lc, q->qname_len));
	if (idx >= 0) {
		fill(r, idx, ans);
		return REG_NAME;
	}
	/* Longest wildcard first: the nearest ancestor that is a base. */
	for (unsigned int i = 1; i <= q->nlabels; i++) {
		const uint8_t *suffix = q->qname_lc + (i < q->nlabels ? q->label_off[i] : q->qname_len - 1);
		size_t len = (size_t)q->qname_len - (size_t)(suffix - q->qname_lc);
		idx = reg_find(r, suffix, len, reg_hash(suffix, len));
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
	return r->nentries;
}

size_t registry_rejects(const struct registry *r)
{
	return r->nrejects;
}

size_t registry_bytes(const struct registry *r)
{
	return r->bytes;
}

size_t registry_nodes(const struct registry *r)
{
	return r->nnodes;
}

/* One string of a reject (registry_int.h): NULL if absent; *p moves on. */
static const char *take_opt(const char **p)
{
	const char *s = *p;

	if (!s[0]) {
		*p = s + 1;
		return NULL;
	}
	*p = s + 1 + strlen(s + 1) + 1;
	return s + 1;
}

void registry_reject(const struct registry *r, size_t i, const char **ns,
	const char **name, const char **reason)
{
	const char *p = r->strs + r->str_off[r->nentries + i];

	*ns = take_opt(&p);
	*name = take_opt(&p);
	*reason = take_opt(&p);
}

/* A ServiceEntry host with addresses (not the configured ns.dns). */
static int node_served(const struct reg_node *n)
{
	return n->nv4 + n->nv6 > 0 && !(n->flags & NODE_NSHOST);
}

static size_t rr_bytes(const struct reg_node *n)
{
	return (size_t)n->nv4 * REG_RR_A + (size_t)n->nv6 * REG_RR_AAAA;
}

/* Same addresses (and TTL): the rendered records are the same bytes. */
static int same_addrs(const struct registry *a, const struct reg_node *na,
	const struct registry *b, const struct reg_node *nb)
{
	return na->nv4 == nb->nv4 && na->nv6 == nb->nv6
		&& memcmp(a->rrs + na->rr_off, b->rrs + nb->rr_off, rr_bytes(na)) == 0;
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
		o = old ? reg_find(old, new_->names + n->name_off, n->name_len, n->hash) : -1;
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
		o = new_ ? reg_find(new_, old->names + n->name_off, n->name_len, n->hash) : -1;
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
		const uint8_t *rr = r->rrs + n->rr_off;
		uint8_t (*v4)[4], (*v6)[16];
		const char **srcs;

		if (!node_served(n))
			continue;
		/* the addresses out of the rendered records (12 bytes in) */
		v4 = malloc((size_t)n->nv4 * 4 + 1);
		v6 = malloc((size_t)n->nv6 * 16 + 1);
		srcs = malloc(((size_t)n->nsrc + 1) * sizeof(*srcs));
		if (!v4 || !v6 || !srcs) {
			free(v4);
			free(v6);
			free(srcs);
			return;
		}
		for (uint32_t k = 0; k < n->nv4; k++, rr += REG_RR_A)
			memcpy(v4[k], rr + 12, 4);
		for (uint32_t k = 0; k < n->nv6; k++, rr += REG_RR_AAAA)
			memcpy(v6[k], rr + 12, 16);
		for (uint32_t s = 0; s < n->nsrc; s++)
			srcs[s] = r->strs + r->str_off[r->srcs[n->src_first + s]];
		wire_name_to_str(r->names + n->name_off, name, sizeof(name));
		fn(arg, name, n->nv4 ? (const uint8_t (*)[4])v4 : NULL, n->nv4,
			n->nv6 ? (const uint8_t (*)[16])v6 : NULL, n->nv6, srcs, n->nsrc);
		free(v4);
		free(v6);
		free(srcs);
	}
}
