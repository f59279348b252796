/*
 * query.h -- one query on its way through globaldns: parse, dispatch to the
 * server block with the longest matching zone, run that block's plugin
 * chain, and hand the response back to the transport.
 *
 * The core has no sockets: a transport (listen.c, or a unit test) fills a
 * struct dns_request with the packet and a response buffer and calls
 * query_process().  When a plugin answers synchronously (the authoritative
 * path) the response is in req->resp when query_process returns 1.  A
 * plugin that must wait (the forwarder) calls query_hold() to get a copy
 * that outlives the call, returns PLUGIN_ASYNC, and later calls
 * query_complete() on the copy; the transport's `reply` callback then
 * sends it.
 */
#ifndef GLOBALDNS_QUERY_H
#define GLOBALDNS_QUERY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "globaldns/plugin.h"
#include "globaldns/wire.h"

struct server_block;
struct dns_request;
struct metrics_slot;

/* The transport's side of a request. */
struct dns_transport {
	/* Send resp (len bytes) for req; called once per answered query. */
	void (*reply)(struct dns_request *req, const uint8_t *resp, size_t len);
	/* Take (+1) or drop (-1) a reference on ctx: a held request keeps
	 * its connection's memory alive until it is answered; may be NULL. */
	void (*ref)(void *ctx, int delta);
	void *ctx;              /* the transport's own (socket, connection) */
};

#define QUERY_RESP_MAX 65535

/* A plugin watching for the final answer of a query (query_on_answer). */
#define QUERY_WATCHERS 4
struct query_watch {
	void (*fn)(void *arg, struct dns_request *req);
	void *arg;
};

struct dns_request {
	/* filled by the transport */
	const uint8_t *pkt;             /* the query as received */
	size_t pktlen;
	int tcp;                        /* 0 UDP, 1 TCP */
	struct sockaddr_storage client;
	socklen_t clientlen;
	int server_port;                /* the listener's port */
	const char *server_addr;        /* the listener's bind address, "" (or
	                                 * NULL) for one on every address */
	uint8_t *resp;                  /* response buffer, QUERY_RESP_MAX */
	struct dns_transport transport;

	/* filled by query_process */
	const struct dispatch *dispatch;
	struct dns_query q;
	size_t limit;                   /* largest response the client takes */
	const struct server_block *block;
	unsigned int zone_label;        /* label of q where the zone starts */
	size_t next;                    /* next plugin in the block's chain */
	size_t resp_len;
	uint64_t start_ns;              /* monotonic time the query arrived */
	const char *plugin;             /* who answered, for metrics */
	const char *error;              /* why an error answer, for `errors`; may stay NULL */
	const struct zone_key *key;     /* the zone key matched, NULL if none */
	int held;                       /* 1 for a query_hold() copy */
	/* 1: the answering plugin made the response up itself (the
	 * forwarder's SERVFAIL at its deadline or with every upstream down)
	 * rather than relaying one; the cache clears it before passing a
	 * query on and never stores such an answer */
	int synthesized;
	/* Plugins that want to see the final answer (the cache, rrl,
	 * loadbalance) add a watcher (query_on_answer) before passing the
	 * query on.  They run once the response is complete, before it is
	 * sent, whether it came at once or later: the last added first (the
	 * plugin nearest the answer sees it first, as CoreDNS's nested
	 * response writers do).  A watcher may rewrite the response, or drop
	 * it: resp_len 0 and nothing is sent. */
	struct query_watch answer_watch[QUERY_WATCHERS];
	unsigned int nanswer_watch;
	/* a held query on its way from a worker to the main loop (workers.c) */
	struct dns_request *defer_next;
};

/* A zone key of a server block: "zone:port" -> block. */
struct zone_key {
	struct wire_zone z;             /* "global." */
	int port;
	struct server_block *block;
	struct metrics_slot *metrics;   /* its (server, zone) counters; may be NULL */
};

