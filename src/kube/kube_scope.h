/*
 * kube_scope.h -- the inside of the Kubernetes source, shared by its two
 * files: kube_source.c (the se_source: configuration, life cycle,
 * metrics, introspection) and kube_scope.c (per scope, the list/watch
 * state machine, back-off and recovery, and the coalesced rebuild that
 * hands whole lists to serviceentries).  kube.h has the design.
 */
#ifndef GLOBALDNS_KUBE_SCOPE_H
#define GLOBALDNS_KUBE_SCOPE_H

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

/* The ServiceEntry API versions, newest first: tried in this order. */
extern const char *const kube_api_versions[];
#define NVERSIONS 3

struct kube_source;

enum scope_state {
	SC_IDLE,        /* not started */
	SC_LIST,        /* a list page in flight */
	SC_WATCH,       /* a watch stream open */
	SC_WAIT,        /* timer armed: back-off or the next poll */
	SC_AUTH         /* waiting for an exec plugin */
};

enum scope_next { NEXT_LIST, NEXT_WATCH };

struct kscope {
	struct kube_source *src;
	char *ns;                       /* NULL: cluster-wide */
	struct kube_store store, pending;
	int synced;
	char *rv;                       /* resourceVersion to watch from */
	char *cont;                     /* continue token of the list in progress */
	enum scope_state state;
	enum scope_next next;           /* what the timer / auth wait leads to */
	struct http_req *req;
	int req_vidx;                   /* version the request used */
	struct event *timer;            /* back-off, poll */
	struct event *poll_timer;       /* re-list while watching */
	struct event *recover_timer;    /* a failing watch that stays open recovers */
	struct kube_lines lines;
	unsigned failures;              /* consecutive, for the back-off */
	unsigned expired;               /* consecutive 410s on continue */
	unsigned list_pages;            /* pages of the list in progress */
	unsigned empty_pages;           /* consecutive empty continued pages */
	size_t list_bytes;              /* bytes of the list in progress */
	int auth_retried;               /* a 401 was answered with a re-read */
	unsigned long watch_events;     /* on the current stream */
	struct timespec watch_start;
	double list_done_ms;            /* when the last list completed (now_ms) */
	int watch_relist;               /* ERROR 410 seen: list again */
	int safety_relist;              /* the list in progress is the periodic re-list */
	char watch_err[300];            /* why on_data stopped the stream */
	char errkey[96];                /* the failing state last logged */
	int watch_failing;              /* errkey is a watch failure: lists do not clear it */
	char origin[512];               /* URL without the query, for logs */
};

struct kube_source {
	struct se_source base;
	struct kube_conn conn;
	char *label;
	long poll_ms, timeout_ms, backoff_min_ms, backoff_max_ms, coalesce_ms;
	size_t max_body;
	int nowatch;
	int vidx, version_fixed;
	unsigned fallback_logged;       /* bit i: "trying api_versions[i]" logged */
	struct event_base *evbase;
	struct http_client *http;
	struct kscope *scopes;
	size_t nscopes;
	struct event *rebuild_timer;
	struct kube_stats stats;
	struct kube_auth *auth;         /* from start */
};


/* Make the scope's timers on base; 0 or -1. */
int kube_scope_init(struct kscope *sc, struct event_base *base);
/* Begin: the first list. */
void kube_scope_start(struct kscope *sc);
/* Cancel what is in flight and free what the scope holds (not sc). */
void kube_scope_clear(struct kscope *sc);
/* The exec plugin of ks->auth finished (err NULL: a token is ready). */
void kube_on_auth_done(void *arg, const char *err);

/* The monotonic clock in ms; arm ev to fire in ms (0 or less: now). */
double kube_now_ms(void);
void kube_arm(struct event *ev, long ms);

/* *dst = a copy of s (NULL too); on memory exhaustion the old value stays. */
void kube_set_str(char **dst, const char *s);

#endif
