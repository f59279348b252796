/*
 * kube_auth.c -- credentials for the Kubernetes API (kube_auth.h): token
 * files re-read as they rotate, exec credential plugins run on the event
 * loop, and the TLS / identity settings of each request.  kube_scope.c
 * calls kube_auth_prepare before every list or watch request.
 */
#define _GNU_SOURCE 1

#include "kube_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <ldns/ldns.h>

#include "globaldns/log.h"
#include "globaldns/readfile.h"
#include "globaldns/util.h"

extern char **environ;

#define TOKEN_REREAD_S 60
#define EXEC_TIMEOUT_MS 30000L
#define EXEC_MAX_OUTPUT (1024u * 1024)
#define EXEC_EXPIRY_MARGIN_S 10
/* a fresh credential that already looks expired is used anyway; the plugin
 * is run again no sooner than this gap, doubling up to the maximum */
#define EXEC_GAP_MIN_MS 1000L
#define EXEC_GAP_MAX_MS 300000L

struct kube_auth {
	const struct kube_conn *conn;   /* borrowed */
	char *label;
	struct event_base *base;
	kube_auth_done_fn done;
	void *arg;
	/* token from a file */
	char *file_token;
	time_t file_token_read;
	char file_token_err[512];
	/* an inline kubeconfig token, re-read when the kubeconfig changes */
	char *kc_token;
	time_t kc_checked;
	char *kc_stamp;                 /* mtimes and sizes of the files, as text */
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
	struct timespec exec_got;       /* when the credential was obtained */
	long exec_gap_ms;               /* 0, or the gap before the next run */
	int exec_expired_logged;
};

static double ms_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) * 1000.0 +
		(double)(now.tv_nsec - t->tv_nsec) / 1e6;
}

static void exec_arm(struct kube_auth *a, long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };

	event_add(a->exec_timer, &tv);
}

static double exec_elapsed_ms(const struct kube_auth *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - a->exec_started.tv_sec) * 1000.0 +
		(double)(now.tv_nsec - a->exec_started.tv_nsec) / 1e6;
}

static void exec_reset(struct kube_auth *a)
{
	if (a->exec_ev) {
		event_free(a->exec_ev);
		a->exec_ev = NULL;
	}
	if (a->exec_timer)
		event_del(a->exec_timer);
	if (a->exec_fd >= 0) {
		close(a->exec_fd);
		a->exec_fd = -1;
	}
	if (a->exec_pid > 0) {
		kill(a->exec_pid, SIGKILL);
		waitpid(a->exec_pid, NULL, 0);
		a->exec_pid = 0;
	}
	free(a->exec_out);
	a->exec_out = NULL;
	a->exec_len = 0;
}

/* The run failed (a->exec_err says why): clean up, tell the owner. */
static void exec_fail(struct kube_auth *a)
{
	a->exec_failures++;
	exec_reset(a);
	a->done(a->arg, a->exec_err);
}

static void exec_timed_out(struct kube_auth *a)
{
	snprintf(a->exec_err, sizeof(a->exec_err), "exec plugin %s: timed out",
		a->conn->exec->command);
	exec_fail(a);
}

