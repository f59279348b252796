/*
 * daemon.c -- the running process: start, reload, signals, lameduck and
 * the privilege drop (see daemon.h).
 */
#include "config.h"

#include "globaldns/daemon.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/httpd.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/readfile.h"
#include "globaldns/server.h"
#include "globaldns/util.h"
#include "globaldns/workers.h"

#define MAX_CONF_SIZE (4u * 1024 * 1024)
#define DRAIN_POLL_MS 100
#define DRAIN_MIN_MS 2000               /* for in-flight TCP answers */
#define DRAIN_MARGIN_MS 500             /* past the longest forward deadline */

/* A configuration replaced by a reload, freed once nothing points into it. */
struct retired {
	struct retired *next;
	struct server *srv;
	struct corefile *cf;
};

struct daemon {
	struct daemon_opts o;
	struct event_base *base;
	struct metrics *metrics;
	struct httpd *httpd;
	struct plugin_host host;
	struct plugin_env env;          /* what every plugin instance starts with */
	uint64_t *reload_failed;        /* coredns_reload_failed_total */
	struct corefile *cf;
	struct server *srv;
	uint64_t conf_hash;
	struct retired *retired;
	struct event *sig[4];
	struct event *reload_timer;
	long reload_interval_ms, reload_jitter_ms;
	struct event *retire_timer;
	struct event *stop_timer;
	int stopping;
	int drain_polls;
	int drain_max_polls;
};

/* ---- the host: what plugins may ask of the process ---- */

static int host_ready(void *arg, char *why, size_t whylen)
{
	struct daemon *d = arg;

	if (!d->srv) {
		snprintf(why, whylen, "not started");
		return 0;
	}
	return server_ready(d->srv, why, whylen);
}

static int host_stopping(void *arg)
{
	return ((struct daemon *)arg)->stopping;
}

static void host_foreach(void *arg, plugin_visit_fn fn, void *fnarg)
{
	server_foreach_plugin(((struct daemon *)arg)->srv, fn, fnarg);
}

/* The running configuration's plugin instances export their metrics;
 * those of a retired one, still draining, do not. */
static void collect_running(void *arg, struct metrics_out *o)
{
	server_collect(((struct daemon *)arg)->srv, o);
}

/* ---- the Corefile's content ---- */

/* Read the file whole: a new NUL-terminated string or NULL (errno). */
static char *read_conf(const char *path, size_t *len)
{
	char *buf;

	return read_whole_file(path, MAX_CONF_SIZE, &buf, len) == 0 ? buf : NULL;
}

/* ---- retiring old configurations ---- */

static void retire_poll(struct daemon *d)
{
	struct retired **rp = &d->retired;

	while (*rp) {
		struct retired *r = *rp;
		if (server_pending(r->srv) > 0) {
			rp = &r->next;
			continue;
		}
		*rp = r->next;
		server_free(r->srv);
		corefile_free(r->cf);
		free(r);
	}
	if (d->retired) {
		struct timeval tv = { 0, DRAIN_POLL_MS * 1000 };
		event_add(d->retire_timer, &tv);
	}
}

static void on_retire_timer_locked(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	retire_poll(arg);
}

WORKERS_LOCKED_EVENT_CB(on_retire_timer)

static void retire(struct daemon *d, struct server *srv, struct corefile *cf)
{
	struct retired *r = calloc(1, sizeof(*r));

	if (!r) {
		/* cannot wait for held requests: free now rather than leak */
		server_free(srv);
		corefile_free(cf);
		return;
	}
	r->srv = srv;
	r->cf = cf;
	r->next = d->retired;
	d->retired = r;
	retire_poll(d);
}

/* ---- reload ---- */

static void schedule_reload_check(struct daemon *d)
{
	long ms = d->reload_interval_ms;
	struct timeval tv;

	if (ms <= 0)
		return;
	if (d->reload_jitter_ms > 0)
		ms += (long)(random() % (2 * d->reload_jitter_ms + 1)) - d->reload_jitter_ms;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(d->reload_timer, &tv);
}

/* Take the reload settings from the running configuration. */
static void apply_reload_conf(struct daemon *d)
{
	const struct plugin_process *pp = server_process(d->srv);
	int nw = pp->workers ? pp->workers : workers_cpus();

	/* the number of workers is the process's, read at start */
	if (nw != workers_count()) {
		char where[300] = "auto";

		if (pp->workers_file)
			snprintf(where, sizeof(where), "%s:%d", pp->workers_file, pp->workers_line);
		log_warning("workers: the Corefile now says %d (%s); %d keep answering until the next start",
			nw, where, workers_count());
	}
	event_del(d->reload_timer);
	d->reload_interval_ms = pp->reload_interval_ms;
	d->reload_jitter_ms = pp->reload_jitter_ms;
	schedule_reload_check(d);
}

