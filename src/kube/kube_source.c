/*
 * kube_source.c -- the Kubernetes API source of one serviceentries block
 * as an se_source (source.h): which API server and credentials
 * (kubeconfig.h, kube_proxy.h), its informers (shared, kube_share.c), the
 * rebuild that hands their objects to serviceentries as one list, and its
 * own metrics and /registry fields.  kube.h has the design.
 */
#define _GNU_SOURCE 1

#include "kube_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/util.h"
#include "curl_lazy.h"
#include "kube_proxy.h"

static int ks_start(struct se_source *s, struct event_base *base);
static void ks_free(struct se_source *s);
static void ks_collect(struct se_source *s, struct metrics_out *o,
	const char *zone);
static void ks_introspect(struct se_source *s, cJSON *obj);

static const struct se_source_ops kube_source_ops = {
	.kind = "kubernetes",
	.start = ks_start,
	.free = ks_free,
	.collect = ks_collect,
	.introspect = ks_introspect,
};

/* ---- rebuild: the informers' objects as one list ---- */

static int all_synced(const struct kube_source *ks)
{
	for (size_t i = 0; i < ks->nscopes; i++)
		if (!ks->scopes[i]->synced)
			return 0;
	return ks->nscopes > 0;
}

/* Objects copied into the list per turn of the loop: about 5 ms. */
#define REBUILD_SLICE 5000

static void rebuild_reset(struct kube_source *ks)
{
	kube_frozen_release(&ks->frozen);
	se_list_free(&ks->building);
	ks->rebuilding = 0;
}

/*
 * One slice of the copy; the last hands the list to serviceentries (which
 * builds the registry on its own thread).  Queries are answered between
 * slices: at 100,000 entries the copy alone held the loop 60-90 ms.
 */
static void on_slice(evutil_socket_t fd, short what, void *arg)
{
	struct kube_source *ks = arg;
	double t0 = kube_now_ms();
	int rc;

	(void)fd;
	(void)what;
	rc = kube_frozen_to_list(&ks->frozen, &ks->building, REBUILD_SLICE);
	ks->rebuild_ms += kube_now_ms() - t0;
	if (rc == 0) {
		/* a timer, not event_active: the loop polls its sockets first */
		kube_arm(ks->slice_ev, 0);
		return;
	}
	if (rc < 0) {
		log_error("plugin/serviceentries: %s: out of memory building the entry list; keeping the previous registry",
			ks->label);
		rebuild_reset(ks);
		kube_arm(ks->rebuild_timer, 1000);
		return;
	}
	ks->objects = ks->frozen.n;
	ks->rebuilds++;
	ks->base.status.synced = 1;
	t0 = kube_now_ms();
	ks->base.update(ks->base.update_arg, &ks->building);
	/* serviceentries builds the registry off the loop, and gives the
	 * pages back (malloc_trim) once the old one is freed */
	rebuild_reset(ks);
	ks->last_rebuild_ms = ks->rebuild_ms + kube_now_ms() - t0;
	if (ks->rebuild_again) {
		ks->rebuild_again = 0;
		kube_arm(ks->rebuild_timer, 0);
	}
}

static void on_rebuild(evutil_socket_t fd, short what, void *arg)
{
	struct kube_source *ks = arg;
	double t0 = kube_now_ms();

	(void)fd;
	(void)what;
	if (!all_synced(ks))
		return;
	if (ks->rebuilding) {           /* once this one is in */
		ks->rebuild_again = 1;
		return;
	}
	for (size_t i = 0; i < ks->nscopes; i++)
		if (kube_store_freeze(&ks->scopes[i]->store, &ks->frozen) < 0)
			goto nomem;
	/* sized once: no slack to grow into */
	se_list_init(&ks->building);
	if ((ks->frozen.valid && !(ks->building.items = malloc(ks->frozen.valid * sizeof(*ks->building.items)))) ||
	    (ks->frozen.rejected && !(ks->building.rejects = malloc(ks->frozen.rejected * sizeof(*ks->building.rejects)))))
		goto nomem;
	ks->building.cap = ks->frozen.valid;
	ks->building.rejects_cap = ks->frozen.rejected;
	ks->rebuilding = 1;
	ks->rebuild_ms = kube_now_ms() - t0;
	on_slice(-1, 0, ks);
	return;
nomem:
	log_error("plugin/serviceentries: %s: out of memory building the entry list; keeping the previous registry",
		ks->label);
	rebuild_reset(ks);
	kube_arm(ks->rebuild_timer, 1000);
}

/* ---- life cycle ---- */

