/*
 * test_qsbr.c -- quiescent-state-based reclamation (qsbr.h): what is
 * retired is freed only once every online reader has passed a quiescent
 * state; offline readers and no readers hold nothing up; and, with real
 * threads, readers that keep dereferencing the published object never
 * see one freed under them while the writer replaces it thousands of
 * times.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <pthread.h>
#include <time.h>
#include <cmocka.h>

#include "globaldns/qsbr.h"

static int freed;

static void count_free(void *p)
{
	(void)p;
	freed++;
}

static void test_no_readers(void **st)
{
	struct qsbr *q = qsbr_new();
	int a, b;

	(void)st;
	freed = 0;
	qsbr_retire(q, count_free, &a);
	qsbr_retire(q, count_free, &b);
	assert_int_equal(freed, 0);
	assert_int_equal(qsbr_poll(q), 0);
	assert_int_equal(freed, 2);
	qsbr_free(q);
}

static void test_reader_holds(void **st)
{
	struct qsbr *q = qsbr_new();
	struct qsbr_reader *r = qsbr_reader_new(q);
	int a, b;

	(void)st;
	freed = 0;
	qsbr_quiescent(r);
	qsbr_retire(q, count_free, &a);
	assert_int_equal(qsbr_poll(q), 1);      /* r may still hold a */
	assert_int_equal(freed, 0);
	qsbr_quiescent(r);
	qsbr_retire(q, count_free, &b);         /* retired after r's state */
	assert_int_equal(qsbr_poll(q), 1);      /* a goes, b waits */
	assert_int_equal(freed, 1);
	qsbr_offline(r);                        /* blocked, holding nothing */
	assert_int_equal(qsbr_poll(q), 0);
	assert_int_equal(freed, 2);
	qsbr_online(r);
	qsbr_retire(q, count_free, &a);
	assert_int_equal(qsbr_poll(q), 1);
	qsbr_reader_free(r);                    /* gone: holds nothing */
	assert_int_equal(qsbr_poll(q), 0);
	assert_int_equal(freed, 3);
	qsbr_retire(q, count_free, &b);         /* qsbr_free frees the rest */
	qsbr_free(q);
	assert_int_equal(freed, 4);
}

/* ---- threads ---- */

#define ALIVE 0x600dcafeu
#define ROUNDS 3000

struct obj {
	_Atomic unsigned int magic;
	unsigned long serial;
};


static _Atomic(struct obj *) current;
static _Atomic int stop;
static _Atomic long bad, reads;

/* "Freed" objects are marked dead and kept (their memory is not handed
 * out again, which would make them look alive): a reader that still held
 * one sees the mark. */
static struct obj *graveyard[ROUNDS + 1];
static size_t ngraves;

static void obj_free(void *p)
{
	struct obj *o = p;

	atomic_store(&o->magic, 0xdeadu);
	graveyard[ngraves++] = o;
}

static void *reader(void *arg)
{
	struct qsbr *q = arg;
	struct qsbr_reader *r = qsbr_reader_new(q);
	unsigned long last = 0;
	long n = 0;

	while (!atomic_load(&stop)) {
		/* a "batch": the object taken once, read again and again (as a
		 * worker keeps the snapshot it took for a whole batch) */
		struct obj *o = atomic_load_explicit(&current, memory_order_acquire);
		if (o->serial < last)
			atomic_fetch_add(&bad, 1);
		last = o->serial;
		for (int i = 0; i < 256; i++) {
			if (atomic_load_explicit(&o->magic, memory_order_relaxed) != ALIVE)
				atomic_fetch_add(&bad, 1);
			n++;
		}
		if (n % (256 * 64) == 0) {             /* now and then idle: offline */
			qsbr_offline(r);
			sched_yield();
			qsbr_online(r);
		}
		qsbr_quiescent(r);
	}
	qsbr_reader_free(r);
	atomic_fetch_add(&reads, n);
	return NULL;
}

static void test_threads(void **st)
{
	struct qsbr *q = qsbr_new();
	pthread_t t[3];
	struct obj *o = calloc(1, sizeof(*o));
	size_t waiting = 0;
	struct timespec us = { 0, 20000 };

	(void)st;
	atomic_init(&o->magic, ALIVE);
	atomic_store(&current, o);
	atomic_store(&stop, 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, q), 0);
	for (unsigned long s = 1; s <= ROUNDS; s++) {
		struct obj *n = calloc(1, sizeof(*n)), *old;
		assert_non_null(n);
		n->serial = s;
		atomic_init(&n->magic, ALIVE);
		old = atomic_exchange(&current, n);     /* publish */
		qsbr_retire(q, obj_free, old);
		waiting = qsbr_poll(q);
		if (s % 100 == 0)
			nanosleep(&us, NULL);
	}
	qsbr_synchronize(q);                    /* bounded: readers keep passing */
	assert_int_equal(qsbr_poll(q), 0);
	atomic_store(&stop, 1);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&bad), 0);
	assert_true(atomic_load(&reads) > 0);
	print_message("# %ld reads, %d replacements, %zu waiting at the last poll before the end\n",
		atomic_load(&reads), ROUNDS, waiting);
	assert_int_equal(ngraves, ROUNDS);
	for (size_t i = 0; i < ngraves; i++)
		free(graveyard[i]);
	qsbr_free(q);
	free(atomic_load(&current));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_readers),
		cmocka_unit_test(test_reader_holds),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
