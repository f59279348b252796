/*
 * kube_int.h -- the inside of the Kubernetes source (kube.h has the
 * design): its structures, shared by its files, each calling only those
 * below it:
 *
 *   kube_source.c  the se_source of one serviceentries block: its
 *                  informers, the coalesced rebuild, metrics, introspection
 *   kube_share.c   the process-wide table of API clients and informers,
 *                  found by key, counted, shared by every block; tells the
 *                  blocks when an informer changed (sc->changed)
 *   kube_scope.c   one informer's life: the watch, the streaming list,
 *                  errors, back-off and recovery
 *   kube_list.c    its paginated lists: pages parsed as they arrive,
 *                  continue tokens, the full-list fallback, resync; it
 *                  reports to kube_scope.c through sc->list.ops
 *   kube_util.c    what they all use: URLs, timers, request settings
 */
#ifndef GLOBALDNS_KUBE_INT_H
#define GLOBALDNS_KUBE_INT_H

#include <stddef.h>
#include <time.h>

#include <event2/event.h>

#include "globaldns/source.h"
#include "http_client.h"
#include "kube.h"
#include "kube_auth.h"
#include "kube_store.h"
#include "kube_watch.h"
#include "kubeconfig.h"

/* The ServiceEntry API versions (kube_api_versions), newest first: tried in this order. */
#define NVERSIONS 3

struct kube_source;
struct kscope;

/* How a client talks: everything in its key but the connection itself. */
struct kube_opts {
	long timeout_ms, backoff_min_ms, backoff_max_ms;
	long poll_ms;                   /* nowatch: the list period */
	long resync_ms;                 /* 0: never re-list while watching */
	long coalesce_ms;
	size_t max_body;
	int nowatch;
	int vidx, version_fixed;        /* api_version */
};

/*
 * One API server with one identity (server, TLS, credentials, proxy,
 * headers) and one set of options: one HTTP client (so one HTTP/2
 * connection), one kube_auth (one exec plugin run), API version
 * discovery, and whether the server takes streaming lists.
 */
struct kube_client {
	char *key;
	unsigned refs;
	struct event_base *base;
	struct kube_client *next;       /* the process table */
	struct kube_conn conn;          /* owned */
	struct kube_opts o;
	struct http_client *http;
	struct kube_auth *auth;
	char *label;                    /* the first block's, for log lines */
	char *health_url;               /* SERVER/version */
	int vidx;                       /* version in use */
	unsigned fallback_logged;       /* bit i: "trying api_versions[i]" logged */
	int stream_lists;               /* 1: try sendInitialEvents; 0: refused */
	struct kscope *scopes;          /* its informers */
};

enum scope_state {
	SC_IDLE,        /* not started */
	SC_LIST,        /* a paginated list without a watch */
	SC_WATCH,       /* a watch stream open (maybe a streaming list) */
	SC_WAIT,        /* timer armed: back-off, or the next poll */
	SC_AUTH         /* waiting for an exec plugin */
};

enum scope_next { NEXT_LIST, NEXT_WATCH };

/* What a paginated list reports to its informer (kube_scope.c). */
struct klist_ops {
	/* whole: st becomes the store at rv (NULL: a resync, the watch goes on) */
	void (*listed)(struct kscope *sc, struct kube_store *st, const char *rv);
	/* failed: log once, back off, list again */
	void (*fail)(struct kscope *sc, const char *what, const char *msg, long retry_after);
	/* answered, not 200: 1 if handled by a retry at once */
	int (*status)(struct kscope *sc, const struct http_result *res);
};

/* A paginated list in progress (kube_list.c). */
struct klist {
	const struct klist_ops *ops;
	struct http_req *req;
	struct kube_store pending;      /* what the pages gave so far */
	struct kube_listscan scan;
	char *cont;                     /* continue token of the next page */
	int full;                       /* the one list without limit after a 410 */
	int resync;                     /* beside a healthy watch (kube_list.c) */
	struct kube_store touched;      /* resync: keys the watch changed meanwhile */
	unsigned pages, empty_pages;
	unsigned long page_items;
	char err[300];                  /* why an item stopped the page */
	double started;
};