/* A plugin instance in a block's chain. */
struct plugin_inst {
	const struct plugin_ops *ops;
	void *state;
	int order;                      /* its place in the plugin table */
	char *conf_key;                 /* directive + zones + port + binds, to match on reload */
	int reused;                     /* state moved in from the previous config */
};

struct server_block {
	struct plugin_block info;       /* what its plugins see (plugin.h) */
	struct plugin_inst *chain;      /* in the plugin table's order */
	size_t nchain;
};

/* Every block and zone key of a configuration, for dispatch. */
struct dispatch {
	struct zone_key *keys;
	size_t nkeys;
	/* called after every answered query (metrics, query log); may be NULL */
	void (*observe)(void *arg, const struct dns_request *req);
	void *observe_arg;
	/* held requests (query_hold) not yet released: a retired
	 * configuration is freed only when this is 0; may be NULL */
	unsigned long *pending;
};

/*
 * Answer req: returns 1 if req->resp holds an answer of req->resp_len
 * bytes (the transport sends it), 0 if the query is dropped (not a query)
 * or is being answered asynchronously.
 */
int query_process(const struct dispatch *d, struct dns_request *req);

/*
 * Have fn(arg, req) called once req's response is complete, before it is
 * sent, whether a later plugin answers at once or later (query_complete):
 * a plugin that wants to see or change the final answer (the cache stores
 * it, loadbalance shuffles it) calls this before passing the query on.
 * The last added is called first, as CoreDNS's response writers wrap one
 * another: the plugin nearest the answer sees it first.  fn may drop the
 * answer (resp_len 0: nothing is sent).  0, or -1 when QUERY_WATCHERS
 * already watch (then fn is not called).  No allocation.
 */
int query_on_answer(struct dns_request *req,
	void (*fn)(void *arg, struct dns_request *req), void *arg);

/*
 * Start a response in req->resp with rcode and the given header flags
 * (e.g. DNS_FLAG_AA), echoing the question; returns the writer for
 * plugins to add records, then query_finish() it.
 */
void query_begin(struct dns_request *req, struct wire_resp *w, int rcode,
	uint16_t flags);
/* Finish the writer into req->resp_len, noting which plugin answered. */
void query_finish(struct dns_request *req, struct wire_resp *w,
	const char *plugin);
/* Shorthand: an empty response with rcode. */
void query_answer_rcode(struct dns_request *req, int rcode, const char *plugin);

/*
 * For plugins that answer later: a copy of req (packet and client address
 * included) that stays valid until query_complete() or query_release().
 * Returns NULL on memory exhaustion (then answer SERVFAIL at once).
 */
struct dns_request *query_hold(const struct dns_request *req);

/*
 * The held request's answer is in held->resp (resp_len bytes): send it
 * through the transport, then release the copy.  Or, with next=1, run the
 * rest of the chain from held->next first (a plugin that falls through
 * after waiting).
 */
void query_complete(struct dns_request *held, int next);
void query_release(struct dns_request *held);

/*
 * Worker threads (workers.h).  A plugin whose serve needs the main loop
 * (it starts I/O or timers on env->base: the forwarder) begins with
 *     if (query_on_worker()) return query_to_main_loop(req);
 * which holds req and queues it for the main loop, where the chain runs
 * on from the plugin being served (the one at req->next - 1, which may be
 * one that delegates to it: grpc's compatibility lines).  PLUGIN_ASYNC;
 * out of memory, a SERVFAIL answered at once (PLUGIN_DONE).
 */
int query_on_worker(void);
enum plugin_result query_to_main_loop(struct dns_request *req);

/* Per thread: where query_to_main_loop queues a held query (a worker
 * thread sets it at start); NULL on the main loop. */
void query_set_defer_hook(void (*fn)(struct dns_request *held));

/* Monotonic clock in nanoseconds. */
uint64_t query_now_ns(void);

#endif
