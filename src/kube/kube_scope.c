/*
 * kube_scope.c -- one informer (a namespace, or the whole cluster, of one
 * API client): the watch, the streaming list, back-off and recovery, API
 * version discovery (kube.h has the design, kube_scope.h the structures;
 * paginated lists are kube_list.c's).
 *
 * Around it: kube_auth (credentials, exec plugins), kube_store (the
 * objects), kube_watch (stream framing, events, Status summaries),
 * http_client (libcurl multi on the loop).  Everything runs on the event
 * loop; nothing here blocks.
 */
#define _GNU_SOURCE 1

#include "kube_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "globaldns/log.h"

#define WATCH_MIN_TIMEOUT_S 300
#define WATCH_QUICK_END_MS 1000
#define RELIST_MIN_GAP_MS 1000          /* a 410 sooner after a list backs off */
#define INITIAL_EVENTS_END "k8s.io/initial-events-end"

static void start_watch(struct kscope *sc, int initial);
static void scope_list(struct kscope *sc);
static void scope_fail(struct kscope *sc, const char *what, const char *msg,
	long retry_after, enum scope_next then);
static void on_scope_timer(evutil_socket_t fd, short what, void *arg);
static void on_resync_timer(evutil_socket_t fd, short what, void *arg);
static void on_recover_timer(evutil_socket_t fd, short what, void *arg);

/* The blocks that read sc (kube_share.c set these). */
static void tell_status(struct kscope *sc)
{
	if (sc->status_changed)
		sc->status_changed(sc);
}

static void tell_changed(struct kscope *sc, int now)
{
	if (sc->changed)
		sc->changed(sc, now);
}

/* ---- errors and back-off ---- */

/* Log a failure, one line per state change (the first failure of a new
 * kind), and make it the scope's last error. */
static void note_error(struct kscope *sc, const char *what, const char *msg)
{
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
			sc->cl->label, kube_scope_name(sc), what, msg,
			sc->synced ? "keeping the previous entries" : "no entries yet, answering SERVFAIL");
		snprintf(sc->errkey, sizeof(sc->errkey), "%s", key);
	}
	snprintf(sc->last_error, sizeof(sc->last_error), "kubernetes %s: %s: %s",
		kube_scope_name(sc), what, msg);
	tell_status(sc);
}

static void scope_recovered(struct kscope *sc)
{
	if (sc->errkey[0]) {
		log_info("plugin/serviceentries: %s: kubernetes %s: recovered (%zu ServiceEntries held)",
			sc->cl->label, kube_scope_name(sc), sc->store.n);
		sc->errkey[0] = '\0';
	}
	sc->last_error[0] = '\0';
	sc->failures = 0;
	tell_status(sc);
}

static long backoff(struct kscope *sc, long retry_after)
{
	const struct kube_opts *o = &sc->cl->o;
	long delay = o->backoff_min_ms;

	for (unsigned i = 0; i < sc->failures && delay < o->backoff_max_ms; i++)
		delay *= 2;
	if (delay > o->backoff_max_ms)
		delay = o->backoff_max_ms;
	/* jitter: somewhere in the upper half */
	delay = delay / 2 + (long)((double)(delay / 2 + 1) * ((double)random() / RAND_MAX));
	if (retry_after >= 0) {
		long ra = retry_after > 600 ? 600000 : retry_after * 1000;
		if (ra > delay)
			delay = ra;
	}
	sc->failures++;
	return delay;
}

static void drop_stream(struct kscope *sc)
{
	http_cancel(sc->req);
	sc->req = NULL;
	sc->initial = 0;
	kube_store_clear(&sc->initial_store);
	kube_lines_reset(&sc->lines);
}

