/*
 * metrics.h -- Prometheus metrics with CoreDNS's names, counted without
 * slowing the query path.
 *
 * Design.  Counting and exporting are split:
 *
 *   - The DNS metrics (coredns_dns_*) are plain uint64 counters in fixed
 *     arrays, one `struct metrics_slot` per (server, zone) label pair.
 *     Slots are made when a configuration is built (metrics_slot()), never
 *     on the query path; metrics_observe() only indexes arrays and adds.
 *     Each worker thread counts into its own slots (today there is one
 *     worker: the main loop); a scrape sums them.  Slots live for the
 *     process, so counters survive a reload, as CoreDNS's do.
 *
 *   - Everything else is exported by *collectors*: a plugin registers a
 *     function that, at scrape time, writes its families through a
 *     `struct metrics_out`.  A collector runs on the main loop and may
 *     allocate; the query path never calls one.  Families are grouped by
 *     name whatever order the samples arrive in, and HELP/TYPE are written
 *     once, so several instances of a plugin (one per server block) may
 *     export the same family.
 *
 * Using it from a plugin (forward, cache, the Kubernetes source):
 *
 *     static void fwd_collect(void *arg, struct metrics_out *o)
 *     {
 *         struct fwd *f = arg;
 *         metrics_out_family(o, "coredns_forward_healthcheck_broken_total",
 *             METRICS_COUNTER, "Counter of the number of complete failures of the healthchecks.");
 *         metrics_out_sample(o, "coredns_forward_healthcheck_broken_total", "",
 *             (double)f->broken, NULL);
 *         metrics_out_histogram(o, "coredns_proxy_request_duration_seconds",
 *             &f->dur[i], "proxy_name", "forward", "to", f->up[i].name,
 *             "rcode", "NOERROR", NULL);
 *     }
 *     start():  metrics_add_collector(fwd_collect, f);
 *     free():   metrics_remove_collector(fwd_collect, f);
 *
 * A collector MUST be removed before its arg is freed (a reload frees the
 * plugin instances it replaces).  Counters a plugin keeps for a collector
 * are its own plain integers; `struct metrics_hist` is a fixed-bucket
 * histogram such a plugin can embed and feed without allocating.
 *
 * All of this is process-wide (CoreDNS's Prometheus registry is too): one
 * set of slots and collectors, shared by every `prometheus` listener.
 *
 * Names to use, so CoreDNS dashboards work (labels as CoreDNS 1.11):
 *   cache:  coredns_cache_entries{server,zone,view,type="success"|"denial"} (gauge),
 *           coredns_cache_hits_total{server,zone,view,type},
 *           coredns_cache_misses_total{server,zone,view},
 *           coredns_cache_requests_total{server,zone,view},
 *           coredns_cache_prefetch_total, coredns_cache_evictions_total{...,type};
 *           server is "dns://ADDR:PORT" as in the coredns_dns_* families.
 *   forward: exported by plugin_ops.c's collector from forward.h's getters.
 *   sources: the se_source_status fields (source.h) are exported by the
 *           serviceentries plugin as globaldns_source_*; a source only
 *           fills them (watch_restarts, se_source_api_error()).
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

/* ---- the DNS metrics of the query path ---- */

struct metrics_slot;

/*
 * The slot for a (server, zone) pair, e.g. ("dns://:53", "global."); zone
 * "dropped" counts queries no server block took (as CoreDNS).  Found or
 * made; call while building a configuration, not per query.  Returns NULL
 * only on memory exhaustion (then nothing is counted for it).
 */
struct metrics_slot *metrics_slot(const char *server, const char *zone);

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
void metrics_plugin_enabled_reset(void);

/* coredns_reload_failed_total += 1. */
void metrics_reload_failed(void);

/* Observe one /health request's duration (coredns_health_request_duration_seconds). */
void metrics_health_observe(double seconds);

/* ---- collectors ---- */

typedef void (*metrics_collect_fn)(void *arg, struct metrics_out *o);

/*
 * Call fn(arg, out) on every scrape, after the built-in families.  0, or
 * -1 on memory exhaustion.  The pair (fn, arg) identifies the collector.
 */
int metrics_add_collector(metrics_collect_fn fn, void *arg);
/* Stop calling fn(arg); unknown pairs are ignored. */
void metrics_remove_collector(metrics_collect_fn fn, void *arg);

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
 * Render the whole exposition (text format 0.0.4) into a new string of
 * *len bytes; caller frees.  NULL on memory exhaustion.
 */
char *metrics_render(size_t *len);

/* Free every slot and collector (at exit, for leak checkers). */
void metrics_shutdown(void);

#endif
