/*
 * plugin.h -- the contract between the core and the plugins: each Corefile
 * directive globaldns implements is a `struct plugin_ops`, a small
 * function table, and the core never asks which plugin it holds.
 *
 * The plugin table (src/plugins/table.c) lists every directive name in
 * CoreDNS's plugin order (plugin.cfg) with its implementation, if any;
 * the program (src/main.c) hands it to the core with the options.  A
 * server block's chain is the directives it uses, in that order whatever
 * order the Corefile writes them in; a query runs the chain until a plugin
 * answers.  Adding a plugin is its own file, one line of the table, the
 * build list and its tests.
 *
 * Life of an instance:
 *   setup   parse the directive (arguments and sub-block) -> state, in
 *           table order.  What a plugin contributes to its block or to
 *           the process it writes into ctx: `bind` adds the block's
 *           listening addresses (plugin_block_add_bind), which the
 *           plugins after it in the table read; `health` its lameduck,
 *           `reload` the Corefile check period, `forward` how long it may
 *           hold a query (plugin_process).  Errors go to err as
 *           "FILE:LINE: NAME: what is wrong" (PLUGIN_FAIL).  Must not
 *           start I/O; in validate mode (ctx->validate) it may read files
 *           to report problems, and the instance is then freed unstarted.
 *           A directive is written once per block, unless its ops say
 *           `repeatable` (as CoreDNS lets each plugin decide: the old
 *           `proxy` took one line per FROM zone): then setup runs once,
 *           for the first line, and finds every line in ctx->lines.
 *           ctx->check (-validate, and every reload) asks for the same
 *           checks, and a reloaded instance then starts with what it read.
 *   start   begin timers and I/O through the environment (plugin_env):
 *           the event base, the metrics registry (process-wide
 *           families), the HTTP endpoints (routes), and the host -- the
 *           process around the plugins (readiness of the running
 *           configuration, lameduck, its instances for introspection).
 *   serve   answer a query (write req->resp) -> PLUGIN_DONE; or pass it on
 *           -> PLUGIN_NEXT; or keep it (query_hold) and answer later ->
 *           PLUGIN_ASYNC.  PLUGIN_DONE with resp_len 0 drops the query:
 *           nothing is sent (acl drop).  To see (and rewrite, or drop)
 *           the final answer of a query passed on: query_on_answer (rrl,
 *           the cache).  With several workers (workers.h) serve, observe
 *           and the answer watchers run on any worker's thread, one at a
 *           time (under the data lock): a serve that needs the main
 *           loop (I/O or timers on env->base: the forwarder) hands the
 *           query over there when query_on_worker(); a plugin's own
 *           callbacks on env->base that touch what serve reads take the
 *           data lock (workers_lock).
 *   ready   1 when the instance has what it needs to answer (first sync
 *           done); else 0 with a short reason in why.  May be NULL.
 *   free    release everything; state may be half built.
 *   observe called after every answered query of the block (the query
 *           log, errors); must not block or allocate.  May be NULL.
 *   collect write the instance's metrics at scrape time (metrics.h's
 *           metrics_out), labelled with its block; only the running
 *           configuration's instances are asked.  May be NULL.
 *   introspect add what the instance serves to a JSON object (GET
 *           /registry); may allocate; on the main loop.  May be NULL.
 *
 * Reload: a new configuration is set up beside the running one.  An
 * instance whose directive (name, arguments, sub-block), block zones,
 * port and bind addresses are unchanged is not started again: the running
 * state is moved into the new configuration and the freshly set-up one
 * freed unstarted.  So a state must not point into the Corefile tree or
 * the plugin_ctx after setup (copy what it needs), and must not depend on
 * which configuration holds it; the plugin_env it was started with lives
 * as long as the process.
 */
#ifndef GLOBALDNS_PLUGIN_H
#define GLOBALDNS_PLUGIN_H

#include <stddef.h>

#include "globaldns/corefile.h"
#include "globaldns/listen.h"

struct cJSON;
struct dns_request;
struct event_base;
struct httpd;
struct metrics;
struct metrics_out;

/*
 * In a setup function, with `err`, `errlen` and the directive's `name` in
 * scope: write "FILE:LINE: NAME: message" (where d was written) and goto
 * fail.
 */
#define PLUGIN_FAIL(d, ...) do { \
	cf_errorf(err, errlen, (d), name, __VA_ARGS__); \
	goto fail; \
} while (0)

enum plugin_result {
	PLUGIN_NEXT = 0,
	PLUGIN_DONE = 1,
	PLUGIN_ASYNC = 2
};

