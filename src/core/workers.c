/*
 * workers.c -- worker threads, the data lock, the queue of queries
 * deferred to the main loop, and how many CPUs the process may use (see
 * workers.h).
 */
#include "globaldns/workers.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/query.h"
#include "globaldns/readfile.h"

/* ---- CPUs ---- */

/* A small file's text (caller frees), or NULL. */
static char *read_small(const char *path)
{
	char *text;
	size_t len;

	return read_whole_file(path, 4096, &text, &len) == 0 ? text : NULL;
}

/* The number at the start of the file at path; 0 if none. */
static long long read_number(const char *path)
{
	char *text = read_small(path);
	long long v = text ? strtoll(text, NULL, 10) : 0;

	free(text);
	return v;
}

/* CPUs (rounded up) for quota/period; 0 for none. */
static int quota_cpus(long long quota, long long period)
{
	if (quota <= 0 || period <= 0)
		return 0;
	return (int)((quota + period - 1) / period);
}

/* The smallest limit of dir and its parents up to root (v2 cpu.max, or
 * v1's pair of files); 0 for none. */
static int walk_limits(const char *root, const char *rel, int v2)
{
	char path[8448], dir[4096];
	int best = 0;

	snprintf(dir, sizeof(dir), "%s", rel);
	for (int depth = 0; depth < 64; depth++) {
		int lim = 0;
		char *slash;
		if (v2) {
			long long q = 0, p = 0;
			char *text;
			snprintf(path, sizeof(path), "%s%s/cpu.max", root, dir);
			/* "QUOTA PERIOD", or "max PERIOD" for none */
			if ((text = read_small(path)) && sscanf(text, "%lld %lld", &q, &p) == 2)
				lim = quota_cpus(q, p);
			free(text);
		} else {
			long long q, p;
			snprintf(path, sizeof(path), "%s%s/cpu.cfs_quota_us", root, dir);
			q = read_number(path);
			snprintf(path, sizeof(path), "%s%s/cpu.cfs_period_us", root, dir);
			p = read_number(path);
			lim = quota_cpus(q, p);
		}
		if (lim > 0 && (best == 0 || lim < best))
			best = lim;
		if (dir[0] == '\0' || strcmp(dir, "/") == 0 || !(slash = strrchr(dir, '/')))
			break;
		*slash = '\0';
	}
	return best;
}

/* The limit one line of /proc/PID/cgroup leads to ("0::/path" in v2,
 * "N:cpu,cpuacct:/path" in v1); 0 for none. */
