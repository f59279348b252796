/*
 * source_kube.c -- ServiceEntries from the Kubernetes API (kube.h has the
 * design): paginated lists, watches, back-off, version discovery, tokens
 * and exec credential plugins, and the coalesced rebuild that hands whole
 * lists to the `serviceentries` plugin.
 *
 * Everything runs on the event loop: HTTP through http_client (libcurl
 * multi), exec plugins through a pipe watched by libevent, timers for
 * back-off, polls and the rebuild.  Nothing here blocks.
 */
#define _GNU_SOURCE 1

#include "globaldns/kube.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "globaldns/http_client.h"
#include "globaldns/kubeconfig.h"
#include "globaldns/log.h"

extern char **environ;

#define TOKEN_REREAD_S 60
#define EXEC_TIMEOUT_MS 30000L
#define EXEC_MAX_OUTPUT (1024u * 1024)
#define EXEC_EXPIRY_MARGIN_S 10
#define WATCH_MIN_TIMEOUT_S 300
#define WATCH_QUICK_END_MS 1000

static const char *const api_versions[] = { "v1", "v1beta1", "v1alpha3" };
#define NVERSIONS 3

/* ---- line framing and event decoding (pure, unit-tested) ---- */

void kube_lines_init(struct kube_lines *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->max = max ? max : KUBE_DEFAULT_MAX_BODY;
}

void kube_lines_reset(struct kube_lines *l)
{
	l->len = 0;
}

void kube_lines_free(struct kube_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

static int emit_line(const char *s, size_t n, kube_line_fn fn, void *arg)
{
	if (n && s[n - 1] == '\r')
		n--;
	if (n == 0)
		return 0;
	return fn(arg, s, n) < 0 ? -2 : 0;
}

int kube_lines_feed(struct kube_lines *l, const char *data, size_t len,
	kube_line_fn fn, void *arg)
{
	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		int rc;

		if (take > l->max - l->len) {
			l->len = 0;
			return -1;
		}
		if (!nl) {
			if (l->len + take > l->cap) {
				size_t cap = l->cap ? l->cap : 4096;
				char *b;
				while (cap < l->len + take)
					cap *= 2;
				if (!(b = realloc(l->buf, cap))) {
					l->len = 0;
					return -1;
				}
				l->buf = b;
				l->cap = cap;
			}
			memcpy(l->buf + l->len, data, take);
			l->len += take;
			return 0;
		}
		if (l->len == 0) {
			/* the whole line is in this piece: no copy */
			rc = emit_line(data, take, fn, arg);
		} else {
			if (l->len + take > l->cap) {
				size_t cap = l->cap;
				char *b;
				while (cap < l->len + take)
					cap *= 2;
				if (!(b = realloc(l->buf, cap))) {
					l->len = 0;
					return -1;
				}
				l->buf = b;
				l->cap = cap;
			}
			memcpy(l->buf + l->len, data, take);
			rc = emit_line(l->buf, l->len + take, fn, arg);
			l->len = 0;
		}
		if (rc < 0)
			return rc;
		data += take + 1;
		len -= take + 1;
	}
	return 0;
}

cJSON *kube_event_parse(const char *line, size_t len, enum kube_event_type *type,
	const cJSON **obj, char *err, size_t errlen)
{
	static const char *const names[] = {
		[KUBE_EV_ADDED] = "ADDED", [KUBE_EV_MODIFIED] = "MODIFIED",
		[KUBE_EV_DELETED] = "DELETED", [KUBE_EV_BOOKMARK] = "BOOKMARK",
		[KUBE_EV_ERROR] = "ERROR",
	};
	cJSON *doc = cJSON_ParseWithLength(line, len);
	const cJSON *t, *o;
	size_t i;

	if (!doc) {
		snprintf(err, errlen, "watch event is not JSON");
		return NULL;
	}
	t = cJSON_GetObjectItemCaseSensitive(doc, "type");
	o = cJSON_GetObjectItemCaseSensitive(doc, "object");
	if (!cJSON_IsObject(doc) || !cJSON_IsString(t)) {
		snprintf(err, errlen, "watch event without a \"type\" string");
		goto fail;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(t->valuestring, names[i]) == 0)
			break;
	if (i == sizeof(names) / sizeof(names[0])) {
		snprintf(err, errlen, "watch event of unknown type \"%.32s\"", t->valuestring);
		goto fail;
	}
	if (!cJSON_IsObject(o)) {
		snprintf(err, errlen, "watch event %s without an object", names[i]);
		goto fail;
	}
	*type = (enum kube_event_type)i;
	*obj = o;
	return doc;
fail:
	cJSON_Delete(doc);
	return NULL;
}