static void scope_fail(struct kscope *sc, const char *what, const char *msg,
	long retry_after, enum scope_next then)
{
	long delay;

	drop_stream(sc);
	kube_list_cancel(sc);
	note_error(sc, what, msg);
	sc->syncs_failed++;
	delay = backoff(sc, retry_after);
	sc->auth_retried = 0;
	sc->watch_failing = then == NEXT_WATCH && sc->rv;
	sc->state = SC_WAIT;
	sc->next_step = then == NEXT_WATCH && sc->rv ? NEXT_WATCH : NEXT_LIST;
	kube_arm(sc->timer, delay);
	log_debug("plugin/serviceentries: %s: kubernetes %s: %s again in %ld ms", sc->cl->label,
		kube_scope_name(sc), sc->next_step == NEXT_WATCH ? "watch" : "list", delay);
}

/* Go on with what next_step says. */
static void scope_go(struct kscope *sc)
{
	if (sc->next_step == NEXT_WATCH && sc->rv && !sc->cl->o.nowatch)
		start_watch(sc, 0);
	else
		scope_list(sc);
}

static int scope_status(struct kscope *sc, const char *what,
	const struct http_result *res, enum scope_next then)
{
	struct kube_client *cl = sc->cl;
	long ra = res->retry_after;
	char msg[400];

	kube_count_http_error(sc, res->status);
	kube_status_summary(res->status, res->body, res->len, msg, sizeof(msg), &ra);
	if (res->status == 401 && !sc->auth_retried && kube_auth_refresh(cl->auth)) {
		sc->auth_retried = 1;
		log_debug("plugin/serviceentries: %s: 401: credentials refreshed, retrying", cl->label);
		sc->next_step = then;
		scope_go(sc);
		return 1;
	}
	if (res->status == 404 && !cl->o.version_fixed) {
		if (sc->req_vidx != cl->vidx) {      /* another scope moved on already */
			scope_list(sc);
			return 1;
		}
		if (cl->vidx + 1 < NVERSIONS) {
			/* once, not on every retry while nothing is served */
			if (!(cl->fallback_logged & (1u << (cl->vidx + 1))))
				log_info("plugin/serviceentries: %s: networking.istio.io/%s not served; trying %s",
					cl->label, kube_api_versions[cl->vidx], kube_api_versions[cl->vidx + 1]);
			cl->fallback_logged |= 1u << (cl->vidx + 1);
			cl->vidx++;
			scope_list(sc);
			return 1;
		}
		cl->vidx = 0;
		scope_fail(sc, what, "no version of networking.istio.io serviceentries is served "
			"(tried v1, v1beta1, v1alpha3): is Istio's ServiceEntry CRD installed?", ra, NEXT_LIST);
		return 0;
	}
	if (res->status == 404)
		then = NEXT_LIST;
	if (res->status == 401)
		snprintf(msg + strlen(msg), sizeof(msg) - strlen(msg),
			" (the token was re-read; check the service account / kubeconfig)");
	scope_fail(sc, what, msg, ra, then);
	return 0;
}

static void on_watch_done(void *arg, const struct http_result *res);
static int on_watch_data(void *arg, const char *data, size_t len);

/*
 * A watch from the last resourceVersion; or (initial) a streaming list: a
 * watch that first sends every object as ADDED, then a bookmark annotated
 * k8s.io/initial-events-end, then goes on as any watch.
 */
