/*
 * kube_share.c -- shared informers: the process-wide table of API clients
 * and their informers, found by key and counted (kube.h has the design).
 *
 * A client's key is everything that makes its requests what they are:
 * the server, the TLS settings, the credentials (a token by value, files
 * by path, PEM data by a hash), the proxy, the extra headers, and the
 * options (timeouts, limits, back-off, api_version, watch or poll,
 * resync).  An informer's key adds its namespace.  Blocks that configure
 * the same find the same: one list and one watch for all of them, and
 * each is told when an informer changes (a coalesced rebuild) or its
 * state does (the block's status: synced, errors, counts).
 *
 * The table is a module-level list, not something in the core: a source
 * is started with the event base only, every block of a process runs on
 * that one loop, and the base is part of the key.  A reload starts the
 * new blocks before it frees the old ones, so an informer whose settings
 * did not change is found running, with its store and its watch.
 */
#include "kube_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "globaldns/log.h"
#include "globaldns/util.h"

static struct kube_client *clients;

static void key_str(struct strbuf *b, const char *name, const char *v)
{
	strbuf_printf(b, "%s=%s\x1f", name, v ? v : "");
}

static void key_blob(struct strbuf *b, const char *name, const char *v, size_t n)
{
	strbuf_printf(b, "%s=%zu:%016llx\x1f", name, v ? n : 0,
		v ? (unsigned long long)hash_fnv1a(HASH_FNV1A_INIT, v, n) : 0ull);
}