/*
 * Parse and set up a configuration.  A reload (check) is set up exactly as
 * -validate sets it up: the manifest files are read (once: the running
 * instances start with what was read), and every problem is logged; one
 * refuses the reload.
 */
static struct server *build(struct daemon *d, const char *text, size_t len,
	int check, struct corefile **cfp, char *err, size_t errlen)
{
	struct server_opts so = {
		.default_port = d->o.dns_port, .metrics = d->metrics,
		.table = d->o.table, .ntable = d->o.ntable, .check = check,
	};
	struct corefile *cf;
	struct server *s;

	(void)len;
	cf = corefile_parse(d->o.conf, text, err, errlen);
	if (!cf) {
		log_error("%s", err);
		return NULL;
	}
	s = server_new(cf, &so, err, errlen);
	if (!s) {
		corefile_free(cf);
		return NULL;
	}
	*cfp = cf;
	return s;
}

/* Reload now (force) or when the content changed.  0 if running the new one. */
static int reload(struct daemon *d, int force)
{
	struct corefile *cf = NULL;
	struct server *s;
	char err[1024], *text;
	char sha512[SHA512_HEX_LEN];
	size_t len;
	uint64_t h;

	text = read_conf(d->o.conf, &len);
	if (!text) {
		log_error("plugin/reload: %s: %s; keeping the running configuration",
			d->o.conf, strerror(errno));
		(*d->reload_failed)++;
		return -1;
	}
	h = hash_fnv1a(HASH_FNV1A_INIT, text, len);
	if (!force && h == d->conf_hash) {
		free(text);
		return 1;
	}
	/* logged as CoreDNS logs it, the value of coredns_reload_version_info */
	sha512_hex(text, len, sha512);
	/* remember it even if it fails: the same bad file is reported once */
	d->conf_hash = h;
	log_info("Reloading");
	s = build(d, text, len, 1, &cf, err, sizeof(err));
	free(text);
	if (!s) {
		log_error("plugin/reload: Corefile reload failed: %s; keeping the running configuration", err);
		(*d->reload_failed)++;
		return -1;
	}
	if (server_start_after(s, d->srv, &d->env, err, sizeof(err)) < 0) {
		log_error("plugin/reload: Corefile reload failed: %s; keeping the running configuration", err);
		server_free(s);
		corefile_free(cf);
		(*d->reload_failed)++;
		return -1;
	}
	retire(d, d->srv, d->cf);
	d->srv = s;
	d->cf = cf;
	apply_reload_conf(d);
	log_info("plugin/reload: Running configuration SHA512 = %s", sha512);
	log_info("Reloading complete");
	return 0;
}

static void on_reload_timer_locked(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	if (d->stopping)
		return;
	if (reload(d, 0) != 0)
		schedule_reload_check(d);
}

WORKERS_LOCKED_EVENT_CB(on_reload_timer)

/* ---- stopping ---- */

/* Queries held by asynchronous plugins (the forwarder), in every
 * configuration still alive: each is answered within its deadline. */
static unsigned long held_queries(const struct daemon *d)
{
	unsigned long n = server_pending(d->srv);

	for (const struct retired *r = d->retired; r; r = r->next)
		n += server_pending(r->srv);
	return n;
}

/* How long the drain may wait: in-flight TCP answers, and forwarded
 * queries until the longest forward deadline (a client that asked just
 * before the signal still gets its answer, or its SERVFAIL). */
static int drain_polls_max(const struct daemon *d)
{
	long ms = server_process(d->srv)->hold_ms;

	for (const struct retired *r = d->retired; r; r = r->next)
		if (server_process(r->srv)->hold_ms > ms)
			ms = server_process(r->srv)->hold_ms;
	ms = ms ? ms + DRAIN_MARGIN_MS : 0;
	if (ms < DRAIN_MIN_MS)
		ms = DRAIN_MIN_MS;
	return (int)(ms / DRAIN_POLL_MS);
}

static void on_stop_timer_locked(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { 0, DRAIN_POLL_MS * 1000 };
	unsigned long held;
	int open;

	(void)fd;
	(void)what;
	open = server_drain(d->srv);
	held = held_queries(d);
	if ((open == 0 && held == 0) || ++d->drain_polls > d->drain_max_polls) {
		if (open)
			log_warning("closing %d TCP connection%s with answers still in flight",
				open, open == 1 ? "" : "s");
		if (held)
			log_warning("stopping with %lu forwarded quer%s unanswered",
				held, held == 1 ? "y" : "ies");
		event_base_loopexit(d->base, NULL);
		return;
	}
	event_add(d->stop_timer, &tv);
}