static int ks_start(struct se_source *s, struct event_base *base)
{
	struct kube_source *ks = (struct kube_source *)s;
	char err[256];

	ks->evbase = base;
	if (!(ks->rebuild_timer = evtimer_new(base, on_rebuild, ks))
	    || !(ks->slice_ev = evtimer_new(base, on_slice, ks)))
		return -1;
	if (kube_share_acquire(ks, err, sizeof(err)) < 0) {
		log_error("plugin/serviceentries: %s: %s", ks->label, err);
		return -1;
	}
	return 0;
}

static void ks_free(struct se_source *s)
{
	struct kube_source *ks = (struct kube_source *)s;

	if (!ks)
		return;
	if (ks->cl || ks->scopes)
		kube_share_release(ks);
	if (ks->rebuild_timer)
		event_free(ks->rebuild_timer);
	if (ks->slice_ev)
		event_free(ks->slice_ev);
	rebuild_reset(ks);
	kube_conn_clear(&ks->conn);
	for (size_t i = 0; i < ks->nns; i++)
		free(ks->ns[i]);
	free(ks->ns);
	free(ks->label);
	free(ks->identity);
	free(ks);
}

static int resolve_conn(const struct kube_source_conf *conf, struct kube_conn *c,
	char *err, size_t errlen)
{
	int rc;

	if (curl_lazy_load() < 0) {
		snprintf(err, errlen, "%s", curl_lazy_error());
		return -1;
	}
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

static int options(struct kube_source *ks, const struct kube_source_conf *conf,
	char *err, size_t errlen)
{
	struct kube_opts *o = &ks->o;

	o->poll_ms = conf->poll_ms > 0 ? conf->poll_ms : KUBE_DEFAULT_POLL_MS;
	o->resync_ms = conf->resync_ms > 0 ? conf->resync_ms : 0;
	o->timeout_ms = conf->timeout_ms > 0 ? conf->timeout_ms : KUBE_DEFAULT_TIMEOUT_MS;
	o->max_body = conf->max_body ? conf->max_body : KUBE_DEFAULT_MAX_BODY;
	o->backoff_min_ms = conf->backoff_min_ms > 0 ? conf->backoff_min_ms : KUBE_DEFAULT_BACKOFF_MIN_MS;
	o->backoff_max_ms = conf->backoff_max_ms > 0 ? conf->backoff_max_ms : KUBE_DEFAULT_BACKOFF_MAX_MS;
	if (o->backoff_max_ms < o->backoff_min_ms)
		o->backoff_max_ms = o->backoff_min_ms;
	o->coalesce_ms = conf->coalesce_ms > 0 ? conf->coalesce_ms : KUBE_DEFAULT_COALESCE_MS;
	o->nowatch = conf->nowatch;
	if (conf->api_version) {
		int found = 0;
		for (int i = 0; i < NVERSIONS; i++)
			if (strcmp(conf->api_version, kube_api_versions[i]) == 0) {
				o->vidx = i;
				found = 1;
			}
		if (!found) {
			snprintf(err, errlen, "api_version \"%s\": not one of v1, v1beta1, v1alpha3",
				conf->api_version);
			return -1;
		}
		o->version_fixed = 1;
	}
	return 0;
}

/* What the disk snapshot knows it by: the server and the namespaces read. */
static int set_identity(struct kube_source *ks)
{
	struct strbuf b = { .max = 1u << 16 };

	strbuf_printf(&b, "kubernetes %s", ks->conn.server ? ks->conn.server : "");
	for (size_t i = 0; i < ks->nns; i++)
		strbuf_printf(&b, "%s%s", i ? "," : " namespaces=", ks->ns[i]);
	if (!b.p || b.failed) {
		free(b.p);
		return -1;
	}
	ks->identity = b.p;
	ks->base.identity = ks->identity;
	return 0;
}

struct se_source *kube_source_new(const struct kube_source_conf *conf,
	se_update_fn update, void *arg, char *err, size_t errlen)
{
	struct kube_source *ks = calloc(1, sizeof(*ks));

	if (!ks) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ks->base.ops = &kube_source_ops;
	ks->base.update = update;
	ks->base.update_arg = arg;
	if (!(ks->label = strdup(conf->label ? conf->label : "serviceentries")))
		goto nomem;
	if (options(ks, conf, err, errlen) < 0 || resolve_conn(conf, &ks->conn, err, errlen) < 0)
		goto fail;
	if (conf->endpoint) {
		size_t l;
		if (strncmp(conf->endpoint, "https://", 8) != 0 && strncmp(conf->endpoint, "http://", 7) != 0) {
			snprintf(err, errlen, "endpoint \"%s\": not an http:// or https:// URL", conf->endpoint);
			goto fail;
		}
		kube_set_str(&ks->conn.server, conf->endpoint);
		if (!ks->conn.server)
			goto nomem;
		l = strlen(ks->conn.server);
		while (l > 0 && ks->conn.server[l - 1] == '/')
			ks->conn.server[--l] = '\0';
	}
	if (conf->tls_ca) {
		free(ks->conn.ca_pem);
		ks->conn.ca_pem = NULL;
		kube_set_str(&ks->conn.ca_file, conf->tls_ca);
	}
	if (conf->token_file) {
		free(ks->conn.token);
		ks->conn.token = NULL;
		kube_set_str(&ks->conn.token_file, conf->token_file);
	}
	/* which proxy: the cluster's proxy-url, else the environment as Go reads it */
	if (kube_proxy_resolve(&ks->conn, err, errlen) < 0)
		goto fail;
	if (conf->nnamespaces) {
		if (!(ks->ns = calloc(conf->nnamespaces + 1, sizeof(*ks->ns))))
			goto nomem;
		for (size_t i = 0; i < conf->nnamespaces; i++, ks->nns++)
			if (!(ks->ns[i] = strdup(conf->namespaces[i])))
				goto nomem;
	}
	if (set_identity(ks) < 0)
		goto nomem;
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	return &ks->base;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	ks_free(&ks->base);
	return NULL;
}

/* ---- metrics and introspection ---- */

/* The counters of a block: its informers' (shared ones counted for
 * each block that reads them). */
static void sum_stats(const struct kube_source *ks, struct kube_stats *t)
{
	memset(t, 0, sizeof(*t));
	t->api_version = "";
	for (size_t i = 0; i < ks->nscopes; i++) {
		const struct kube_stats *s = &ks->scopes[i]->stats;
#define SUM(f) t->f += s->f
		SUM(requests); SUM(lists); SUM(relists); SUM(list_pages); SUM(watches);
		SUM(streaming_lists); SUM(full_lists); SUM(watch_idle); SUM(watch_restarts);
		SUM(watch_events); SUM(bookmarks); SUM(transport_errors); SUM(decode_errors);
		SUM(oversize);
#undef SUM
		for (size_t c = 0; c < KUBE_STATS_CODES && s->http_errors[c].code; c++) {
			size_t j;
			for (j = 0; j < KUBE_STATS_CODES && t->http_errors[j].code &&
			     t->http_errors[j].code != s->http_errors[c].code; j++)
				;
			if (j == KUBE_STATS_CODES) {
				t->http_errors_other += s->http_errors[c].count;
				continue;
			}
			t->http_errors[j].code = s->http_errors[c].code;
			t->http_errors[j].count += s->http_errors[c].count;
		}
		t->http_errors_other += s->http_errors_other;
		if (s->api_version[0])
			t->api_version = s->api_version;
		if (s->last_sync > t->last_sync)
			t->last_sync = s->last_sync;
	}
}

/* The "cluster" label pair of a block's source of several, or the end of
 * the label list for its only one. */
#define CLUSTER_LABEL(s) (s)->cluster ? "cluster" : NULL, (s)->cluster

/* Its own counters (kube.h): watch restarts and API errors by code into
 * the globaldns_source_* families, the rest as globaldns_kubernetes_*. */
static void ks_collect(struct se_source *s, struct metrics_out *o,
	const char *zone)
{
	const struct kube_source *src = (const struct kube_source *)s;
	struct kube_stats st, *ks = &st;
	static const struct { const char *name, *help; size_t off; } c[] = {
		{ "globaldns_kubernetes_requests_total", "HTTP requests to the Kubernetes API.", offsetof(struct kube_stats, requests) },
		{ "globaldns_kubernetes_lists_total", "Complete lists of ServiceEntries (paginated or streaming).", offsetof(struct kube_stats, lists) },
		{ "globaldns_kubernetes_relists_total", "Lists after the first (410 Gone, resync).", offsetof(struct kube_stats, relists) },
		{ "globaldns_kubernetes_streaming_lists_total", "Lists done as a watch with sendInitialEvents.", offsetof(struct kube_stats, streaming_lists) },
		{ "globaldns_kubernetes_full_lists_total", "Full lists without limit after an expired continue token.", offsetof(struct kube_stats, full_lists) },
		{ "globaldns_kubernetes_watch_events_total", "Watch events applied (ADDED, MODIFIED, DELETED).", offsetof(struct kube_stats, watch_events) },
		{ "globaldns_kubernetes_watch_silent_total", "Watches given up after no byte for the read deadline.", offsetof(struct kube_stats, watch_idle) },
		{ "globaldns_kubernetes_transport_errors_total", "Connections, TLS handshakes and streams that failed or timed out.", offsetof(struct kube_stats, transport_errors) },
		{ "globaldns_kubernetes_decode_errors_total", "API bodies or events that were not the JSON expected.", offsetof(struct kube_stats, decode_errors) },
	};
	char num[32];

	sum_stats(src, &st);
	metrics_out_family(o, "globaldns_source_watch_restarts_total", METRICS_COUNTER,
		"Kubernetes watches restarted (expired, closed or failed).");
	metrics_out_family(o, "globaldns_source_api_errors_total", METRICS_COUNTER,
		"Failed Kubernetes API requests by HTTP status (0: no answer).");
	metrics_out_sample(o, "globaldns_source_watch_restarts_total", "",
		(double)ks->watch_restarts, "zone", zone, "source", "kubernetes", CLUSTER_LABEL(s), NULL);
	for (size_t i = 0; i < KUBE_STATS_CODES; i++) {
		if (!ks->http_errors[i].count)
			continue;
		snprintf(num, sizeof(num), "%d", ks->http_errors[i].code);
		metrics_out_sample(o, "globaldns_source_api_errors_total", "",
			(double)ks->http_errors[i].count, "zone", zone, "source", "kubernetes",
			"code", num, CLUSTER_LABEL(s), NULL);
	}
	if (ks->http_errors_other)
		metrics_out_sample(o, "globaldns_source_api_errors_total", "",
			(double)ks->http_errors_other, "zone", zone, "source", "kubernetes",
			"code", "other", CLUSTER_LABEL(s), NULL);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		metrics_out_family(o, c[i].name, METRICS_COUNTER, c[i].help);
		metrics_out_sample(o, c[i].name, "",
			(double)*(const unsigned long *)((const char *)ks + c[i].off), "zone", zone, CLUSTER_LABEL(s), NULL);
	}
	metrics_out_family(o, "globaldns_kubernetes_health_probes_total", METRICS_COUNTER,
		"HTTP/2 health probes sent on a connection silent for 30 s.");
	metrics_out_sample(o, "globaldns_kubernetes_health_probes_total", "",
		(double)http_client_probes(src->cl ? src->cl->http : NULL), "zone", zone, CLUSTER_LABEL(s), NULL);
	metrics_out_family(o, "globaldns_kubernetes_dead_connections_total", METRICS_COUNTER,
		"Connections shut down after a health probe went unanswered.");
	metrics_out_sample(o, "globaldns_kubernetes_dead_connections_total", "",
		(double)http_client_dead(src->cl ? src->cl->http : NULL), "zone", zone, CLUSTER_LABEL(s), NULL);
	metrics_out_family(o, "globaldns_kubernetes_objects", METRICS_GAUGE,
		"ServiceEntries held from the Kubernetes API.");
	metrics_out_sample(o, "globaldns_kubernetes_objects", "", (double)src->objects,
		"zone", zone, CLUSTER_LABEL(s), NULL);
}

