/*
 * kube_list.c -- an informer's paginated lists (kube.h has the design):
 * ?limit=500&continue=..., each page parsed as it arrives (kube_listscan:
 * a page costs its largest item, not its size), objects unchanged since
 * the last list shared with the store.  An expired continue token (410)
 * gives one full list without limit, as client-go's pager does.
 *
 * A resync list runs beside a healthy watch: the keys the watch changes
 * meanwhile are noted, and when the list is whole what the watch says of
 * them wins over what the list says (the list may be older); the watch
 * never stops.  A resync that fails leaves the store and the watch alone.
 */
#define _GNU_SOURCE 1

#include "kube_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "globaldns/log.h"

/* bounds on one paginated list (all pages together) */
#define LIST_MAX_PAGES 10000u
#define LIST_MAX_EMPTY_PAGES 3u         /* consecutive continued pages with no items */

static void request(struct kscope *sc);

static void list_reset(struct klist *l)
{
	kube_store_clear(&l->pending);
	kube_store_clear(&l->touched);
	kube_listscan_free(&l->scan);
	free(l->cont);
	l->cont = NULL;
	l->full = 0;
	l->pages = l->empty_pages = 0;
	l->err[0] = '\0';
}

void kube_list_cancel(struct kscope *sc)
{
	http_cancel(sc->list.req);
	sc->list.req = NULL;
	list_reset(&sc->list);
	sc->list.resync = 0;
}

void kube_list_touch(struct kscope *sc, const cJSON *obj)
{
	if (sc->list.resync && sc->list.req && kube_store_touch_json(&sc->list.touched, obj) < 0)
		snprintf(sc->list.err, sizeof(sc->list.err), "out of memory");
}

void kube_list_start(struct kscope *sc, int resync)
{
	kube_list_cancel(sc);
	sc->list.resync = resync;
	sc->list.started = kube_now_ms();
	sc->last_attempt = time(NULL);
	request(sc);
}

/* A resync that did not work: the watch and the store go on as they were. */
static void resync_failed(struct kscope *sc, const char *msg)
{
	/* once per kind of failure, as note_error */
	if (strncmp(sc->resync_errkey, msg, sizeof(sc->resync_errkey) - 1) != 0) {
		log_warning("plugin/serviceentries: %s: kubernetes %s: resync list failed: %s (the watch goes on; "
			"trying again at the next resync)", sc->cl->label, kube_scope_name(sc), msg);
		snprintf(sc->resync_errkey, sizeof(sc->resync_errkey), "%s", msg);
	}
	kube_list_cancel(sc);
	sc->syncs_failed++;
	kube_arm(sc->resync_timer, sc->cl->o.resync_ms);
}

static void fail(struct kscope *sc, const char *msg, long retry_after)
{
	if (sc->list.resync)
		resync_failed(sc, msg);
	else
		sc->list.ops->fail(sc, "list", msg, retry_after);
}

static int on_item(void *arg, const char *text, size_t len)
{
	struct kscope *sc = arg;
	struct klist *l = &sc->list;
	cJSON *doc = cJSON_ParseWithLength(text, len);
	int rc;

	if (!doc) {
		sc->stats.decode_errors++;
		snprintf(l->err, sizeof(l->err), "a list item is not JSON");
		return -1;
	}
	rc = kube_store_put_json(&l->pending, doc, &sc->store, sc->origin);
	cJSON_Delete(doc);
	if (rc < 0) {
		snprintf(l->err, sizeof(l->err), "out of memory");
		return -1;
	}
	l->page_items++;
	return 0;
}

static int on_data(void *arg, const char *data, size_t len)
{
	struct kscope *sc = arg;
	struct klist *l = &sc->list;
	int rc = kube_listscan_feed(&l->scan, data, len, on_item, sc);

	if (rc == -1 && !l->err[0]) {
		sc->stats.oversize++;
		snprintf(l->err, sizeof(l->err),
			"a list item larger than max_body (%zu bytes)", sc->cl->o.max_body);
	}
	return rc < 0 ? -1 : 0;
}

static void on_done(void *arg, const struct http_result *res);

