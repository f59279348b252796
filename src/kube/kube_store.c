/*
 * kube_store.c -- the ServiceEntries of one Kubernetes scope by
 * namespace/name (kube_store.h): a chained hash of parsed objects, the
 * conversion of API objects into them, and the copy into an se_list for
 * a registry rebuild.
 */
#include "kube_store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "globaldns/util.h"

struct kube_obj {
	struct kube_obj *next;              /* hash chain */
	char *key;                      /* "ns/name" */
	char *rv;
	int valid;
	struct se_entry e;              /* if valid */
	char *ns, *name, *reason;       /* if not */
};

static uint64_t hash_str(const char *s)
{
	return hash_fnv1a(HASH_FNV1A_INIT, s, strlen(s));
}

static void kobj_free(struct kube_obj *o)
{
	if (!o)
		return;
	free(o->key);
	free(o->rv);
	se_entry_clear(&o->e);
	free(o->ns);
	free(o->name);
	free(o->reason);
	free(o);
}

void kube_store_clear(struct kube_store *s)
{
	for (size_t i = 0; i < s->nb; i++) {
		struct kube_obj *o = s->b[i], *nx;
		for (; o; o = nx) {
			nx = o->next;
			kobj_free(o);
		}
	}
	free(s->b);
	memset(s, 0, sizeof(*s));
}

static struct kube_obj **store_slot(const struct kube_store *s, const char *key)
{
	struct kube_obj **p;

	if (!s->nb)
		return NULL;
	p = &s->b[hash_str(key) & (s->nb - 1)];
	while (*p && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

static struct kube_obj *store_get(const struct kube_store *s, const char *key)
{
	struct kube_obj **p = store_slot(s, key);

	return p ? *p : NULL;
}

static int store_grow(struct kube_store *s)
{
	size_t nb = s->nb ? s->nb * 2 : 64;
	struct kube_obj **b = calloc(nb, sizeof(*b));

	if (!b)
		return -1;
	for (size_t i = 0; i < s->nb; i++) {
		struct kube_obj *o = s->b[i], *nx;
		for (; o; o = nx) {
			size_t h = hash_str(o->key) & (nb - 1);
			nx = o->next;
			o->next = b[h];
			b[h] = o;
		}
	}
	free(s->b);
	s->b = b;
	s->nb = nb;
	return 0;
}

/* Insert or replace (the store takes o); 0 or -1 (o then still the caller's). */
static int store_put(struct kube_store *s, struct kube_obj *o)
{
	struct kube_obj **p;

	if ((s->n + 1 > s->nb * 2 || !s->nb) && store_grow(s) < 0)
		return -1;
	p = store_slot(s, o->key);
	if (*p) {
		o->next = (*p)->next;
		kobj_free(*p);
		*p = o;
		return 0;
	}
	o->next = NULL;
	*p = o;
	s->n++;
	return 0;
}

static void store_del(struct kube_store *s, const char *key)
{
	struct kube_obj **p = store_slot(s, key), *o;

	if (!p || !*p)
		return;
	o = *p;
	*p = o->next;
	kobj_free(o);
	s->n--;
}

static struct kube_obj *kobj_clone(const struct kube_obj *o)
{
	struct kube_obj *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->valid = o->valid;
	if (!(c->key = strdup(o->key)) || (o->rv && !(c->rv = strdup(o->rv))) ||
	    (o->valid && se_entry_copy(&c->e, &o->e) < 0) ||
	    (o->ns && !(c->ns = strdup(o->ns))) || (o->name && !(c->name = strdup(o->name))) ||
	    (o->reason && !(c->reason = strdup(o->reason)))) {
		kobj_free(c);
		return NULL;
	}
	return c;
}

/* metadata.namespace / name / resourceVersion as strings, or NULL. */
const char *kube_store_meta(const cJSON *obj, const char *key)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *make_key(const cJSON *obj)
{
	const char *ns = kube_store_meta(obj, "namespace"), *name = kube_store_meta(obj, "name");
	size_t n;
	char *k;

	if (!name || !*name)
		return NULL;
	if (!ns || !*ns)
		ns = "default";
	n = strlen(ns) + strlen(name) + 2;
	if ((k = malloc(n)))
		snprintf(k, n, "%s/%s", ns, name);
	return k;
}


/* Turn a list item or watch object into a kobj (or NULL: skip it). */
static struct kube_obj *kobj_from_json(const cJSON *obj, const char *origin,
	const struct kube_store *known, int *nomem)
{
	struct kube_obj *o;
	const struct kube_obj *prev;
	struct se_list tmp;
	const char *rv = kube_store_meta(obj, "resourceVersion");
	char *key = make_key(obj);

	*nomem = 0;
	if (!key) {
		/* no name: se_list_add_json logs and rejects it; there is no key to keep */
		se_list_init(&tmp);
		if (se_list_add_json(&tmp, obj, origin, NULL) < 0)
			*nomem = 1;
		se_list_free(&tmp);
		return NULL;
	}
	prev = known ? store_get(known, key) : NULL;
	if (prev && rv && prev->rv && strcmp(prev->rv, rv) == 0) {
		/* unchanged since we last parsed it (and logged any problem) */
		free(key);
		if (!(o = kobj_clone(prev)))
			*nomem = 1;
		return o;
	}
	if (!(o = calloc(1, sizeof(*o)))) {
		free(key);
		*nomem = 1;
		return NULL;
	}
	o->key = key;
	if (rv && !(o->rv = strdup(rv)))
		goto nomem;
	se_list_init(&tmp);
	if (se_list_add_json(&tmp, obj, origin, NULL) < 0) {
		se_list_free(&tmp);
		goto nomem;
	}
	if (tmp.n == 1) {
		o->valid = 1;
		o->e = tmp.items[0];
		tmp.n = 0;
	} else if (tmp.nrejects == 1) {
		o->ns = tmp.rejects[0].ns;
		o->name = tmp.rejects[0].name;
		o->reason = tmp.rejects[0].reason;
		tmp.rejects[0].ns = tmp.rejects[0].name = tmp.rejects[0].reason = NULL;
	} else {
		se_list_free(&tmp);     /* not a ServiceEntry: ignored */
		kobj_free(o);
		return NULL;
	}
	se_list_free(&tmp);
	return o;
nomem:
	kobj_free(o);
	*nomem = 1;
	return NULL;
}

int kube_store_put_json(struct kube_store *s, const cJSON *obj,
	const struct kube_store *known, const char *origin)
{
	int nomem;
	struct kube_obj *o = kobj_from_json(obj, origin, known, &nomem);

	if (nomem || (o && store_put(s, o) < 0)) {
		kobj_free(o);
		return -1;
	}
	return o ? 1 : 0;
}

void kube_store_del_json(struct kube_store *s, const cJSON *obj)
{
	char *key = make_key(obj);

	if (key) {
		store_del(s, key);
		free(key);
	}
}

void kube_store_move(struct kube_store *dst, struct kube_store *src)
{
	kube_store_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

int kube_store_to_list(const struct kube_store *s, struct se_list *l)
{
	for (size_t b = 0; b < s->nb; b++)
		for (const struct kube_obj *o = s->b[b]; o; o = o->next) {
			struct se_entry e;
			int rc;
			if (o->valid) {
				rc = se_entry_copy(&e, &o->e);
				if (rc == 0 && (rc = se_list_push(l, &e)) < 0)
					se_entry_clear(&e);
			} else {
				rc = se_list_reject(l, o->ns, o->name, o->reason);
			}
			if (rc < 0)
				return -1;
		}
	return 0;
}
