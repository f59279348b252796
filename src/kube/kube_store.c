/*
 * kube_store.c -- the ServiceEntries of one Kubernetes scope by
 * namespace/name (kube_store.h): an open-addressing table of compact,
 * shared, immutable objects; the conversion of API objects into them; and
 * the copy into an se_list for a registry rebuild.
 *
 * An object is one allocation: the header below (24 bytes), then its
 * bytes -- "ns/name" and the resourceVersion (lengths in the header, no
 * terminators), then for a valid entry each host "h\0" and each address
 * (a family byte, 4 or 16 bytes), each status address (family, bytes, its
 * host "h\0" or "\0"), each port (name "n\0", number 2 bytes big-endian,
 * protocol 1 byte); for a rejected one the reason "r\0".  The table
 * is filled to 80 %: at 100,000 objects, 1 MiB of pointers.
 */
#include "kube_store.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "globaldns/util.h"

#define KOBJ_VALID 1
#define KOBJ_TOUCHED 2                  /* a key only (kube_store_touch_json) */

struct kube_obj {
	uint32_t hash;
	uint32_t refs;
	uint16_t keylen;                /* "ns/name" */
	uint8_t nslen;                  /* ns is its first nslen bytes */
	uint8_t rvlen;                  /* 0: none (or too long to keep) */
	uint16_t nhosts, naddrs, nstatus;
	uint8_t flags, resolution;
	uint16_t nports;
	char data[];
};

static uint32_t hash_key(const char *k, size_t n)
{
	return (uint32_t)hash_fnv1a(HASH_FNV1A_INIT, k, n);
}

static void kobj_unref(struct kube_obj *o)
{
	if (o && --o->refs == 0)
		free(o);
}

/* The first byte after the key and the resourceVersion. */
static const char *kobj_body(const struct kube_obj *o)
{
	return o->data + o->keylen + o->rvlen;
}

static int kobj_same_rv(const struct kube_obj *o, const char *rv)
{
	size_t l = strlen(rv);

	return o->rvlen && l == o->rvlen && memcmp(o->data + o->keylen, rv, l) == 0;
}

/* The size of o's allocation. */
static size_t kobj_size(const struct kube_obj *o)
{
	const char *p = kobj_body(o);

	if (!(o->flags & KOBJ_VALID))
		return sizeof(*o) + (size_t)(p - o->data) + ((o->flags & KOBJ_TOUCHED) ? 0 : strlen(p) + 1);
	for (unsigned i = 0; i < o->nhosts; i++)
		p += strlen(p) + 1;
	for (unsigned i = 0; i < o->naddrs; i++)
		p += 1 + (*p == 4 ? 4 : 16);
	for (unsigned i = 0; i < o->nstatus; i++) {
		p += 1 + (*p == 4 ? 4 : 16);
		p += strlen(p) + 1;
	}
	for (unsigned i = 0; i < o->nports; i++)
		p += strlen(p) + 1 + 3;
	return sizeof(*o) + (size_t)(p - o->data);
}

void kube_store_clear(struct kube_store *s)
{
	if (s->t)
		for (size_t i = 0; i <= s->mask; i++)
			kobj_unref(s->t[i]);
	free(s->t);
	memset(s, 0, sizeof(*s));
}

