/*
 * kube.h -- ServiceEntries from the Kubernetes API: list, then watch.
 *
 * Design (after client-go's reflector, reduced to what DNS needs):
 *
 *   - One "scope" per namespace listed in `namespaces`, or one for the
 *     whole cluster.  Each lists its ServiceEntries in pages
 *     (?limit=500&continue=...) into a fresh store; only a list that
 *     completes whole replaces the scope's store.  An expired continue
 *     token (410) restarts the list from the first page.
 *   - Then it watches from the list's resourceVersion (bookmarks on, a
 *     random timeoutSeconds of 5-10 minutes).  The stream is framed by
 *     newline, never by chunk (kube_watch.h); ADDED / MODIFIED / DELETED
 *     change the store at once, BOOKMARK moves the resourceVersion, ERROR
 *     410 starts a re-list.  A stream that ends is watched again from the
 *     last resourceVersion, after a back-off if it ended at once.
 *   - Every `poll` the scope lists again from scratch, the safety net
 *     against lost events; with `nowatch` that is all it does.
 *   - Changes are not applied to the registry one by one: the first change
 *     arms a short timer (coalesce_ms) and, when it fires, the stores of
 *     all scopes become one se_list for the source's update() -- the
 *     registry is rebuilt on the loop, never on the query path.  No update
 *     happens before every scope has completed its first list.
 *   - Errors (transport, timeouts, HTTP status, bodies that are not the
 *     JSON expected, bodies over max_body) leave the stores as they were
 *     and retry after an exponential back-off with jitter, at least what
 *     Retry-After (or a Status' details.retryAfterSeconds) asks.  A 401
 *     re-reads the token (file, or exec plugin) and retries once at once.
 *     A plain 404 means the version is not served: v1, then v1beta1,
 *     then v1alpha3 (unless api_version fixes it).  One log line per state
 *     change: when a scope starts failing for a new reason, and when it
 *     recovers.
 *
 * Modules: kube_conf.c (the serviceentries properties: the kind of
 * source, source.h), kube_source.c (the se_source: configuration, life
 * cycle, rebuild, metrics, introspection), kube_scope.c (per scope, the
 * list/watch state machine and back-off; kube_scope.h has the shared
 * structures), kube_auth.h (credentials: token files, exec plugins),
 * kube_store.h (a scope's objects), kube_watch.h (stream framing, event
 * and list decoding, Status summaries).  HTTP goes through
 * http_client.h (libcurl multi on the libevent loop), the server and
 * credentials come from kubeconfig.h.
 */
#ifndef GLOBALDNS_KUBE_H
#define GLOBALDNS_KUBE_H

#include <stddef.h>
#include <time.h>

#include "globaldns/source.h"

#define KUBE_DEFAULT_POLL_MS 60000L
#define KUBE_DEFAULT_TIMEOUT_MS 30000L
#define KUBE_DEFAULT_MAX_BODY (64u * 1024 * 1024)
#define KUBE_DEFAULT_BACKOFF_MIN_MS 1000L
#define KUBE_DEFAULT_BACKOFF_MAX_MS 30000L
#define KUBE_DEFAULT_COALESCE_MS 150L
#define KUBE_PAGE_LIMIT 500

struct kube_source_conf {
	const char *kubeconfig;         /* path list "a:b"; NULL: see below */
	const char *context;            /* NULL: current-context */
	const char *endpoint;           /* overrides the server URL */
	const char *const *namespaces;  /* NULL / 0: cluster-wide */
	size_t nnamespaces;
	const char *api_version;        /* "v1" ...; NULL: discover */
	long poll_ms;                   /* full re-list period */
	int nowatch;
	long timeout_ms;                /* connect, and idle for lists */
	size_t max_body;                /* cap for a list page or a watch event */
	const char *sa_dir;             /* in-cluster service-account directory */
	const char *tls_ca;             /* overrides the CA */
	const char *token_file;         /* overrides the credentials with a token file */
	long backoff_min_ms, backoff_max_ms;
	long coalesce_ms;
	const char *label;              /* for log lines (the zone) */
};

/*
 * The source (kube_conf.c makes it from a serviceentries block).
 * Which configuration: `kubeconfig` if given; else in-cluster when
 * KUBERNETES_SERVICE_HOST and _PORT are set; else, with an `endpoint`,
 * none (anonymous, plus tls_ca / token_file); else $KUBECONFIG, then
 * ~/.kube/config.  `endpoint` replaces the server URL in every case.
 *
 * The configuration is resolved (and kubeconfig files parsed) here, so
 * errors come out at setup and under -validate; nothing is contacted
 * until start.  Strings in conf are copied.  Returns the source (free with
 * se_source_free) or NULL with the reason in err.
 */
struct se_source *kube_source_new(const struct kube_source_conf *conf,
	se_update_fn update, void *arg, char *err, size_t errlen);

/* Counters for metrics (globaldns_kubernetes_*). */
#define KUBE_STATS_CODES 12
struct kube_stats {
	unsigned long requests;         /* HTTP requests started */
	unsigned long lists;            /* complete lists */
	unsigned long relists;          /* lists restarted: 410, poll, watch error */
	unsigned long list_pages;
	unsigned long watches;          /* watch streams started */
	unsigned long watch_restarts;   /* streams that ended and were re-opened */
	unsigned long watch_events;     /* ADDED/MODIFIED/DELETED applied */
	unsigned long bookmarks;
	unsigned long transport_errors; /* connect, TLS, timeouts, cut streams */
	unsigned long decode_errors;    /* bodies or events that are not the JSON expected */
	unsigned long oversize;         /* bodies over max_body */
	unsigned long rebuilds;         /* update() calls */
	struct { int code; unsigned long count; } http_errors[KUBE_STATS_CODES];
	unsigned long http_errors_other;/* codes beyond the table */
	time_t last_sync;               /* wall clock of the last complete list */
	double last_rebuild_ms;         /* time to build the last update's list */
	size_t objects;                 /* ServiceEntries held (all scopes) */
	const char *api_version;        /* in use ("v1" ...), or "" before discovery */
};

#endif