static const char *status_text(long code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 410: return "Gone";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

/* Printable, one line, at most n bytes of s; blanks collapsed. */
static void clip(char *dst, size_t dstlen, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f) {
			if (o && dst[o - 1] != ' ')
				dst[o++] = ' ';
			continue;
		}
		dst[o++] = (char)c;
	}
	while (o && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}

void kube_status_summary(long code, const char *body, size_t len,
	char *out, size_t outlen, long *retry_after)
{
	cJSON *doc = (len && body[0] == '{') ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(doc, "message");
	const cJSON *det = cJSON_GetObjectItemCaseSensitive(doc, "details");
	const cJSON *ra = cJSON_GetObjectItemCaseSensitive(det, "retryAfterSeconds");
	char text[300];

	if (cJSON_IsString(msg)) {
		clip(text, sizeof(text), msg->valuestring, strlen(msg->valuestring));
	} else {
		clip(text, sizeof(text), body, len > 200 ? 200 : len);
	}
	if (cJSON_IsNumber(ra) && ra->valuedouble >= 0 && ra->valuedouble < 86400 && retry_after)
		*retry_after = (long)ra->valuedouble;
	snprintf(out, outlen, "HTTP %ld%s%s%s%s", code, *status_text(code) ? " " : "",
		status_text(code), text[0] ? ": " : "", text);
	cJSON_Delete(doc);
}

/* ---- the object store: ServiceEntries of one scope by namespace/name ---- */

struct kobj {
	struct kobj *next;              /* hash chain */
	char *key;                      /* "ns/name" */
	char *rv;
	int valid;
	struct se_entry e;              /* if valid */
	char *ns, *name, *reason;       /* if not */
};

struct kstore {
	struct kobj **b;
	size_t nb, n;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static void kobj_free(struct kobj *o)
{
	if (!o)
		return;
	free(o->key);
	free(o->rv);
	se_entry_clear(&o->e);
	free(o->ns);
	free(o->name);
	free(o->reason);
	free(o);
}

static void store_clear(struct kstore *s)
{
	for (size_t i = 0; i < s->nb; i++) {
		struct kobj *o = s->b[i], *nx;
		for (; o; o = nx) {
			nx = o->next;
			kobj_free(o);
		}
	}
	free(s->b);
	memset(s, 0, sizeof(*s));
}

static struct kobj **store_slot(const struct kstore *s, const char *key)
{
	struct kobj **p;