static void exec_finish(struct kube_auth *a, int status)
{
	char *tok = NULL, *cert = NULL, *key = NULL;
	long long exp = 0;
	char err[256];

	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(a->exec_err, sizeof(a->exec_err),
			"exec plugin %s: %s %d", a->conn->exec->command,
			WIFEXITED(status) ? "exited with status" : "killed by signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	} else if (kube_exec_credential_parse(a->exec_out ? a->exec_out : "", a->exec_len,
			&tok, &exp, &cert, &key, err, sizeof(err)) < 0) {
		snprintf(a->exec_err, sizeof(a->exec_err), "exec plugin %s: %s",
			a->conn->exec->command, err);
	} else {
		free(a->exec_token);
		free(a->exec_cert);
		free(a->exec_key);
		a->exec_token = tok;
		a->exec_cert = cert;
		a->exec_key = key;
		a->exec_expires = exp;
		a->exec_err[0] = '\0';
		a->exec_failures = 0;
		clock_gettime(CLOCK_MONOTONIC, &a->exec_got);
		if (exp && (long long)time(NULL) >= exp - EXEC_EXPIRY_MARGIN_S) {
			/* already (nearly) expired: use it anyway, run again only after a gap */
			if (!a->exec_expired_logged)
				log_warning("plugin/serviceentries: %s: exec plugin %s returned a credential that has already expired "
					"(expirationTimestamp in the past); using it until the API server rejects it",
					a->label, a->conn->exec->command);
			a->exec_expired_logged = 1;
			a->exec_gap_ms = a->exec_gap_ms ? a->exec_gap_ms * 2 : EXEC_GAP_MIN_MS;
			if (a->exec_gap_ms > EXEC_GAP_MAX_MS)
				a->exec_gap_ms = EXEC_GAP_MAX_MS;
		} else {
			a->exec_gap_ms = 0;
			a->exec_expired_logged = 0;
		}
		log_debug("plugin/serviceentries: %s: exec plugin gave a credential%s",
			a->label, exp ? " with an expiry" : "");
		exec_reset(a);
		a->done(a->arg, NULL);
		return;
	}
	exec_fail(a);
}

static void exec_poll_exit(struct kube_auth *a)
{
	int status;
	pid_t r = waitpid(a->exec_pid, &status, WNOHANG);

	if (r == a->exec_pid) {
		a->exec_pid = 0;
		exec_finish(a, status);
		return;
	}
	/* stdout closed but still running: look again shortly (bounded by the timeout) */
	if (exec_elapsed_ms(a) > EXEC_TIMEOUT_MS) {
		exec_timed_out(a);
		return;
	}
	exec_arm(a, 20);
}

static void on_exec_timer(evutil_socket_t fd, short what, void *arg)
{
	struct kube_auth *a = arg;

	(void)fd;
	(void)what;
	if (a->exec_fd >= 0) {         /* the overall timeout while reading */
		exec_timed_out(a);
		return;
	}
	exec_poll_exit(a);
}

static void on_exec_read(evutil_socket_t fd, short what, void *arg)
{
	struct kube_auth *a = arg;
	char buf[8192];
	ssize_t n;

	(void)what;
	n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		char *b;
		if (a->exec_len + (size_t)n > EXEC_MAX_OUTPUT) {
			snprintf(a->exec_err, sizeof(a->exec_err),
				"exec plugin %s: output larger than %u bytes",
				a->conn->exec->command, EXEC_MAX_OUTPUT);
			exec_fail(a);
			return;
		}
		if (!(b = realloc(a->exec_out, a->exec_len + (size_t)n + 1)))
			return;
		a->exec_out = b;
		memcpy(b + a->exec_len, buf, (size_t)n);
		a->exec_len += (size_t)n;
		b[a->exec_len] = '\0';
		return;
	}
	/* EOF (or an error): wait for the exit status */
	event_free(a->exec_ev);
	a->exec_ev = NULL;
	close(a->exec_fd);
	a->exec_fd = -1;
	event_del(a->exec_timer);
	exec_poll_exit(a);
}

/* Bytes as base64 text (ldns's b64 rdata printer, up to 64 KiB of
 * input); NULL if out of memory or longer. */
static char *base64(const void *data, size_t len)
{
	ldns_rdf *rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_B64, len, data);
	char *out = rdf ? ldns_rdf2str(rdf) : NULL;

	ldns_rdf_deep_free(rdf);
	return out;
}

/* A file's bytes as base64, NULL if it cannot be read (or is over 64 KiB). */
static char *file_base64(const char *path)
{
	char *buf, *out = NULL;
	size_t n;

	if (read_whole_file(path, 65535, &buf, &n) < 0)
		return NULL;
	if (n > 0)
		out = base64(buf, n);
	free(buf);
	return out;
}

