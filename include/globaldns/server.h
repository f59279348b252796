/*
 * server.h -- a running configuration: the server blocks of a Corefile with
 * their plugin chains, the dispatch table, and the listeners.
 *
 * server_new() turns a parsed Corefile into blocks (every key of a block
 * becomes a zone_key; keys sharing a port are dispatched by the longest
 * zone) and sets up each directive's plugin; nothing touches the network
 * until server_start().  Built whole, so a reload can build the next one
 * beside the running one and swap.
 */
#ifndef GLOBALDNS_SERVER_H
#define GLOBALDNS_SERVER_H

#include <stddef.h>

#include "globaldns/query.h"

#include "globaldns/plugin.h"

struct corefile;
struct metrics;
struct metrics_out;
struct server;

struct server_opts {
	int default_port;               /* for keys without a port (-dns.port) */
	int validate;                   /* set up for -validate: never started */
	int check;                      /* a reload: checked as -validate checks
	                                 * (plugin_ctx.check), then started */
	int no_listeners;               /* start plugins only (tests, fuzzing) */
	struct metrics *metrics;        /* where the DNS counters go; may be NULL */
	const struct plugin_entry *table; /* the plugins, in CoreDNS's order */
	size_t ntable;
};

/*
 * Build from a parsed Corefile.  Every problem found is logged as an error
 * line "FILE:LINE: ..."; returns NULL if there was any, with the first in
 * err.
 */
struct server *server_new(const struct corefile *cf,
	const struct server_opts *opts, char *err, size_t errlen);

/*
 * Bind the listeners and start every plugin with env (which must outlive
 * every plugin instance: a reload moves instances to the next
 * configuration).  0, or -1 with err.
 */
int server_start(struct server *s, const struct plugin_env *env, char *err,
	size_t errlen);

/*
 * Start s as the successor of the running prev (a reload): plugin
 * instances whose configuration is unchanged (plugin.h) move from prev to s
 * without being started again; addresses prev listens on too are handed
 * over open (no query meets a closed socket), those only s needs are
 * opened, those only prev had are closed.  When a new address cannot be
 * bound because an old one that s drops holds its port (`.:53` narrowed
 * to `bind 127.0.0.1`, or widened back), that old listener is closed first
 * and the gap is logged.  On failure prev is as it was
 * (and keeps serving) and s is left to server_free.  On success prev only
 * holds what s did not take: retire it with server_free once
 * server_pending(prev) is 0.
 */
int server_start_after(struct server *s, struct server *prev,
	const struct plugin_env *env, char *err, size_t errlen);

/* Requests held by asynchronous plugins that still point into s. */
unsigned long server_pending(const struct server *s);

/*
 * Lameduck's end: stop accepting TCP, close idle connections; returns how
 * many connections still have an answer in flight (call until 0).
 */
int server_drain(struct server *s);

/* Visit every plugin instance of every block (introspection). */
void server_foreach_plugin(const struct server *s, plugin_visit_fn fn,
	void *arg);

/* Ask every plugin instance for its metrics (its `collect` hook). */
void server_collect(const struct server *s, struct metrics_out *o);

/* What the plugins set up for the process: lameduck, reload, hold time. */
const struct plugin_process *server_process(const struct server *s);

/* 1 if every plugin is ready; else 0 with the reasons in why. */
int server_ready(const struct server *s, char *why, size_t whylen);

const struct dispatch *server_dispatch(const struct server *s);

/* Close the listeners and free everything; NULL is fine. */
void server_free(struct server *s);

#endif