	if (!s->nb)
		return NULL;
	p = &s->b[hash_str(key) & (s->nb - 1)];
	while (*p && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

static struct kobj *store_get(const struct kstore *s, const char *key)
{
	struct kobj **p = store_slot(s, key);

	return p ? *p : NULL;
}

static int store_grow(struct kstore *s)
{
	size_t nb = s->nb ? s->nb * 2 : 64;
	struct kobj **b = calloc(nb, sizeof(*b));

	if (!b)
		return -1;
	for (size_t i = 0; i < s->nb; i++) {
		struct kobj *o = s->b[i], *nx;
		for (; o; o = nx) {
			size_t h = hash_str(o->key) & (nb - 1);
			nx = o->next;
			o->next = b[h];
			b[h] = o;
		}
	}
	free(s->b);
	s->b = b;
	s->nb = nb;
	return 0;
}

/* Insert or replace (the store takes o); 0 or -1 (o then still the caller's). */
static int store_put(struct kstore *s, struct kobj *o)
{
	struct kobj **p;

	if ((s->n + 1 > s->nb * 2 || !s->nb) && store_grow(s) < 0)
		return -1;
	p = store_slot(s, o->key);
	if (*p) {
		o->next = (*p)->next;
		kobj_free(*p);
		*p = o;
		return 0;
	}
	o->next = NULL;
	*p = o;
	s->n++;
	return 0;
}

static void store_del(struct kstore *s, const char *key)
{
	struct kobj **p = store_slot(s, key), *o;

	if (!p || !*p)
		return;
	o = *p;
	*p = o->next;
	kobj_free(o);
	s->n--;
}

static char **strv_dup(char *const *v, size_t n)
{
	char **r = calloc(n ? n : 1, sizeof(*r));

	if (!r)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(r[i] = strdup(v[i]))) {
			while (i--)
				free(r[i]);
			free(r);
			return NULL;
		}
	return r;
}

static char *sdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Deep copy of an entry; 0 or -1 (dst cleared). */
static int entry_copy(struct se_entry *dst, const struct se_entry *src)
{
	memset(dst, 0, sizeof(*dst));
	dst->resolution = src->resolution;
	if ((src->ns && !(dst->ns = strdup(src->ns))) ||
	    (src->name && !(dst->name = strdup(src->name))) ||
	    (src->uid && !(dst->uid = strdup(src->uid))) ||
	    (src->resource_version && !(dst->resource_version = strdup(src->resource_version))))
		goto fail;
	if (src->nhosts) {
		if (!(dst->hosts = strv_dup(src->hosts, src->nhosts)))
			goto fail;
		dst->nhosts = src->nhosts;
	}
	if (src->naddrs) {
		if (!(dst->addrs = malloc(src->naddrs * sizeof(*dst->addrs))))
			goto fail;
		memcpy(dst->addrs, src->addrs, src->naddrs * sizeof(*dst->addrs));
		dst->naddrs = src->naddrs;
	}
	if (src->nstatus_addrs) {
		dst->status_addrs = calloc(src->nstatus_addrs, sizeof(*dst->status_addrs));
		if (!dst->status_addrs)
			goto fail;
		dst->nstatus_addrs = src->nstatus_addrs;
		for (size_t i = 0; i < src->nstatus_addrs; i++) {
			dst->status_addrs[i].addr = src->status_addrs[i].addr;
			if (src->status_addrs[i].host &&
			    !(dst->status_addrs[i].host = strdup(src->status_addrs[i].host)))
				goto fail;
		}
	}
	return 0;
fail:
	se_entry_clear(dst);
	return -1;
}

static struct kobj *kobj_clone(const struct kobj *o)
{
	struct kobj *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->valid = o->valid;
	if (!(c->key = strdup(o->key)) || (o->rv && !(c->rv = strdup(o->rv))) ||
	    (o->valid && entry_copy(&c->e, &o->e) < 0) ||
	    (o->ns && !(c->ns = strdup(o->ns))) || (o->name && !(c->name = strdup(o->name))) ||
	    (o->reason && !(c->reason = strdup(o->reason)))) {
		kobj_free(c);
		return NULL;
	}
	return c;
}

/* metadata.namespace / name / resourceVersion as strings, or NULL. */
static const char *meta_str(const cJSON *obj, const char *key)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *make_key(const cJSON *obj)
{
	const char *ns = meta_str(obj, "namespace"), *name = meta_str(obj, "name");
	size_t n;
	char *k;

	if (!name || !*name)
		return NULL;
	if (!ns || !*ns)
		ns = "default";
	n = strlen(ns) + strlen(name) + 2;
	if ((k = malloc(n)))
		snprintf(k, n, "%s/%s", ns, name);
	return k;
}

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
	struct kstore store, pending;
	int synced;
	char *rv;                       /* resourceVersion to watch from */
	char *cont;                     /* continue token of the list in progress */
	enum scope_state state;
	enum scope_next next;           /* what the timer / auth wait leads to */
	struct http_req *req;
	int req_vidx;                   /* version the request used */
	struct event *timer;            /* back-off, poll */
	struct event *poll_timer;       /* re-list while watching */
	struct kube_lines lines;
	unsigned failures;              /* consecutive, for the back-off */
	unsigned expired;               /* consecutive 410s on continue */
	int auth_retried;               /* a 401 was answered with a re-read */
	unsigned long watch_events;     /* on the current stream */
	struct timespec watch_start;
	int watch_relist;               /* ERROR 410 seen: list again */
	char watch_err[300];            /* why on_data stopped the stream */
	char errkey[96];                /* the failing state last logged */
	int watch_failing;              /* errkey is a watch failure: lists do not clear it */
	char origin[512];               /* URL without the query, for logs */
};

struct kube_source {
	struct se_source base;
	struct kube_conn conn;
	char *label;
	char **namespaces;
	size_t nnamespaces;
	long poll_ms, timeout_ms, backoff_min_ms, backoff_max_ms, coalesce_ms;
	size_t max_body;
	int nowatch;
	int vidx, version_fixed;
	struct event_base *evbase;
	struct http_client *http;
	struct kscope *scopes;
	size_t nscopes;
	struct event *rebuild_timer;
	struct kube_stats stats;
	/* token from a file */
	char *file_token;
	time_t file_token_read;
	char file_token_err[256];
	/* exec plugin */
	char *exec_token, *exec_cert, *exec_key;
	long long exec_expires;
	pid_t exec_pid;
	int exec_fd;
	struct event *exec_ev, *exec_timer;
	char *exec_out;
	size_t exec_len;
	struct timespec exec_started;
	char exec_err[300];
	unsigned exec_failures;
};

static void scope_go(struct kscope *sc);
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

/* ---- credentials ---- */

static void exec_reset(struct kube_source *ks)
{
	if (ks->exec_ev) {
		event_free(ks->exec_ev);
		ks->exec_ev = NULL;
	}
	if (ks->exec_timer)
		event_del(ks->exec_timer);
	if (ks->exec_fd >= 0) {
		close(ks->exec_fd);
		ks->exec_fd = -1;
	}
	if (ks->exec_pid > 0) {
		kill(ks->exec_pid, SIGKILL);
		waitpid(ks->exec_pid, NULL, 0);
		ks->exec_pid = 0;
	}
	free(ks->exec_out);
	ks->exec_out = NULL;
	ks->exec_len = 0;
}

static void kick_auth_waiters(struct kube_source *ks)
{
	for (size_t i = 0; i < ks->nscopes; i++)
		if (ks->scopes[i].state == SC_AUTH)
			scope_go(&ks->scopes[i]);
}

static void fail_auth_waiters(struct kube_source *ks)
{
	for (size_t i = 0; i < ks->nscopes; i++)
		if (ks->scopes[i].state == SC_AUTH)
			scope_fail(&ks->scopes[i], "credentials", ks->exec_err, -1);
}

static void exec_finish(struct kube_source *ks, int status)
{
	char *tok = NULL, *cert = NULL, *key = NULL;
	long long exp = 0;
	char err[256];

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(ks->exec_err, sizeof(ks->exec_err),
			"exec plugin %s: %s %d", ks->conn.exec->command,
			WIFEXITED(status) ? "exited with status" : "killed by signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	} else if (kube_exec_credential_parse(ks->exec_out ? ks->exec_out : "", ks->exec_len,
			&tok, &exp, &cert, &key, err, sizeof(err)) < 0) {
		snprintf(ks->exec_err, sizeof(ks->exec_err), "exec plugin %s: %s",
			ks->conn.exec->command, err);
	} else {
		free(ks->exec_token);
		free(ks->exec_cert);
		free(ks->exec_key);
		ks->exec_token = tok;
		ks->exec_cert = cert;
		ks->exec_key = key;
		ks->exec_expires = exp;
		ks->exec_err[0] = '\0';
		ks->exec_failures = 0;
		log_debug("plugin/serviceentries: %s: exec plugin gave a credential%s",
			ks->label, exp ? " with an expiry" : "");
		exec_reset(ks);
		kick_auth_waiters(ks);
		return;
	}
	ks->exec_failures++;
	exec_reset(ks);
	fail_auth_waiters(ks);
}