static int line_limit(const char *sysfs, char *line)
{
	char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char names[256], root[4096], *tok, *save = NULL;
	int cpu = 0, lim;

	if (!c2)
		return 0;
	*c1 = *c2 = '\0';               /* line: hierarchy id; c1 + 1: controllers */
	if (strcmp(line, "0") == 0 && c1[1] == '\0')
		return walk_limits(sysfs, c2 + 1, 1);
	/* v1: the controller list names the directory, or a link to it */
	snprintf(names, sizeof(names), "%s", c1 + 1);
	for (tok = strtok_r(names, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		cpu |= strcmp(tok, "cpu") == 0;
	if (!cpu)
		return 0;
	snprintf(root, sizeof(root), "%s/%s", sysfs, c1 + 1);
	if ((lim = walk_limits(root, c2 + 1, 0)) > 0)
		return lim;
	snprintf(root, sizeof(root), "%s/cpu", sysfs);
	return walk_limits(root, c2 + 1, 0);
}

int workers_cgroup_cpus(const char *sysfs, const char *proc_cgroup)
{
	const char *line = proc_cgroup;
	int best = 0;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char one[4096];

		if (len < sizeof(one)) {
			int lim;
			memcpy(one, line, len);
			one[len] = '\0';
			lim = line_limit(sysfs, one);
			if (lim > 0 && (best == 0 || lim < best))
				best = lim;
		}
		line = end ? end + 1 : NULL;
	}
	return best;
}

int workers_cpus(void)
{
	cpu_set_t set;
	int n = 0, quota = 0;
	char *text;
	size_t len;

	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		n = CPU_COUNT(&set);
	if (n <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (int)c : 1;
	}
	if (read_whole_file("/proc/self/cgroup", 1u << 16, &text, &len) == 0) {
		quota = workers_cgroup_cpus("/sys/fs/cgroup", text);
		free(text);
	}
	if (quota > 0 && quota < n)
		n = quota;
	if (n > WORKERS_MAX)
		n = WORKERS_MAX;
	return n < 1 ? 1 : n;
}

static void workers_defer_query(struct dns_request *held);

/* ---- the threads ---- */

struct job {
	void (*fn)(void *arg, struct event_base *base);
	void *arg;
	struct job *next;
};

struct worker {
	int index;
	pthread_t thread;
	int started;
	pid_t tid;                      /* for its CPU time */
	struct event_base *base;
	struct event *wake;             /* jobs queued */
	pthread_mutex_t jobs_mu;
	struct job *jobs, *jobs_tail;
	int stop;                       /* under jobs_mu */
};

static struct {
	int n;                          /* workers, the main loop included */
	int active;                     /* threads run: the lock is real */
	pthread_mutex_t lock;
	struct worker w[WORKERS_MAX];
	struct event *defer_ev;         /* on the main base */
	struct dns_request *defer_head, *defer_tail; /* under the data lock */
	uint64_t queries[WORKERS_MAX];  /* datagrams answered; data lock */
} pool = { .n = 1 };

static _Thread_local int self_index;

int workers_count(void)
{
	return pool.n;
}

void workers_lock(void)
{
	if (pool.active)
		pthread_mutex_lock(&pool.lock);
}

void workers_unlock(void)
{
	if (pool.active)
		pthread_mutex_unlock(&pool.lock);
}

void workers_count_queries(unsigned int n)
{
	pool.queries[self_index] += n;
}

/* Run the jobs queued for w, in order; 1 if told to stop. */
static int run_jobs(struct worker *w)
{
	struct job *j;
	int stop;

	pthread_mutex_lock(&w->jobs_mu);
	j = w->jobs;
	w->jobs = w->jobs_tail = NULL;
	stop = w->stop;
	pthread_mutex_unlock(&w->jobs_mu);
	while (j) {
		struct job *next = j->next;
		j->fn(j->arg, w->base);
		free(j);
		j = next;
	}
	return stop;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	if (run_jobs(w))
		event_base_loopbreak(w->base);
}

/* A worker's thread: its loop until told to stop. */
static void *worker_main(void *arg)
{
	struct worker *w = arg;

	self_index = w->index;
	workers_lock();
	w->tid = (pid_t)syscall(SYS_gettid);
	workers_unlock();
	query_set_defer_hook(workers_defer_query);
	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	/* the jobs queued with the stop (the last sockets closing) */
	run_jobs(w);
	return NULL;
}

int workers_run(int i, void (*fn)(void *arg, struct event_base *base), void *arg)
{
	struct worker *w;
	struct job *j;

	if (i < 1 || i >= pool.n || !pool.active)
		return -1;
	if (!(j = calloc(1, sizeof(*j))))
		return -1;
	w = &pool.w[i];
	j->fn = fn;
	j->arg = arg;
	pthread_mutex_lock(&w->jobs_mu);
	if (w->jobs_tail)
		w->jobs_tail->next = j;
	else
		w->jobs = j;
	w->jobs_tail = j;
	pthread_mutex_unlock(&w->jobs_mu);
	event_active(w->wake, EV_READ, 0);
	return 0;
}

/* ---- queries for the main loop ---- */

/* On a worker, data lock held: queue a held query for the main loop. */
static void workers_defer_query(struct dns_request *held)
{
	held->defer_next = NULL;
	if (pool.defer_tail)
		pool.defer_tail->defer_next = held;
	else
		pool.defer_head = held;
	pool.defer_tail = held;
	event_active(pool.defer_ev, EV_READ, 0);
}

/* Main loop: run the chain of every deferred query on from where the
 * worker stopped. */
static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct dns_request *r;

	(void)fd;
	(void)what;
	(void)arg;
	workers_lock();
	r = pool.defer_head;
	pool.defer_head = pool.defer_tail = NULL;
	while (r) {
		struct dns_request *next = r->defer_next;
		query_complete(r, 1);
		r = next;
	}
	workers_unlock();
}

