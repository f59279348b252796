/*
 * query.c -- parse, dispatch and run the plugin chain for one query (see
 * query.h).  Nothing here allocates, except query_hold() for plugins that
 * answer later, which reuses freed copies.
 */
#include "globaldns/query.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "globaldns/plugin.h"

uint64_t query_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void query_begin(struct dns_request *req, struct wire_resp *w, int rcode,
	uint16_t flags)
{
	wire_resp_init(w, req->resp, QUERY_RESP_MAX, req->limit, req->pkt, &req->q);
	wire_resp_rcode(w, rcode);
	if (flags)
		wire_resp_flags(w, flags);
}

void query_finish(struct dns_request *req, struct wire_resp *w,
	const char *plugin)
{
	req->resp_len = wire_resp_finish(w);
	req->plugin = plugin;
}

void query_answer_rcode(struct dns_request *req, int rcode, const char *plugin)
{
	struct wire_resp w;

	query_begin(req, &w, rcode, 0);
	query_finish(req, &w, plugin);
}

/*
 * Does block b listen where the query came in?  As in CoreDNS every bind
 * address (and "every address" for a block without bind) is a server of
 * its own: a block without bind takes only what the wildcard listener
 * got, a block with bind only what came to one of its addresses.
 */
static int block_listens(const struct server_block *b, const char *addr)
{
	if (!addr)
		addr = "";
	if (b->info.nbinds == 0)
		return addr[0] == '\0';
	for (size_t i = 0; i < b->info.nbinds; i++)
		if (strcmp(b->info.binds[i], addr) == 0)
			return 1;
	return 0;
}

/* The block whose zone is the longest suffix of the name, on the
 * listener (port and address) the query came in on. */
static const struct zone_key *match_zone(const struct dispatch *d,
	const struct dns_request *req)
{
	const struct dns_query *q = &req->q;
	const struct zone_key *best = NULL;

	for (size_t i = 0; i < d->nkeys; i++) {
		const struct zone_key *k = &d->keys[i];
		if (k->port != req->server_port || !block_listens(k->block, req->server_addr))
			continue;
		if (best && k->z.nlabels <= best->z.nlabels)
			continue;
		if (wire_zone_match(q, &k->z) >= 0)
			best = k;
	}
	return best;
}

int query_on_answer(struct dns_request *req,
	void (*fn)(void *arg, struct dns_request *req), void *arg)
{
	if (req->nanswer_watch >= QUERY_WATCHERS)
		return -1;
	req->answer_watch[req->nanswer_watch].fn = fn;
	req->answer_watch[req->nanswer_watch].arg = arg;
	req->nanswer_watch++;
	return 0;
}

static void observe(const struct dispatch *d, struct dns_request *req)
{
	while (req->nanswer_watch) {
		const struct query_watch *w = &req->answer_watch[--req->nanswer_watch];
		w->fn(w->arg, req);
	}
	/* a background refresh (the cache's prefetch) has no client: it is
	 * not a query to count or log */
	if (d->observe && req->transport.reply)
		d->observe(d->observe_arg, req);
}

/* On a worker thread: where queries for main-loop plugins go. */
static _Thread_local void (*defer_hook)(struct dns_request *held);

void query_set_defer_hook(void (*fn)(struct dns_request *held))
{
	defer_hook = fn;
}

int query_on_worker(void)
{
	return defer_hook != NULL;
}

enum plugin_result query_to_main_loop(struct dns_request *req)
{
	struct dns_request *h;

	if (!defer_hook)
		return PLUGIN_NEXT;
	req->next--;                    /* the main loop serves this plugin again */
	if (!(h = query_hold(req))) {
		req->next++;
		query_answer_rcode(req, DNS_RCODE_SERVFAIL, "");
		return PLUGIN_DONE;
	}
	defer_hook(h);
	return PLUGIN_ASYNC;
}

/* Run the chain from req->next; 1 if answered now, 0 if held. */
static int run_chain(const struct dispatch *d, struct dns_request *req)
{
	const struct server_block *b = req->block;

	while (req->next < b->nchain) {
		const struct plugin_inst *p = &b->chain[req->next++];
		enum plugin_result r;
		if (!p->ops->serve)
			continue;
		r = p->ops->serve(p->state, req);
		if (r == PLUGIN_DONE) {
			observe(d, req);
			return 1;
		}
		if (r == PLUGIN_ASYNC)
			return 0;
	}
	/* CoreDNS: "no next plugin found" */
	query_answer_rcode(req, DNS_RCODE_SERVFAIL, "");
	observe(d, req);
	return 1;
}

