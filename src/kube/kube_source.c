/*
 * source_kube.c -- ServiceEntries from the Kubernetes API (kube.h has the
 * design): per scope, paginated lists then a watch, the periodic re-list,
 * back-off and recovery, API version discovery, and the coalesced rebuild
 * that hands whole lists to the `serviceentries` plugin (the se_source).
 *
 * Around it: kube_auth (credentials, exec plugins), kube_store (the
 * objects of a scope), kube_watch (stream framing, events, Status
 * summaries), http_client (libcurl multi on the loop).  Everything runs
 * on the event loop; nothing here blocks.
 */
#define _GNU_SOURCE 1

#include "globaldns/kube.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "http_client.h"
#include "kube_auth.h"
#include "kube_store.h"
#include "kube_watch.h"
#include "kubeconfig.h"
#include "globaldns/log.h"

#define WATCH_MIN_TIMEOUT_S 300
#define WATCH_QUICK_END_MS 1000
#define WATCH_IDLE_TIMEOUT_S 150        /* 2-3 bookmark intervals without a byte */
#define RELIST_MIN_GAP_MS 1000          /* a 410 sooner after a list backs off */
/* bounds on one paginated list (all pages together) */
#define LIST_MAX_PAGES 10000u
#define LIST_BODY_FACTOR 4u             /* total bytes: max_body times this */
#define LIST_MAX_EMPTY_PAGES 3u         /* consecutive continued pages with no items */

static const char *const api_versions[] = { "v1", "v1beta1", "v1alpha3" };
#define NVERSIONS 3

/* ---- the source ---- */

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

static void scope_go(struct kscope *sc);
static void start_watch(struct kscope *sc);
static void scope_fail(struct kscope *sc, const char *what, const char *msg,
	long retry_after);

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void count_http_error(struct kube_source *ks, long code)
{
	for (size_t i = 0; i < KUBE_STATS_CODES; i++) {
		if (ks->stats.http_errors[i].code == code) {
			ks->stats.http_errors[i].count++;
			return;
		}
		if (ks->stats.http_errors[i].code == 0) {
			ks->stats.http_errors[i].code = (int)code;
			ks->stats.http_errors[i].count = 1;
			return;
		}
	}
	ks->stats.http_errors_other++;
}

static const char *scope_name(const struct kscope *sc)
{
	return sc->ns ? sc->ns : "all namespaces";
}

static void arm(struct event *ev, long ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(ev, &tv);
}

/* An exec plugin finished: resume (or fail) the scopes waiting for it. */
static void on_auth_done(void *arg, const char *err)
{
	struct kube_source *ks = arg;

	for (size_t i = 0; i < ks->nscopes; i++) {
		if (ks->scopes[i].state != SC_AUTH)
			continue;
		if (err)
			scope_fail(&ks->scopes[i], "credentials", err, -1);
		else
			scope_go(&ks->scopes[i]);
	}
}


/* ---- rebuild ---- */

static int all_synced(const struct kube_source *ks)
{
	for (size_t i = 0; i < ks->nscopes; i++)
		if (!ks->scopes[i].synced)
			return 0;
	return 1;
}

static void on_rebuild(evutil_socket_t fd, short what, void *arg)
{
	struct kube_source *ks = arg;
	struct se_list l;
	double t0 = now_ms();
	size_t objects = 0;

	(void)fd;
	(void)what;
	if (!all_synced(ks))
		return;
	se_list_init(&l);
	for (size_t i = 0; i < ks->nscopes; i++) {
		const struct kube_store *s = &ks->scopes[i].store;
		objects += s->n;
		if (kube_store_to_list(s, &l) < 0) {
			log_error("plugin/serviceentries: %s: out of memory building the entry list; keeping the previous registry",
				ks->label);
			se_list_free(&l);
			arm(ks->rebuild_timer, 1000);
			return;
		}
	}
	ks->stats.objects = objects;
	ks->stats.rebuilds++;
	ks->base.status.synced = 1;
	ks->base.update(ks->base.update_arg, &l);
	se_list_free(&l);
	ks->stats.last_rebuild_ms = now_ms() - t0;
}

static void schedule_rebuild(struct kube_source *ks, long ms)
{
	if (ms == 0 || !event_pending(ks->rebuild_timer, EV_TIMEOUT, NULL))
		arm(ks->rebuild_timer, ms);
}

/* ---- scopes: list, watch, errors ---- */

static void set_str(char **dst, const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		return;                 /* out of memory: keep the old value */
	free(*dst);
	*dst = d;
}

static void scope_url(const struct kscope *sc, int vidx, char *out, size_t outlen)
{
	const struct kube_source *ks = sc->src;

	if (sc->ns)
		snprintf(out, outlen, "%s/apis/networking.istio.io/%s/namespaces/%s/serviceentries",
			ks->conn.server, api_versions[vidx], sc->ns);
	else
		snprintf(out, outlen, "%s/apis/networking.istio.io/%s/serviceentries",
			ks->conn.server, api_versions[vidx]);
}