static void exec_poll_exit(struct kube_source *ks)
{
	int status;
	pid_t r = waitpid(ks->exec_pid, &status, WNOHANG);

	if (r == ks->exec_pid) {
		ks->exec_pid = 0;
		exec_finish(ks, status);
		return;
	}
	/* stdout closed but still running: look again shortly (bounded by the timeout) */
	if (now_ms() - ((double)ks->exec_started.tv_sec * 1000.0 +
	    (double)ks->exec_started.tv_nsec / 1e6) > EXEC_TIMEOUT_MS) {
		snprintf(ks->exec_err, sizeof(ks->exec_err), "exec plugin %s: timed out",
			ks->conn.exec->command);
		ks->exec_failures++;
		exec_reset(ks);
		fail_auth_waiters(ks);
		return;
	}
	arm(ks->exec_timer, 20);
}

static void on_exec_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kube_source *ks = arg;

	(void)fd;
	(void)what;
	if (ks->exec_fd >= 0) {         /* the overall timeout while reading */
		snprintf(ks->exec_err, sizeof(ks->exec_err), "exec plugin %s: timed out",
			ks->conn.exec->command);
		ks->exec_failures++;
		exec_reset(ks);
		fail_auth_waiters(ks);
		return;
	}
	exec_poll_exit(ks);
}

static void on_exec_read(evutil_socket_t fd, short what, void *arg)
{
	struct kube_source *ks = arg;
	char buf[8192];
	ssize_t n;

	(void)what;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		char *b;
		if (ks->exec_len + (size_t)n > EXEC_MAX_OUTPUT) {
			snprintf(ks->exec_err, sizeof(ks->exec_err),
				"exec plugin %s: output larger than %u bytes",
				ks->conn.exec->command, EXEC_MAX_OUTPUT);
			ks->exec_failures++;
			exec_reset(ks);
			fail_auth_waiters(ks);
			return;
		}
		if (!(b = realloc(ks->exec_out, ks->exec_len + (size_t)n + 1)))
			return;
		ks->exec_out = b;
		memcpy(b + ks->exec_len, buf, (size_t)n);
		ks->exec_len += (size_t)n;
		b[ks->exec_len] = '\0';
		return;
	}
	/* EOF (or an error): wait for the exit status */
	event_free(ks->exec_ev);
	ks->exec_ev = NULL;
	close(ks->exec_fd);
	ks->exec_fd = -1;
	event_del(ks->exec_timer);
	exec_poll_exit(ks);
}

