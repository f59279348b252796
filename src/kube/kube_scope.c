/*
 * kube_scope.c -- per scope (a namespace, or the whole cluster): the
 * paginated list, then the watch, the periodic re-list, back-off and
 * recovery, API version discovery; and the coalesced rebuild that hands
 * the scopes' objects as one list to serviceentries (kube.h has the
 * design, kube_scope.h the structures).
 *
 * Around it: kube_auth (credentials, exec plugins), kube_store (the
 * objects of a scope), kube_watch (stream framing, events, list pages,
 * Status summaries), http_client (libcurl multi on the loop).  Everything
 * runs on the event loop; nothing here blocks.
 */
#define _GNU_SOURCE 1

#include "kube_scope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "globaldns/log.h"

#define WATCH_MIN_TIMEOUT_S 300
#define WATCH_QUICK_END_MS 1000
#define WATCH_IDLE_TIMEOUT_S 150        /* 2-3 bookmark intervals without a byte */
#define RELIST_MIN_GAP_MS 1000          /* a 410 sooner after a list backs off */
/* bounds on one paginated list (all pages together) */
#define LIST_MAX_PAGES 10000u
#define LIST_BODY_FACTOR 4u             /* total bytes: max_body times this */
#define LIST_MAX_EMPTY_PAGES 3u         /* consecutive continued pages with no items */

const char *const kube_api_versions[] = { "v1", "v1beta1", "v1alpha3" };

static void scope_go(struct kscope *sc);
static void start_list(struct kscope *sc);
static void start_watch(struct kscope *sc);
static void scope_fail(struct kscope *sc, const char *what, const char *msg,
	long retry_after);
static void on_scope_timer(evutil_socket_t fd, short what, void *arg);
static void on_poll_timer(evutil_socket_t fd, short what, void *arg);
static void on_recover_timer(evutil_socket_t fd, short what, void *arg);

double kube_now_ms(void)
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

void kube_arm(struct event *ev, long ms)
{
	struct timeval tv;

	if (ms < 0)
		ms = 0;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(ev, &tv);
}

/* An exec plugin finished: resume (or fail) the scopes waiting for it. */
void kube_on_auth_done(void *arg, const char *err)
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


/* ---- rebuild: coalesced (the timer is kube_source.c's) ---- */

static void schedule_rebuild(struct kube_source *ks, long ms)
{
	if (ms == 0 || !event_pending(ks->rebuild_timer, EV_TIMEOUT, NULL))
		kube_arm(ks->rebuild_timer, ms);
}

/* ---- scopes: list, watch, errors ---- */

void kube_set_str(char **dst, const char *s)
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
			ks->conn.server, kube_api_versions[vidx], sc->ns);
	else
		snprintf(out, outlen, "%s/apis/networking.istio.io/%s/serviceentries",
			ks->conn.server, kube_api_versions[vidx]);
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
		kube_arm(sc->poll_timer, delay);
		sc->next = NEXT_WATCH;
		start_watch(sc);
		return;
	}
	sc->safety_relist = 0;
	kube_arm(sc->timer, delay);
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
		kube_arm(sc->recover_timer, WATCH_QUICK_END_MS);
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
		kube_arm(sc->recover_timer, WATCH_QUICK_END_MS);
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
					ks->label, kube_api_versions[ks->vidx], kube_api_versions[ks->vidx + 1]);
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
	kube_set_str(&sc->rv, rv);
	free(sc->cont);
	sc->cont = NULL;
	sc->synced = 1;
	sc->expired = 0;
	sc->list_done_ms = kube_now_ms();
	sc->safety_relist = 0;
	ks->stats.lists++;
	ks->stats.last_sync = time(NULL);
	ks->base.status.last_success = ks->stats.last_sync;
	ks->base.status.syncs_ok++;
	if (ks->stats.api_version[0] && strcmp(ks->stats.api_version, kube_api_versions[ks->vidx]) != 0)
		log_info("plugin/serviceentries: %s: now reading networking.istio.io/%s",
			ks->label, kube_api_versions[ks->vidx]);
	ks->stats.api_version = kube_api_versions[ks->vidx];
	ks->fallback_logged = 0;
	/* a failing watch recovers when a stream delivers, not when a list works */
	if (!sc->watch_failing)
		scope_recovered(sc);
	schedule_rebuild(ks, 0);
	kube_arm(sc->poll_timer, poll_jitter(ks->poll_ms));
	if (ks->nowatch) {
		sc->state = SC_WAIT;
		sc->next = NEXT_LIST;
		event_del(sc->poll_timer);
		kube_arm(sc->timer, ks->poll_ms);
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
	const cJSON *items, *cont, *rv, *it;
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
	doc = kube_list_parse(res->body, res->len, &items, &cont, &rv, msg, sizeof(msg));
	if (!doc) {
		ks->stats.decode_errors++;
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
		kube_set_str(&sc->cont, cont->valuestring);
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
			kube_set_str(&sc->rv, rv);
		break;
	case KUBE_EV_DELETED:
		kube_store_del_json(&sc->store, obj);
		ks->stats.watch_events++;
		if (rv)
			kube_set_str(&sc->rv, rv);
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
		kube_set_str(&sc->rv, rv);
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
	if (kube_now_ms() - sc->list_done_ms < RELIST_MIN_GAP_MS) {
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
		kube_arm(sc->timer, delay);
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

/* ---- life of a scope ---- */

int kube_scope_init(struct kscope *sc, struct event_base *base)
{
	sc->timer = evtimer_new(base, on_scope_timer, sc);
	sc->poll_timer = evtimer_new(base, on_poll_timer, sc);
	sc->recover_timer = evtimer_new(base, on_recover_timer, sc);
	return sc->timer && sc->poll_timer && sc->recover_timer ? 0 : -1;
}

void kube_scope_start(struct kscope *sc)
{
	sc->next = NEXT_LIST;
	start_list(sc);
}

void kube_scope_clear(struct kscope *sc)
{
	http_cancel(sc->req);
	sc->req = NULL;
	if (sc->timer)
		event_free(sc->timer);
	if (sc->poll_timer)
		event_free(sc->poll_timer);
	if (sc->recover_timer)
		event_free(sc->recover_timer);
	sc->timer = sc->poll_timer = sc->recover_timer = NULL;
	kube_store_clear(&sc->store);
	kube_store_clear(&sc->pending);
	kube_lines_free(&sc->lines);
	free(sc->ns);
	free(sc->rv);
	free(sc->cont);
	sc->ns = sc->rv = sc->cont = NULL;
}