/* Append "&name=escaped(value)". */
static void add_param(char *url, size_t urllen, const char *name, const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0);
	size_t l = strlen(url);

	if (!esc)
		return;
	snprintf(url + l, urllen - l, "%c%s=%s", strchr(url, '?') ? '&' : '?', name, esc);
	curl_free(esc);
}

/* Log a failure, one line per state change (the first failure of a new
 * kind), and make it the status's last_error. */
static void note_error(struct kscope *sc, const char *what, const char *msg)
{
	struct kube_source *ks = sc->src;
	struct se_source_status *st = &ks->base.status;
	char key[96];

	snprintf(key, sizeof(key), "%s: %.60s", what, msg);
	/* the key: the kind of failure, not the details that change each time */
	{
		char *colon = strchr(key + strlen(what) + 2, ':');
		if (colon)
			*colon = '\0';
	}
	if (strcmp(sc->errkey, key) != 0) {
		log_error("plugin/serviceentries: %s: kubernetes %s: %s: %s (%s; retrying with back-off)",
			ks->label, scope_name(sc), what, msg,
			sc->synced ? "keeping the previous entries" : "no entries yet, answering SERVFAIL");
		snprintf(sc->errkey, sizeof(sc->errkey), "%s", key);
	}
	snprintf(st->last_error, sizeof(st->last_error), "kubernetes %s: %s: %s",
		scope_name(sc), what, msg);
}

/* A failure: log it (note_error), retry with back-off. */
static void scope_fail(struct kscope *sc, const char *what, const char *msg,
	long retry_after)
{
	struct kube_source *ks = sc->src;
	struct se_source_status *st = &ks->base.status;
	long delay = ks->backoff_min_ms;

	sc->req = NULL;
	note_error(sc, what, msg);
	st->syncs_failed++;
	for (unsigned i = 0; i < sc->failures && delay < ks->backoff_max_ms; i++)
		delay *= 2;
	if (delay > ks->backoff_max_ms)
		delay = ks->backoff_max_ms;
	/* jitter: somewhere in the upper half */
	delay = delay / 2 + (long)((double)(delay / 2 + 1) * ((double)random() / RAND_MAX));
	if (retry_after >= 0) {
		long ra = retry_after > 600 ? 600000 : retry_after * 1000;
		if (ra > delay)
			delay = ra;
	}
	sc->failures++;
	sc->auth_retried = 0;
	sc->expired = 0;
	sc->watch_failing = strcmp(what, "watch") == 0;
	sc->state = SC_WAIT;
	sc->next = NEXT_LIST;
	kube_lines_reset(&sc->lines);
	kube_store_clear(&sc->pending);
	free(sc->cont);
	sc->cont = NULL;
	if (sc->safety_relist && strcmp(what, "watch") != 0 && sc->synced && sc->rv &&
	    !ks->nowatch) {
		/*
		 * The periodic re-list failed while the watch was healthy: watch
		 * again from the last resourceVersion at once, and try the list
		 * again after the back-off.
		 */
		sc->safety_relist = 0;
		log_debug("plugin/serviceentries: %s: kubernetes %s: re-list failed; watching again, re-list in %ld ms",
			ks->label, scope_name(sc), delay);
		arm(sc->poll_timer, delay);
		sc->next = NEXT_WATCH;
		start_watch(sc);
		return;
	}
	sc->safety_relist = 0;
	arm(sc->timer, delay);
	log_debug("plugin/serviceentries: %s: kubernetes %s: retry in %ld ms", ks->label,
		scope_name(sc), delay);
}

/* the poll period, give or take 10% (scopes and replicas drift apart) */
static long poll_jitter(long ms)
{
	long j = ms / 10;

	if (j <= 0)
		return ms;
	return ms - j + (long)((double)(2 * j) * ((double)random() / RAND_MAX));
}

static void scope_recovered(struct kscope *sc)
{
	struct kube_source *ks = sc->src;

	if (sc->errkey[0]) {
		log_info("plugin/serviceentries: %s: kubernetes %s: recovered (%zu ServiceEntries held)",
			ks->label, scope_name(sc), sc->store.n);
		sc->errkey[0] = '\0';
	}
	ks->base.status.last_error[0] = '\0';
	for (size_t i = 0; i < ks->nscopes; i++)
		if (ks->scopes[i].errkey[0])
			snprintf(ks->base.status.last_error, sizeof(ks->base.status.last_error),
				"kubernetes %s: %s", scope_name(&ks->scopes[i]), ks->scopes[i].errkey);
	sc->failures = 0;
}