/* One informer: a namespace (or all) of one client, shared by blocks. */
struct kscope {
	char *key;
	unsigned refs;
	struct kube_client *cl;
	struct kscope *next;            /* the client's list */
	char *ns;                       /* NULL: cluster-wide */
	struct kube_store store;
	int synced;
	char *rv;                       /* resourceVersion to watch from */
	enum scope_state state;
	enum scope_next next_step;      /* what the timer / auth wait leads to */
	struct klist list;              /* a paginated list, when one runs */
	/* the watch */
	struct http_req *req;
	int req_vidx;                   /* version the request used */
	int initial;                    /* a streaming list: before the end bookmark */
	struct kube_store initial_store;/* what its initial events gave */
	struct kube_lines lines;
	unsigned long watch_events;     /* on the current stream */
	double watch_start;
	double list_done_ms;            /* when the last list completed */
	int watch_relist;               /* ERROR 410 seen: list again */
	char watch_err[300];            /* why on_data stopped the stream */
	/* timers */
	struct event *timer;            /* back-off, poll */
	struct event *resync_timer;
	struct event *recover_timer;    /* a failing watch that stays open recovers */
	/* errors */
	unsigned failures;              /* consecutive, for the back-off */
	int auth_retried;               /* a 401 was answered with a re-read */
	char errkey[96];                /* the failing state last logged */
	char resync_errkey[96];         /* the same for resync lists */
	char last_error[512];
	int watch_failing;              /* errkey is a watch failure: lists do not clear it */
	char origin[512];               /* URL without the query, for logs */
	/* for the sources */
	time_t last_success, last_attempt;
	unsigned long syncs_ok, syncs_failed;
	struct kube_stats stats;
	struct kube_source **subs;      /* blocks that read it */
	size_t nsubs, subs_cap;
	/* set by kube_share.c: its store changed (now: rebuild at once, else
	 * coalesced), or its state did (the blocks' status) */
	void (*changed)(struct kscope *sc, int now);
	void (*status_changed)(struct kscope *sc);
};

/* One serviceentries block. */
struct kube_source {
	struct se_source base;
	char *label;
	char *identity;                 /* base.identity: server and namespaces */
	struct kube_conn conn;          /* resolved at setup; given to the client */
	struct kube_opts o;
	char **ns;                      /* NULL-terminated; none: cluster-wide */
	size_t nns;
	struct event_base *evbase;
	struct kscope **scopes;         /* from start */
	size_t nscopes;
	struct kube_client *cl;
	struct event *rebuild_timer;
	/* a rebuild in progress: the informers' objects frozen, copied into
	 * the list a slice per turn of the loop (kube_source.c) */
	struct event *slice_ev;
	struct kube_frozen frozen;
	struct se_list building;
	int rebuilding, rebuild_again;
	double rebuild_ms;              /* loop time the one in progress took */
	double last_rebuild_ms;         /* time the last rebuild took */
	unsigned long rebuilds;
	size_t objects;
};

/* ---- kube_share.c ---- */

/* The informers of ks (one per namespace), made or found; 0 or -1. */
int kube_share_acquire(struct kube_source *ks, char *err, size_t errlen);
/* Let go of them (the last user stops and frees each). */
void kube_share_release(struct kube_source *ks);

/* ---- kube_scope.c ---- */

int kube_scope_init(struct kscope *sc);
void kube_scope_start(struct kscope *sc);
void kube_scope_clear(struct kscope *sc);
/* The exec plugin of a client (arg) finished (err NULL: a token is ready). */
void kube_on_auth_done(void *arg, const char *err);

/* ---- kube_list.c ---- */

/* Begin a paginated list (resync: beside the watch, merged at the end). */
void kube_list_start(struct kscope *sc, int resync);
/* Stop the list in progress, dropping what it got. */
void kube_list_cancel(struct kscope *sc);
/* A watch event changed obj's key: a resync list in progress must not undo it. */
void kube_list_touch(struct kscope *sc, const cJSON *obj);

/* ---- kube_util.c ---- */

extern const char *const kube_api_versions[];

/* The monotonic clock in ms; arm ev to fire in ms (0 or less: now). */
double kube_now_ms(void);
void kube_arm(struct event *ev, long ms);
/* *dst = a copy of s (NULL too); on memory exhaustion the old value stays. */
void kube_set_str(char **dst, const char *s);
const char *kube_scope_name(const struct kscope *sc);
/* The informer's URL for API version vidx; append "&name=escaped(value)". */
void kube_scope_url(const struct kscope *sc, int vidx, char *out, size_t outlen);
void kube_add_param(char *url, size_t urllen, const char *name, const char *value);
void kube_count_http_error(struct kscope *sc, long code);
/* Why a request failed below HTTP (counted in the stats). */
void kube_transport_msg(struct kscope *sc, const struct http_result *res,
	char *msg, size_t msglen);
/* o and tls with the client's settings and credentials: 0; 1 (an exec
 * plugin runs: state SC_AUTH, `then` resumes); -1 with err. */
int kube_prepare(struct kscope *sc, struct http_opts *o, struct http_tls *tls,
	enum scope_next then, char *err, size_t errlen);

#endif