int workers_start(struct event_base *main_base, int n, char *err, size_t errlen)
{
	pthread_mutexattr_t ma;

	if (n > WORKERS_MAX)
		n = WORKERS_MAX;
	pool.n = 1;
	if (n <= 1)
		return 0;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&pool.lock, &ma);
	pthread_mutexattr_destroy(&ma);
	pool.defer_ev = event_new(main_base, -1, EV_PERSIST, on_deferred, NULL);
	if (!pool.defer_ev) {
		snprintf(err, errlen, "workers: cannot create the event for deferred queries");
		return -1;
	}
	pool.active = 1;
	pool.n = n;
	for (int i = 1; i < n; i++) {
		struct worker *w = &pool.w[i];
		int e;
		w->index = i;
		pthread_mutex_init(&w->jobs_mu, NULL);
		w->base = event_base_new();
		w->wake = w->base ? event_new(w->base, -1, EV_PERSIST, on_wake, w) : NULL;
		if (!w->wake) {
			snprintf(err, errlen, "workers: cannot create the event loop of worker %d", i);
			goto fail;
		}
		/* signals are the main loop's: a thread starts with them blocked */
		{
			sigset_t all, old;
			sigfillset(&all);
			pthread_sigmask(SIG_SETMASK, &all, &old);
			e = pthread_create(&w->thread, NULL, worker_main, w);
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
		if (e != 0) {
			snprintf(err, errlen, "workers: cannot start worker %d: %s", i, strerror(e));
			goto fail;
		}
		w->started = 1;
	}
	log_info("workers: %d (the main loop and %d thread%s), each with its own UDP socket per listener",
		n, n - 1, n == 2 ? "" : "s");
	return 0;
fail:
	workers_free();
	return -1;
}

void workers_stop(void)
{
	struct dns_request *r;

	if (!pool.active)
		return;
	for (int i = 1; i < pool.n; i++) {
		struct worker *w = &pool.w[i];
		if (!w->started)
			continue;
		pthread_mutex_lock(&w->jobs_mu);
		w->stop = 1;
		pthread_mutex_unlock(&w->jobs_mu);
		event_active(w->wake, EV_READ, 0);
		pthread_join(w->thread, NULL);
		w->started = 0;
	}
	/* one thread again: the lock is not needed, jobs run in place */
	pool.active = 0;
	r = pool.defer_head;
	pool.defer_head = pool.defer_tail = NULL;
	while (r) {
		struct dns_request *next = r->defer_next;
		query_release(r);
		r = next;
	}
}

void workers_free(void)
{
	workers_stop();
	for (int i = 1; i < WORKERS_MAX; i++) {
		struct worker *w = &pool.w[i];
		if (w->wake)
			event_free(w->wake);
		if (w->base)
			event_base_free(w->base);
		if (w->base || w->wake)
			pthread_mutex_destroy(&w->jobs_mu);
		memset(w, 0, sizeof(*w));
	}
	if (pool.defer_ev) {
		event_free(pool.defer_ev);
		pool.defer_ev = NULL;
		pthread_mutex_destroy(&pool.lock);
	}
	pool.n = 1;
}

/* ---- metrics ---- */

/* A thread's CPU seconds (user + system), from /proc. */
static double thread_cpu(pid_t tid)
{
	char path[64];

	if (tid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", (long)tid);
	return metrics_stat_cpu_seconds(path);
}

static double worker_queries(int i)
{
	return (double)pool.queries[i];
}

static double worker_cpu(int i)
{
	return thread_cpu(i == 0 ? getpid() : pool.w[i].tid);
}

/* one sample of family name a worker, labelled worker="I" */
static void per_worker(struct metrics_out *o, const char *name, const char *help,
	double (*value)(int))
{
	metrics_out_family(o, name, METRICS_COUNTER, help);
	for (int i = 0; i < pool.n; i++) {
		char idx[16];
		snprintf(idx, sizeof(idx), "%d", i);
		metrics_out_sample(o, name, "", value(i), "worker", idx, NULL);
	}
}

void workers_collect(void *arg, struct metrics_out *o)
{
	(void)arg;
	metrics_out_family(o, "globaldns_workers", METRICS_GAUGE,
		"Workers answering UDP: the main loop and the worker threads.");
	metrics_out_sample(o, "globaldns_workers", "", (double)pool.n, NULL);
	per_worker(o, "globaldns_worker_queries_total",
		"UDP datagrams answered by each worker (0: the main loop).", worker_queries);
	per_worker(o, "globaldns_worker_cpu_seconds_total",
		"CPU time of each worker's thread (0: the main loop, which also runs TCP, timers and the Kubernetes client).",
		worker_cpu);
}