/* Start the exec plugin; 0 (running), -1 with ks->exec_err. */
static int exec_start(struct kube_source *ks)
{
	const struct kube_exec *x = ks->conn.exec;
	posix_spawn_file_actions_t fa;
	char **argv = NULL, **envp = NULL;
	char info[256];
	size_t nenv = 0, k = 0;
	int pfd[2] = { -1, -1 }, rc;

	if (ks->exec_pid > 0 || ks->exec_fd >= 0)
		return 0;
	for (char **e = environ; e && *e; e++)
		nenv++;
	argv = calloc(x->nargs + 2, sizeof(*argv));
	envp = calloc(nenv + x->nenv + 2, sizeof(*envp));
	if (!argv || !envp) {
		snprintf(ks->exec_err, sizeof(ks->exec_err), "out of memory");
		goto fail;
	}
	argv[0] = x->command;
	for (size_t i = 0; i < x->nargs; i++)
		argv[i + 1] = x->args[i];
	/* the environment, with the kubeconfig's env entries overriding */
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		size_t nl = eq ? (size_t)(eq - *e) : strlen(*e);
		int over = strncmp(*e, "KUBERNETES_EXEC_INFO=", 21) == 0;
		for (size_t i = 0; i < x->nenv && !over; i++)
			over = strncmp(x->env[i], *e, nl + 1) == 0;
		if (!over)
			envp[k++] = *e;
	}
	for (size_t i = 0; i < x->nenv; i++)
		envp[k++] = x->env[i];
	snprintf(info, sizeof(info), "KUBERNETES_EXEC_INFO={\"apiVersion\":\"%s\","
		"\"kind\":\"ExecCredential\",\"spec\":{\"interactive\":false}}", x->api_version);
	envp[k++] = info;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(ks->exec_err, sizeof(ks->exec_err), "exec plugin: pipe: %s", strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	rc = posix_spawnp(&ks->exec_pid, x->command, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	pfd[1] = -1;
	if (rc != 0) {
		ks->exec_pid = 0;
		snprintf(ks->exec_err, sizeof(ks->exec_err), "exec plugin %s: %s",
			x->command, strerror(rc));
		goto fail;
	}
	ks->exec_fd = pfd[0];
	evutil_make_socket_nonblocking(ks->exec_fd);
	ks->exec_ev = event_new(ks->evbase, ks->exec_fd, EV_READ | EV_PERSIST, on_exec_read, ks);
	if (!ks->exec_ev || event_add(ks->exec_ev, NULL) < 0) {
		snprintf(ks->exec_err, sizeof(ks->exec_err), "exec plugin: cannot watch its output");
		exec_reset(ks);
		free(argv);
		free(envp);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &ks->exec_started);
	arm(ks->exec_timer, EXEC_TIMEOUT_MS);
	free(argv);
	free(envp);
	return 0;
fail:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	free(argv);
	free(envp);
	ks->exec_failures++;
	return -1;
}

/* Re-read the token file now; 1 if the token changed. */
static int reread_token(struct kube_source *ks)
{
	char err[256];
	char *t = kube_read_token(ks->conn.token_file, err, sizeof(err));
	int changed;

	ks->file_token_read = time(NULL);
	if (!t) {
		/* keep the old token; say so once */
		if (strcmp(ks->file_token_err, err) != 0)
			log_warning("plugin/serviceentries: %s: token: %s%s", ks->label, err,
				ks->file_token ? " (keeping the previous token)" : "");
		snprintf(ks->file_token_err, sizeof(ks->file_token_err), "%s", err);
		return 0;
	}
	ks->file_token_err[0] = '\0';
	changed = !ks->file_token || strcmp(ks->file_token, t) != 0;
	free(ks->file_token);
	ks->file_token = t;
	return changed;
}

/*
 * Credentials for a request into o / tls: 0 ready; 1 wait (an exec plugin
 * runs, the scope is resumed when it ends); -1 with err.
 */
static int auth_prepare(struct kube_source *ks, struct http_opts *o,
	struct http_tls *tls, char *err, size_t errlen)
{
	const struct kube_conn *c = &ks->conn;

	memset(tls, 0, sizeof(*tls));
	tls->ca_file = c->ca_file;
	tls->ca_pem = c->ca_pem;
	tls->ca_pem_len = c->ca_pem_len;
	tls->cert_file = c->cert_file;
	tls->key_file = c->key_file;
	tls->cert_pem = c->cert_pem;
	tls->cert_pem_len = c->cert_pem_len;
	tls->key_pem = c->key_pem;
	tls->key_pem_len = c->key_pem_len;
	tls->insecure = c->insecure;
	tls->server_name = c->tls_server_name;
	o->tls = tls;
	o->username = c->username;
	o->password = c->password;
	if (c->token_file) {
		if (!ks->file_token || time(NULL) - ks->file_token_read >= TOKEN_REREAD_S)
			reread_token(ks);
		if (!ks->file_token) {
			snprintf(err, errlen, "token: %s", ks->file_token_err);
			return -1;
		}
		o->bearer = ks->file_token;
	} else if (c->token) {
		o->bearer = c->token;
	} else if (c->exec) {
		if (ks->exec_token || ks->exec_cert) {
			if (!ks->exec_expires ||
			    (long long)time(NULL) < ks->exec_expires - EXEC_EXPIRY_MARGIN_S) {
				o->bearer = ks->exec_token;
				if (ks->exec_cert && ks->exec_key) {
					tls->cert_pem = ks->exec_cert;
					tls->cert_pem_len = strlen(ks->exec_cert);
					tls->key_pem = ks->exec_key;
					tls->key_pem_len = strlen(ks->exec_key);
				}
				return 0;
			}
			log_debug("plugin/serviceentries: %s: exec credential expired; running the plugin",
				ks->label);
		}
		if (exec_start(ks) < 0) {
			snprintf(err, errlen, "%s", ks->exec_err);
			return -1;
		}
		return 1;
	}
	return 0;
}

/* After a 401: fresh credentials; 1 if a retry may help now. */
static int auth_refresh(struct kube_source *ks)
{
	if (ks->conn.token_file)
		return reread_token(ks);
	if (ks->conn.exec) {
		free(ks->exec_token);
		free(ks->exec_cert);
		free(ks->exec_key);
		ks->exec_token = ks->exec_cert = ks->exec_key = NULL;
		ks->exec_expires = 0;
		return 1;
	}
	return 0;
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
		const struct kstore *s = &ks->scopes[i].store;
		objects += s->n;
		for (size_t b = 0; b < s->nb; b++)
			for (const struct kobj *o = s->b[b]; o; o = o->next) {
				struct se_entry e;
				int rc;
				if (o->valid) {
					rc = entry_copy(&e, &o->e);
					if (rc == 0 && (rc = se_list_push(&l, &e)) < 0)
						se_entry_clear(&e);
				} else {
					rc = se_list_reject(&l, o->ns, o->name, o->reason);
				}
				if (rc < 0) {
					log_error("plugin/serviceentries: %s: out of memory building the entry list; keeping the previous registry",
						ks->label);
					se_list_free(&l);
					arm(ks->rebuild_timer, 1000);
					return;
				}
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
	char *d = sdup(s);

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

/* One line per state change: the first failure of a new kind. */
static void scope_fail(struct kscope *sc, const char *what, const char *msg,
	long retry_after)
{
	struct kube_source *ks = sc->src;
	struct se_source_status *st = &ks->base.status;
	long delay = ks->backoff_min_ms;
	char key[96];

	sc->req = NULL;
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
	sc->watch_failing = strcmp(what, "watch") == 0;
	sc->state = SC_WAIT;
	sc->next = NEXT_LIST;
	kube_lines_reset(&sc->lines);
	store_clear(&sc->pending);
	free(sc->cont);
	sc->cont = NULL;
	arm(sc->timer, delay);
	log_debug("plugin/serviceentries: %s: kubernetes %s: retry in %ld ms", ks->label,
		scope_name(sc), delay);
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

/* Turn a list item or watch object into a kobj (or NULL: skip it). */
static struct kobj *kobj_from_json(struct kscope *sc, const cJSON *obj,
	const struct kstore *known, int *nomem)
{
	struct kobj *o;
	const struct kobj *prev;
	struct se_list tmp;
	const char *rv = meta_str(obj, "resourceVersion");
	char *key = make_key(obj);

	*nomem = 0;
	if (!key) {
		char q[64];
		/* no name: se_list_add_json logs and rejects it; there is no key to keep */
		se_list_init(&tmp);
		if (se_list_add_json(&tmp, obj, sc->origin, NULL) < 0)
			*nomem = 1;
		se_list_free(&tmp);
		(void)q;
		return NULL;
	}
	prev = known ? store_get(known, key) : NULL;
	if (prev && rv && prev->rv && strcmp(prev->rv, rv) == 0) {
		/* unchanged since we last parsed it (and logged any problem) */
		free(key);
		if (!(o = kobj_clone(prev)))
			*nomem = 1;
		return o;
	}
	if (!(o = calloc(1, sizeof(*o)))) {
		free(key);
		*nomem = 1;
		return NULL;
	}
	o->key = key;
	if (rv && !(o->rv = strdup(rv)))
		goto nomem;
	se_list_init(&tmp);
	if (se_list_add_json(&tmp, obj, sc->origin, NULL) < 0) {
		se_list_free(&tmp);
		goto nomem;
	}
	if (tmp.n == 1) {
		o->valid = 1;
		o->e = tmp.items[0];
		tmp.n = 0;
	} else if (tmp.nrejects == 1) {
		o->ns = tmp.rejects[0].ns;
		o->name = tmp.rejects[0].name;
		o->reason = tmp.rejects[0].reason;
		tmp.rejects[0].ns = tmp.rejects[0].name = tmp.rejects[0].reason = NULL;
	} else {
		se_list_free(&tmp);     /* not a ServiceEntry: ignored */
		kobj_free(o);
		return NULL;
	}
	se_list_free(&tmp);
	return o;
nomem:
	kobj_free(o);
	*nomem = 1;
	return NULL;
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
	rc = auth_prepare(ks, &o, &tls, err, sizeof(err));
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
	if (!sc->cont)
		ks->base.status.last_attempt = time(NULL);
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
	rc = auth_prepare(ks, &o, &tls, err, sizeof(err));
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
		start_list(sc);
	} else if (sc->state == SC_WAIT && sc->next == NEXT_WATCH) {
		event_del(sc->timer);
		sc->src->stats.relists++;
		sc->next = NEXT_LIST;
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
	if (res->status == 401 && !sc->auth_retried && auth_refresh(ks)) {
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
			log_info("plugin/serviceentries: %s: networking.istio.io/%s not served; trying %s",
				ks->label, api_versions[ks->vidx], api_versions[ks->vidx + 1]);
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

static void transport_fail(struct kscope *sc, const char *what,
	const struct http_result *res)
{
	struct kube_source *ks = sc->src;
	char msg[400];

	if (res->error == HTTP_ERR_TOO_BIG) {
		ks->stats.oversize++;
		snprintf(msg, sizeof(msg), "answer larger than max_body (%zu bytes)", ks->max_body);
	} else {
		ks->stats.transport_errors++;
		snprintf(msg, sizeof(msg), "%s: %s",
			res->error == HTTP_ERR_TIMEOUT ? "timeout" :
			res->error == HTTP_ERR_TLS ? "TLS" :
			res->error == HTTP_ERR_CONNECT ? "cannot connect" :
			res->error == HTTP_ERR_NOMEM ? "out of memory" : "transfer failed",
			res->message);
	}
	scope_fail(sc, what, msg, -1);
}

static void list_complete(struct kscope *sc, const char *rv)
{
	struct kube_source *ks = sc->src;

	store_clear(&sc->store);
	sc->store = sc->pending;
	memset(&sc->pending, 0, sizeof(sc->pending));
	set_str(&sc->rv, rv);
	free(sc->cont);
	sc->cont = NULL;
	sc->synced = 1;
	sc->expired = 0;
	ks->stats.lists++;
	ks->stats.last_sync = time(NULL);
	ks->base.status.last_success = ks->stats.last_sync;
	ks->base.status.syncs_ok++;
	ks->stats.api_version = api_versions[ks->vidx];
	/* a failing watch recovers when a stream delivers, not when a list works */
	if (!sc->watch_failing)
		scope_recovered(sc);
	schedule_rebuild(ks, 0);
	arm(sc->poll_timer, ks->poll_ms);
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
	const cJSON *items, *meta, *cont, *rv, *it;
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
		store_clear(&sc->pending);
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
	meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
	cont = cJSON_GetObjectItemCaseSensitive(meta, "continue");
	rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
	if (!cJSON_IsObject(doc) || (!cJSON_IsArray(items) && !cJSON_IsNull(items) && items) ||
	    !cJSON_IsObject(meta) || (cont && !cJSON_IsString(cont) && !cJSON_IsNull(cont)) ||
	    !cJSON_IsString(rv)) {
		snprintf(msg, sizeof(msg), "the answer is not a ServiceEntryList (%s)",
			!cJSON_IsObject(doc) ? "not an object" :
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
	if (cJSON_IsArray(items))
		cJSON_ArrayForEach(it, items) {
			int nomem;
			struct kobj *o = kobj_from_json(sc, it, &sc->store, &nomem);
			if (nomem || (o && store_put(&sc->pending, o) < 0)) {
				kobj_free(o);
				cJSON_Delete(doc);
				scope_fail(sc, "list", "out of memory", -1);
				return;
			}
		}
	if (cJSON_IsString(cont) && cont->valuestring[0]) {
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
	rv = meta_str(obj, "resourceVersion");
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
	case KUBE_EV_DELETED: {
		char *key = make_key(obj);
		if (key) {
			store_del(&sc->store, key);
			free(key);
		}
		ks->stats.watch_events++;
		if (rv)
			set_str(&sc->rv, rv);
		schedule_rebuild(ks, ks->coalesce_ms);
		break;
	}
	case KUBE_EV_ADDED:
	case KUBE_EV_MODIFIED: {
		int nomem;
		struct kobj *o;
		if (!rv) {
			ks->stats.decode_errors++;
			snprintf(sc->watch_err, sizeof(sc->watch_err),
				"watch event without metadata.resourceVersion");
			cJSON_Delete(doc);
			return -1;
		}
		o = kobj_from_json(sc, obj, &sc->store, &nomem);
		if (nomem || (o && store_put(&sc->store, o) < 0)) {
			kobj_free(o);
			snprintf(sc->watch_err, sizeof(sc->watch_err), "out of memory");
			cJSON_Delete(doc);
			return -1;
		}
		if (!o) {
			/* no usable key: drop what we held under the name, if any */
			char *key = make_key(obj);
			if (key) {
				store_del(&sc->store, key);
				free(key);
			}
		}
		ks->stats.watch_events++;
		set_str(&sc->rv, rv);
		schedule_rebuild(ks, ks->coalesce_ms);
		break;
	}
	}
	sc->watch_events++;
	cJSON_Delete(doc);
	return 0;
}

static int on_watch_data(void *arg, const char *data, size_t len)
{
	struct kscope *sc = arg;
	int rc;

	if (sc->watch_failing) {
		sc->watch_failing = 0;
		scope_recovered(sc);
	}
	rc = kube_lines_feed(&sc->lines, data, len, apply_event, sc);

	if (rc == -1) {
		sc->src->stats.oversize++;
		snprintf(sc->watch_err, sizeof(sc->watch_err),
			"watch event larger than max_body (%zu bytes)", sc->src->max_body);
	}
	return rc < 0 ? -1 : 0;
}

static void on_watch_done(void *arg, const struct http_result *res)
{
	struct kscope *sc = arg;
	struct kube_source *ks = sc->src;
	struct timespec now;
	double ms;

	sc->req = NULL;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (double)(now.tv_sec - sc->watch_start.tv_sec) * 1000.0 +
		(double)(now.tv_nsec - sc->watch_start.tv_nsec) / 1e6;
	if (sc->watch_relist) {
		/* ERROR 410 "too old resource version": list again */
		count_http_error(ks, 410);
		ks->stats.relists++;
		log_debug("plugin/serviceentries: %s: watch: resource version too old; listing again",
			ks->label);
		sc->next = NEXT_LIST;
		start_list(sc);
		return;
	}
	if (sc->watch_err[0]) {
		scope_fail(sc, "watch", sc->watch_err, -1);
		return;
	}
	if (res->error == HTTP_OK && res->status != 200) {
		if (res->status == 410) {
			count_http_error(ks, 410);
			ks->stats.relists++;
			sc->next = NEXT_LIST;
			start_list(sc);
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
	if (res->error != HTTP_OK)
		ks->stats.transport_errors++;
	kube_lines_reset(&sc->lines);
	sc->next = NEXT_WATCH;
	if (sc->watch_events == 0 && ms < WATCH_QUICK_END_MS) {
		long delay = ks->backoff_min_ms;
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
	log_debug("plugin/serviceentries: %s: watch ended after %.0f ms, %lu events (%s); watching again",
		ks->label, ms, sc->watch_events, res->error == HTTP_OK ? "clean" : res->message);
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
	ks->exec_timer = evtimer_new(base, on_exec_timer, ks);
	if (!ks->http || !ks->rebuild_timer || !ks->exec_timer)
		return -1;
	for (size_t i = 0; i < ks->nscopes; i++) {
		struct kscope *sc = &ks->scopes[i];
		sc->timer = evtimer_new(base, on_scope_timer, sc);
		sc->poll_timer = evtimer_new(base, on_poll_timer, sc);
		if (!sc->timer || !sc->poll_timer)
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
		store_clear(&sc->store);
		store_clear(&sc->pending);
		kube_lines_free(&sc->lines);
		free(sc->ns);
		free(sc->rv);
		free(sc->cont);
	}
	free(ks->scopes);
	http_client_free(ks->http);
	exec_reset(ks);
	if (ks->exec_timer)
		event_free(ks->exec_timer);
	if (ks->rebuild_timer)
		event_free(ks->rebuild_timer);
	free(ks->exec_token);
	free(ks->exec_cert);
	free(ks->exec_key);
	free(ks->file_token);
	for (size_t i = 0; i < ks->nnamespaces; i++)
		free(ks->namespaces[i]);
	free(ks->namespaces);
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
	ks->exec_fd = -1;
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
	if (conf->nnamespaces) {
		if (!(ks->namespaces = strv_dup((char *const *)conf->namespaces, conf->nnamespaces)))
			goto nomem;
		ks->nnamespaces = conf->nnamespaces;
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
