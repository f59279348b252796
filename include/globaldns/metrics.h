/*
 * metrics.h -- Prometheus metrics with CoreDNS's names, counted without
 * slowing the query path.
 *
 * One registry (`struct metrics`) per process, made by the daemon and
 * handed to the plugins in their environment (plugin.h).  Three kinds of
 * families:
 *
 *   - The DNS metrics (coredns_dns_*) are plain uint64 counters in fixed
 *     arrays, one `struct metrics_slot` per (server, zone) label pair.
 *     Slots are made when a configuration is built (metrics_slot()), never
 *     on the query path; metrics_observe() only indexes arrays and adds.
 *     Slots live as long as the registry, so counters survive a reload,
 *     as CoreDNS's do.
 *
 *   - The standard process_* families (metrics_process.c), always.
 *
 *   - Process-wide families without labels (coredns_reload_failed_total,
 *     coredns_health_request_duration_seconds, globaldns_log_dropped_total):
 *     metrics_counter() / metrics_histogram() find or make one by name and
 *     return its cell, which the owner bumps directly.
 *
 *   - Everything else is exported by *collectors*, functions that write
 *     their families at scrape time through a `struct metrics_out`.  A
 *     plugin instance's own metrics go through its `collect` hook
 *     (plugin.h), which the daemon's collector calls for the running
 *     configuration only; the daemon itself registers with
 *     metrics_add_collector().  Families are grouped by name whatever
 *     order the samples arrive in, and HELP/TYPE are written once, so
 *     several instances (one per server block) may export one family.
 *     Samples with the same name and labels are one series: their values
 *     are summed (two forward blocks with one upstream count together, as
 *     in CoreDNS's process-wide vectors).
 *
 *     static void fwd_collect(void *state, const struct plugin_block *b,
 *         struct metrics_out *o)
 *     {
 *         metrics_out_family(o, "coredns_forward_healthcheck_broken_total",
 *             METRICS_COUNTER, "Counter of the number of complete failures of the healthchecks.");
 *         metrics_out_sample(o, "coredns_forward_healthcheck_broken_total", "",
 *             (double)f->broken, NULL);
 *     }
 *
 * Counters a plugin keeps for a collector are its own plain integers;
 * `struct metrics_hist` is a fixed-bucket histogram such a plugin can
 * embed and feed without allocating.  Everything runs on the main loop.
 */
#ifndef GLOBALDNS_METRICS_H
#define GLOBALDNS_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct dns_request;
struct metrics_out;

enum metrics_type {
	METRICS_COUNTER,
	METRICS_GAUGE,
	METRICS_HISTOGRAM
};

/* ---- histograms a plugin can embed ---- */

#define METRICS_HIST_MAX 20

/*
 * A histogram with fixed upper bounds (not cumulative while counting;
 * exported cumulatively with +Inf).  Initialise with metrics_hist_init;
 * observing does not allocate.
 */
struct metrics_hist {
	const double *bounds;           /* ascending, nbounds of them */
	size_t nbounds;
	uint64_t buckets[METRICS_HIST_MAX + 1]; /* last: above every bound */
	uint64_t count;
	double sum;
};

void metrics_hist_init(struct metrics_hist *h, const double *bounds,
	size_t nbounds);
void metrics_hist_observe(struct metrics_hist *h, double v);

/* CoreDNS's buckets: ExponentialBuckets(0.00025, 2, 16), for durations. */
extern const double metrics_time_buckets[16];
extern const size_t metrics_time_nbuckets;
/* CoreDNS's SlimTimeBuckets: ExponentialBuckets(0.00025, 10, 5). */
extern const double metrics_slim_buckets[5];

/* ---- the registry ---- */

struct metrics;

/* A new, empty registry (NULL on memory exhaustion); free with metrics_free. */
struct metrics *metrics_new(void);
/* Free the registry, its slots and families; NULL is fine. */
void metrics_free(struct metrics *m);

/* ---- the DNS metrics of the query path ---- */

struct metrics_slot;

