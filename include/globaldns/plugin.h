/*
 * plugin.h -- the directives of a server block as small function tables.
 *
 * Each Corefile directive that globaldns implements is a `struct
 * plugin_ops`.  plugin.c holds the table of every directive name in
 * CoreDNS's plugin order (plugin.cfg): a server block's chain is the
 * directives it uses, sorted by that order (not the order written), and a
 * query runs the chain until a plugin answers.
 *
 * Life of an instance:
 *   setup   parse the directive (arguments and sub-block) -> state.  Errors
 *           go to err as "FILE:LINE: NAME: what is wrong".  Must not start
 *           I/O; in validate mode (ctx->validate) it may read files to
 *           report problems, and the instance is then freed unstarted.
 *   start   begin timers and I/O on the event base (sources load, ...).
 *   serve   answer a query (write req->resp) -> PLUGIN_DONE; or pass it on
 *           -> PLUGIN_NEXT; or keep it (query_hold) and answer later ->
 *           PLUGIN_ASYNC.
 *   ready   1 when the instance has what it needs to answer (first sync
 *           done); else 0 with a short reason in why.  May be NULL.
 *   free    release everything; state may be half built.
 *   observe called after every answered query of the block (the query
 *           log, errors); must not block or allocate.  May be NULL.
 *   introspect add what the instance serves to a JSON object (GET
 *           /registry); may allocate; on the main loop.  May be NULL.
 *
 * Reload: a new configuration is set up beside the running one.  An
 * instance whose directive (name, arguments, sub-block), block zones and
 * port are unchanged is not started again: the running state is moved into
 * the new configuration and the freshly set-up one freed unstarted.  So a
 * state must not point into the Corefile tree or the plugin_ctx after
 * setup (copy what it needs), and must not depend on which server block
 * array holds it.
 */
#ifndef GLOBALDNS_PLUGIN_H
#define GLOBALDNS_PLUGIN_H

#include <stddef.h>

#include "globaldns/corefile.h"

struct cf_directive;
struct cJSON;
struct dns_request;
struct event_base;

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

/* What a plugin's setup learns about where it stands. */
struct plugin_ctx {
	const char *const *zones;       /* the block's zones: FQDN, lowercase */
	size_t nzones;
	int port;                       /* the block's port */
	int validate;                   /* 1 under -validate: never started */
	const char *const *binds;       /* the block's bind addresses (canonical text), */
	size_t nbinds;                  /* none without bind: bind is set up first */
};

struct plugin_ops {
	const char *name;
	int (*setup)(const struct plugin_ctx *ctx, const struct cf_directive *d,
		void **state, char *err, size_t errlen);
	int (*start)(void *state, struct event_base *base);
	enum plugin_result (*serve)(void *state, struct dns_request *req);
	int (*ready)(void *state, char *why, size_t whylen);
	void (*free)(void *state);
	void (*observe)(void *state, const struct dns_request *req);
	int (*introspect)(void *state, struct cJSON *obj);
};

/*
 * The implementation of a directive, or NULL.  *known is set to 1 if the
 * name is a CoreDNS plugin (implemented or not), else 0.  *order is its
 * position in CoreDNS's plugin order.
 */
const struct plugin_ops *plugin_find(const char *name, int *known, int *order);

/* "a, b, c": the directives globaldns implements, for error messages. */
const char *plugin_supported_list(void);

/* The plugins implemented so far. */
extern const struct plugin_ops serviceentries_plugin;
extern const struct plugin_ops forward_plugin;        /* also `proxy` */
extern const struct plugin_ops cache_plugin;
/* Operations (plugin_ops.c, plugin_log.c, plugin_bind.c). */
extern const struct plugin_ops health_plugin;
extern const struct plugin_ops ready_plugin;
extern const struct plugin_ops prometheus_plugin;
extern const struct plugin_ops reload_plugin;
extern const struct plugin_ops log_plugin;
extern const struct plugin_ops errors_plugin;
extern const struct plugin_ops bind_plugin;

/* bind: the addresses of a bind instance (its state); returns how many. */
size_t bind_addresses(const void *state, const char *const **addrs);
/* health: the lameduck of every running health instance, the longest (ms). */
long health_lameduck_ms(void);
/* reload: interval and jitter of a reload instance (its state), in ms. */
void reload_interval(const void *state, long *interval_ms, long *jitter_ms);

#endif