static void on_list_done(void *arg, const struct http_result *res);
static int on_watch_data(void *arg, const char *data, size_t len);
static void on_watch_done(void *arg, const struct http_result *res);

static void base_opts(const struct kube_source *ks, struct http_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->connect_timeout_ms = ks->timeout_ms;
	o->max_body = ks->max_body;
}

static void start_list(struct kscope *sc)
{
	struct kube_source *ks = sc->src;
	struct http_opts o;
	struct http_tls tls;
	char url[4096], lim[16], err[300];
	int rc;

	base_opts(ks, &o);
	rc = kube_auth_prepare(ks->auth, &o, &tls, err, sizeof(err));
	if (rc > 0) {
		sc->state = SC_AUTH;
		sc->next = NEXT_LIST;
		return;
	}
	if (rc < 0) {
		scope_fail(sc, "credentials", err, -1);
		return;
	}
	scope_url(sc, ks->vidx, url, sizeof(url));
	snprintf(sc->origin, sizeof(sc->origin), "%.500s", url);
	snprintf(lim, sizeof(lim), "%d", KUBE_PAGE_LIMIT);
	add_param(url, sizeof(url), "limit", lim);
	if (sc->cont)
		add_param(url, sizeof(url), "continue", sc->cont);
	o.url = url;
	o.idle_timeout_s = (ks->timeout_ms + 999) / 1000;
	o.total_timeout_ms = ks->timeout_ms * 20 > 600000 ? ks->timeout_ms * 20 : 600000;
	if (!sc->cont) {
		ks->base.status.last_attempt = time(NULL);
		sc->list_pages = 0;
		sc->empty_pages = 0;
		sc->list_bytes = 0;
	}
	sc->req_vidx = ks->vidx;
	sc->req = http_get(ks->http, &o, NULL, on_list_done, sc);
	ks->stats.requests++;
	if (!sc->req) {
		scope_fail(sc, "list", "cannot start the request (out of memory?)", -1);
		return;
	}
	sc->state = SC_LIST;
}

static void start_watch(struct kscope *sc)
{
	struct kube_source *ks = sc->src;
	struct http_opts o;
	struct http_tls tls;
	char url[4096], num[32], err[300];
	long tmo = WATCH_MIN_TIMEOUT_S + random() % WATCH_MIN_TIMEOUT_S;
	int rc;

	base_opts(ks, &o);
	rc = kube_auth_prepare(ks->auth, &o, &tls, err, sizeof(err));
	if (rc > 0) {
		sc->state = SC_AUTH;
		sc->next = NEXT_WATCH;
		return;
	}
	if (rc < 0) {
		scope_fail(sc, "credentials", err, -1);
		return;
	}
	scope_url(sc, ks->vidx, url, sizeof(url));
	add_param(url, sizeof(url), "watch", "1");
	add_param(url, sizeof(url), "resourceVersion", sc->rv ? sc->rv : "0");
	add_param(url, sizeof(url), "allowWatchBookmarks", "true");
	snprintf(num, sizeof(num), "%ld", tmo);
	add_param(url, sizeof(url), "timeoutSeconds", num);
	o.url = url;
	o.stream = 1;
	o.total_timeout_ms = (tmo + 30) * 1000;
	/* bookmarks come about every minute: a silent stream is dead */
	o.idle_timeout_s = WATCH_IDLE_TIMEOUT_S;
	sc->req_vidx = ks->vidx;
	sc->watch_events = 0;
	sc->watch_relist = 0;
	sc->watch_err[0] = '\0';
	kube_lines_reset(&sc->lines);
	clock_gettime(CLOCK_MONOTONIC, &sc->watch_start);
	sc->req = http_get(ks->http, &o, on_watch_data, on_watch_done, sc);
	ks->stats.requests++;
	if (!sc->req) {
		scope_fail(sc, "watch", "cannot start the request (out of memory?)", -1);
		return;
	}
	ks->stats.watches++;
	sc->state = SC_WATCH;
	if (sc->watch_failing)
		arm(sc->recover_timer, WATCH_QUICK_END_MS);
}

/*
 * A watch that was failing is healthy again once a stream has answered
 * 200 and stayed open as long as a stream that "ends at once" would not:
 * logged then, not only when an event (or a bookmark, a minute later)
 * arrives.  A stream still waiting for its answer is looked at again.
 */
static void on_recover_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kscope *sc = arg;

	(void)fd;
	(void)what;
	if (sc->state != SC_WATCH || !sc->watch_failing || !sc->req)
		return;
	if (http_req_status(sc->req) != 200) {
		arm(sc->recover_timer, WATCH_QUICK_END_MS);
		return;
	}
	sc->watch_failing = 0;
	scope_recovered(sc);
}

static void scope_go(struct kscope *sc)
{
	if (sc->next == NEXT_WATCH && !sc->src->nowatch)
		start_watch(sc);
	else
		start_list(sc);
}

