/*
 * kube_source.c -- the Kubernetes API source as an se_source (source.h):
 * which API server and credentials (kubeconfig.h), its life cycle, the
 * rebuild that hands the scopes' objects to serviceentries as one list,
 * and its own metrics and /registry fields.  The list/watch state machine
 * of each scope is kube_scope.c's; kube.h has the design.
 */
#include "kube_scope.h"

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

/* ---- rebuild: the scopes' objects as one list ---- */

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
	double t0 = kube_now_ms();
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
			kube_arm(ks->rebuild_timer, 1000);
			return;
		}
	}
	ks->stats.objects = objects;
	ks->stats.rebuilds++;
	ks->base.status.synced = 1;
	ks->base.update(ks->base.update_arg, &l);
	se_list_free(&l);
	ks->stats.last_rebuild_ms = kube_now_ms() - t0;
}


/* ---- life cycle ---- */

static int ks_start(struct se_source *s, struct event_base *base)
{
	struct kube_source *ks = (struct kube_source *)s;

	ks->evbase = base;
	ks->http = http_client_new(base);
	ks->rebuild_timer = evtimer_new(base, on_rebuild, ks);
	ks->auth = kube_auth_new(base, &ks->conn, ks->label, kube_on_auth_done, ks);
	if (!ks->http || !ks->rebuild_timer || !ks->auth)
		return -1;
	for (size_t i = 0; i < ks->nscopes; i++)
		if (kube_scope_init(&ks->scopes[i], base) < 0)
			return -1;
	log_info("plugin/serviceentries: %s: reading ServiceEntries from %s (%s%s%s)",
		ks->label, ks->conn.server, ks->conn.origin ? ks->conn.origin : "no credentials",
		ks->nowatch ? ", polling" : "", ks->version_fixed ? "" : "");
	for (size_t i = 0; i < ks->nscopes; i++)
		kube_scope_start(&ks->scopes[i]);
	return 0;
}

static void ks_free(struct se_source *s)
{
	struct kube_source *ks = (struct kube_source *)s;

	if (!ks)
		return;
	for (size_t i = 0; i < ks->nscopes; i++)
		kube_scope_clear(&ks->scopes[i]);
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
	ks->base.ops = &kube_source_ops;
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
			if (strcmp(conf->api_version, kube_api_versions[i]) == 0) {
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

/* ---- metrics and introspection ---- */

/* Its own counters (kube.h): watch restarts and API errors by code into
 * the globaldns_source_* families, the rest as globaldns_kubernetes_*. */
static void ks_collect(struct se_source *s, struct metrics_out *o,
	const char *zone)
{
	const struct kube_stats *ks = &((const struct kube_source *)s)->stats;
	static const struct { const char *name, *help; size_t off; } c[] = {
		{ "globaldns_kubernetes_requests_total", "HTTP requests to the Kubernetes API.", offsetof(struct kube_stats, requests) },
		{ "globaldns_kubernetes_lists_total", "Complete lists of ServiceEntries.", offsetof(struct kube_stats, lists) },
		{ "globaldns_kubernetes_relists_total", "Lists restarted (410 Gone, poll, watch errors).", offsetof(struct kube_stats, relists) },
		{ "globaldns_kubernetes_watch_events_total", "Watch events applied (ADDED, MODIFIED, DELETED).", offsetof(struct kube_stats, watch_events) },
		{ "globaldns_kubernetes_transport_errors_total", "Connections, TLS handshakes and streams that failed or timed out.", offsetof(struct kube_stats, transport_errors) },
		{ "globaldns_kubernetes_decode_errors_total", "API bodies or events that were not the JSON expected.", offsetof(struct kube_stats, decode_errors) },
	};
	char num[32];

	metrics_out_family(o, "globaldns_source_watch_restarts_total", METRICS_COUNTER,
		"Kubernetes watches restarted (expired, closed or failed).");
	metrics_out_family(o, "globaldns_source_api_errors_total", METRICS_COUNTER,
		"Failed Kubernetes API requests by HTTP status (0: no answer).");
	metrics_out_sample(o, "globaldns_source_watch_restarts_total", "",
		(double)ks->watch_restarts, "zone", zone, "source", "kubernetes", NULL);
	for (size_t i = 0; i < KUBE_STATS_CODES; i++) {
		if (!ks->http_errors[i].count)
			continue;
		snprintf(num, sizeof(num), "%d", ks->http_errors[i].code);
		metrics_out_sample(o, "globaldns_source_api_errors_total", "",
			(double)ks->http_errors[i].count, "zone", zone, "source", "kubernetes",
			"code", num, NULL);
	}
	if (ks->http_errors_other)
		metrics_out_sample(o, "globaldns_source_api_errors_total", "",
			(double)ks->http_errors_other, "zone", zone, "source", "kubernetes",
			"code", "other", NULL);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		metrics_out_family(o, c[i].name, METRICS_COUNTER, c[i].help);
		metrics_out_sample(o, c[i].name, "",
			(double)*(const unsigned long *)((const char *)ks + c[i].off), "zone", zone, NULL);
	}
	metrics_out_family(o, "globaldns_kubernetes_objects", METRICS_GAUGE,
		"ServiceEntries held from the Kubernetes API.");
	metrics_out_sample(o, "globaldns_kubernetes_objects", "", (double)ks->objects,
		"zone", zone, NULL);
}

/* What /registry shows of it beside the generic status. */
static void ks_introspect(struct se_source *s, cJSON *obj)
{
	const struct kube_source *ks = (const struct kube_source *)s;

	cJSON_AddNumberToObject(obj, "watch_restarts", (double)ks->stats.watch_restarts);
	cJSON_AddStringToObject(obj, "server", ks->conn.server ? ks->conn.server : "");
	cJSON_AddStringToObject(obj, "api_version", ks->stats.api_version);
	cJSON_AddNumberToObject(obj, "objects", (double)ks->stats.objects);
}

