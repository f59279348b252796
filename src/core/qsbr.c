/*
 * qsbr.c -- quiescent-state-based reclamation (see qsbr.h).
 *
 * A global counter, the epoch, starts at 1.  Retiring an object bumps it
 * and stamps the object with the new value E.  A reader at a quiescent
 * state copies the epoch into its own slot; offline, its slot is 0.  The
 * object is freed once every reader's slot is 0 or at least E: each has
 * since passed a point where it held nothing, after the replacement was
 * published (publish happens before the bump, the bump before the reader
 * reads the epoch, so the reader's later loads see the replacement).
 */
#include "globaldns/qsbr.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

struct qsbr_reader {
	struct qsbr *q;
	_Atomic uint64_t seen;          /* epoch at its last quiescent state; 0 offline */
	struct qsbr_reader *next;
};

struct retired {
	void (*fn)(void *);
	void *p;
	uint64_t epoch;
	struct retired *next;
};

struct qsbr {
	_Atomic uint64_t epoch;
	pthread_mutex_t lock;           /* the two lists (never on the read side) */
	struct qsbr_reader *readers;
	struct retired *head, *tail;    /* oldest first: epochs ascend */
};

struct qsbr *qsbr_new(void)
{
	struct qsbr *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	atomic_init(&q->epoch, 1);
	pthread_mutex_init(&q->lock, NULL);
	return q;
}

void qsbr_free(struct qsbr *q)
{
	if (!q)
		return;
	while (q->head) {
		struct retired *r = q->head;
		q->head = r->next;
		r->fn(r->p);
		free(r);
	}
	while (q->readers) {            /* readers left registered: forgotten */
		struct qsbr_reader *r = q->readers;
		q->readers = r->next;
		r->q = NULL;
	}
	pthread_mutex_destroy(&q->lock);
	free(q);
}

struct qsbr_reader *qsbr_reader_new(struct qsbr *q)
{
	struct qsbr_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->q = q;
	pthread_mutex_lock(&q->lock);
	r->next = q->readers;
	q->readers = r;
	pthread_mutex_unlock(&q->lock);
	qsbr_online(r);
	return r;
}

void qsbr_reader_free(struct qsbr_reader *r)
{
	struct qsbr *q;

	if (!r)
		return;
	q = r->q;
	if (q) {
		pthread_mutex_lock(&q->lock);
		for (struct qsbr_reader **pp = &q->readers; *pp; pp = &(*pp)->next)
			if (*pp == r) {
				*pp = r->next;
				break;
			}
		pthread_mutex_unlock(&q->lock);
	}
	free(r);
}

void qsbr_quiescent(struct qsbr_reader *r)
{
	/* release: every read of shared data before this is done when the
	 * writer sees the new value */
	atomic_store_explicit(&r->seen, atomic_load(&r->q->epoch), memory_order_release);
}

void qsbr_offline(struct qsbr_reader *r)
{
	atomic_store_explicit(&r->seen, 0, memory_order_release);
}

void qsbr_online(struct qsbr_reader *r)
{
	/* a full barrier: the writer must see this slot before the reader
	 * loads any shared pointer (a store then a load may be reordered) */
	atomic_store(&r->seen, atomic_load(&r->q->epoch));
	atomic_thread_fence(memory_order_seq_cst);
}

/* The oldest epoch some online reader may still hold data from: every
 * object retired at or below it is safe (caller holds the lock). */
static uint64_t safe_epoch(struct qsbr *q)
{
	uint64_t min = atomic_load(&q->epoch);

	for (struct qsbr_reader *r = q->readers; r; r = r->next) {
		uint64_t s = atomic_load(&r->seen);
		if (s && s < min)
			min = s;
	}
	return min;
}

size_t qsbr_poll(struct qsbr *q)
{
	struct retired *done = NULL, **tailp = &done;
	size_t waiting = 0;
	uint64_t safe;

	pthread_mutex_lock(&q->lock);
	safe = safe_epoch(q);
	while (q->head && q->head->epoch <= safe) {
		struct retired *r = q->head;
		q->head = r->next;
		r->next = NULL;
		*tailp = r;
		tailp = &r->next;
	}
	if (!q->head)
		q->tail = NULL;
	for (struct retired *r = q->head; r; r = r->next)
		waiting++;
	pthread_mutex_unlock(&q->lock);
	while (done) {                  /* outside the lock: fn may take time */
		struct retired *r = done;
		done = r->next;
		r->fn(r->p);
		free(r);
	}
	return waiting;
}

void qsbr_synchronize(struct qsbr *q)
{
	uint64_t target = atomic_fetch_add(&q->epoch, 1) + 1;
	struct timespec ms = { 0, 1000000 };

	for (;;) {
		uint64_t safe;
		pthread_mutex_lock(&q->lock);
		safe = safe_epoch(q);
		pthread_mutex_unlock(&q->lock);
		if (safe >= target)
			break;
		nanosleep(&ms, NULL);
	}
	qsbr_poll(q);
}

void qsbr_retire(struct qsbr *q, void (*fn)(void *), void *p)
{
	struct retired *r = malloc(sizeof(*r));

	if (!r) {
		qsbr_synchronize(q);
		fn(p);
		return;
	}
	r->fn = fn;
	r->p = p;
	r->next = NULL;
	pthread_mutex_lock(&q->lock);
	/* seq_cst: the replacement's publication comes before the bump */
	r->epoch = atomic_fetch_add(&q->epoch, 1) + 1;
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
	pthread_mutex_unlock(&q->lock);
}