int query_process(const struct dispatch *d, struct dns_request *req)
{
	enum wire_parse pr;
	const struct zone_key *k;

	if (!req->start_ns)
		req->start_ns = query_now_ns();
	req->dispatch = d;
	req->nanswer_watch = 0;
	req->block = NULL;
	req->next = 0;
	req->resp_len = 0;
	req->plugin = "";
	req->error = NULL;
	req->key = NULL;
	pr = wire_parse_query(req->pkt, req->pktlen, &req->q);
	if (req->tcp)
		req->limit = QUERY_RESP_MAX;
	else if (req->q.edns)
		req->limit = req->q.edns_udp < 512 ? 512
			: req->q.edns_udp > WIRE_DEFAULT_UDP_MAX ? WIRE_DEFAULT_UDP_MAX
			: req->q.edns_udp;
	else
		req->limit = 512;
	switch (pr) {
	case WIRE_DROP:
		return 0;
	case WIRE_FORMERR:
		query_answer_rcode(req, DNS_RCODE_FORMERR, "");
		observe(d, req);
		return 1;
	case WIRE_NOTIMP:
		query_answer_rcode(req, DNS_RCODE_NOTIMP, "");
		observe(d, req);
		return 1;
	case WIRE_BADVERS:
		query_answer_rcode(req, DNS_RCODE_BADVERS, "");
		observe(d, req);
		return 1;
	case WIRE_BADKEY:
		/* RFC 8945 5.2.2: no such key here (there are no keys), an
		 * unsigned NOTAUTH with a TSIG record saying BADKEY */
		query_answer_rcode(req, DNS_RCODE_NOTAUTH, "");
		req->resp_len = wire_resp_tsig_error(req->resp, req->resp_len, req->limit,
			req->pkt, req->pktlen, &req->q, DNS_TSIG_BADKEY);
		observe(d, req);
		return 1;
	case WIRE_OK:
		break;
	}
	/* RFC 5936 4.2: AXFR is a TCP-only query; over UDP, NOTIMP (as NSD
	 * and Knot) whatever the zone */
	if (!req->tcp && req->q.qtype == DNS_TYPE_AXFR) {
		query_answer_rcode(req, DNS_RCODE_NOTIMP, "");
		observe(d, req);
		return 1;
	}
	k = match_zone(d, req);
	/* Other classes (CH version.bind) go to the block like CoreDNS; the
	 * authoritative plugin refuses them itself, `chaos` answers them.
	 * No transfers are configured: AXFR over TCP and IXFR REFUSED (as
	 * NSD). */
	if (!k || req->q.qtype == DNS_TYPE_AXFR || req->q.qtype == DNS_TYPE_IXFR) {
		query_answer_rcode(req, DNS_RCODE_REFUSED, "");
		observe(d, req);
		return 1;
	}
	req->key = k;
	req->block = k->block;
	req->zone_label = (unsigned int)(req->q.nlabels - k->z.nlabels);
	/* a plugin or a hook may drop the query: nothing to send */
	return run_chain(d, req) && req->resp_len > 0;
}

/* Held copies: the request with its own packet and response buffers,
 * sized for the query (a UDP answer never exceeds the client's limit, so a
 * held UDP query costs about 1 KiB, not 64). */
struct held {
	struct dns_request req;
	struct held *next_free;
	size_t pkt_cap;
	uint8_t *pkt;
	size_t resp_cap;
	uint8_t *resp;
};

/* Grow *buf to at least need bytes; 0, or -1 (then *buf is unchanged). */
static int reserve(uint8_t **buf, size_t *cap, size_t need)
{
	uint8_t *p;

	if (*cap >= need)
		return 0;
	p = realloc(*buf, need);
	if (!p)
		return -1;
	*buf = p;
	*cap = need;
	return 0;
}

static void held_free(struct held *h)
{
	free(h->pkt);
	free(h->resp);
	free(h);
}

static struct held *free_held;
static size_t nfree_held;

struct dns_request *query_hold(const struct dns_request *req)
{
	struct held *h = free_held;

	if (h) {
		free_held = h->next_free;
		nfree_held--;
	} else {
		h = calloc(1, sizeof(*h));
		if (!h)
			return NULL;
	}
	if (reserve(&h->pkt, &h->pkt_cap, req->pktlen) < 0
	    || reserve(&h->resp, &h->resp_cap, req->tcp || req->limit > 512
		? (req->tcp ? QUERY_RESP_MAX : req->limit) : 512) < 0) {
		held_free(h);
		return NULL;
	}
	h->req = *req;
	memcpy(h->pkt, req->pkt, req->pktlen);
	h->req.pkt = h->pkt;
	h->req.resp = h->resp;
	h->req.held = 1;
	if (h->req.dispatch && h->req.dispatch->pending)
		(*h->req.dispatch->pending)++;
	if (h->req.transport.ref)
		h->req.transport.ref(h->req.transport.ctx, 1);
	return &h->req;
}

void query_release(struct dns_request *held)
{
	struct held *h = (struct held *)held;

	if (!held)
		return;
	if (held->transport.ref)
		held->transport.ref(held->transport.ctx, -1);
	if (held->dispatch && held->dispatch->pending)
		(*held->dispatch->pending)--;
	/* keep a bounded pool of copies for reuse */
	if (nfree_held < 256) {
		h->next_free = free_held;
		free_held = h;
		nfree_held++;
	} else {
		held_free(h);
	}
}

void query_complete(struct dns_request *held, int next)
{
	if (next && !run_chain(held->dispatch, held)) {
		/* the plugin that went async holds its own copy */
		query_release(held);
		return;
	}
	if (!next)
		observe(held->dispatch, held);
	if (held->transport.reply && held->resp_len)
		held->transport.reply(held, held->resp, held->resp_len);
	query_release(held);
}