/*
 * "KUBERNETES_EXEC_INFO=" and the ExecCredential the plugin reads there:
 * spec.interactive false (no terminal), and with provideClusterInfo the
 * cluster (server, TLS settings, CA bytes, the exec extension's config),
 * as client-go passes them.  NULL if memory runs out.
 */
static char *exec_info(const struct kube_conn *c, const char *label)
{
	const struct kube_exec *x = c->exec;
	cJSON *root = cJSON_CreateObject(), *spec, *cl;
	char *json = NULL, *env = NULL;

	if (!root || !cJSON_AddStringToObject(root, "apiVersion", x->api_version)
	    || !cJSON_AddStringToObject(root, "kind", "ExecCredential")
	    || !(spec = cJSON_AddObjectToObject(root, "spec"))
	    || !cJSON_AddFalseToObject(spec, "interactive"))
		goto out;
	if (x->provide_cluster_info) {
		char *ca = NULL;
		if (!(cl = cJSON_AddObjectToObject(spec, "cluster"))
		    || !cJSON_AddStringToObject(cl, "server", c->server))
			goto out;
		if (c->tls_server_name && !cJSON_AddStringToObject(cl, "tls-server-name", c->tls_server_name))
			goto out;
		if (c->insecure && !cJSON_AddTrueToObject(cl, "insecure-skip-tls-verify"))
			goto out;
		if (c->ca_pem && c->ca_pem_len) {
			ca = base64(c->ca_pem, c->ca_pem_len);
		} else if (c->ca_file) {
			ca = file_base64(c->ca_file);
		}
		if (!ca && (c->ca_pem || c->ca_file))
			log_warning("%s: exec plugin: provideClusterInfo: the cluster's CA is unreadable or over 64 KiB;"
				" the plugin gets no certificate-authority-data", label);
		if (ca && !cJSON_AddStringToObject(cl, "certificate-authority-data", ca)) {
			free(ca);
			goto out;
		}
		free(ca);
		if (c->exec_config) {
			cJSON *cfg = cJSON_Parse(c->exec_config);
			if (!cfg || !cJSON_AddItemToObject(cl, "config", cfg)) {
				cJSON_Delete(cfg);
				goto out;
			}
		}
	}
	if ((json = cJSON_PrintUnformatted(root))) {
		size_t l = strlen(json) + sizeof("KUBERNETES_EXEC_INFO=");
		if ((env = malloc(l)))
			snprintf(env, l, "KUBERNETES_EXEC_INFO=%s", json);
	}
out:
	cJSON_free(json);
	cJSON_Delete(root);
	return env;
}

