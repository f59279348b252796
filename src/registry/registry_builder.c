/*
 * registry_builder.c -- registry snapshots built on a thread of their own
 * (registry.h), so that a rebuild of 100,000 names never holds up the
 * event loop that answers queries.
 *
 * One builder thread per builder, started at the first submit.  A submit
 * moves the list in under the mutex (replacing a list not yet started: the
 * newest wins, rebuilds coalesce) and signals the thread; the thread
 * builds, stores the result as `done` (freeing a result the loop has not
 * taken yet) and writes a byte to a pipe; the loop's read event takes
 * `done` and calls back, on the loop, where the snapshot is published.
 * Nothing of the query path runs here: a snapshot is immutable once built.
 * The thread also gives freed heap back to the system when asked
 * (registry_builder_trim: malloc_trim takes milliseconds at 100,000
 * names, which the loop need not wait for).
 */
#define _GNU_SOURCE 1

#include "globaldns/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/event.h>

#include "globaldns/log.h"

struct registry_builder {
	struct registry_conf conf;      /* shallow: the caller's arrays */
	registry_built_fn fn;
	void *arg;
	struct event *ev;
	int fds[2];                     /* wake-up pipe: thread -> loop */
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* under mu */
	struct se_list pending;
	int has_pending, stop, trim;
	struct registry *done;
	int has_done;                   /* done may be NULL: out of memory */
};

static void *build_loop(void *arg)
{
	struct registry_builder *b = arg;

	pthread_mutex_lock(&b->mu);
	for (;;) {
		struct se_list l;
		struct registry *r;
		char one = 1;

		while (!b->has_pending && !b->stop && !b->trim)
			pthread_cond_wait(&b->cv, &b->mu);
		if (b->stop)
			break;
		if (b->trim && !b->has_pending) {
			b->trim = 0;
			pthread_mutex_unlock(&b->mu);
#ifdef __GLIBC__
			malloc_trim(0);
#endif
			pthread_mutex_lock(&b->mu);
			continue;
		}
		l = b->pending;
		se_list_init(&b->pending);
		b->has_pending = 0;
		pthread_mutex_unlock(&b->mu);
		r = registry_build(&b->conf, &l, 0);
		se_list_free(&l);       /* empty unless the build failed */
		pthread_mutex_lock(&b->mu);
		if (b->has_done)
			registry_free(b->done);
		b->done = r;
		b->has_done = 1;
		/* a full pipe already has a wake-up in it */
		while (write(b->fds[1], &one, 1) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&b->mu);
	return NULL;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct registry_builder *b = arg;
	struct registry *r;
	char buf[64];
	int has;

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&b->mu);
	r = b->done;
	has = b->has_done;
	b->done = NULL;
	b->has_done = 0;
	pthread_mutex_unlock(&b->mu);
	if (has)
		b->fn(b->arg, r);
}

struct registry_builder *registry_builder_new(struct event_base *base,
	const struct registry_conf *conf, registry_built_fn fn, void *arg)
{
	struct registry_builder *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->conf = *conf;
	b->fn = fn;
	b->arg = arg;
	b->fds[0] = b->fds[1] = -1;
	se_list_init(&b->pending);
	if (pipe2(b->fds, O_CLOEXEC | O_NONBLOCK) < 0)
		goto fail;
	if (!(b->ev = event_new(base, b->fds[0], EV_READ | EV_PERSIST, on_wake, b))
	    || event_add(b->ev, NULL) < 0)
		goto fail;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	return b;
fail:
	if (b->ev)
		event_free(b->ev);
	if (b->fds[0] >= 0) {
		close(b->fds[0]);
		close(b->fds[1]);
	}
	free(b);
	return NULL;
}

int registry_builder_submit(struct registry_builder *b, struct se_list *entries)
{
	pthread_mutex_lock(&b->mu);
	if (!b->started) {
		int rc = pthread_create(&b->thread, NULL, build_loop, b);
		if (rc != 0) {
			pthread_mutex_unlock(&b->mu);
			log_error("registry: cannot start the build thread: %s", strerror(rc));
			return -1;
		}
		b->started = 1;
	}
	se_list_free(&b->pending);      /* not started yet: superseded */
	b->pending = *entries;
	se_list_init(entries);
	b->has_pending = 1;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return 0;
}

int registry_builder_trim(struct registry_builder *b)
{
	if (!b || !b->started)
		return -1;
	pthread_mutex_lock(&b->mu);
	b->trim = 1;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
	return 0;
}

void registry_builder_free(struct registry_builder *b)
{
	if (!b)
		return;
	if (b->started) {
		pthread_mutex_lock(&b->mu);
		b->stop = 1;
		pthread_cond_signal(&b->cv);
		pthread_mutex_unlock(&b->mu);
		pthread_join(b->thread, NULL);  /* after the build in flight */
	}
	se_list_free(&b->pending);
	registry_free(b->done);
	event_free(b->ev);
	close(b->fds[0]);
	close(b->fds[1]);
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}