static void start_watch(struct kscope *sc, int initial)
{
	struct kube_client *cl = sc->cl;
	struct http_opts o;
	struct http_tls tls;
	char url[4096], num[32], err[300];
	long tmo = WATCH_MIN_TIMEOUT_S + random() % WATCH_MIN_TIMEOUT_S;
	int rc = kube_prepare(sc, &o, &tls, initial ? NEXT_LIST : NEXT_WATCH, err, sizeof(err));

	if (rc < 0)
		scope_fail(sc, "credentials", err, -1, initial ? NEXT_LIST : NEXT_WATCH);
	if (rc != 0)
		return;
	kube_scope_url(sc, cl->vidx, url, sizeof(url));
	snprintf(sc->origin, sizeof(sc->origin), "%.500s", url);
	kube_add_param(url, sizeof(url), "watch", "1");
	if (initial) {
		kube_add_param(url, sizeof(url), "sendInitialEvents", "true");
		kube_add_param(url, sizeof(url), "resourceVersionMatch", "NotOlderThan");
		sc->last_attempt = time(NULL);
	} else {
		kube_add_param(url, sizeof(url), "resourceVersion", sc->rv ? sc->rv : "0");
	}
	kube_add_param(url, sizeof(url), "allowWatchBookmarks", "true");
	snprintf(num, sizeof(num), "%ld", tmo);
	kube_add_param(url, sizeof(url), "timeoutSeconds", num);
	o.url = url;
	o.stream = 1;
	o.total_timeout_ms = (tmo + 30) * 1000;
	/* a bookmark comes every minute: a stream silent for longer is dead */
	o.read_idle_ms = KUBE_WATCH_IDLE_MS;
	o.health = 1;
	sc->req_vidx = cl->vidx;
	sc->watch_events = 0;
	sc->watch_relist = 0;
	sc->watch_err[0] = '\0';
	sc->initial = initial;
	kube_store_clear(&sc->initial_store);
	kube_lines_reset(&sc->lines);
	sc->watch_start = kube_now_ms();
	sc->req = http_get(cl->http, &o, on_watch_data, on_watch_done, sc);
	sc->stats.requests++;
	if (!sc->req) {
		scope_fail(sc, initial ? "list" : "watch",
			"cannot start the request (out of memory?)", -1, initial ? NEXT_LIST : NEXT_WATCH);
		return;
	}
	sc->stats.watches++;
	sc->state = SC_WATCH;
	if (sc->watch_failing)
		kube_arm(sc->recover_timer, WATCH_QUICK_END_MS);
}

static void scope_list(struct kscope *sc)
{
	kube_list_cancel(sc);           /* a resync list beside the old watch */
	if (sc->cl->o.nowatch || !sc->cl->stream_lists)
		kube_list_start(sc, 0);
	else
		start_watch(sc, 1);
}

/* The server does not stream lists: paginated lists from now on. */
static void streaming_refused(struct kscope *sc, const char *why)
{
	struct kube_client *cl = sc->cl;

	if (cl->stream_lists)
		log_info("plugin/serviceentries: %s: the API server does not stream lists (%s); "
			"listing in pages", cl->label, why);
	cl->stream_lists = 0;
	drop_stream(sc);
	kube_list_start(sc, 0);
}

/*
 * A failing watch is healthy again once a stream has answered 200 and
 * stayed open as long as a stream that "ends at once" would not: logged
 * then, not only when an event (or a bookmark, a minute later) arrives.
 */
static void on_recover_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kscope *sc = arg;

	(void)fd;
	(void)what;
	if (sc->state != SC_WATCH || !sc->watch_failing || !sc->req || sc->initial)
		return;
	if (http_req_status(sc->req) != 200) {
		kube_arm(sc->recover_timer, WATCH_QUICK_END_MS);
		return;
	}
	sc->watch_failing = 0;
	scope_recovered(sc);
}

static void on_scope_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kscope *sc = arg;

	(void)fd;
	(void)what;
	if (sc->state == SC_WAIT)
		scope_go(sc);
}

/* resync: a list beside the running watch, merged when whole */
static void on_resync_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kscope *sc = arg;

	(void)fd;
	(void)what;
	if (sc->state == SC_WATCH && !sc->initial && !sc->list.req) {
		sc->stats.relists++;
		kube_list_start(sc, 1);
	} else {
		kube_arm(sc->resync_timer, sc->cl->o.resync_ms / 10 + 1000);
	}
}

/* An exec plugin finished: resume (or fail) the scopes waiting for it. */
void kube_on_auth_done(void *arg, const char *err)
{
	struct kube_client *cl = arg;

	for (struct kscope *sc = cl->scopes; sc; sc = sc->next) {
		if (sc->state != SC_AUTH)
			continue;
		if (err)
			scope_fail(sc, "credentials", err, -1, sc->next_step);
		else
			scope_go(sc);
	}
}

