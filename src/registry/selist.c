/*
 * selist.c -- ServiceEntries as data (seentry.h): an entry cleared or
 * copied, and lists of them (struct se_list): grow, reject, move, copy,
 * free.  Filled by se_list_add_json (seentry.c) from
 * manifests and API objects; copied where a source keeps what it read
 * (the Kubernetes store, the manifest files' per-file cache).
 */
#define _POSIX_C_SOURCE 200809L

#include "globaldns/seentry.h"

#include <stdint.h>
#include <stdlib.h>
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
