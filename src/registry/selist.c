/*
 * selist.c -- ServiceEntries as data (seentry.h): an entry cleared or
 * copied, and lists of them (struct se_list): grow, reject, move, copy,
 * free, pack.  Filled by se_list_add_json (seentry.c) from manifests and
 * API objects; packed into one allocation where a source keeps what it
 * read (the manifest files' per-file cache).
 */
#define _POSIX_C_SOURCE 200809L

#include "globaldns/seentry.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include "globaldns/util.h"

void se_entry_clear(struct se_entry *e)
{
	size_t i;

	if (e == NULL)
		return;
	free(e->ns);
	free(e->name);
	free(e->uid);
	free(e->resource_version);
	for (i = 0; i < e->nhosts; i++)
		free(e->hosts[i]);
	free(e->hosts);
	free(e->addrs);
	for (i = 0; i < e->nstatus_addrs; i++)
		free(e->status_addrs[i].host);
	free(e->status_addrs);
	free(e->ports);         /* names included */
	memset(e, 0, sizeof(*e));
}

void se_list_init(struct se_list *l)
{
	memset(l, 0, sizeof(*l));
}

int se_list_push(struct se_list *l, struct se_entry *e)
{
	if (grow_array((void **)&l->items, &l->cap, l->n + 1, sizeof(*l->items)) < 0)
		return -1;
	l->items[l->n++] = *e;
	memset(e, 0, sizeof(*e));
	return 0;
}

static char *dup_or_null(const char *s, int *fail)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	if (d == NULL)
		*fail = 1;
	return d;
}

int se_list_reject(struct se_list *l, const char *ns, const char *name,
	const char *reason)
{
	struct se_reject r;
	int fail = 0;

	if (grow_array((void **)&l->rejects, &l->rejects_cap, l->nrejects + 1,
		sizeof(*l->rejects)) < 0)
		return -1;
	r.ns = dup_or_null(ns, &fail);
	r.name = dup_or_null(name, &fail);
	r.reason = dup_or_null(reason, &fail);
	if (fail) {
		free(r.ns);
		free(r.name);
		free(r.reason);
		return -1;
	}
	l->rejects[l->nrejects++] = r;
	return 0;
}

int se_list_take(struct se_list *dst, struct se_list *src)
{
	/* Reserve both arrays first, so that a failure moves nothing. */
	if (src->n > SIZE_MAX - dst->n || src->nrejects > SIZE_MAX - dst->nrejects
	    || grow_array((void **)&dst->items, &dst->cap, dst->n + src->n,
		sizeof(*dst->items)) < 0
	    || grow_array((void **)&dst->rejects, &dst->rejects_cap,
		dst->nrejects + src->nrejects, sizeof(*dst->rejects)) < 0)
		return -1;
	if (src->n > 0)
		memcpy(dst->items + dst->n, src->items, src->n * sizeof(*src->items));
	dst->n += src->n;
	if (src->nrejects > 0)
		memcpy(dst->rejects + dst->nrejects, src->rejects,
			src->nrejects * sizeof(*src->rejects));
	dst->nrejects += src->nrejects;
	free(src->items);
	free(src->rejects);
	se_list_init(src);
	return 0;
}

void se_list_free(struct se_list *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->n; i++)
		se_entry_clear(&l->items[i]);
	for (i = 0; i < l->nrejects; i++) {
		free(l->rejects[i].ns);
		free(l->rejects[i].name);
		free(l->rejects[i].reason);
	}
	free(l->items);
	free(l->rejects);
	se_list_init(l);
}

static char **strv_dup(char *const *v, size_t n)
{
	char **r = calloc(n, sizeof(*r));

	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!(r[i] = strdup(v[i]))) {
			while (i > 0)
				free(r[--i]);
			free(r);
			return NULL;
		}
	}
	return r;
}

int se_entry_set_ports(struct se_entry *e, const struct se_port *ports,
	size_t n)
{
	size_t bytes = n * sizeof(*ports);
	struct se_port *p;
	char *names;

	for (size_t i = 0; i < n; i++)
		bytes += strlen(ports[i].name) + 1;
	if (n == 0)
		return 0;
	if (!(p = malloc(bytes)))
		return -1;
	names = (char *)(p + n);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(ports[i].name) + 1;
		p[i] = ports[i];
		memcpy(names, ports[i].name, l);
		p[i].name = names;
		names += l;
	}
	e->ports = p;
	e->nports = n;
	return 0;
}

