/*
 * registry_srv.c -- the SRV index (registry_index.h): the ports of every
 * served name, from the ServiceEntries the registry served it from.
 *
 * Built by visiting the snapshot's served names (registry_foreach gives
 * each name's entries as "namespace/name") and taking, of every such entry
 * that lists the name among its hosts, its spec.ports.  Held as one array
 * of names sorted by wire bytes (binary search on the query path) and one
 * array of ports.
 */
#define _POSIX_C_SOURCE 200809L

#include "globaldns/registry_index.h"

#include <stdlib.h>
#include <string.h>

#include "globaldns/registry.h"
#include "globaldns/seentry.h"
#include "globaldns/util.h"

struct srv_name {
	uint32_t off;                   /* into blob */
	uint32_t len;
	uint32_t first;                 /* into ports */
	uint32_t n;
};

struct srv_index {
	uint8_t *blob;                  /* the names' wire forms */
	size_t blen, bcap;
	struct srv_name *names;
	size_t nnames, names_cap;
	struct srv_port *ports;
	size_t nports, ports_cap;
};

/* qsort has no argument; builds run on the main loop only */
/* qsort has no argument: the comparators' context, per thread (every
 * serviceentries block builds on its own builder thread) */
static _Thread_local const struct se_list *sort_list;
static _Thread_local const uint8_t *sort_blob;

/* Build state: the list's entries sorted by namespace/name. */
struct build {
	struct srv_index *x;
	const struct se_list *l;
	size_t *order;
	int failed;
};


static int key_cmp(const struct se_entry *e, const char *ns, size_t nslen,
	const char *name)
{
	int c = strncmp(e->ns, ns, nslen);

	if (c == 0 && e->ns[nslen])
		c = 1;
	return c ? c : strcmp(e->name, name);
}

static int order_cmp(const void *a, const void *b)
{
	const struct se_entry *ea = &sort_list->items[*(const size_t *)a];
	const struct se_entry *eb = &sort_list->items[*(const size_t *)b];

	return key_cmp(ea, eb->ns, strlen(eb->ns), eb->name);
}

/* Ports in order: name, then _tcp before _udp, then number. */
static int port_cmp2(const uint8_t *ba, const struct srv_port *pa,
	const uint8_t *bb, const struct srv_port *pb)
{
	int c = memcmp(ba + pa->name_off, bb + pb->name_off,
		pa->namelen < pb->namelen ? pa->namelen : pb->namelen);

	if (c || pa->namelen != pb->namelen)
		return c ? c : (pa->namelen < pb->namelen ? -1 : 1);
	if (pa->udp != pb->udp)
		return pa->udp - pb->udp;
	return (int)pa->number - (int)pb->number;
}

static int port_cmp(const void *a, const void *b)
{
	return port_cmp2(sort_blob, a, sort_blob, b);
}

static int name_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : (al < bl ? -1 : al > bl);
}

static int srv_name_cmp(const void *a, const void *b)
{
	const struct srv_name *na = a, *nb = b;

	return name_cmp(sort_blob + na->off, na->len, sort_blob + nb->off, nb->len);
}

static int entry_has_host(const struct se_entry *e, const char *host)
{
	for (size_t h = 0; h < e->nhosts; h++)
		if (strcmp(e->hosts[h], host) == 0)
			return 1;
	return 0;
}

/* Add e's ports to the name being built. */
static int add_ports(struct srv_index *x, struct srv_name *sn, const struct se_entry *e)
{
	for (size_t i = 0; i < e->nports; i++) {
		size_t l = strlen(e->ports[i].name);
		struct srv_port pt;
		if (l > 63)
			continue;       /* seentry.c caps names at 63 */
		if (grow_array((void **)&x->ports, &x->ports_cap, x->nports + 1, sizeof(*x->ports)) < 0
		    || grow_array((void **)&x->blob, &x->bcap, x->blen + l, 1) < 0)
			return -1;
		memset(&pt, 0, sizeof(pt));
		pt.number = e->ports[i].number;
		pt.udp = e->ports[i].protocol == SE_PROTO_UDP;
		pt.namelen = (uint8_t)l;
		pt.name_off = (uint32_t)x->blen;
		memcpy(x->blob + x->blen, e->ports[i].name, l);
		x->blen += l;
		x->ports[x->nports++] = pt;
		sn->n++;
	}
	return 0;
}

/* Sort the name's ports and drop duplicates (the same port in two entries). */
static void dedup_ports(struct srv_index *x, struct srv_name *sn)
{
	struct srv_port *p;
	size_t o = 0;

	if (sn->n == 0)
		return;
	p = x->ports + sn->first;
	sort_blob = x->blob;
	qsort(p, sn->n, sizeof(*p), port_cmp);
	sort_blob = NULL;
	for (size_t i = 0; i < sn->n; i++)
		if (o == 0 || port_cmp2(x->blob, &p[o - 1], x->blob, &p[i]) != 0)
			p[o++] = p[i];
	x->nports = sn->first + o;
	sn->n = (uint32_t)o;
}