static void on_scope_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kscope *sc = arg;

	(void)fd;
	(void)what;
	if (sc->state == SC_WAIT)
		scope_go(sc);
}

/* The periodic re-list while a watch runs (the safety net). */
static void on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kscope *sc = arg;

	(void)fd;
	(void)what;
	if (sc->state == SC_WATCH) {
		http_cancel(sc->req);
		sc->req = NULL;
		sc->src->stats.relists++;
		sc->next = NEXT_LIST;
		sc->safety_relist = 1;
		start_list(sc);
	} else if (sc->state == SC_WAIT && sc->next == NEXT_WATCH) {
		event_del(sc->timer);
		sc->src->stats.relists++;
		sc->next = NEXT_LIST;
		sc->safety_relist = 1;
		start_list(sc);
	}
}

/*
 * Common handling of an HTTP answer that is not 200; returns 1 if handled
 * by a retry at once (401 with a fresh token, 404 with the next version).
 */
static int handle_status(struct kscope *sc, const char *what,
	const struct http_result *res)
{
	struct kube_source *ks = sc->src;
	long ra = res->retry_after;
	char msg[400];

	count_http_error(ks, res->status);
	kube_status_summary(res->status, res->body, res->len, msg, sizeof(msg), &ra);
	if (res->status == 401 && !sc->auth_retried && kube_auth_refresh(ks->auth)) {
		sc->auth_retried = 1;
		log_debug("plugin/serviceentries: %s: 401: credentials refreshed, retrying", ks->label);
		start_list(sc);
		return 1;
	}
	if (res->status == 404 && !ks->version_fixed) {
		if (sc->req_vidx != ks->vidx) {      /* another scope moved on already */
			start_list(sc);
			return 1;
		}
		if (ks->vidx + 1 < NVERSIONS) {
			/* once, not on every retry while nothing is served */
			if (!(ks->fallback_logged & (1u << (ks->vidx + 1))))
				log_info("plugin/serviceentries: %s: networking.istio.io/%s not served; trying %s",
					ks->label, api_versions[ks->vidx], api_versions[ks->vidx + 1]);
			ks->fallback_logged |= 1u << (ks->vidx + 1);
			ks->vidx++;
			start_list(sc);
			return 1;
		}
		ks->vidx = 0;
		scope_fail(sc, what, "no version of networking.istio.io serviceentries is served "
			"(tried v1, v1beta1, v1alpha3): is Istio's ServiceEntry CRD installed?", ra);
		return 0;
	}
	if (res->status == 401)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
			" (the token was re-read; check the service account / kubeconfig)");
	scope_fail(sc, what, msg, ra);
	return 0;
}

static void transport_msg(struct kscope *sc, const struct http_result *res,
	char *msg, size_t msglen)
{
	struct kube_source *ks = sc->src;

	if (res->error == HTTP_ERR_TOO_BIG) {
		ks->stats.oversize++;
		snprintf(msg, msglen, "answer larger than max_body (%zu bytes)", ks->max_body);
	} else {
		ks->stats.transport_errors++;
		snprintf(msg, msglen, "%s: %s",
			res->error == HTTP_ERR_TIMEOUT ? "timeout" :
			res->error == HTTP_ERR_TLS ? "TLS" :
			res->error == HTTP_ERR_CONNECT ? "cannot connect" :
			res->error == HTTP_ERR_NOMEM ? "out of memory" : "transfer failed",
			res->message);
	}
}

static void transport_fail(struct kscope *sc, const char *what,
	const struct http_result *res)
{
	char msg[400];

	transport_msg(sc, res, msg, sizeof(msg));
	scope_fail(sc, what, msg, -1);
}

static void list_complete(struct kscope *sc, const char *rv)
{
	struct kube_source *ks = sc->src;

	kube_store_move(&sc->store, &sc->pending);
	set_str(&sc->rv, rv);
	free(sc->cont);
	sc->cont = NULL;
	sc->synced = 1;
	sc->expired = 0;
	sc->list_done_ms = now_ms();
	sc->safety_relist = 0;
	ks->stats.lists++;
	ks->stats.last_sync = time(NULL);
	ks->base.status.last_success = ks->stats.last_sync;
	ks->base.status.syncs_ok++;
	if (ks->stats.api_version[0] && strcmp(ks->stats.api_version, api_versions[ks->vidx]) != 0)
		log_info("plugin/serviceentries: %s: now reading networking.istio.io/%s",
			ks->label, api_versions[ks->vidx]);
	ks->stats.api_version = api_versions[ks->vidx];
	ks->fallback_logged = 0;
	/* a failing watch recovers when a stream delivers, not when a list works */
	if (!sc->watch_failing)
		scope_recovered(sc);
	schedule_rebuild(ks, 0);
	arm(sc->poll_timer, poll_jitter(ks->poll_ms));
	if (ks->nowatch) {
		sc->state = SC_WAIT;
		sc->next = NEXT_LIST;
		event_del(sc->poll_timer);
		arm(sc->timer, ks->poll_ms);
		return;
	}
	sc->next = NEXT_WATCH;
	start_watch(sc);
}