int se_entry_copy(struct se_entry *dst, const struct se_entry *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->resolution = src->resolution;
	if ((src->ns && !(dst->ns = strdup(src->ns))) ||
	    (src->name && !(dst->name = strdup(src->name))) ||
	    (src->uid && !(dst->uid = strdup(src->uid))) ||
	    (src->resource_version && !(dst->resource_version = strdup(src->resource_version))))
		goto fail;
	if (src->nhosts) {
		if (!(dst->hosts = strv_dup(src->hosts, src->nhosts)))
			goto fail;
		dst->nhosts = src->nhosts;
	}
	if (src->naddrs) {
		if (!(dst->addrs = malloc(src->naddrs * sizeof(*dst->addrs))))
			goto fail;
		memcpy(dst->addrs, src->addrs, src->naddrs * sizeof(*dst->addrs));
		dst->naddrs = src->naddrs;
	}
	if (src->nstatus_addrs) {
		dst->status_addrs = calloc(src->nstatus_addrs, sizeof(*dst->status_addrs));
		if (!dst->status_addrs)
			goto fail;
		dst->nstatus_addrs = src->nstatus_addrs;
		for (size_t i = 0; i < src->nstatus_addrs; i++) {
			dst->status_addrs[i].addr = src->status_addrs[i].addr;
			if (src->status_addrs[i].host &&
			    !(dst->status_addrs[i].host = strdup(src->status_addrs[i].host)))
				goto fail;
		}
	}
	if (src->nports && se_entry_set_ports(dst, src->ports, src->nports) < 0)
		goto fail;
	return 0;
fail:
	se_entry_clear(dst);
	return -1;
}

int se_list_copy(struct se_list *dst, const struct se_list *src)
{
	struct se_list tmp;

	se_list_init(&tmp);
	if (grow_array((void **)&tmp.items, &tmp.cap, src->n ? src->n : 1, sizeof(*tmp.items)) < 0)
		return -1;
	for (size_t i = 0; i < src->n; i++) {
		if (se_entry_copy(&tmp.items[tmp.n], &src->items[i]) < 0)
			goto fail;
		tmp.n++;
	}
	for (size_t i = 0; i < src->nrejects; i++)
		if (se_list_reject(&tmp, src->rejects[i].ns, src->rejects[i].name,
			src->rejects[i].reason) < 0)
			goto fail;
	if (se_list_take(dst, &tmp) < 0)
		goto fail;
	return 0;
fail:
	se_list_free(&tmp);
	return -1;
}

/* ---- packed lists: one allocation, for lists kept long (seentry.h) ---- */

static void pack_str(struct strbuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s) + 1);
}

static void pack_opt(struct strbuf *b, const char *s)
{
	uint8_t present = s != NULL;

	strbuf_add(b, &present, 1);
	if (s)
		pack_str(b, s);
}

static void pack_u32(struct strbuf *b, size_t v)
{
	uint32_t u = (uint32_t)v;

	strbuf_add(b, &u, 4);
}

static void pack_addr(struct strbuf *b, const struct se_addr *a)
{
	uint8_t fam = a->family == AF_INET ? 4 : 16;

	strbuf_add(b, &fam, 1);
	strbuf_add(b, a->addr, fam);
}

int se_list_pack(const struct se_list *l, struct se_packed *out)
{
	struct strbuf b = { 0 };

	memset(out, 0, sizeof(*out));
	if (l->n > UINT32_MAX || l->nrejects > UINT32_MAX)
		return -1;
	for (size_t i = 0; i < l->n; i++) {
		const struct se_entry *e = &l->items[i];
		uint8_t res = (uint8_t)e->resolution;
		strbuf_add(&b, &res, 1);
		pack_str(&b, e->ns);
		pack_str(&b, e->name);
		pack_opt(&b, e->uid);
		pack_opt(&b, e->resource_version);
		pack_u32(&b, e->nhosts);
		for (size_t h = 0; h < e->nhosts; h++)
			pack_str(&b, e->hosts[h]);
		pack_u32(&b, e->naddrs);
		for (size_t a = 0; a < e->naddrs; a++)
			pack_addr(&b, &e->addrs[a]);
		pack_u32(&b, e->nstatus_addrs);
		for (size_t a = 0; a < e->nstatus_addrs; a++) {
			pack_addr(&b, &e->status_addrs[a].addr);
			pack_opt(&b, e->status_addrs[a].host);
		}
		pack_u32(&b, e->nports);
		for (size_t k = 0; k < e->nports; k++) {
			uint8_t proto = (uint8_t)e->ports[k].protocol;
			strbuf_add(&b, &e->ports[k].number, 2);
			strbuf_add(&b, &proto, 1);
			pack_str(&b, e->ports[k].name);
		}
	}
	for (size_t i = 0; i < l->nrejects; i++) {
		pack_opt(&b, l->rejects[i].ns);
		pack_opt(&b, l->rejects[i].name);
		pack_opt(&b, l->rejects[i].reason);
	}
	if (b.failed) {
		free(b.p);
		return -1;
	}
	/* kept as long as the list: no spare capacity */
	out->data = b.len && b.cap > b.len + 1 ? realloc(b.p, b.len) : b.p;
	if (!out->data)
		out->data = b.p;
	out->len = b.len;
	out->n = l->n;
	out->nrejects = l->nrejects;
	return 0;
}