/* the resync period, give or take 10% (informers and replicas drift apart) */
static long jitter(long ms)
{
	long j = ms / 10;

	if (j <= 0)
		return ms;
	return ms - j + (long)((double)(2 * j) * ((double)random() / RAND_MAX));
}

static void scope_listed(struct kscope *sc, struct kube_store *st, const char *rv)
{
	struct kube_client *cl = sc->cl;
	int resync = rv == NULL;

	kube_store_move(&sc->store, st);
	if (rv)
		kube_set_str(&sc->rv, rv);
	sc->synced = 1;
	sc->list_done_ms = kube_now_ms();
	sc->stats.lists++;
	sc->last_success = time(NULL);
	sc->syncs_ok++;
	if (sc->stats.api_version[0] && strcmp(sc->stats.api_version, kube_api_versions[cl->vidx]) != 0)
		log_info("plugin/serviceentries: %s: now reading networking.istio.io/%s",
			cl->label, kube_api_versions[cl->vidx]);
	sc->stats.api_version = kube_api_versions[cl->vidx];
	cl->fallback_logged = 0;
	/* a failing watch recovers when a stream delivers, not when a list works */
	if (!sc->watch_failing)
		scope_recovered(sc);
	tell_changed(sc, 1);
	if (cl->o.resync_ms > 0 && !cl->o.nowatch)
		kube_arm(sc->resync_timer, jitter(cl->o.resync_ms));
	if (resync || sc->initial) {
		/* the watch goes on (a streaming list continues as one) */
		sc->initial = 0;
		return;
	}
	if (cl->o.nowatch) {
		sc->state = SC_WAIT;
		sc->next_step = NEXT_LIST;
		kube_arm(sc->timer, cl->o.poll_ms);
		return;
	}
	start_watch(sc, 0);
}

/* ---- the watch stream ---- */

static int is_initial_end(const cJSON *obj)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(m, "annotations");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, INITIAL_EVENTS_END);

	return cJSON_IsString(v) && strcmp(v->valuestring, "true") == 0;
}

static int apply_event(void *arg, const char *line, size_t len)
{
	struct kscope *sc = arg;
	enum kube_event_type type;
	const cJSON *obj;
	const char *rv;
	char err[200];
	cJSON *doc = kube_event_parse(line, len, &type, &obj, err, sizeof(err));
	struct kube_store *target = sc->initial ? &sc->initial_store : &sc->store;

	if (!doc) {
		sc->stats.decode_errors++;
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
		sc->stats.bookmarks++;
		if (sc->initial) {
			if (!is_initial_end(obj) || !rv) {
				/* a server that ignored sendInitialEvents: a plain watch */
				snprintf(sc->watch_err, sizeof(sc->watch_err), "refused");
				cJSON_Delete(doc);
				return -1;
			}
			sc->stats.streaming_lists++;
			scope_listed(sc, &sc->initial_store, rv);
			break;
		}
		if (rv)
			kube_set_str(&sc->rv, rv);
		break;
	case KUBE_EV_DELETED:
		kube_store_del_json(target, obj);
		if (!sc->initial) {
			kube_list_touch(sc, obj);
			sc->stats.watch_events++;
			if (rv)
				kube_set_str(&sc->rv, rv);
			tell_changed(sc, 0);
		}
		break;
	case KUBE_EV_ADDED:
	case KUBE_EV_MODIFIED: {
		int rc;
		if (!rv) {
			sc->stats.decode_errors++;
			snprintf(sc->watch_err, sizeof(sc->watch_err),
				"watch event without metadata.resourceVersion");
			cJSON_Delete(doc);
			return -1;
		}
		/* objects unchanged since the last list are shared, not parsed */
		rc = kube_store_put_json(target, obj, &sc->store, sc->origin);
		if (rc < 0) {
			snprintf(sc->watch_err, sizeof(sc->watch_err), "out of memory");
			cJSON_Delete(doc);
			return -1;
		}
		if (rc == 0) {
			/* not a usable ServiceEntry: drop what we held under the name, if any */
			kube_store_del_json(target, obj);
		}
		if (!sc->initial) {
			kube_list_touch(sc, obj);
			sc->stats.watch_events++;
			kube_set_str(&sc->rv, rv);
			tell_changed(sc, 0);
		}
		break;
	}
	}
	sc->watch_events++;
	cJSON_Delete(doc);
	/* a failing watch recovers when a stream delivered an event that applied */
	if (sc->watch_failing && !sc->initial) {
		sc->watch_failing = 0;
		scope_recovered(sc);
	}
	return 0;
}

