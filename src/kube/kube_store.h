/*
 * kube_store.h -- the ServiceEntries of one Kubernetes scope, by
 * "namespace/name", as the list/watch machinery in kube_scope.c keeps them.
 *
 * Each object is held already checked: either a valid se_entry or the
 * reason it was rejected (so a rebuild reports it again without
 * re-parsing).  An object whose resourceVersion is unchanged from the one
 * in a `known` store is copied from there instead of parsed (and logged)
 * again, so a periodic re-list of an unchanged cluster is cheap and quiet.
 *
 * A store is a plain struct the caller embeds; all zero is an empty store.
 * Only `n` is meant to be read from outside.
 */
#ifndef GLOBALDNS_KUBE_STORE_H
#define GLOBALDNS_KUBE_STORE_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "globaldns/seentry.h"

struct kube_obj;

struct kube_store {
	struct kube_obj **b;            /* hash buckets (private) */
	size_t nb;                      /* number of buckets, a power of two (private) */
	size_t n;                       /* objects held */
};

/* Free every object; the store is empty (and reusable) afterwards. */
void kube_store_clear(struct kube_store *s);

/* Replace dst's objects with src's; src is left empty.  Cannot fail. */
void kube_store_move(struct kube_store *dst, struct kube_store *src);

/*
 * Parse one ServiceEntry object (a list item or a watch event's object)
 * and store it under its namespace/name, replacing what s held there.
 * Problems are logged by se_list_add_json prefixed with origin (an API
 * URL).  If known (may be s itself, or NULL) holds the same key at the
 * same resourceVersion, that object is copied instead of parsing again.
 * Returns 1 stored; 0 skipped (no metadata.name, or not a ServiceEntry:
 * nothing changed in s); -1 out of memory (s unchanged).  obj is not kept.
 */
int kube_store_put_json(struct kube_store *s, const cJSON *obj,
	const struct kube_store *known, const char *origin);

/* Remove the object with obj's namespace/name, if held. */
void kube_store_del_json(struct kube_store *s, const cJSON *obj);

/*
 * Append a copy of every object to l: valid ones with se_list_push,
 * rejected ones with se_list_reject.  0, or -1 out of memory (l then
 * holds part of the store; the caller frees it).
 */
int kube_store_to_list(const struct kube_store *s, struct se_list *l);

/* metadata.<key> of obj (namespace, name, resourceVersion) if a string, else NULL. */
const char *kube_store_meta(const cJSON *obj, const char *key);

#endif