void se_packed_free(struct se_packed *pk)
{
	free(pk->data);
	memset(pk, 0, sizeof(*pk));
}

static const char *unpack_str(const char **p)
{
	const char *s = *p;

	*p += strlen(s) + 1;
	return s;
}

static const char *unpack_opt(const char **p)
{
	return *(*p)++ ? unpack_str(p) : NULL;
}

static size_t unpack_u32(const char **p)
{
	uint32_t u;

	memcpy(&u, *p, 4);
	*p += 4;
	return u;
}

static void unpack_addr(const char **p, struct se_addr *a)
{
	uint8_t fam = (uint8_t)*(*p)++;

	memset(a, 0, sizeof(*a));
	a->family = fam == 4 ? AF_INET : AF_INET6;
	memcpy(a->addr, *p, fam);
	*p += fam;
}

/* One packed entry into *e (which it owns); *p moves past it.  0 or -1. */
static int unpack_entry(const char **p, struct se_entry *e)
{
	int fail = 0;
	size_t n;

	memset(e, 0, sizeof(*e));
	e->resolution = (enum se_resolution)(uint8_t)*(*p)++;
	e->ns = dup_or_null(unpack_str(p), &fail);
	e->name = dup_or_null(unpack_str(p), &fail);
	e->uid = dup_or_null(unpack_opt(p), &fail);
	e->resource_version = dup_or_null(unpack_opt(p), &fail);
	e->nhosts = unpack_u32(p);
	if (e->nhosts && !(e->hosts = calloc(e->nhosts, sizeof(*e->hosts))))
		fail = 1;
	for (size_t h = 0; h < e->nhosts; h++) {
		const char *s = unpack_str(p);
		if (e->hosts)
			e->hosts[h] = dup_or_null(s, &fail);
	}
	if (!e->hosts)
		e->nhosts = 0;
	e->naddrs = unpack_u32(p);
	if (e->naddrs && !(e->addrs = calloc(e->naddrs, sizeof(*e->addrs))))
		fail = 1;
	for (size_t a = 0; a < e->naddrs; a++) {
		struct se_addr tmp;
		unpack_addr(p, &tmp);
		if (e->addrs)
			e->addrs[a] = tmp;
	}
	if (!e->addrs)
		e->naddrs = 0;
	e->nstatus_addrs = unpack_u32(p);
	if (e->nstatus_addrs && !(e->status_addrs = calloc(e->nstatus_addrs, sizeof(*e->status_addrs))))
		fail = 1;
	for (size_t a = 0; a < e->nstatus_addrs; a++) {
		struct se_addr tmp;
		const char *host;
		unpack_addr(p, &tmp);
		host = unpack_opt(p);
		if (e->status_addrs) {
			e->status_addrs[a].addr = tmp;
			e->status_addrs[a].host = dup_or_null(host, &fail);
		}
	}
	if (!e->status_addrs)
		e->nstatus_addrs = 0;
	if ((n = unpack_u32(p)) > 0) {
		struct se_port *ports = calloc(n, sizeof(*ports));
		if (!ports)
			fail = 1;
		for (size_t k = 0; k < n; k++) {
			uint16_t num;
			uint8_t proto;
			memcpy(&num, *p, 2);
			proto = (uint8_t)(*p)[2];
			*p += 3;
			if (ports) {
				ports[k].number = num;
				ports[k].protocol = (enum se_protocol)proto;
				ports[k].name = unpack_str(p);  /* copied by se_entry_set_ports */
			} else {
				unpack_str(p);
			}
		}
		if (ports && se_entry_set_ports(e, ports, n) < 0)
			fail = 1;
		free(ports);
	}
	if (fail) {
		se_entry_clear(e);
		return -1;
	}
	return 0;
}

int se_packed_unpack(const struct se_packed *pk, struct se_list *dst)
{
	const char *p = pk->data;
	size_t n0 = dst->n, r0 = dst->nrejects, i;

	/* into dst directly; on failure what was appended is taken back */
	if (pk->n > SIZE_MAX - n0
	    || grow_array((void **)&dst->items, &dst->cap, n0 + pk->n, sizeof(*dst->items)) < 0)
		return -1;
	for (i = 0; i < pk->n && unpack_entry(&p, &dst->items[dst->n]) == 0; i++)
		dst->n++;
	for (i = 0; dst->n == n0 + pk->n && i < pk->nrejects; i++) {
		const char *ns = unpack_opt(&p), *name = unpack_opt(&p), *reason = unpack_opt(&p);
		if (se_list_reject(dst, ns, name, reason) < 0)
			break;
	}
	if (dst->n == n0 + pk->n && dst->nrejects == r0 + pk->nrejects)
		return 0;
	while (dst->n > n0)
		se_entry_clear(&dst->items[--dst->n]);
	while (dst->nrejects > r0) {
		struct se_reject *rj = &dst->rejects[--dst->nrejects];
		free(rj->ns);
		free(rj->name);
		free(rj->reason);
	}
	return -1;
}