static void on_list_done(void *arg, const struct http_result *res)
{
	struct kscope *sc = arg;
	struct kube_source *ks = sc->src;
	cJSON *doc;
	const cJSON *items, *kind, *meta, *cont, *rv, *it;
	char msg[300];

	sc->req = NULL;
	if (res->error != HTTP_OK) {
		transport_fail(sc, "list", res);
		return;
	}
	if (res->status == 410 && sc->cont) {
		/* the continue token expired: start over (K8S-API.md, List) */
		count_http_error(ks, 410);
		ks->stats.relists++;
		kube_store_clear(&sc->pending);
		free(sc->cont);
		sc->cont = NULL;
		if (++sc->expired > 3) {
			scope_fail(sc, "list", "continue tokens keep expiring (410)", res->retry_after);
			return;
		}
		log_debug("plugin/serviceentries: %s: continue token expired; listing again", ks->label);
		start_list(sc);
		return;
	}
	if (res->status != 200) {
		handle_status(sc, "list", res);
		return;
	}
	sc->auth_retried = 0;
	doc = cJSON_ParseWithLength(res->body, res->len);
	if (!doc) {
		ks->stats.decode_errors++;
		scope_fail(sc, "list", "the answer is not JSON", -1);
		return;
	}
	items = cJSON_GetObjectItemCaseSensitive(doc, "items");
	kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
	meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
	cont = cJSON_GetObjectItemCaseSensitive(meta, "continue");
	rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
	/*
	 * A ServiceEntryList (or List) with an items array: a 200 without one
	 * (items null or missing, some other kind) must not empty the registry.
	 */
	if (!cJSON_IsObject(doc) || !cJSON_IsArray(items) ||
	    !cJSON_IsString(kind) || (strcmp(kind->valuestring, "ServiceEntryList") != 0 &&
	        strcmp(kind->valuestring, "List") != 0) ||
	    !cJSON_IsObject(meta) || (cont && !cJSON_IsString(cont) && !cJSON_IsNull(cont)) ||
	    !cJSON_IsString(rv)) {
		snprintf(msg, sizeof(msg), "the answer is not a ServiceEntryList (%s)",
			!cJSON_IsObject(doc) ? "not an object" :
			!cJSON_IsString(kind) ? "kind is not a string" :
			(strcmp(kind->valuestring, "ServiceEntryList") != 0 &&
			 strcmp(kind->valuestring, "List") != 0) ? "kind is not ServiceEntryList" :
			!items ? "no items" : cJSON_IsNull(items) ? "items is null" :
			!cJSON_IsObject(meta) ? "metadata is not an object" :
			!cJSON_IsString(rv) ? "metadata.resourceVersion is not a string" :
			(cont && !cJSON_IsString(cont) && !cJSON_IsNull(cont)) ? "metadata.continue is not a string" :
			"items is not a list");
		ks->stats.decode_errors++;
		cJSON_Delete(doc);
		scope_fail(sc, "list", msg, -1);
		return;
	}
	ks->stats.list_pages++;
	sc->list_pages++;
	sc->list_bytes += res->len;
	cJSON_ArrayForEach(it, items) {
		if (kube_store_put_json(&sc->pending, it, &sc->store, sc->origin) < 0) {
			cJSON_Delete(doc);
			scope_fail(sc, "list", "out of memory", -1);
			return;
		}
	}
	if (cJSON_IsString(cont) && cont->valuestring[0]) {
		/* a list that never ends: the same token again with no items,
		 * empty pages, too many pages or bytes */
		const char *why = NULL;
		if (cJSON_GetArraySize(items) == 0) {
			if (sc->cont && strcmp(sc->cont, cont->valuestring) == 0)
				why = "an empty page repeats the same continue token";
			else if (++sc->empty_pages >= LIST_MAX_EMPTY_PAGES)
				why = "continued pages keep coming back empty";
		} else {
			sc->empty_pages = 0;
		}
		if (!why && sc->list_pages >= LIST_MAX_PAGES)
			why = "more than 10000 pages";
		if (!why && sc->list_bytes / LIST_BODY_FACTOR > ks->max_body)
			why = "the pages together are larger than 4 times max_body";
		if (why) {
			snprintf(msg, sizeof(msg), "the list does not end (%s)", why);
			ks->stats.decode_errors++;
			cJSON_Delete(doc);
			scope_fail(sc, "list", msg, -1);
			return;
		}
		set_str(&sc->cont, cont->valuestring);
		cJSON_Delete(doc);
		start_list(sc);
		return;
	}
	list_complete(sc, rv->valuestring);
	cJSON_Delete(doc);
}

