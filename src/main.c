/*
 * main.c -- the program: the command line, and the one place where the
 * parts meet -- the core (src/core) gets the plugin table
 * (src/plugins/table.c), then either checks the Corefile (-validate) or
 * runs as the daemon (daemon.h: event loop, signals, reloads).
 *
 * Flags follow CoreDNS's names (Go flag syntax: -name value, -name=value,
 * one or two dashes), so the istiocoredns Deployment's args work as they
 * are.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/daemon.h"
#include "globaldns/log.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/server.h"
#include "globaldns/util.h"

struct options {
	const char *conf;
	int dns_port;
	const char *pidfile;
	int quiet;
	int validate;
	const char *user;
	const char *group;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: globaldns [flags]\n"
		"  -conf FILE       Corefile to load (default \"Corefile\")\n"
		"  -dns.port PORT   port for server blocks that name none (default 53)\n"
		"  -pidfile FILE    write the process ID to FILE\n"
		"  -quiet           do not print the startup banner\n"
		"  -validate        check the Corefile and the manifest files, then exit 0 or 1\n"
		"  -user USER       after binding, run as USER (needs root)\n"
		"  -group GROUP     after binding, run as GROUP (default: USER's group)\n"
		"  -version         print the version and exit\n"
		"  -h, -help        this help\n");
}

/* Match "-name", "--name", "-name=value"; *val gets the value if any. */
static int flag_is(const char *arg, const char *name, const char **val)
{
	size_t n = strlen(name);

	if (arg[0] != '-')
		return 0;
	arg += arg[1] == '-' ? 2 : 1;
	if (strncmp(arg, name, n) != 0)
		return 0;
	if (arg[n] == '\0') {
		*val = NULL;
		return 1;
	}
	if (arg[n] == '=') {
		*val = arg + n + 1;
		return 1;
	}
	return 0;
}

/* 0 to run, 1 to exit 0 (help/version), -1 to exit 2. */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const char *const valued[] = { "conf", "dns.port", "pidfile", "user", "group" };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		int handled = 0;
		for (size_t k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
			if (!flag_is(a, valued[k], &val))
				continue;
			if (!val) {
				if (i + 1 >= argc) {
					fprintf(stderr, "globaldns: flag needs an argument: -%s\n", valued[k]);
					return -1;
				}
				val = argv[++i];
			}
			if (k == 0) {
				o->conf = val;
			} else if (k == 1) {
				if (parse_port(val, &o->dns_port) < 0) {
					fprintf(stderr, "globaldns: -dns.port: \"%s\": not a port from 1 to 65535\n", val);
					return -1;
				}
			} else if (k == 2) {
				o->pidfile = val;
			} else if (k == 3) {
				o->user = val;
			} else {
				o->group = val;
			}
			handled = 1;
			break;
		}
		if (handled)
			continue;
		if (flag_is(a, "quiet", &val))
			o->quiet = 1;
		else if (flag_is(a, "validate", &val))
			o->validate = 1;
		else if (flag_is(a, "version", &val)) {
			printf("globaldns-%s\n", PACKAGE_VERSION);
			return 1;
		} else if (flag_is(a, "h", &val) || flag_is(a, "help", &val)) {
			usage(stdout);
			return 1;
		} else {
			fprintf(stderr, "globaldns: unknown flag or argument \"%s\"\n", a);
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

/* -validate: set every directive up (files read), report, exit 0 or 1. */
static int validate(const struct options *o)
{
	struct server_opts so = {
		.default_port = o->dns_port, .validate = 1,
		.table = plugin_table, .ntable = plugin_table_size,
	};
	struct corefile *cf;
	struct server *srv;
	char err[1024];

	cf = corefile_load(o->conf, err, sizeof(err));
	if (!cf) {
		log_error("%s", err);
		return 1;
	}
	srv = server_new(cf, &so, err, sizeof(err));
	if (srv)
		printf("%s: OK\n", o->conf);
	server_free(srv);
	corefile_free(cf);
	return srv ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct options o = { .conf = "Corefile", .dns_port = 53 };
	struct daemon_opts dopts;
	int pr;

	pr = parse_args(argc, argv, &o);
	if (pr != 0)
		return pr > 0 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
	/*
	 * Blocks of 256 KiB and more (registry snapshots, their build's
	 * scratch, entry lists) are mmapped and go back to the system when
	 * freed.  glibc would otherwise raise this threshold after the first
	 * such free and take them from a heap or a thread's arena, where they
	 * stay (8 MiB more RSS after a 100,000-entry load).
	 */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
	if (o.validate)
		return validate(&o);
	dopts.conf = o.conf;
	dopts.dns_port = o.dns_port;
	dopts.pidfile = o.pidfile;
	dopts.quiet = o.quiet;
	dopts.user = o.user;
	dopts.group = o.group;
	dopts.table = plugin_table;
	dopts.ntable = plugin_table_size;
	return daemon_run(&dopts);
}
