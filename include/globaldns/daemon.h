/*
 * daemon.h -- the running process: the configuration now serving, reloads,
 * signals, lameduck and the privilege drop.
 *
 * One daemon per process.  daemon_run() loads the Corefile, starts it,
 * drops privileges, and runs the loop:
 *   - SIGHUP (and SIGUSR1, CoreDNS's signal) re-read the Corefile now; the
 *     `reload` directive also checks it every INTERVAL +/- JITTER and
 *     reloads when its content changed (a ConfigMap update is a symlink
 *     swap: the content read through the path changes).  A new
 *     configuration is built and started beside the running one
 *     (server_start_after); if anything fails it is logged, counted in
 *     coredns_reload_failed_total, and the running one stays.
 *   - SIGTERM / SIGINT start the lameduck: DNS and /health keep answering,
 *     /ready says 503, for the longest `health { lameduck }`; then TCP
 *     connections finish their answers (2 s at most) and the process
 *     exits.  A second signal stops at once.
 * Plugins reach the process only through the environment it starts them
 * with (plugin.h): the event base, the metrics registry, the HTTP
 * endpoints, and the host -- readiness, lameduck and the instances of the
 * running configuration.
 */
#ifndef GLOBALDNS_DAEMON_H
#define GLOBALDNS_DAEMON_H

#include <stddef.h>

struct plugin_entry;
struct server;

struct daemon_opts {
	const char *conf;
	int dns_port;
	const char *pidfile;
	int quiet;
	const char *user;               /* drop to this user after binding */
	const char *group;              /* and group (default: the user's) */
	const struct plugin_entry *table; /* the plugins (server_opts) */
	size_t ntable;
};

/* Run until stopped; returns the process exit status. */
int daemon_run(const struct daemon_opts *o);

/*
 * Set the process's user and group (root only; for -user / -group): bind
 * first, then call this.  Supplementary groups are cleared, then gid, then
 * uid; afterwards it checks that root cannot be regained.  user NULL keeps
 * the uid (only -group).  0, or -1 with what failed in err.
 */
int daemon_drop_privileges(const char *user, const char *group, char *err,
	size_t errlen);

#endif