void kube_store_move(struct kube_store *dst, struct kube_store *src)
{
	kube_store_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

/* The slot holding key, or the empty slot where it would go (-1: no table). */
static long find_slot(const struct kube_store *s, const char *key, size_t len, uint32_t h)
{
	size_t i;

	if (!s->t)
		return -1;
	for (i = h & s->mask;; i = (i + 1) & s->mask) {
		const struct kube_obj *o = s->t[i];
		if (!o || (o->hash == h && o->keylen == len && memcmp(o->data, key, len) == 0))
			return (long)i;
	}
}

static const struct kube_obj *store_get(const struct kube_store *s, const char *key,
	size_t len, uint32_t h)
{
	long i = find_slot(s, key, len, h);

	return i < 0 ? NULL : s->t[i];
}

static int store_grow(struct kube_store *s)
{
	size_t slots = s->t ? (s->mask + 1) * 2 : 64;
	struct kube_obj **t = calloc(slots, sizeof(*t));

	if (!t)
		return -1;
	for (size_t i = 0; s->t && i <= s->mask; i++) {
		struct kube_obj *o = s->t[i];
		size_t j;
		if (!o)
			continue;
		for (j = o->hash & (slots - 1); t[j]; j = (j + 1) & (slots - 1))
			;
		t[j] = o;
	}
	free(s->t);
	s->t = t;
	s->mask = slots - 1;
	return 0;
}

/* Insert or replace; the store takes the caller's reference.  0 or -1. */
static int store_put(struct kube_store *s, struct kube_obj *o)
{
	long i;

	if ((!s->t || (s->n + 1) * 5 > (s->mask + 1) * 4) && store_grow(s) < 0)
		return -1;
	i = find_slot(s, o->data, o->keylen, o->hash);
	if (s->t[i]) {
		kobj_unref(s->t[i]);
	} else {
		s->n++;
	}
	s->t[i] = o;
	return 0;
}

/* Linear probing: close the gap so later keys stay reachable. */
static void store_del(struct kube_store *s, const char *key, size_t len)
{
	long i = find_slot(s, key, len, hash_key(key, len));
	size_t j, k;

	if (i < 0 || !s->t[i])
		return;
	kobj_unref(s->t[i]);
	s->t[i] = NULL;
	s->n--;
	for (j = ((size_t)i + 1) & s->mask; s->t[j]; j = (j + 1) & s->mask) {
		k = s->t[j]->hash & s->mask;
		/* move it back if its home is not in (i, j] */
		if ((j > (size_t)i && (k <= (size_t)i || k > j)) ||
		    (j < (size_t)i && k <= (size_t)i && k > j)) {
			s->t[i] = s->t[j];
			s->t[j] = NULL;
			i = (long)j;
		}
	}
}

const char *kube_store_meta(const cJSON *obj, const char *key)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* "ns/name" into buf (NULL if no name or too long); *nslen the ns part. */
static const char *make_key(const cJSON *obj, char *buf, size_t buflen, size_t *len,
	size_t *nslen)
{
	const char *ns = kube_store_meta(obj, "namespace"), *name = kube_store_meta(obj, "name");
	int n;

	if (!name || !*name)
		return NULL;
	if (!ns || !*ns)
		ns = "default";
	n = snprintf(buf, buflen, "%s/%s", ns, name);
	if (n < 0 || (size_t)n >= buflen || n > 65535 || strlen(ns) > 255)
		return NULL;
	*len = (size_t)n;
	*nslen = strlen(ns);
	return buf;
}

static size_t addr_bytes(const struct se_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

static char *put_addr(char *p, const struct se_addr *a)
{
	*p++ = a->family == AF_INET ? 4 : 6;
	memcpy(p, a->addr, addr_bytes(a));
	return p + addr_bytes(a);
}

static const char *get_addr(const char *p, struct se_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = *p == 4 ? AF_INET : AF_INET6;
	memcpy(a->addr, p + 1, addr_bytes(a));
	return p + 1 + addr_bytes(a);
}

/* A compact object from a checked entry (or a reject reason when e is NULL). */
static struct kube_obj *kobj_make(const char *key, size_t keylen, size_t nslen,
	const char *rv, const struct se_entry *e, const char *reason)
{
	size_t rvl = rv && strlen(rv) <= 255 ? strlen(rv) : 0, size = sizeof(struct kube_obj) + keylen + rvl;
	struct kube_obj *o;
	char *p;

	if (e) {
		if (e->nhosts > 65535 || e->naddrs > 65535 || e->nstatus_addrs > 65535
		    || e->nports > 65535)
			return NULL;
		for (size_t i = 0; i < e->nports; i++)
			size += strlen(e->ports[i].name) + 1 + 3;
		for (size_t i = 0; i < e->nhosts; i++)
			size += strlen(e->hosts[i]) + 1;
		for (size_t i = 0; i < e->naddrs; i++)
			size += 1 + addr_bytes(&e->addrs[i]);
		for (size_t i = 0; i < e->nstatus_addrs; i++)
			size += 2 + addr_bytes(&e->status_addrs[i].addr) +
				(e->status_addrs[i].host ? strlen(e->status_addrs[i].host) : 0);
	} else {
		size += strlen(reason ? reason : "") + 1;
	}
	if (size > UINT32_MAX || !(o = malloc(size)))
		return NULL;
	memset(o, 0, sizeof(*o));
	o->refs = 1;
	o->keylen = (uint16_t)keylen;
	o->nslen = (uint8_t)nslen;
	o->rvlen = (uint8_t)rvl;
	o->hash = hash_key(key, keylen);
	p = o->data;
	memcpy(p, key, keylen);
	p += keylen;
	if (rvl)
		memcpy(p, rv, rvl);
	p += rvl;
	if (!e) {
		strcpy(p, reason ? reason : "");
		return o;
	}
	o->flags = KOBJ_VALID;
	o->resolution = (uint8_t)e->resolution;
	o->nhosts = (uint16_t)e->nhosts;
	o->naddrs = (uint16_t)e->naddrs;
	o->nstatus = (uint16_t)e->nstatus_addrs;
	for (size_t i = 0; i < e->nhosts; i++) {
		size_t l = strlen(e->hosts[i]) + 1;
		memcpy(p, e->hosts[i], l);
		p += l;
	}
	for (size_t i = 0; i < e->naddrs; i++)
		p = put_addr(p, &e->addrs[i]);
	for (size_t i = 0; i < e->nstatus_addrs; i++) {
		const char *h = e->status_addrs[i].host ? e->status_addrs[i].host : "";
		p = put_addr(p, &e->status_addrs[i].addr);
		memcpy(p, h, strlen(h) + 1);
		p += strlen(h) + 1;
	}
	o->nports = (uint16_t)e->nports;
	for (size_t i = 0; i < e->nports; i++) {
		size_t l = strlen(e->ports[i].name) + 1;
		memcpy(p, e->ports[i].name, l);
		p += l;
		p[0] = (char)(e->ports[i].number >> 8);
		p[1] = (char)(e->ports[i].number & 0xff);
		p[2] = (char)e->ports[i].protocol;
		p += 3;
	}
	return o;
}

/* Turn a list item or watch object into an object (or NULL: skip it). */
static struct kube_obj *kobj_from_json(const cJSON *obj, const char *origin,
	const struct kube_store *known, int *nomem)
{
	const char *rv = kube_store_meta(obj, "resourceVersion");
	char kb[600];
	size_t keylen = 0, nslen = 0;
	const char *key = make_key(obj, kb, sizeof(kb), &keylen, &nslen);
	const struct kube_obj *prev;
	struct kube_obj *o = NULL;
	struct se_list tmp;

	*nomem = 0;
	prev = key && known ? store_get(known, key, keylen, hash_key(key, keylen)) : NULL;
	if (prev && !(prev->flags & KOBJ_TOUCHED) && rv && kobj_same_rv(prev, rv)) {
		/* unchanged since we last parsed it (and logged any problem) */
		((struct kube_obj *)prev)->refs++;
		return (struct kube_obj *)prev;
	}
	/* se_list_add_json checks it (Istio's rules) and logs what is wrong */
	se_list_init(&tmp);
	if (se_list_add_json(&tmp, obj, origin, NULL) < 0) {
		*nomem = 1;
	} else if (!key) {
		/* no name: rejected and logged; there is no key to keep it under */
	} else if (tmp.n == 1) {
		if (!(o = kobj_make(key, keylen, nslen, rv, &tmp.items[0], NULL)))
			*nomem = 1;
	} else if (tmp.nrejects == 1) {
		if (!(o = kobj_make(key, keylen, nslen, rv, NULL, tmp.rejects[0].reason)))
			*nomem = 1;
	}
	se_list_free(&tmp);
	return o;
}

int kube_store_put_json(struct kube_store *s, const cJSON *obj,
	const struct kube_store *known, const char *origin)
{
	int nomem;
	struct kube_obj *o = kobj_from_json(obj, origin, known, &nomem);

	if (nomem || (o && store_put(s, o) < 0)) {
		kobj_unref(o);
		return -1;
	}
	return o ? 1 : 0;
}

void kube_store_del_json(struct kube_store *s, const cJSON *obj)
{
	char kb[600];
	size_t len, nslen;
	const char *key = make_key(obj, kb, sizeof(kb), &len, &nslen);

	if (key)
		store_del(s, key, len);
}

int kube_store_touch_json(struct kube_store *s, const cJSON *obj)
{
	char kb[600];
	size_t len, nslen;
	const char *key = make_key(obj, kb, sizeof(kb), &len, &nslen);
	struct kube_obj *o;

	if (!key)
		return 0;
	if (!(o = kobj_make(key, len, nslen, NULL, NULL, NULL)))
		return -1;
	o->flags = KOBJ_TOUCHED;
	if (store_put(s, o) < 0) {
		kobj_unref(o);
		return -1;
	}
	return 0;
}

int kube_store_overlay(struct kube_store *dst, const struct kube_store *live,
	const struct kube_store *touched)
{
	for (size_t i = 0; touched->t && i <= touched->mask; i++) {
		const struct kube_obj *k = touched->t[i];
		const struct kube_obj *o;
		if (!k)
			continue;
		o = store_get(live, k->data, k->keylen, k->hash);
		if (!o) {
			store_del(dst, k->data, k->keylen);
			continue;
		}
		((struct kube_obj *)o)->refs++;
		if (store_put(dst, (struct kube_obj *)o) < 0) {
			kobj_unref((struct kube_obj *)o);
			return -1;
		}
	}
	return 0;
}

/* An entry rebuilt from o (what a registry reads); 0 or -1 (e cleared). */
static int kobj_entry(const struct kube_obj *o, struct se_entry *e)
{
	const char *p = kobj_body(o);

	memset(e, 0, sizeof(*e));
	e->resolution = (enum se_resolution)o->resolution;
	if (!(e->ns = strndup(o->data, o->nslen)) ||
	    !(e->name = strndup(o->data + o->nslen + 1, (size_t)(o->keylen - o->nslen - 1))))
		goto fail;
	if (o->nhosts && !(e->hosts = calloc(o->nhosts, sizeof(*e->hosts))))
		goto fail;
	for (size_t i = 0; i < o->nhosts; i++, e->nhosts++) {
		if (!(e->hosts[i] = strdup(p)))
			goto fail;
		p += strlen(p) + 1;
	}
	if (o->naddrs && !(e->addrs = malloc(o->naddrs * sizeof(*e->addrs))))
		goto fail;
	for (size_t i = 0; i < o->naddrs; i++, e->naddrs++)
		p = get_addr(p, &e->addrs[i]);
	if (o->nstatus && !(e->status_addrs = calloc(o->nstatus, sizeof(*e->status_addrs))))
		goto fail;
	for (size_t i = 0; i < o->nstatus; i++, e->nstatus_addrs++) {
		p = get_addr(p, &e->status_addrs[i].addr);
		if (*p && !(e->status_addrs[i].host = strdup(p)))
			goto fail;
		p += strlen(p) + 1;
	}
	if (o->nports) {
		/* names borrowed from o, then copied into the entry's one block */
		struct se_port *tmp = malloc(o->nports * sizeof(*tmp));
		int rc;
		if (!tmp)
			goto fail;
		for (size_t i = 0; i < o->nports; i++) {
			const unsigned char *u = (const unsigned char *)p + strlen(p) + 1;
			tmp[i].name = p;
			tmp[i].number = (uint16_t)((u[0] << 8) | u[1]);
			tmp[i].protocol = (enum se_protocol)u[2];
			p = (const char *)u + 3;
		}
		rc = se_entry_set_ports(e, tmp, o->nports);
		free(tmp);
		if (rc < 0)
			goto fail;
	}
	return 0;
fail:
	se_entry_clear(e);
	return -1;
}

/* Append o (valid or rejected) to l; 0 or -1. */
static int kobj_to_list(const struct kube_obj *o, struct se_list *l)
{
	struct se_entry e;
	int rc;

	if (o->flags & KOBJ_VALID) {
		rc = kobj_entry(o, &e);
		if (rc == 0 && (rc = se_list_push(l, &e)) < 0)
			se_entry_clear(&e);
	} else {
		char *ns = strndup(o->data, o->nslen);
		char *name = strndup(o->data + o->nslen + 1, (size_t)(o->keylen - o->nslen - 1));
		rc = ns && name ? se_list_reject(l, ns, name, kobj_body(o)) : -1;
		free(ns);
		free(name);
	}
	return rc;
}

int kube_store_freeze(const struct kube_store *s, struct kube_frozen *f)
{
	if (grow_array((void **)&f->objs, &f->cap, f->n + s->n, sizeof(*f->objs)) < 0)
		return -1;
	for (size_t i = 0; s->t && i <= s->mask; i++) {
		struct kube_obj *o = s->t[i];
		if (!o || (o->flags & KOBJ_TOUCHED))
			continue;
		o->refs++;
		f->objs[f->n++] = o;
		(*(o->flags & KOBJ_VALID ? &f->valid : &f->rejected))++;
	}
	return 0;
}

int kube_frozen_to_list(struct kube_frozen *f, struct se_list *l, size_t max)
{
	for (size_t k = 0; k < max && f->next < f->n; k++, f->next++)
		if (kobj_to_list(f->objs[f->next], l) < 0)
			return -1;
	return f->next == f->n;
}

void kube_frozen_release(struct kube_frozen *f)
{
	for (size_t i = 0; i < f->n; i++)
		kobj_unref(f->objs[i]);
	free(f->objs);
	memset(f, 0, sizeof(*f));
}

int kube_store_to_list(const struct kube_store *s, struct se_list *l)
{
	for (size_t i = 0; s->t && i <= s->mask; i++) {
		const struct kube_obj *o = s->t[i];
		if (o && !(o->flags & KOBJ_TOUCHED) && kobj_to_list(o, l) < 0)
			return -1;
	}
	return 0;
}

void kube_store_counts(const struct kube_store *s, size_t *valid, size_t *rejected)
{
	*valid = *rejected = 0;
	for (size_t i = 0; s->t && i <= s->mask; i++)
		if (s->t[i] && !(s->t[i]->flags & KOBJ_TOUCHED))
			(*(s->t[i]->flags & KOBJ_VALID ? valid : rejected))++;
}

size_t kube_store_bytes(const struct kube_store *s)
{
	size_t b = s->t ? (s->mask + 1) * sizeof(*s->t) : 0;

	for (size_t i = 0; s->t && i <= s->mask; i++)
		if (s->t[i])
			b += kobj_size(s->t[i]);
	return b;
}