static int apply_event(void *arg, const char *line, size_t len)
{
	struct kscope *sc = arg;
	struct kube_source *ks = sc->src;
	enum kube_event_type type;
	const cJSON *obj;
	const char *rv;
	char err[200];
	cJSON *doc = kube_event_parse(line, len, &type, &obj, err, sizeof(err));

	if (!doc) {
		ks->stats.decode_errors++;
		snprintf(sc->watch_err, sizeof(sc->watch_err), "%s", err);
		return -1;
	}
	rv = kube_store_meta(obj, "resourceVersion");
	switch (type) {
	case KUBE_EV_ERROR: {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");
		if (cJSON_IsNumber(code) && code->valueint == 410) {
			sc->watch_relist = 1;
		} else {
			char msg[300];
			long code_n = cJSON_IsNumber(code) ? (long)code->valuedouble : 0;
			char *txt = cJSON_PrintUnformatted(obj);
			kube_status_summary(code_n, txt ? txt : "", txt ? strlen(txt) : 0,
				msg, sizeof(msg), NULL);
			free(txt);
			snprintf(sc->watch_err, sizeof(sc->watch_err), "ERROR event: %.280s", msg);
		}
		cJSON_Delete(doc);
		return -1;
	}
	case KUBE_EV_BOOKMARK:
		ks->stats.bookmarks++;
		if (rv)
			set_str(&sc->rv, rv);
		break;
	case KUBE_EV_DELETED:
		kube_store_del_json(&sc->store, obj);
		ks->stats.watch_events++;
		if (rv)
			set_str(&sc->rv, rv);
		schedule_rebuild(ks, ks->coalesce_ms);
		break;
	case KUBE_EV_ADDED:
	case KUBE_EV_MODIFIED: {
		int rc;
		if (!rv) {
			ks->stats.decode_errors++;
			snprintf(sc->watch_err, sizeof(sc->watch_err),
				"watch event without metadata.resourceVersion");
			cJSON_Delete(doc);
			return -1;
		}
		rc = kube_store_put_json(&sc->store, obj, &sc->store, sc->origin);
		if (rc < 0) {
			snprintf(sc->watch_err, sizeof(sc->watch_err), "out of memory");
			cJSON_Delete(doc);
			return -1;
		}
		if (rc == 0) {
			/* not a usable ServiceEntry: drop what we held under the name, if any */
			kube_store_del_json(&sc->store, obj);
		}
		ks->stats.watch_events++;
		set_str(&sc->rv, rv);
		schedule_rebuild(ks, ks->coalesce_ms);
		break;
	}
	}
	sc->watch_events++;
	cJSON_Delete(doc);
	/* a failing watch recovers when a stream delivered an event that applied */
	if (sc->watch_failing) {
		sc->watch_failing = 0;
		scope_recovered(sc);
	}
	return 0;
}

static int on_watch_data(void *arg, const char *data, size_t len)
{
	struct kscope *sc = arg;
	int rc;

	rc = kube_lines_feed(&sc->lines, data, len, apply_event, sc);

	if (rc == -1) {
		sc->src->stats.oversize++;
		snprintf(sc->watch_err, sizeof(sc->watch_err),
			"watch event larger than max_body (%zu bytes)", sc->src->max_body);
	}
	return rc < 0 ? -1 : 0;
}

/*
 * The watch said 410 (resource version too old): list again, at once if
 * the last list is a while ago, else with back-off (a server that answers
 * every watch with 410 must not be listed in a tight loop).
 */
static void watch_expired(struct kscope *sc)
{
	struct kube_source *ks = sc->src;

	count_http_error(ks, 410);
	ks->stats.relists++;
	if (now_ms() - sc->list_done_ms < RELIST_MIN_GAP_MS) {
		scope_fail(sc, "watch", "resource version too old (410) right after a list", -1);
		return;
	}
	log_debug("plugin/serviceentries: %s: watch: resource version too old; listing again",
		ks->label);
	sc->next = NEXT_LIST;
	start_list(sc);
}