/* What /registry shows of it beside the generic status. */
static void ks_introspect(struct se_source *s, cJSON *obj)
{
	const struct kube_source *ks = (const struct kube_source *)s;
	struct kube_stats st;
	cJSON *arr;

	sum_stats(ks, &st);
	cJSON_AddNumberToObject(obj, "watch_restarts", (double)st.watch_restarts);
	cJSON_AddStringToObject(obj, "server", ks->cl ? ks->cl->conn.server : ks->conn.server ? ks->conn.server : "");
	cJSON_AddStringToObject(obj, "api_version", st.api_version);
	cJSON_AddNumberToObject(obj, "objects", (double)ks->objects);
	cJSON_AddNumberToObject(obj, "last_rebuild_ms", ks->last_rebuild_ms);
	if (ks->cl) {
		cJSON_AddStringToObject(obj, "proxy", ks->cl->conn.proxy ? ks->cl->conn.proxy : "");
		cJSON_AddStringToObject(obj, "lists", ks->cl->o.nowatch ? "poll" :
			ks->cl->stream_lists ? "streaming" : "paginated");
	}
	arr = cJSON_AddArrayToObject(obj, "informers");
	for (size_t i = 0; arr && i < ks->nscopes; i++) {
		const struct kscope *sc = ks->scopes[i];
		cJSON *x = cJSON_CreateObject();
		if (!x)
			break;
		if (sc->ns)
			cJSON_AddStringToObject(x, "namespace", sc->ns);
		else
			cJSON_AddNullToObject(x, "namespace");
		cJSON_AddNumberToObject(x, "blocks", (double)sc->nsubs);
		cJSON_AddBoolToObject(x, "synced", sc->synced);
		cJSON_AddStringToObject(x, "resource_version", sc->rv ? sc->rv : "");
		cJSON_AddNumberToObject(x, "objects", (double)sc->store.n);
		cJSON_AddNumberToObject(x, "store_bytes", (double)kube_store_bytes(&sc->store));
		cJSON_AddNumberToObject(x, "lists", (double)sc->stats.lists);
		cJSON_AddNumberToObject(x, "watches", (double)sc->stats.watches);
		cJSON_AddItemToArray(arr, x);
	}
}