/*
 * The slot for a (server, zone) pair, e.g. ("dns://:53", "global."); zone
 * "dropped" counts queries no server block took (as CoreDNS).  Found or
 * made; call while building a configuration, not per query.  Returns NULL
 * when m is NULL or memory is exhausted (then nothing is counted for it).
 */
struct metrics_slot *metrics_slot(struct metrics *m, const char *server,
	const char *zone);

/*
 * Count one answered query into slot: requests (proto, family, type),
 * responses (rcode read from req->resp, plugin from req->plugin), duration
 * since req->start_ns, request and response sizes.  No allocation, no
 * lock.  slot NULL is ignored.
 */
void metrics_observe(struct metrics_slot *slot, const struct dns_request *req);

/* Note that plugin `name` is enabled in (server, zone): coredns_plugin_enabled. */
void metrics_plugin_enabled(struct metrics_slot *slot, const char *name);
/* Forget every coredns_plugin_enabled mark (before a new configuration sets its own). */
void metrics_plugin_enabled_reset(struct metrics *m);

/* ---- process-wide families without labels ---- */

/*
 * The counter (or histogram) `name`, made with its HELP on first use and
 * kept as long as m; bump it directly.  Never NULL: without a registry
 * (m NULL, tests) or memory, a scratch cell nobody exports.
 */
uint64_t *metrics_counter(struct metrics *m, const char *name,
	const char *help);
struct metrics_hist *metrics_histogram(struct metrics *m, const char *name,
	const char *help, const double *bounds, size_t nbounds);
/* A gauge without labels, kept as those (e.g. the time of the last reload
 * of any hosts file, as CoreDNS's process-wide gauge); set it directly. */
double *metrics_gauge(struct metrics *m, const char *name, const char *help);

/* ---- collectors ---- */

typedef void (*metrics_collect_fn)(void *arg, struct metrics_out *o);

/*
 * Call fn(arg, out) on every scrape, after the built-in families.  0, or
 * -1 on memory exhaustion.  The pair (fn, arg) identifies the collector.
 */
int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *arg);
/* Stop calling fn(arg); unknown pairs are ignored. */
void metrics_remove_collector(struct metrics *m, metrics_collect_fn fn,
	void *arg);

/*
 * Declare a family (its HELP and TYPE lines).  Declaring the same name
 * again in one scrape is fine (the first declaration is kept).
 */
void metrics_out_family(struct metrics_out *o, const char *name,
	enum metrics_type type, const char *help);

/*
 * One sample of family `name`: the line is NAME SUFFIX{LABELS} VALUE, with
 * suffix "" for counters and gauges ("_bucket", "_sum", "_count" are
 * written by metrics_out_histogram).  Labels follow as key, value, ...,
 * NULL; values are escaped here.  A sample of an undeclared family is
 * exported as untyped.
 */
void metrics_out_sample(struct metrics_out *o, const char *name,
	const char *suffix, double value, ...)
	__attribute__((sentinel));

/* A whole histogram (buckets, +Inf, _sum, _count), labels as above. */
void metrics_out_histogram(struct metrics_out *o, const char *name,
	const struct metrics_hist *h, ...)
	__attribute__((sentinel));

/*
 * The standard process_* families (CPU seconds, resident and virtual
 * memory, open and max file descriptors, start time, network bytes), read
 * from /proc as Prometheus's client libraries do (metrics_process.c): a
 * collector (arg unused) the daemon adds with metrics_add_collector.
 */
void metrics_process_collect(void *arg, struct metrics_out *o);

/* User + system CPU seconds from a /proc stat file: a process's
 * (/proc/self/stat) or a thread's (/proc/self/task/TID/stat); 0 if it
 * cannot be read. */
double metrics_stat_cpu_seconds(const char *path);

/*
 * Render the whole exposition (text format 0.0.4) into a new string of
 * *len bytes; caller frees.  NULL on memory exhaustion.
 */
char *metrics_render(struct metrics *m, size_t *len);

#endif