static void on_watch_done(void *arg, const struct http_result *res)
{
	struct kscope *sc = arg;
	struct kube_source *ks = sc->src;
	struct timespec now;
	double ms;

	sc->req = NULL;
	event_del(sc->recover_timer);
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (double)(now.tv_sec - sc->watch_start.tv_sec) * 1000.0 +
		(double)(now.tv_nsec - sc->watch_start.tv_nsec) / 1e6;
	if (sc->watch_relist) {
		/* ERROR 410 "too old resource version": list again */
		watch_expired(sc);
		return;
	}
	if (sc->watch_err[0]) {
		scope_fail(sc, "watch", sc->watch_err, -1);
		return;
	}
	if (res->error == HTTP_OK && res->status != 200) {
		if (res->status == 410) {
			watch_expired(sc);
			return;
		}
		handle_status(sc, "watch", res);
		return;
	}
	sc->auth_retried = 0;
	if (res->error == HTTP_ERR_TOO_BIG) {
		transport_fail(sc, "watch", res);
		return;
	}
	/*
	 * The stream ended: cleanly (timeoutSeconds, a load balancer), or cut
	 * (a partial line is dropped; whole events were applied).  Watch
	 * again from the last resourceVersion; back off if it ended at once
	 * without events.
	 */
	ks->stats.watch_restarts++;
	kube_lines_reset(&sc->lines);
	sc->next = NEXT_WATCH;
	if (sc->watch_events == 0 && ms < WATCH_QUICK_END_MS) {
		long delay = ks->backoff_min_ms;
		if (res->error != HTTP_OK) {
			/* cannot connect, TLS, cut at once: an error, logged once, until an event applies */
			char msg[400];
			transport_msg(sc, res, msg, sizeof(msg));
			note_error(sc, "watch", msg);
			sc->watch_failing = 1;
		}
		for (unsigned i = 0; i < sc->failures && delay < ks->backoff_max_ms; i++)
			delay *= 2;
		if (delay > ks->backoff_max_ms)
			delay = ks->backoff_max_ms;
		sc->failures++;
		log_debug("plugin/serviceentries: %s: watch ended at once (%s); again in %ld ms",
			ks->label, res->error == HTTP_OK ? "clean" : res->message, delay);
		sc->state = SC_WAIT;
		arm(sc->timer, delay);
		return;
	}
	if (res->error != HTTP_OK)
		ks->stats.transport_errors++;
	log_debug("plugin/serviceentries: %s: watch ended after %.0f ms, %lu events (%s); watching again",
		ks->label, ms, sc->watch_events, res->error == HTTP_OK ? "clean" : res->message);
	if (!sc->watch_failing)
		sc->failures = 0;
	start_watch(sc);
}

/* ---- life cycle ---- */

static int ks_start(struct se_source *s, struct event_base *base)
{
	struct kube_source *ks = (struct kube_source *)s;

	ks->evbase = base;
	ks->http = http_client_new(base);
	ks->rebuild_timer = evtimer_new(base, on_rebuild, ks);
	ks->auth = kube_auth_new(base, &ks->conn, ks->label, on_auth_done, ks);
	if (!ks->http || !ks->rebuild_timer || !ks->auth)
		return -1;
	for (size_t i = 0; i < ks->nscopes; i++) {
		struct kscope *sc = &ks->scopes[i];
		sc->timer = evtimer_new(base, on_scope_timer, sc);
		sc->poll_timer = evtimer_new(base, on_poll_timer, sc);
		sc->recover_timer = evtimer_new(base, on_recover_timer, sc);
		if (!sc->timer || !sc->poll_timer || !sc->recover_timer)
			return -1;
	}
	log_info("plugin/serviceentries: %s: reading ServiceEntries from %s (%s%s%s)",
		ks->label, ks->conn.server, ks->conn.origin ? ks->conn.origin : "no credentials",
		ks->nowatch ? ", polling" : "", ks->version_fixed ? "" : "");
	for (size_t i = 0; i < ks->nscopes; i++) {
		ks->scopes[i].next = NEXT_LIST;
		start_list(&ks->scopes[i]);
	}
	return 0;
}

static void ks_free(struct se_source *s)
{
	struct kube_source *ks = (struct kube_source *)s;

	if (!ks)
		return;
	for (size_t i = 0; i < ks->nscopes; i++) {
		struct kscope *sc = &ks->scopes[i];
		http_cancel(sc->req);
		if (sc->timer)
			event_free(sc->timer);
		if (sc->poll_timer)
			event_free(sc->poll_timer);
		if (sc->recover_timer)
			event_free(sc->recover_timer);
		kube_store_clear(&sc->store);
		kube_store_clear(&sc->pending);
		kube_lines_free(&sc->lines);
		free(sc->ns);
		free(sc->rv);
		free(sc->cont);
	}
	free(ks->scopes);
	http_client_free(ks->http);
	kube_auth_free(ks->auth);
	if (ks->rebuild_timer)
		event_free(ks->rebuild_timer);
	kube_conn_clear(&ks->conn);
	free(ks->label);
	free(ks);
}