/* The client key of a source: its connection and options. */
static char *client_key(const struct kube_source *ks)
{
	const struct kube_conn *c = &ks->conn;
	const struct kube_opts *o = &ks->o;
	struct strbuf b = { .max = 1u << 20 };

	key_str(&b, "server", c->server);
	key_str(&b, "ca", c->ca_file);
	key_blob(&b, "ca_pem", c->ca_pem, c->ca_pem_len);
	strbuf_printf(&b, "insecure=%d\x1f", c->insecure);
	key_str(&b, "sni", c->tls_server_name);
	key_str(&b, "token", c->token);
	key_str(&b, "token_file", c->token_file);
	key_str(&b, "kubeconfig", c->kubeconfig_paths);
	key_str(&b, "context", c->kubeconfig_context);
	key_str(&b, "cert", c->cert_file);
	key_str(&b, "key", c->key_file);
	key_blob(&b, "cert_pem", c->cert_pem, c->cert_pem_len);
	key_blob(&b, "key_pem", c->key_pem, c->key_pem_len);
	key_str(&b, "user", c->username);
	key_str(&b, "password", c->password);
	if (c->exec) {
		key_str(&b, "exec", c->exec->command);
		for (size_t i = 0; i < c->exec->nargs; i++)
			key_str(&b, "arg", c->exec->args[i]);
		for (size_t i = 0; i < c->exec->nenv; i++)
			key_str(&b, "env", c->exec->env[i]);
		key_str(&b, "exec_api", c->exec->api_version);
		strbuf_printf(&b, "exec_info=%d\x1f", c->exec->provide_cluster_info);
		key_str(&b, "exec_config", c->exec_config);
	}
	for (size_t i = 0; i < c->nheaders; i++)
		key_str(&b, "header", c->headers[i]);
	key_str(&b, "proxy", c->proxy);
	strbuf_printf(&b, "gzip=%d\x1f", !c->disable_compression);
	strbuf_printf(&b, "opts=%ld,%ld,%ld,%ld,%ld,%ld,%zu,%d,%d,%d\x1f", o->timeout_ms,
		o->backoff_min_ms, o->backoff_max_ms, o->poll_ms, o->resync_ms, o->coalesce_ms,
		o->max_body, o->nowatch, o->version_fixed ? o->vidx : -1, 0);
	if (!b.p || b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

static void client_free(struct kube_client *cl)
{
	if (!cl)
		return;
	kube_auth_free(cl->auth);
	http_client_free(cl->http);
	kube_conn_clear(&cl->conn);
	free(cl->key);
	free(cl->label);
	free(cl->health_url);
	free(cl);
}

/* Find or make the client for ks (taking its connection if made). */
static struct kube_client *client_get(struct kube_source *ks)
{
	char *key = client_key(ks);
	struct kube_client *cl;
	size_t n;

	if (!key)
		return NULL;
	for (cl = clients; cl; cl = cl->next)
		if (cl->base == ks->evbase && strcmp(cl->key, key) == 0) {
			free(key);
			cl->refs++;
			return cl;
		}
	if (!(cl = calloc(1, sizeof(*cl)))) {
		free(key);
		return NULL;
	}
	cl->key = key;
	cl->refs = 1;
	cl->base = ks->evbase;
	cl->o = ks->o;
	cl->vidx = ks->o.vidx;
	cl->stream_lists = !ks->o.nowatch;
	cl->conn = ks->conn;            /* moved: the client owns it now */
	memset(&ks->conn, 0, sizeof(ks->conn));
	n = strlen(cl->conn.server) + sizeof("/version");
	cl->label = strdup(ks->label);
	cl->health_url = malloc(n);
	cl->http = http_client_new(ks->evbase);
	cl->auth = kube_auth_new(ks->evbase, &cl->conn, ks->label, kube_on_auth_done, cl);
	if (!cl->label || !cl->health_url || !cl->http || !cl->auth) {
		client_free(cl);
		return NULL;
	}
	snprintf(cl->health_url, n, "%s/version", cl->conn.server);
	cl->next = clients;
	clients = cl;
	log_info("plugin/serviceentries: %s: reading ServiceEntries from %s (%s%s%s%s)",
		ks->label, cl->conn.server, cl->conn.origin ? cl->conn.origin : "no credentials",
		cl->conn.proxy && *cl->conn.proxy ? ", through proxy " : "",
		cl->conn.proxy && *cl->conn.proxy ? cl->conn.proxy : "",
		cl->o.nowatch ? ", polling" : "");
	return cl;
}

static void client_put(struct kube_client *cl)
{
	if (!cl || --cl->refs > 0)
		return;
	for (struct kube_client **p = &clients; *p; p = &(*p)->next)
		if (*p == cl) {
			*p = cl->next;
			break;
		}
	client_free(cl);
}

static int subscribe(struct kscope *sc, struct kube_source *ks)
{
	if (grow_array((void **)&sc->subs, &sc->subs_cap, sc->nsubs + 1, sizeof(*sc->subs)) < 0)
		return -1;
	sc->subs[sc->nsubs++] = ks;
	return 0;
}

static void unsubscribe(struct kscope *sc, const struct kube_source *ks)
{
	for (size_t i = 0; i < sc->nsubs; i++)
		if (sc->subs[i] == ks) {
			sc->subs[i] = sc->subs[--sc->nsubs];
			return;
		}
}

/* The store of sc changed: the blocks that read it rebuild (coalesced, and
 * never more often than a rebuild takes: half the time at most goes to
 * rebuilding however fast changes come). */
static void share_changed(struct kscope *sc, int now)
{
	for (size_t i = 0; i < sc->nsubs; i++) {
		struct kube_source *ks = sc->subs[i];
		long ms = now ? 0 : ks->o.coalesce_ms;
		if (!now && ks->last_rebuild_ms > (double)ms)
			ms = (long)ks->last_rebuild_ms;
		if (now || !event_pending(ks->rebuild_timer, EV_TIMEOUT, NULL))
			kube_arm(ks->rebuild_timer, ms);
	}
}

/* The generic status of a block from its informers. */
static void refresh_status(struct kube_source *ks)
{
	struct se_source_status *st = &ks->base.status;
	int was_failing = st->last_error[0] != '\0';

	st->last_success = st->last_attempt = 0;
	st->syncs_ok = st->syncs_failed = 0;
	st->last_error[0] = '\0';
	for (size_t i = 0; i < ks->nscopes; i++) {
		const struct kscope *sc = ks->scopes[i];
		if (sc->last_success > st->last_success)
			st->last_success = sc->last_success;
		if (sc->last_attempt > st->last_attempt)
			st->last_attempt = sc->last_attempt;
		st->syncs_ok += sc->syncs_ok;
		st->syncs_failed += sc->syncs_failed;
		if (!st->last_error[0] && sc->last_error[0])
			snprintf(st->last_error, sizeof(st->last_error), "%s", sc->last_error);
	}
	/* staleness: in sync until the first failure, again once none is left */
	if (!st->last_error[0])
		st->good_until = 0;
	else if (!was_failing || !st->good_until)
		st->good_until = st->synced ? time(NULL) : 0;
}

static void share_status(struct kscope *sc)
{
	for (size_t i = 0; i < sc->nsubs; i++)
		refresh_status(sc->subs[i]);
}

/* Find or make (and start) the informer of cl for ns. */
static struct kscope *scope_get(struct kube_client *cl, const char *ns, int *made)
{
	struct kscope *sc;
	const char *want = ns ? ns : "";

	*made = 0;
	for (sc = cl->scopes; sc; sc = sc->next)
		if (strcmp(sc->key, want) == 0) {
			sc->refs++;
			return sc;
		}
	if (!(sc = calloc(1, sizeof(*sc))))
		return NULL;
	sc->cl = cl;
	sc->refs = 1;
	sc->changed = share_changed;
	sc->status_changed = share_status;
	sc->stats.api_version = "";
	kube_lines_init(&sc->lines, cl->o.max_body);
	if (!(sc->key = strdup(want)) || (ns && !(sc->ns = strdup(ns))) ||
	    kube_scope_init(sc) < 0) {
		kube_scope_clear(sc);
		free(sc->key);
		free(sc);
		return NULL;
	}
	sc->next = cl->scopes;
	cl->scopes = sc;
	cl->refs++;                     /* each informer holds its client */
	*made = 1;
	return sc;
}

static void scope_put(struct kscope *sc)
{
	struct kube_client *cl;

	if (!sc || --sc->refs > 0)
		return;
	cl = sc->cl;
	for (struct kscope **p = &cl->scopes; *p; p = &(*p)->next)
		if (*p == sc) {
			*p = sc->next;
			break;
		}
	kube_scope_clear(sc);
	free(sc->subs);
	free(sc->key);
	free(sc);
	client_put(cl);
}

int kube_share_acquire(struct kube_source *ks, char *err, size_t errlen)
{
	size_t n = ks->nns ? ks->nns : 1;
	int made;

	if (!(ks->cl = client_get(ks))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (!(ks->scopes = calloc(n, sizeof(*ks->scopes)))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct kscope *sc = scope_get(ks->cl, ks->nns ? ks->ns[i] : NULL, &made);
		if (!sc || subscribe(sc, ks) < 0) {
			scope_put(sc);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		ks->scopes[ks->nscopes++] = sc;
		if (made)
			kube_scope_start(sc);
		else if (sc->synced)
			share_changed(sc, 1);      /* serve what it holds, now */
		share_status(sc);
	}
	return 0;
}

void kube_share_release(struct kube_source *ks)
{
	for (size_t i = 0; i < ks->nscopes; i++) {
		unsubscribe(ks->scopes[i], ks);
		scope_put(ks->scopes[i]);
	}
	free(ks->scopes);
	ks->scopes = NULL;
	ks->nscopes = 0;
	client_put(ks->cl);
	ks->cl = NULL;
}
