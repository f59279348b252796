/*
 * workers.h -- a worker per core: threads that answer UDP beside the main
 * loop.
 *
 * With N workers the main loop is worker 0 and N-1 threads are started,
 * each with an event loop of its own.  Every UDP listener opens one more
 * socket on the same address and port per thread (SO_REUSEPORT: the
 * kernel spreads clients over the sockets by their address and port) and
 * hands it to that thread (workers_run), which then reads, answers and
 * writes its datagrams with recvmmsg/sendmmsg, in parallel with the
 * others.  TCP, timers, the Kubernetes client, reloads and the HTTP
 * endpoints stay on the main loop.
 *
 * What the queries read -- the configuration, the registry snapshots, the
 * plugins' states, the metrics -- is shared, guarded by one lock (the data
 * lock).  A worker holds it while it answers a batch of up to 32
 * datagrams, not while it waits, reads or sends: the system calls, most of
 * the cost of a query on loopback, run in parallel.  The main loop holds
 * it in every callback that touches what queries read (a registry or
 * configuration swap, a forwarded answer, a scrape), and while it answers
 * each TCP query -- one at a time, not across a pipelined read or its
 * sends, so TCP never holds UDP back for more than one answer.  So a snapshot that
 * is replaced is never freed under a worker: the swap waits for the
 * batch, and the next batch reads the new one -- published and reclaimed
 * by the lock, with no reference count on the query path.
 *
 * A plugin whose serve must run on the main loop (the forwarder, with its
 * c-ares channel and timers there) checks query_on_worker() and defers:
 * query_to_main_loop holds the query (query_hold) and queues it for the
 * main loop, which runs the chain on from that plugin.  The plugins
 * before it (the cache) answer in the worker.
 *
 * One worker (workers_start with n <= 1) starts no thread and the lock
 * costs a branch: the process is the single-threaded one it always was.
 */
#ifndef GLOBALDNS_WORKERS_H
#define GLOBALDNS_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include <event2/util.h>

struct event_base;
struct metrics_out;

/* The most workers `workers` may ask for. */
#define WORKERS_MAX 64

/*
 * The CPUs this process may use: its affinity mask, capped by a cgroup CPU
 * quota (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us, the
 * smallest on the way up), rounded up; at least 1.  `workers auto`.
 */
int workers_cpus(void);

/*
 * The quota part, for tests: the limit in CPUs (rounded up) the cgroup
 * files under sysfs (e.g. "/sys/fs/cgroup") set for the process whose
 * /proc/PID/cgroup text is proc_cgroup, or 0 for no limit.
 */
int workers_cgroup_cpus(const char *sysfs, const char *proc_cgroup);

/*
 * Start n workers for the main loop's base: n-1 threads.  Call before the
 * listeners open.  0, or -1 (then none started; err says why).
 */
int workers_start(struct event_base *main_base, int n, char *err,
	size_t errlen);

/* Stop the threads (each first runs what was queued for it), join them,
 * release the queries deferred to the main loop and not yet run (before
 * the configuration they belong to goes).  Then one thread is left: the
 * lock is a no-op and a listener closes its workers' sockets in place.
 * Not with the data lock held. */
void workers_stop(void);

/* After the listeners are gone: free the threads' loops. */
void workers_free(void);

/* The workers answering UDP: 1 + the threads. */
int workers_count(void);

/* The data lock (recursive; a no-op with one worker). */
void workers_lock(void);
void workers_unlock(void);

/*
 * Define the event callback NAME (evutil_socket_t, short, void *) as
 * NAME_locked run under the data lock: a main-loop callback that touches
 * what queries read.
 */
#define WORKERS_LOCKED_EVENT_CB(name) \
static void name(evutil_socket_t fd_, short what_, void *arg_) \
{ \
	workers_lock(); \
	name##_locked(fd_, what_, arg_); \
	workers_unlock(); \
}

/*
 * Have fn(arg, base) run on thread i's loop (1 <= i < workers_count()),
 * base being that loop's, in the order queued.  0, or -1 out of memory.
 */
int workers_run(int i, void (*fn)(void *arg, struct event_base *base),
	void *arg);

/* Count n datagrams answered by the calling worker (data lock held). */
void workers_count_queries(unsigned int n);

/* globaldns_workers and the per-worker counters (a metrics collector). */
void workers_collect(void *arg, struct metrics_out *o);

#endif