static void visit(void *arg, const char *name, const uint8_t (*v4)[4],
	size_t nv4, const uint8_t (*v6)[16], size_t nv6,
	const char *const *sources, size_t nsources)
{
	struct build *b = arg;
	struct srv_index *x = b->x;
	struct srv_name sn;
	uint8_t wire[WIRE_MAXNAME];
	char host[WIRE_MAXNAME * 4 + 1];
	size_t hl = strlen(name);
	int len;

	(void)v4; (void)nv4; (void)v6; (void)nv6;
	if (b->failed || hl >= sizeof(host))
		return;
	memcpy(host, name, hl + 1);
	if (hl > 1 && host[hl - 1] == '.')
		host[--hl] = '\0';
	memset(&sn, 0, sizeof(sn));
	len = wire_name_from_str(name, wire);
	if (len < 0)
		return;
	sn.len = (uint32_t)len;
	wire_name_lower(wire, (size_t)len);
	sn.first = (uint32_t)x->nports;
	for (size_t s = 0; s < nsources; s++) {
		/* "namespace/name", perhaps prefixed: the last two parts */
		const char *slash = strrchr(sources[s], '/'), *ns = sources[s];
		size_t lo = 0, hi = b->l->n, nslen;
		if (!slash)
			continue;
		for (const char *c = sources[s]; c < slash; c++)
			if (*c == '/')
				ns = c + 1;
		nslen = (size_t)(slash - ns);
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (key_cmp(&b->l->items[b->order[mid]], ns, nslen, slash + 1) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < b->l->n && key_cmp(&b->l->items[b->order[lo]], ns, nslen, slash + 1) == 0; lo++) {
			const struct se_entry *e = &b->l->items[b->order[lo]];
			if (entry_has_host(e, host) && add_ports(x, &sn, e) < 0) {
				b->failed = 1;
				return;
			}
		}
	}
	dedup_ports(x, &sn);
	/* wildcard owners always: they hide the wildcards above them */
	if (sn.n == 0 && !(wire[0] == 1 && wire[1] == '*'))
		return;
	if (grow_array((void **)&x->names, &x->names_cap, x->nnames + 1, sizeof(*x->names)) < 0
	    || grow_array((void **)&x->blob, &x->bcap, x->blen + (size_t)len, 1) < 0) {
		b->failed = 1;
		return;
	}
	sn.off = (uint32_t)x->blen;
	memcpy(x->blob + x->blen, wire, (size_t)len);
	x->blen += (size_t)len;
	x->names[x->nnames++] = sn;
}

struct srv_index *srv_index_build(const struct registry *r, const struct se_list *l)
{
	struct srv_index *x = calloc(1, sizeof(*x));
	struct build b = { .x = x, .l = l };

	if (!x)
		return NULL;
	if (l->n && !(b.order = malloc(l->n * sizeof(*b.order)))) {
		free(x);
		return NULL;
	}
	for (size_t i = 0; i < l->n; i++)
		b.order[i] = i;
	sort_list = l;
	if (l->n)
		qsort(b.order, l->n, sizeof(*b.order), order_cmp);
	sort_list = NULL;
	registry_foreach(r, visit, &b);
	free(b.order);
	if (b.failed) {
		srv_index_free(x);
		return NULL;
	}
	sort_blob = x->blob;
	if (x->nnames)
		qsort(x->names, x->nnames, sizeof(*x->names), srv_name_cmp);
	sort_blob = NULL;
	return x;
}

void srv_index_free(struct srv_index *x)
{
	if (!x)
		return;
	free(x->blob);
	free(x->names);
	free(x->ports);
	free(x);
}

int srv_index_find(const struct srv_index *x, const uint8_t *wire,
	size_t len, const struct srv_port **ports, size_t *n)
{
	size_t lo = 0, hi = x ? x->nnames : 0;

	*ports = NULL;
	*n = 0;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = name_cmp(x->blob + x->names[mid].off, x->names[mid].len, wire, len);
		if (c == 0) {
			*n = x->names[mid].n;
			if (*n)
				*ports = x->ports + x->names[mid].first;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

int srv_index_same(const struct srv_index *a, const struct srv_index *b)
{
	size_t na = a ? a->nnames : 0, nb = b ? b->nnames : 0;

	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++) {
		const struct srv_name *x = &a->names[i], *y = &b->names[i];
		if (name_cmp(a->blob + x->off, x->len, b->blob + y->off, y->len) != 0 || x->n != y->n)
			return 0;
		for (uint32_t k = 0; k < x->n; k++)
			if (port_cmp2(a->blob, &a->ports[x->first + k], b->blob, &b->ports[y->first + k]) != 0)
				return 0;
	}
	return 1;
}

const char *srv_index_port_name(const struct srv_index *x,
	const struct srv_port *p)
{
	return (const char *)x->blob + p->name_off;
}

size_t srv_index_records(const struct srv_index *x)
{
	return x ? x->nports : 0;
}