static void request(struct kscope *sc)
{
	struct kube_client *cl = sc->cl;
	struct klist *l = &sc->list;
	struct http_opts o;
	struct http_tls tls;
	char url[4096], lim[16];

	if (l->resync) {
		char err[300];
		memset(&o, 0, sizeof(o));
		o.connect_timeout_ms = cl->o.timeout_ms;
		o.max_body = cl->o.max_body;
		o.proxy = cl->conn.proxy;
		o.no_compression = cl->conn.disable_compression;
		o.headers = (const char *const *)cl->conn.headers;
		/* never wait for an exec plugin here: the next resync will do */
		if (kube_auth_prepare(cl->auth, &o, &tls, err, sizeof(err)) != 0) {
			resync_failed(sc, err[0] ? err : "credentials not ready");
			return;
		}
	} else {
		char err[300];
		int rc = kube_prepare(sc, &o, &tls, NEXT_LIST, err, sizeof(err));
		if (rc < 0)
			l->ops->fail(sc, "credentials", err, -1);
		if (rc != 0)
			return;
	}
	kube_scope_url(sc, cl->vidx, url, sizeof(url));
	snprintf(sc->origin, sizeof(sc->origin), "%.500s", url);
	if (!l->full) {
		snprintf(lim, sizeof(lim), "%d", KUBE_PAGE_LIMIT);
		kube_add_param(url, sizeof(url), "limit", lim);
	}
	if (l->cont)
		kube_add_param(url, sizeof(url), "continue", l->cont);
	o.url = url;
	o.stream = 1;
	o.read_idle_ms = cl->o.timeout_ms;
	o.total_timeout_ms = cl->o.timeout_ms * 20 > 600000 ? cl->o.timeout_ms * 20 : 600000;
	kube_listscan_free(&l->scan);
	kube_listscan_init(&l->scan, cl->o.max_body);
	l->page_items = 0;
	l->err[0] = '\0';
	sc->req_vidx = cl->vidx;
	l->req = http_get(cl->http, &o, on_data, on_done, sc);
	sc->stats.requests++;
	if (!l->req) {
		fail(sc, "cannot start the request (out of memory?)", -1);
		return;
	}
	if (!l->resync)
		sc->state = SC_LIST;
}

/* A page that keeps a list from ending: why, or NULL. */
static const char *endless(struct kscope *sc, const char *cont)
{
	struct klist *l = &sc->list;

	if (l->page_items == 0) {
		if (l->cont && strcmp(l->cont, cont) == 0)
			return "an empty page repeats the same continue token";
		if (++l->empty_pages >= LIST_MAX_EMPTY_PAGES)
			return "continued pages keep coming back empty";
	} else {
		l->empty_pages = 0;
	}
	if (l->pages >= LIST_MAX_PAGES)
		return "more than 10000 pages";
	return NULL;
}

static void on_done(void *arg, const struct http_result *res)
{
	struct kscope *sc = arg;
	struct klist *l = &sc->list;
	const cJSON *cont, *rv;
	const char *why;
	char msg[400];
	cJSON *doc;

	l->req = NULL;
	if (res->error == HTTP_ERR_ABORTED && l->err[0]) {
		snprintf(msg, sizeof(msg), "%s", l->err);
		fail(sc, msg, -1);
		return;
	}
	if (res->error != HTTP_OK) {
		kube_transport_msg(sc, res, msg, sizeof(msg));
		fail(sc, msg, -1);
		return;
	}
	if (res->status == 410 && l->cont && !l->full) {
		/* the continue token expired: one full list, as client-go's pager */
		kube_count_http_error(sc, 410);
		sc->stats.full_lists++;
		log_debug("plugin/serviceentries: %s: kubernetes %s: continue token expired; one full list",
			sc->cl->label, kube_scope_name(sc));
		kube_store_clear(&l->pending);
		free(l->cont);
		l->cont = NULL;
		l->full = 1;
		request(sc);
		return;
	}
	if (res->status != 200) {
		if (l->resync) {
			long ra = -1;
			kube_count_http_error(sc, res->status);
			kube_status_summary(res->status, res->body, res->len, msg, sizeof(msg), &ra);
			resync_failed(sc, msg);
		} else {
			l->ops->status(sc, res);
		}
		return;
	}
	sc->auth_retried = 0;
	doc = kube_listscan_finish(&l->scan, &cont, &rv, msg, sizeof(msg));
	if (!doc) {
		sc->stats.decode_errors++;
		fail(sc, msg, -1);
		return;
	}
	sc->stats.list_pages++;
	l->pages++;
	if (cJSON_IsString(cont) && cont->valuestring[0]) {
		if ((why = endless(sc, cont->valuestring))) {
			snprintf(msg, sizeof(msg), "the list does not end (%s)", why);
			sc->stats.decode_errors++;
			cJSON_Delete(doc);
			fail(sc, msg, -1);
			return;
		}
		kube_set_str(&l->cont, cont->valuestring);
		cJSON_Delete(doc);
		request(sc);
		return;
	}
	if (l->resync) {
		/* what the watch changed while the list ran wins */
		if (kube_store_overlay(&l->pending, &sc->store, &l->touched) < 0) {
			cJSON_Delete(doc);
			resync_failed(sc, "out of memory");
			return;
		}
		log_debug("plugin/serviceentries: %s: kubernetes %s: resync: %zu objects listed, %zu changed by the watch meanwhile",
			sc->cl->label, kube_scope_name(sc), l->pending.n, l->touched.n);
		sc->resync_errkey[0] = '\0';
		l->ops->listed(sc, &l->pending, NULL);
	} else {
		l->ops->listed(sc, &l->pending, rv->valuestring);
	}
	cJSON_Delete(doc);
	list_reset(l);
	l->resync = 0;
}