WORKERS_LOCKED_EVENT_CB(on_stop_timer)

static void on_signal_locked(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	long ms;
	struct timeval tv;

	(void)what;
	if (sig == SIGHUP || sig == SIGUSR1) {
		if (!d->stopping)
			reload(d, 1);
		return;
	}
	if (d->stopping) {
		log_info("%s again: stopping now", sig == SIGINT ? "SIGINT" : "SIGTERM");
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->stopping = 1;
	d->drain_max_polls = drain_polls_max(d);
	event_del(d->reload_timer);
	log_info("%s: Shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	ms = server_process(d->srv)->lameduck_ms;
	if (ms > 0)
		log_info("plugin/health: Going into lameduck mode for %ld.%03lds", ms / 1000, ms % 1000);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(d->stop_timer, &tv);
}

WORKERS_LOCKED_EVENT_CB(on_signal)

/* ---- privileges ---- */

int daemon_drop_privileges(const char *user, const char *group, char *err,
	size_t errlen)
{
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (!user && !group)
		return 0;
	if (user) {
		struct passwd *pw = getpwnam(user);
		if (!pw) {
			snprintf(err, errlen, "-user %s: no such user", user);
			return -1;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (group) {
		struct group *gr = getgrnam(group);
		if (!gr) {
			snprintf(err, errlen, "-group %s: no such group", group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (geteuid() != 0) {
		if (uid == geteuid() && gid == getegid())
			return 0;
		snprintf(err, errlen, "-user/-group: only root can change user and group (running as uid %ld)",
			(long)geteuid());
		return -1;
	}
	if (setgroups(1, &gid) < 0 || setgid(gid) < 0) {
		snprintf(err, errlen, "setgid(%ld): %s", (long)gid, strerror(errno));
		return -1;
	}
	if (setuid(uid) < 0) {
		snprintf(err, errlen, "setuid(%ld): %s", (long)uid, strerror(errno));
		return -1;
	}
	/* no way back: neither to root nor through setuid programs */
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(err, errlen, "privileges were not dropped: root could be regained");
		return -1;
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid) {
		snprintf(err, errlen, "privileges were not dropped: uid %ld/%ld gid %ld/%ld",
			(long)getuid(), (long)geteuid(), (long)getgid(), (long)getegid());
		return -1;
	}
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	log_info("running as uid %ld, gid %ld", (long)uid, (long)gid);
	return 0;
}

/* ---- run ---- */

/* The most descriptors we ask for when the hard limit is unlimited
 * (setrlimit refuses more than fs.nr_open, 1048576 by default). */
#define NOFILE_CAP 1048576

/*
 * One descriptor per TCP client, upstream socket and HTTP client: a soft
 * limit of 1024 (or 256, as some container runtimes set) runs out long
 * before the TCP limits do.  Raise the soft limit to the hard one, as
 * far as allowed, and say what it is.
 */
static void raise_nofile(void)
{
	struct rlimit rl;
	rlim_t was, want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		log_warning("getrlimit(RLIMIT_NOFILE): %s", strerror(errno));
		return;
	}
	was = rl.rlim_cur;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > NOFILE_CAP ? NOFILE_CAP : rl.rlim_max;
	if (was != RLIM_INFINITY && was < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			log_warning("open files limit: %llu; raising it to %llu failed: %s",
				(unsigned long long)was, (unsigned long long)want, strerror(errno));
			return;
		}
		log_info("open files limit raised from %llu to %llu (the hard limit)",
			(unsigned long long)was, (unsigned long long)want);
		return;
	}
	log_info("open files limit: %llu", (unsigned long long)was);
}

static int write_pidfile(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f)
		return -1;
	fprintf(f, "%ld\n", (long)getpid());
	return fclose(f);
}

int daemon_run(const struct daemon_opts *o)
{
	static const int sigs[4] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
	struct daemon d = { .o = *o };
	char err[1024], *text;
	size_t len;
	int rc = 1, pid_written = 0;

	raise_nofile();
	text = read_conf(o->conf, &len);
	if (!text) {
		log_error("%s: %s", o->conf, strerror(errno));
		return 1;
	}
	d.metrics = metrics_new();
	if (!d.metrics || metrics_add_collector(d.metrics, metrics_process_collect, NULL) < 0) {
		metrics_free(d.metrics);
		free(text);
		log_error("out of memory");
		return 1;
	}
	d.reload_failed = metrics_counter(d.metrics, "coredns_reload_failed_total",
		"Counter of the number of failed reload attempts.");
	d.conf_hash = hash_fnv1a(HASH_FNV1A_INIT, text, len);
	d.srv = build(&d, text, len, 0, &d.cf, err, sizeof(err));
	free(text);
	if (!d.srv)
		goto out;
	/* worker threads reach the main loop (deferred queries, jobs) */
	if (evthread_use_pthreads() < 0) {
		log_error("cannot make the event loop thread-safe");
		goto out;
	}
	d.base = event_base_new();
	if (!d.base || !(d.httpd = httpd_new(d.base))
	    || metrics_add_collector(d.metrics, collect_running, &d) < 0) {
		log_error("cannot create the event loop");
		goto out;
	}
	d.host = (struct plugin_host){
		.arg = &d, .ready = host_ready, .stopping = host_stopping,
		.foreach = host_foreach,
	};
	d.env = (struct plugin_env){
		.base = d.base, .metrics = d.metrics, .httpd = d.httpd, .host = &d.host,
	};
	d.reload_timer = evtimer_new(d.base, on_reload_timer, &d);
	d.retire_timer = evtimer_new(d.base, on_retire_timer, &d);
	d.stop_timer = evtimer_new(d.base, on_stop_timer, &d);
	if (!d.reload_timer || !d.retire_timer || !d.stop_timer) {
		log_error("cannot create timers");
		goto out;
	}
	{
		int nw = server_process(d.srv)->workers;
		if (nw <= 0)
			nw = workers_cpus();
		if (workers_start(d.base, nw, err, sizeof(err)) < 0
		    || metrics_add_collector(d.metrics, workers_collect, NULL) < 0) {
			log_error("%s", err);
			goto out;
		}
	}
	workers_lock();
	if (server_start(d.srv, &d.env, err, sizeof(err)) < 0) {
		workers_unlock();
		log_error("%s", err);
		goto out;
	}
	workers_unlock();
	if (o->pidfile) {
		if (write_pidfile(o->pidfile) < 0) {
			log_error("-pidfile %s: %s", o->pidfile, strerror(errno));
			goto out;
		}
		pid_written = 1;
	}
	if (daemon_drop_privileges(o->user, o->group, err, sizeof(err)) < 0) {
		log_error("%s", err);
		goto out;
	}
	if (geteuid() == 0)
		log_warning("running as root (uid 0) with every capability: start with -user USER"
			" (e.g. -user nobody) to bind the ports as root and then run as USER,"
			" or run as a non-root user with only CAP_NET_BIND_SERVICE"
			" (Kubernetes: runAsNonRoot: true, capabilities.add: [NET_BIND_SERVICE])");
	for (size_t i = 0; i < 4; i++) {
		d.sig[i] = evsignal_new(d.base, sigs[i], on_signal, &d);
		if (!d.sig[i] || evsignal_add(d.sig[i], NULL) < 0) {
			log_error("cannot install signal handlers");
			goto out;
		}
	}
	srandom((unsigned int)(getpid() ^ time(NULL)));
	apply_reload_conf(&d);
	if (!o->quiet) {
		const struct dispatch *dp = server_dispatch(d.srv);
		/* as CoreDNS: "zone:port", and " on ADDRESS" for each bind address */
		for (size_t i = 0; i < dp->nkeys; i++) {
			const struct plugin_block *b = &dp->keys[i].block->info;
			if (b->nbinds == 0)
				printf("%s:%d\n", dp->keys[i].z.name, dp->keys[i].port);
			for (size_t a = 0; a < b->nbinds; a++)
				printf("%s:%d on %s\n", dp->keys[i].z.name, dp->keys[i].port, b->binds[a]);
		}
		printf("globaldns-%s\n", PACKAGE_VERSION);
		fflush(stdout);
	}
	event_base_dispatch(d.base);
	rc = 0;
out:
	/* the threads first: nothing answers while the configuration goes */
	workers_stop();
	for (size_t i = 0; i < 4; i++)
		if (d.sig[i])
			event_free(d.sig[i]);
	server_free(d.srv);
	d.srv = NULL;
	while (d.retired) {
		struct retired *r = d.retired;
		d.retired = r->next;
		server_free(r->srv);
		corefile_free(r->cf);
		free(r);
	}
	workers_free();
	httpd_free(d.httpd);
	if (d.reload_timer)
		event_free(d.reload_timer);
	if (d.retire_timer)
		event_free(d.retire_timer);
	if (d.stop_timer)
		event_free(d.stop_timer);
	if (d.base)
		event_base_free(d.base);
	corefile_free(d.cf);
	metrics_free(d.metrics);
	if (pid_written)
		unlink(o->pidfile);
	return rc;
}