/* A server block as its plugins see it.  Owned by the core. */
struct plugin_block {
	const char *file;               /* where the block starts */
	int line;
	int port;
	char **zones;                   /* FQDN, lowercase */
	size_t nzones;
	char **binds;                   /* listening addresses (canonical text); */
	size_t nbinds;                  /* none: every address.  `bind` adds them */
	/* its TCP connections' limits, which a plugin may set (0: the default) */
	struct listener_tcp_limits tcp;
	/* set once every plugin of the block is set up (for start, collect): */
	char server_label[80];          /* CoreDNS's "dns://ADDR:PORT" ("dns://:53") */
	char *zones_label;              /* the zones joined by "," */
};

/* Process-wide settings plugins contribute at setup. */
struct plugin_process {
	long lameduck_ms;               /* after SIGTERM, keep serving this long (the longest) */
	int reload_set;                 /* the first block's `reload` sets these: */
	long reload_interval_ms;        /* check the Corefile every INTERVAL */
	long reload_jitter_ms;          /* +/- JITTER; 0 0: never */
	long hold_ms;                   /* the longest a plugin holds a query */
	int workers;                    /* `workers`: 0 auto (the CPUs), else N */
	const char *workers_file;       /* where it was set (a second must agree) */
	int workers_line;
};

/* What a plugin's setup learns about where it stands, and fills. */
struct plugin_ctx {
	struct plugin_block *block;
	struct plugin_process *process;
	int validate;                   /* 1 under -validate: never started */
	/* every line of the directive in the block, in the order written
	 * (lines[0] is the one setup gets); more than one only for a
	 * `repeatable` plugin.  NULL with nlines 0 in tests: just d */
	const struct cf_directive *const *lines;
	size_t nlines;
	int check;                      /* 1 under -validate and on a reload: read
	                                 * what can be read now (manifest files) and
	                                 * report every problem, as -validate does;
	                                 * a reload with one is refused */
};

/* Add a listening address to the block (bind); 0, or -1 out of memory. */
int plugin_block_add_bind(struct plugin_block *b, const char *addr);

/* Visit one plugin instance (introspection). */
struct plugin_ops;
typedef void (*plugin_visit_fn)(void *arg, const struct plugin_block *b,
	const struct plugin_ops *ops, void *state);

/* The process around the plugins; every function may be NULL. */
struct plugin_host {
	void *arg;
	/* 1 if every instance of the running configuration is ready; else
	 * 0 with the reasons in why */
	int (*ready)(void *arg, char *why, size_t whylen);
	/* 1 once SIGTERM/SIGINT started the lameduck */
	int (*stopping)(void *arg);
	/* visit every instance of the running configuration */
	void (*foreach)(void *arg, plugin_visit_fn fn, void *fnarg);
};

/* What start gets.  Lives as long as the process. */
struct plugin_env {
	struct event_base *base;
	struct metrics *metrics;        /* process-wide families; NULL in tests */
	struct httpd *httpd;            /* HTTP endpoints; NULL in tests */
	const struct plugin_host *host; /* NULL in tests */
};

struct plugin_ops {
	const char *name;
	int (*setup)(const struct plugin_ctx *ctx, const struct cf_directive *d,
		void **state, char *err, size_t errlen);
	int (*start)(void *state, const struct plugin_env *env);
	enum plugin_result (*serve)(void *state, struct dns_request *req);
	int (*ready)(void *state, char *why, size_t whylen);
	void (*free)(void *state);
	void (*observe)(void *state, const struct dns_request *req);
	void (*collect)(void *state, const struct plugin_block *b,
		struct metrics_out *o);
	int (*introspect)(void *state, struct cJSON *obj);
	/* 1: the directive may be written several times in a block; setup
	 * is called once with all of them in ctx->lines.  0: twice is an
	 * error ("used twice in one server block"). */
	int repeatable;
};

/* ---- the plugin table (src/plugins/table.c) ---- */

struct plugin_entry {
	const char *name;               /* the directive */
	const struct plugin_ops *ops;   /* NULL: a CoreDNS plugin not implemented */
	/* for one not implemented: why, and what to do instead (the error
	 * names it); NULL: the list of what is supported */
	const char *instead;
};

/* Every CoreDNS directive, in CoreDNS's order.  The program hands it to
 * the core (server_opts), which reads no other list of plugins. */
extern const struct plugin_entry plugin_table[];
extern const size_t plugin_table_size;

#endif