/* Start the exec plugin; 0 (running, or already), -1 with a->exec_err. */
static int exec_start(struct kube_auth *a)
{
	const struct kube_exec *x = a->conn->exec;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t sigdef, sigmask;
	char **argv = NULL, **envp = NULL;
	char *info = NULL;
	size_t nenv = 0, k = 0;
	int pfd[2] = { -1, -1 }, rc;

	if (a->exec_pid > 0 || a->exec_fd >= 0)
		return 0;
	for (char **e = environ; e && *e; e++)
		nenv++;
	argv = calloc(x->nargs + 2, sizeof(*argv));
	envp = calloc(nenv + x->nenv + 2, sizeof(*envp));
	info = exec_info(a->conn, a->label);
	if (!argv || !envp || !info) {
		snprintf(a->exec_err, sizeof(a->exec_err), "out of memory");
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
	envp[k++] = info;
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		snprintf(a->exec_err, sizeof(a->exec_err), "exec plugin: pipe: %s", strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	/* nothing of the daemon's but stdin, stdout, stderr: listening and
	 * API sockets, the event loop's descriptors, log files stay ours
	 * (close-on-exec covers what we open; this covers the rest) */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
#endif
	/* the child starts with default signal handling (SIGPIPE ignored by
	 * the server would otherwise be inherited) and nothing blocked */
	posix_spawnattr_init(&attr);
	sigemptyset(&sigdef);
	sigaddset(&sigdef, SIGPIPE);
	sigaddset(&sigdef, SIGINT);
	sigaddset(&sigdef, SIGTERM);
	sigaddset(&sigdef, SIGHUP);
	sigaddset(&sigdef, SIGCHLD);
	sigemptyset(&sigmask);
	posix_spawnattr_setsigdefault(&attr, &sigdef);
	posix_spawnattr_setsigmask(&attr, &sigmask);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawnp(&a->exec_pid, x->command, &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	pfd[1] = -1;
	if (rc != 0) {
		a->exec_pid = 0;
		snprintf(a->exec_err, sizeof(a->exec_err), "exec plugin %s: %s",
			x->command, strerror(rc));
		goto fail;
	}
	a->exec_fd = pfd[0];
	evutil_make_socket_nonblocking(a->exec_fd);
	a->exec_ev = event_new(a->base, a->exec_fd, EV_READ | EV_PERSIST, on_exec_read, a);
	if (!a->exec_ev || event_add(a->exec_ev, NULL) < 0) {
		snprintf(a->exec_err, sizeof(a->exec_err), "exec plugin: cannot watch its output");
		exec_reset(a);
		free(argv);
		free(envp);
		free(info);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &a->exec_started);
	exec_arm(a, EXEC_TIMEOUT_MS);
	free(argv);
	free(envp);
	free(info);
	return 0;
fail:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	free(argv);
	free(envp);
	free(info);
	a->exec_failures++;
	return -1;
}

/* "mtime size" of each kubeconfig file, to see that one changed. */
static char *kc_files_stamp(const char *paths)
{
	struct strbuf b = { .max = 4096 };
	char *list = strdup(paths), *save = NULL;

	if (!list)
		return NULL;
	for (char *p = strtok_r(list, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
		struct stat st;
		if (stat(p, &st) == 0)
			strbuf_printf(&b, "%lld.%09ld/%lld;", (long long)st.st_mtim.tv_sec,
				st.st_mtim.tv_nsec, (long long)st.st_size);
		else
			strbuf_printf(&b, "-;");
	}
	free(list);
	return b.p;
}

/*
 * The inline token of the kubeconfig, re-read when its files changed (at
 * most every TOKEN_REREAD_S, or now if force).  1 if the token changed;
 * a kubeconfig that no longer loads keeps the token (said once).
 */
static int reread_kubeconfig(struct kube_auth *a, int force)
{
	const struct kube_conn *c = a->conn;
	struct kube_conn fresh;
	char err[512], *stamp;
	int changed = 0;

	if (!force && time(NULL) - a->kc_checked < TOKEN_REREAD_S)
		return 0;
	a->kc_checked = time(NULL);
	stamp = kc_files_stamp(c->kubeconfig_paths);
	if (!force && stamp && a->kc_stamp && strcmp(stamp, a->kc_stamp) == 0) {
		free(stamp);
		return 0;
	}
	free(a->kc_stamp);
	a->kc_stamp = stamp;
	memset(&fresh, 0, sizeof(fresh));
	if (kubeconfig_load(c->kubeconfig_paths, c->kubeconfig_context, &fresh, err, sizeof(err)) < 0) {
		if (strcmp(a->file_token_err, err) != 0)
			log_warning("plugin/serviceentries: %s: kubeconfig: %s (keeping the previous token)",
				a->label, err);
		snprintf(a->file_token_err, sizeof(a->file_token_err), "%s", err);
		return 0;
	}
	a->file_token_err[0] = '\0';
	if (fresh.token && strcmp(fresh.token, a->kc_token ? a->kc_token : c->token) != 0) {
		log_info("plugin/serviceentries: %s: the kubeconfig's token changed; using the new one",
			a->label);
		free(a->kc_token);
		a->kc_token = fresh.token;
		fresh.token = NULL;
		changed = 1;
	}
	kube_conn_clear(&fresh);
	return changed;
}

/* Re-read the token file now; 1 if the token changed. */
static int reread_token(struct kube_auth *a)
{
	char err[256];
	char *t = kube_read_token(a->conn->token_file, err, sizeof(err));
	int changed;

	a->file_token_read = time(NULL);
	if (!t) {
		/* keep the old token; say so once */
		if (strcmp(a->file_token_err, err) != 0)
			log_warning("plugin/serviceentries: %s: token: %s%s", a->label, err,
				a->file_token ? " (keeping the previous token)" : "");
		snprintf(a->file_token_err, sizeof(a->file_token_err), "%s", err);
		return 0;
	}
	a->file_token_err[0] = '\0';
	changed = !a->file_token || strcmp(a->file_token, t) != 0;
	free(a->file_token);
	a->file_token = t;
	return changed;
}

int kube_auth_prepare(struct kube_auth *a, struct http_opts *o,
	struct http_tls *tls, char *err, size_t errlen)
{
	const struct kube_conn *c = a->conn;

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
		if (!a->file_token || time(NULL) - a->file_token_read >= TOKEN_REREAD_S)
			reread_token(a);
		if (!a->file_token) {
			snprintf(err, errlen, "token: %s", a->file_token_err);
			return -1;
		}
		o->bearer = a->file_token;
	} else if (c->token) {
		if (c->kubeconfig_paths)
			reread_kubeconfig(a, 0);
		o->bearer = a->kc_token ? a->kc_token : c->token;
	} else if (c->exec) {
		if (a->exec_token || a->exec_cert) {
			/* a fresh credential is used at least once, even if it looks expired */
			if (!a->exec_expires ||
			    (long long)time(NULL) < a->exec_expires - EXEC_EXPIRY_MARGIN_S ||
			    ms_since(&a->exec_got) < (double)(a->exec_gap_ms ? a->exec_gap_ms : EXEC_GAP_MIN_MS)) {
				o->bearer = a->exec_token;
				if (a->exec_cert && a->exec_key) {
					tls->cert_pem = a->exec_cert;
					tls->cert_pem_len = strlen(a->exec_cert);
					tls->key_pem = a->exec_key;
					tls->key_pem_len = strlen(a->exec_key);
				}
				return 0;
			}
			log_debug("plugin/serviceentries: %s: exec credential expired; running the plugin",
				a->label);
		}
		if (exec_start(a) < 0) {
			snprintf(err, errlen, "%s", a->exec_err);
			return -1;
		}
		return 1;
	}
	return 0;
}

int kube_auth_refresh(struct kube_auth *a)
{
	if (a->conn->token_file)
		return reread_token(a);
	if (a->conn->token && a->conn->kubeconfig_paths)
		return reread_kubeconfig(a, 1);
	if (a->conn->exec) {
		free(a->exec_token);
		free(a->exec_cert);
		free(a->exec_key);
		a->exec_token = a->exec_cert = a->exec_key = NULL;
		a->exec_expires = 0;
		return 1;
	}
	return 0;
}

struct kube_auth *kube_auth_new(struct event_base *base,
	const struct kube_conn *conn, const char *label,
	kube_auth_done_fn done, void *arg)
{
	struct kube_auth *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->conn = conn;
	a->base = base;
	a->done = done;
	a->arg = arg;
	a->exec_fd = -1;
	if (!(a->label = strdup(label)) ||
	    !(a->exec_timer = evtimer_new(base, on_exec_timer, a))) {
		kube_auth_free(a);
		return NULL;
	}
	return a;
}

void kube_auth_free(struct kube_auth *a)
{
	if (!a)
		return;
	exec_reset(a);
	if (a->exec_timer)
		event_free(a->exec_timer);
	free(a->exec_token);
	free(a->exec_cert);
	free(a->exec_key);
	free(a->file_token);
	free(a->kc_token);
	free(a->kc_stamp);
	free(a->label);
	free(a);
}