static int resolve_conn(const struct kube_source_conf *conf, struct kube_conn *c,
	char *err, size_t errlen)
{
	int rc;

	if (conf->kubeconfig)
		return kubeconfig_load(conf->kubeconfig, conf->context, c, err, errlen);
	rc = kube_incluster(conf->sa_dir, c, err, errlen);
	if (rc <= 0)
		return rc;
	if (conf->endpoint) {
		memset(c, 0, sizeof(*c));
		if (!(c->origin = strdup("no kubeconfig, no in-cluster configuration")))
			return -1;
		return 0;
	}
	if (kubeconfig_load(NULL, conf->context, c, err, errlen) < 0) {
		char tmp[512];
		snprintf(tmp, sizeof(tmp), "%s", err);
		snprintf(err, errlen, "no Kubernetes configuration: not in a cluster "
			"(KUBERNETES_SERVICE_HOST unset) and %s; set \"kubeconfig\" or \"endpoint\"", tmp);
		return -1;
	}
	return 0;
}

struct se_source *kube_source_new(const struct kube_source_conf *conf,
	se_update_fn update, void *arg, char *err, size_t errlen)
{
	struct kube_source *ks = calloc(1, sizeof(*ks));
	size_t nsc;

	if (!ks) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ks->base.kind = "kubernetes";
	ks->base.start = ks_start;
	ks->base.free = ks_free;
	ks->base.update = update;
	ks->base.update_arg = arg;
	ks->poll_ms = conf->poll_ms > 0 ? conf->poll_ms : KUBE_DEFAULT_POLL_MS;
	ks->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : KUBE_DEFAULT_TIMEOUT_MS;
	ks->max_body = conf->max_body ? conf->max_body : KUBE_DEFAULT_MAX_BODY;
	ks->backoff_min_ms = conf->backoff_min_ms > 0 ? conf->backoff_min_ms : KUBE_DEFAULT_BACKOFF_MIN_MS;
	ks->backoff_max_ms = conf->backoff_max_ms > 0 ? conf->backoff_max_ms : KUBE_DEFAULT_BACKOFF_MAX_MS;
	if (ks->backoff_max_ms < ks->backoff_min_ms)
		ks->backoff_max_ms = ks->backoff_min_ms;
	ks->coalesce_ms = conf->coalesce_ms > 0 ? conf->coalesce_ms : KUBE_DEFAULT_COALESCE_MS;
	ks->nowatch = conf->nowatch;
	ks->stats.api_version = "";
	if (!(ks->label = strdup(conf->label ? conf->label : "serviceentries")))
		goto nomem;
	if (conf->api_version) {
		int found = 0;
		for (int i = 0; i < NVERSIONS; i++)
			if (strcmp(conf->api_version, api_versions[i]) == 0) {
				ks->vidx = i;
				found = 1;
			}
		if (!found) {
			snprintf(err, errlen, "api_version \"%s\": not one of v1, v1beta1, v1alpha3",
				conf->api_version);
			goto fail;
		}
		ks->version_fixed = 1;
	}
	if (resolve_conn(conf, &ks->conn, err, errlen) < 0)
		goto fail;
	if (conf->endpoint) {
		size_t l;
		if (strncmp(conf->endpoint, "https://", 8) != 0 && strncmp(conf->endpoint, "http://", 7) != 0) {
			snprintf(err, errlen, "endpoint \"%s\": not an http:// or https:// URL", conf->endpoint);
			goto fail;
		}
		set_str(&ks->conn.server, conf->endpoint);
		if (!ks->conn.server)
			goto nomem;
		l = strlen(ks->conn.server);
		while (l > 0 && ks->conn.server[l - 1] == '/')
			ks->conn.server[--l] = '\0';
	}
	if (conf->tls_ca) {
		free(ks->conn.ca_pem);
		ks->conn.ca_pem = NULL;
		set_str(&ks->conn.ca_file, conf->tls_ca);
	}
	if (conf->token_file) {
		free(ks->conn.token);
		ks->conn.token = NULL;
		set_str(&ks->conn.token_file, conf->token_file);
	}
	nsc = conf->nnamespaces ? conf->nnamespaces : 1;
	if (!(ks->scopes = calloc(nsc, sizeof(*ks->scopes))))
		goto nomem;
	ks->nscopes = nsc;
	for (size_t i = 0; i < nsc; i++) {
		struct kscope *sc = &ks->scopes[i];
		sc->src = ks;
		kube_lines_init(&sc->lines, ks->max_body);
		if (conf->nnamespaces && !(sc->ns = strdup(conf->namespaces[i])))
			goto nomem;
	}
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	return &ks->base;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	ks_free(&ks->base);
	return NULL;
}

int kube_source_stats(const struct se_source *s, struct kube_stats *st)
{
	const struct kube_source *ks = (const struct kube_source *)s;

	if (!s || s->free != ks_free)
		return -1;
	*st = ks->stats;
	return 0;
}

const char *kube_source_server(const struct se_source *s)
{
	const struct kube_source *ks = (const struct kube_source *)s;

	if (!s || s->free != ks_free)
		return NULL;
	return ks->conn.server;
}
