/*
 * kube_store.h -- the ServiceEntries of one Kubernetes scope, by
 * "namespace/name", as the list/watch machinery in kube_scope.c keeps them.
 *
 * Each object is held already checked: either a valid entry or the
 * reason it was rejected (so a rebuild reports it again without
 * re-parsing).  Objects are compact (one allocation each: the key, the
 * resourceVersion, the hosts and addresses packed; what a registry needs
 * and nothing else), immutable and counted: an object whose
 * resourceVersion is unchanged from the one in a `known` store is shared
 * with it instead of parsed (and logged) again, so a re-list of an
 * unchanged cluster costs a table, not a second copy.
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
	struct kube_obj **t;            /* open addressing, linear probing (private) */
	size_t mask;                    /* slots - 1, slots a power of two (private) */
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
 * same resourceVersion, that object is shared instead of parsing again.
 * Returns 1 stored; 0 skipped (no metadata.name, or not a ServiceEntry:
 * nothing changed in s); -1 out of memory (s unchanged).  obj is not kept.
 */
int kube_store_put_json(struct kube_store *s, const cJSON *obj,
	const struct kube_store *known, const char *origin);

/* Remove the object with obj's namespace/name, if held. */
void kube_store_del_json(struct kube_store *s, const cJSON *obj);

/*
 * Record obj's namespace/name in s as touched (a key without contents,
 * for kube_store_overlay); 0 or -1 out of memory.
 */
int kube_store_touch_json(struct kube_store *s, const cJSON *obj);

/*
 * For every key in touched: dst gets what live holds under it, or loses
 * it if live holds nothing (the newer state wins over a list that ran
 * meanwhile).  0, or -1 out of memory (dst then partly updated).
 */
int kube_store_overlay(struct kube_store *dst, const struct kube_store *live,
	const struct kube_store *touched);

/*
 * Append a copy of every object to l: valid ones with se_list_push,
 * rejected ones with se_list_reject.  The copies hold what a registry
 * reads (namespace, name, hosts, addresses, resolution; no uid, no
 * resourceVersion).  0, or -1 out of memory (l then holds part of the
 * store; the caller frees it).
 */
int kube_store_to_list(const struct kube_store *s, struct se_list *l);

/*
 * The objects of a store at one moment, each referenced (objects never
 * change): converted a slice at a time while the store goes on changing.
 * Zeroed is empty.  kube_store_freeze appends s's objects to f: 0 or -1
 * (out of memory; f keeps what it had).  kube_frozen_to_list appends up
 * to max of the next objects to l as kube_store_to_list does: 1 when all
 * are in, 0 if more remain, -1 out of memory.  kube_frozen_release drops
 * the references (f is empty after).
 */
struct kube_frozen {
	struct kube_obj **objs;
	size_t n, cap, next;
	size_t valid, rejected;         /* what the list will hold */
};
int kube_store_freeze(const struct kube_store *s, struct kube_frozen *f);
int kube_frozen_to_list(struct kube_frozen *f, struct se_list *l, size_t max);
void kube_frozen_release(struct kube_frozen *f);

/* Valid entries and rejects held (to size a list before filling it). */
void kube_store_counts(const struct kube_store *s, size_t *valid, size_t *rejected);

/* Bytes the store holds (objects and table), for introspection. */
size_t kube_store_bytes(const struct kube_store *s);

/* metadata.<key> of obj (namespace, name, resourceVersion) if a string, else NULL. */
const char *kube_store_meta(const cJSON *obj, const char *key);

#endif