static int on_watch_data(void *arg, const char *data, size_t len)
{
	struct kscope *sc = arg;
	int rc = kube_lines_feed(&sc->lines, data, len, apply_event, sc);

	if (rc == -1) {
		sc->stats.oversize++;
		snprintf(sc->watch_err, sizeof(sc->watch_err),
			"watch event larger than max_body (%zu bytes)", sc->cl->o.max_body);
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
	kube_count_http_error(sc, 410);
	sc->stats.relists++;
	if (kube_now_ms() - sc->list_done_ms < RELIST_MIN_GAP_MS) {
		scope_fail(sc, "watch", "resource version too old (410) right after a list", -1,
			NEXT_LIST);
		return;
	}
	log_debug("plugin/serviceentries: %s: kubernetes %s: watch: resource version too old; listing again",
		sc->cl->label, kube_scope_name(sc));
	drop_stream(sc);
	scope_list(sc);
}

/* A streaming list ended before its last initial event. */
static void initial_done(struct kscope *sc, const struct http_result *res)
{
	char msg[400];

	if (strcmp(sc->watch_err, "refused") == 0) {
		streaming_refused(sc, "a bookmark without the initial-events-end annotation");
		return;
	}
	if (sc->watch_err[0]) {
		scope_fail(sc, "list", sc->watch_err, -1, NEXT_LIST);
		return;
	}
	if (res->error == HTTP_OK && (res->status == 422 || res->status == 400)) {
		/* a server with the WatchList feature off, or one too old to know it */
		kube_count_http_error(sc, res->status);
		kube_status_summary(res->status, res->body, res->len, msg, sizeof(msg), NULL);
		streaming_refused(sc, msg);
		return;
	}
	if (res->error == HTTP_OK && res->status != 200) {
		scope_status(sc, "list", res, NEXT_LIST);
		return;
	}
	if (res->error == HTTP_OK)
		snprintf(msg, sizeof(msg), "the streaming list ended before its initial events did");
	else
		kube_transport_msg(sc, res, msg, sizeof(msg));
	scope_fail(sc, "list", msg, -1, NEXT_LIST);
}

static void on_watch_done(void *arg, const struct http_result *res)
{
	struct kscope *sc = arg;
	struct kube_client *cl = sc->cl;
	double ms = kube_now_ms() - sc->watch_start;
	char msg[400];

	sc->req = NULL;
	event_del(sc->recover_timer);
	if (sc->initial) {
		initial_done(sc, res);
		return;
	}
	if (sc->watch_relist) {
		watch_expired(sc);
		return;
	}
	if (sc->watch_err[0]) {
		scope_fail(sc, "watch", sc->watch_err, -1, NEXT_WATCH);
		return;
	}
	if (res->error == HTTP_OK && res->status != 200) {
		if (res->status == 410) {
			watch_expired(sc);
			return;
		}
		scope_status(sc, "watch", res, NEXT_WATCH);
		return;
	}
	sc->auth_retried = 0;
	kube_lines_reset(&sc->lines);
	if (res->error == HTTP_ERR_TOO_BIG) {
		kube_transport_msg(sc, res, msg, sizeof(msg));
		scope_fail(sc, "watch", msg, -1, NEXT_WATCH);
		return;
	}
	sc->stats.watch_restarts++;
	sc->next_step = NEXT_WATCH;
	if (res->error == HTTP_ERR_IDLE || res->error == HTTP_ERR_DEAD) {
		/*
		 * Silent: no bookmark for longer than the API server's minute,
		 * or its HTTP/2 connection stopped answering.  Say so once; watch
		 * again at once from the last resourceVersion, on a connection
		 * that works (a dead one was shut down).
		 */
		if (res->error == HTTP_ERR_IDLE)
			sc->stats.watch_idle++;
		kube_transport_msg(sc, res, msg, sizeof(msg));
		note_error(sc, "watch", msg);
		sc->watch_failing = 1;
		start_watch(sc, 0);
		return;
	}
	/*
	 * The stream ended: cleanly (timeoutSeconds, a load balancer), or cut
	 * (a partial line is dropped; whole events were applied).  Watch
	 * again from the last resourceVersion; back off if it ended at once
	 * without events.
	 */
	if (sc->watch_events == 0 && ms < WATCH_QUICK_END_MS) {
		long delay;
		if (res->error != HTTP_OK) {
			/* cannot connect, TLS, cut at once: an error, logged once, until an event applies */
			kube_transport_msg(sc, res, msg, sizeof(msg));
			note_error(sc, "watch", msg);
			sc->watch_failing = 1;
		}
		delay = backoff(sc, -1);
		log_debug("plugin/serviceentries: %s: watch ended at once (%s); again in %ld ms",
			cl->label, res->error == HTTP_OK ? "clean" : res->message, delay);
		sc->state = SC_WAIT;
		kube_arm(sc->timer, delay);
		return;
	}
	if (res->error != HTTP_OK)
		sc->stats.transport_errors++;
	log_debug("plugin/serviceentries: %s: watch ended after %.0f ms, %lu events (%s); watching again",
		cl->label, ms, sc->watch_events, res->error == HTTP_OK ? "clean" : res->message);
	if (!sc->watch_failing)
		sc->failures = 0;
	start_watch(sc, 0);
}

/* ---- life of an informer ---- */

/* what its paginated lists (kube_list.c) report */
static void list_fail(struct kscope *sc, const char *what, const char *msg, long retry_after)
{
	scope_fail(sc, what, msg, retry_after, NEXT_LIST);
}

static int list_status(struct kscope *sc, const struct http_result *res)
{
	return scope_status(sc, "list", res, NEXT_LIST);
}

static const struct klist_ops list_ops = {
	.listed = scope_listed,
	.fail = list_fail,
	.status = list_status,
};

int kube_scope_init(struct kscope *sc)
{
	struct event_base *base = sc->cl->base;

	sc->list.ops = &list_ops;
	sc->timer = evtimer_new(base, on_scope_timer, sc);
	sc->resync_timer = evtimer_new(base, on_resync_timer, sc);
	sc->recover_timer = evtimer_new(base, on_recover_timer, sc);
	return sc->timer && sc->resync_timer && sc->recover_timer ? 0 : -1;
}

void kube_scope_start(struct kscope *sc)
{
	sc->next_step = NEXT_LIST;
	scope_list(sc);
}

void kube_scope_clear(struct kscope *sc)
{
	drop_stream(sc);
	kube_list_cancel(sc);
	if (sc->timer)
		event_free(sc->timer);
	if (sc->resync_timer)
		event_free(sc->resync_timer);
	if (sc->recover_timer)
		event_free(sc->recover_timer);
	sc->timer = sc->resync_timer = sc->recover_timer = NULL;
	kube_store_clear(&sc->store);
	kube_lines_free(&sc->lines);
	free(sc->ns);
	free(sc->rv);
	sc->ns = sc->rv = NULL;
}
