/*
 * qsbr.h -- quiescent-state-based reclamation: freeing what one thread
 * replaced while other threads may still be reading it (a registry
 * snapshot, a retired configuration), without a lock or a reference
 * count on the read side.
 *
 * Groundwork for worker threads (issue 12 item 4): each worker's event
 * loop is a reader.  It registers once (qsbr_reader_new) and, after every
 * batch of queries, reports a quiescent state (qsbr_quiescent): it holds
 * no pointer to shared data there.  Before it blocks in epoll_wait it goes
 * offline (qsbr_offline), after it wakes online again (qsbr_online): an
 * idle worker never holds reclamation up.  The writer (the main loop)
 * publishes the new object with one atomic store, then hands the old one
 * to qsbr_retire; qsbr_poll frees it once every online reader has passed
 * a quiescent state since.  With no reader registered (one worker: the
 * main loop itself answers) qsbr_poll frees everything retired at once.
 *
 * The read side costs one relaxed load and one release store per
 * quiescent state; nothing on it allocates or locks.
 */
#ifndef GLOBALDNS_QSBR_H
#define GLOBALDNS_QSBR_H

#include <stddef.h>

struct qsbr;
struct qsbr_reader;

/* A domain: its readers and what waits to be freed.  NULL out of memory. */
struct qsbr *qsbr_new(void);

/* Free everything still retired (the readers must be gone), then q. */
void qsbr_free(struct qsbr *q);

/* Register the calling thread as a reader, online.  NULL out of memory.
 * Unregister it (from its own thread) with qsbr_reader_free. */
struct qsbr_reader *qsbr_reader_new(struct qsbr *q);
void qsbr_reader_free(struct qsbr_reader *r);

/* Reader: nothing shared is held from here on (after a batch). */
void qsbr_quiescent(struct qsbr_reader *r);

/* Reader: about to block, holding nothing; and back (before it reads). */
void qsbr_offline(struct qsbr_reader *r);
void qsbr_online(struct qsbr_reader *r);

/*
 * Writer, after publishing p's replacement: have fn(p) called once no
 * reader can still hold p.  Never fails: out of memory it waits for the
 * readers there and then (qsbr_synchronize) and calls fn(p) itself.
 */
void qsbr_retire(struct qsbr *q, void (*fn)(void *), void *p);

/* Free what is safe to free now; returns how many still wait. */
size_t qsbr_poll(struct qsbr *q);

/* Wait until every online reader has passed a quiescent state (1 ms
 * steps), then free what is safe.  Not from a reader's own thread. */
void qsbr_synchronize(struct qsbr *q);

#endif
