/*
 * kube.h -- ServiceEntries from the Kubernetes API: list once, then watch
 * for ever.
 *
 * Design (after client-go's reflector and shared informers, reduced to
 * what DNS needs, and better than them where DNS needs it):
 *
 *   - Informers are shared.  One client per (API server, credentials,
 *     options) -- one HTTP client, so one HTTP/2 connection, and one exec
 *     plugin -- and one informer per (client, namespace or the whole
 *     cluster): one list and one watch however many serviceentries blocks
 *     and zones read them.  They are kept in a process-wide table by key
 *     (kube_share.c) and counted; a reload that keeps the same settings
 *     finds them running (no new list).
 *   - An informer lists once: as a streaming list where the server takes
 *     it (a watch with sendInitialEvents=true&resourceVersionMatch=
 *     NotOlderThan: ADDED events, then a BOOKMARK annotated
 *     k8s.io/initial-events-end, then the watch goes on), else in pages
 *     (?limit=500&continue=...) parsed as they arrive, so a page costs its
 *     largest item, not its size.  An expired continue token (410) gives
 *     one full list without limit, as client-go's pager does.  Only a
 *     whole list replaces the informer's store; objects unchanged since
 *     the last list are shared, not copied.
 *   - Then it watches from the list's resourceVersion (bookmarks on, a
 *     random timeoutSeconds of 5-10 minutes).  The stream is framed by
 *     newline, never by chunk (kube_watch.h); ADDED / MODIFIED / DELETED
 *     change the store at once, BOOKMARK moves the resourceVersion.  A
 *     stream that ends is watched again from the last resourceVersion.
 *     A watch that fails (429, 5xx, 403, a transport error, a line that is
 *     not JSON) is watched again from the last resourceVersion after a
 *     back-off (at least Retry-After) -- client-go would re-list after a
 *     5xx.  Only 410 (ERROR event or status: the resourceVersion is too
 *     old) lists again; a 404 lists again to find the version served.
 *   - No periodic re-list: steady-state traffic is the changes plus a
 *     bookmark a minute.  `resync` lists again every INTERVAL beside the
 *     running watch (the watch's changes meanwhile win over the list);
 *     `nowatch` lists every `poll` and never watches.
 *   - Liveness: a watch gets no byte for 75 s (the API server sends a
 *     bookmark every minute) -> it is dead, watched again.  Over HTTP/2
 *     its connection is health-checked as client-go's transport does: 30 s
 *     without a frame, then a probe on the same connection must be
 *     answered within 15 s, or the connection is shut down and every
 *     stream on it starts again on a new one (http_client.h).
 *   - Changes are not applied to the registry one by one: the first
 *     change arms a short timer (coalesce_ms, longer when a rebuild takes
 *     longer) and, when it fires, the stores of a block's informers
 *     become one se_list for the source's update() -- the registry is
 *     rebuilt on the loop, never on the query path.  No update happens
 *     before every informer of the block has completed its first list.
 *   - Errors (transport, timeouts, HTTP status, bodies that are not the
 *     JSON expected, an item over max_body) leave the stores as they were
 *     and retry after an exponential back-off with jitter, at least what
 *     Retry-After (or a Status' details.retryAfterSeconds) asks.  A 401
 *     re-reads the token (file, kubeconfig, or exec plugin) and retries
 *     once at once.  A plain 404 means the version is not served: v1, then
 *     v1beta1, then v1alpha3 (unless api_version fixes it).  One log line
 *     per state change: when a scope starts failing for a new reason, and
 *     when it recovers.
 *
 * Modules: kube_conf.c (the serviceentries properties: the kind of
 * source, source.h), kube_source.c (the se_source of a block: its
 * informers, rebuild, metrics, introspection), kube_share.c (the shared
 * clients and informers), kube_scope.c (an informer's watch, streaming
 * list, back-off), kube_list.c (paginated lists), kube_auth.h
 * (credentials: token files, kubeconfig tokens, exec plugins),
 * kube_store.h (an informer's objects), kube_watch.h (stream framing,
 * list scanning, event decoding, Status summaries), kube_proxy.h (which
 * proxy, as Go decides).  HTTP goes through http_client.h (libcurl multi
 * on the libevent loop), the server and credentials come from
 * kubeconfig.h.
 */
#ifndef GLOBALDNS_KUBE_H
#define GLOBALDNS_KUBE_H

#include <stddef.h>
#include <time.h>

#include "globaldns/source.h"

#define KUBE_DEFAULT_POLL_MS 60000L            /* nowatch: the list period */
#define KUBE_WATCH_IDLE_MS 75000L              /* a minute between bookmarks, and margin */
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
	long poll_ms;                   /* nowatch: the list period (0: default) */
	long resync_ms;                 /* re-list while watching (0: never) */
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
	unsigned long relists;          /* lists after the first: 410, resync, poll */
	unsigned long list_pages;
	unsigned long watches;          /* watch streams started */
	unsigned long streaming_lists;  /* lists done as a watch with sendInitialEvents */
	unsigned long full_lists;       /* one list without limit after an expired continue */
	unsigned long watch_idle;       /* watches ended by the read deadline (silent) */
	unsigned long watch_restarts;   /* streams that ended and were re-opened */
	unsigned long watch_events;     /* ADDED/MODIFIED/DELETED applied */
	unsigned long bookmarks;
	unsigned long transport_errors; /* connect, TLS, timeouts, cut streams */
	unsigned long decode_errors;    /* bodies or events that are not the JSON expected */
	unsigned long oversize;         /* bodies over max_body */
	struct { int code; unsigned long count; } http_errors[KUBE_STATS_CODES];
	unsigned long http_errors_other;/* codes beyond the table */
	time_t last_sync;               /* wall clock of the last complete list */
	const char *api_version;        /* in use ("v1" ...), or "" before discovery */
};

#endif
