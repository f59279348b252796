/*
 * forward.c -- the `forward` directive (and its old name `proxy`):
 * send the queries a block does not answer itself to upstream resolvers,
 * with c-ares on the libevent loop.  This file is the query path, the
 * plugin's life and its metrics; the configuration is forward_conf.c,
 * the design and counters forward_int.h.
 */
#include "forward_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ares.h>
#include <event2/event.h>

#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"
#include "globaldns/workers.h"

/* ---- queries ---- */

/* Back to the pool: only once no try is out (pending 0). */
static void fq_put(struct fwd_query *fq)
{
	struct forward *f = fq->f;

	evtimer_del(fq->deadline);
	evtimer_del(fq->try_timer);
	fq->next_free = f->free_q;
	f->free_q = fq;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg);
static void on_try_timeout(evutil_socket_t fd, short what, void *arg);

static struct fwd_query *fq_get(struct forward *f)
{
	struct fwd_query *fq = f->free_q;

	if (fq) {
		f->free_q = fq->next_free;
		return fq;
	}
	/* the pool grows to the peak number in flight (bounded by
	 * max_concurrent), then is reused */
	fq = calloc(1, sizeof(*fq));
	if (!fq)
		return NULL;
	fq->f = f;
	fq->deadline = evtimer_new(f->base, on_deadline, fq);
	fq->try_timer = evtimer_new(f->base, on_try_timeout, fq);
	fq->all_next = f->all_q;
	f->all_q = fq;
	/* on failure it stays on all_q, for fwd_free */
	return fq->deadline && fq->try_timer ? fq : NULL;
}

static void fq_answer_servfail(struct fwd_query *fq)
{
	struct dns_request *h = fq->req;

	fq->req = NULL;
	fq->f->stats.inflight--;
	fq->f->stats.servfail_deadline++;
	evtimer_del(fq->deadline);
	evtimer_del(fq->try_timer);
	query_answer_rcode(h, DNS_RCODE_SERVFAIL, fq->f->plugin_name);
	h->synthesized = 1;             /* no upstream said so: never cached */
	/* why, for `errors` (read while the answer is completed, below) */
	h->error = fq->why[0] ? fq->why : fq->tries ? "no answer before the deadline"
		: "no upstream could be tried";
	query_complete(h, 0);
}

static void fq_try(struct fwd_query *fq);

static void on_deadline_locked(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_query *fq = arg;

	(void)fd;
	(void)what;
	if (!fq->req)
		return;
	fq_answer_servfail(fq);
	if (fq->pending == 0)
		fq_put(fq);
}

WORKERS_LOCKED_EVENT_CB(on_deadline)

/* The try the query waits on, or NULL. */
static struct fwd_try *current_try(struct fwd_query *fq)
{
	for (int i = 0; i < FWD_TRY_SLOTS; i++)
		if (fq->tries_out[i].current)
			return &fq->tries_out[i];
	return NULL;
}

/* A try failed (its upstream's fault): count it, and try the next. */
static void try_failed(struct fwd_query *fq, struct fwd_try *t, const char *why)
{
	struct fwd_upstream *u = t->u;

	t->current = 0;
	snprintf(fq->why, sizeof(fq->why), "%s: %s", u->name, why);
	u->stats.failures++;
	fwd_up_failed(u, why);
	if (fq->req)
		fq_try(fq);
	else if (fq->pending == 0)
		fq_put(fq);
}

/* `timeout` passed on the current try: the next one starts now; this one
 * stays in c-ares (until c-ares times it out) and may still answer. */
static void on_try_timeout_locked(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_query *fq = arg;
	struct fwd_try *t = current_try(fq);

	(void)fd;
	(void)what;
	if (fq->req && t)
		try_failed(fq, t, "timeout");
}

WORKERS_LOCKED_EVENT_CB(on_try_timeout)

/* 1 if the answer's question is the one we asked (c-ares checks this
 * too; we depend on it for the copy below). */
static int answer_matches(const struct dns_request *h, const uint8_t *a,
	size_t alen)
{
	const struct dns_query *q = &h->q;
	size_t off = WIRE_HDR;
	uint8_t lc[WIRE_MAXNAME];

	if (alen < WIRE_HDR + (size_t)q->qname_len + 4 || !(a[2] & 0x80)
	    || a[4] != 0 || a[5] != 1)
		return 0;
	memcpy(lc, a + off, q->qname_len);
	wire_name_lower(lc, q->qname_len);
	if (memcmp(lc, q->qname_lc, q->qname_len) != 0)
		return 0;
	off += q->qname_len;
	return ((a[off] << 8) | a[off + 1]) == q->qtype
		&& ((a[off + 2] << 8) | a[off + 3]) == q->qclass;
}

static void record_answer(struct fwd_upstream *u, int rcode, uint64_t ns)
{
	int r = rcode >= 0 && rcode < 16 ? rcode : FORWARD_RCODE_OTHER;
	uint64_t lim = 250000;          /* 0.25 ms */
	int b = 0;

	u->stats.answers[r]++;
	u->stats.duration_ns[r] += ns;
	while (b < FORWARD_BUCKETS - 1 && ns > lim) {
		lim *= 2;
		b++;
	}
	u->stats.buckets[r][b]++;
}

static void deliver(struct fwd_query *fq, const uint8_t *a, size_t alen)
{
	struct dns_request *h = fq->req;
	int rcode = a[3] & 0x0F;

	fq->req = NULL;
	fq->f->stats.inflight--;
	evtimer_del(fq->deadline);
	evtimer_del(fq->try_timer);
	if (!h->tcp && alen > h->limit) {
		/* too big for the client's UDP buffer: TC, it retries over TCP */
		struct wire_resp w;
		uint16_t fl = (uint16_t)(((a[2] << 8) | a[3]) & (DNS_FLAG_AA | DNS_FLAG_RA | DNS_FLAG_AD));
		query_begin(h, &w, rcode, fl);
		w.truncated = 1;
		query_finish(h, &w, fq->f->plugin_name);
	} else {
		memcpy(h->resp, a, alen);
		/* the client's ID and its question, case as asked (0x20) */
		h->resp[0] = (uint8_t)(h->q.id >> 8);
		h->resp[1] = (uint8_t)h->q.id;
		memcpy(h->resp + WIRE_HDR, h->pkt + WIRE_HDR, h->q.qname_len);
		h->resp_len = alen;
		h->plugin = fq->f->plugin_name;
	}
	query_complete(h, 0);
}

/* A try came back from c-ares: an answer, or why there is none. */
static void try_done(struct fwd_try *t, int status, const uint8_t *abuf,
	size_t alen)
{
	struct fwd_query *fq = t->fq;
	struct fwd_upstream *u = t->u;
	int was_current = t->current;

	fq->pending--;
	t->current = 0;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		/* shutting down: drop the query, the client will retry */
		if (fq->req) {
			fq->f->stats.inflight--;
			query_release(fq->req);
			fq->req = NULL;
		}
		return;                 /* the pool is freed with the plugin */
	}
	if (status == ARES_SUCCESS && fq->req && answer_matches(fq->req, abuf, alen)) {
		/* the current try's answer, or a late one of an earlier try */
		record_answer(u, abuf[3] & 0x0F, query_now_ns() - t->sent_ns);
		if (u->fails)
			fwd_up_ok(u, "answered a query");
		deliver(fq, abuf, alen);
		if (fq->pending == 0)
			fq_put(fq);
		return;
	}
	if (was_current && fq->req) {
		try_failed(fq, t, status == ARES_SUCCESS ? "answer does not match the question"
			: ares_strerror(status));
		return;
	}
	/* a try already given up (its failure counted at its timeout) */
	if (!fq->req) {
		if (fq->pending == 0)
			fq_put(fq);
	} else if (!current_try(fq)) {
		fq_try(fq);             /* a slot is free again */
	}
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf,
	int alen)
{
	struct fwd_try *t = arg;

	(void)timeouts;
	fwd_came_back(t);
	try_done(t, status, abuf, alen > 0 ? (size_t)alen : 0);
}

/*
 * The query as sent upstream: the client's packet with our own random ID
 * (c-ares 1.18 sends the ID it is given), in f's send buffer.  The held
 * packet itself is never written.  NULL on memory exhaustion.
 */
static uint8_t *send_copy(struct forward *f, const struct dns_request *h)
{
	if (f->sendbuf_cap < h->pktlen) {
		uint8_t *b = realloc(f->sendbuf, h->pktlen);
		if (!b)
			return NULL;
		f->sendbuf = b;
		f->sendbuf_cap = h->pktlen;
	}
	memcpy(f->sendbuf, h->pkt, h->pktlen);
	f->sendbuf[0] = (uint8_t)fwd_rand(f);
	f->sendbuf[1] = (uint8_t)fwd_rand(f);
	return f->sendbuf;
}

static void fq_try(struct fwd_query *fq)
{
	struct forward *f = fq->f;
	struct dns_request *h = fq->req;
	struct fwd_upstream *u = NULL;
	struct fwd_try *t = NULL;
	uint8_t *pkt;

	for (int i = 0; i < FWD_TRY_SLOTS && !t; i++)
		if (!fq->tries_out[i].live)
			t = &fq->tries_out[i];
	if (!t)
		return;                 /* every slot out: wait for one, or the deadline */
	/* the next upstream in policy order that is not down; when all are
	 * down, all are tried (health checking may be what is broken) */
	while (fq->tries < fq->max_tries) {
		struct fwd_upstream *cand = &f->up[fq->order[fq->pos]];
		fq->pos = (fq->pos + 1) % fq->n;
		fq->tries++;
		if (!fwd_up_down(f, cand)) {
			u = cand;
			break;
		}
	}
	if (!u) {
		int all_down = 1;
		for (size_t i = 0; i < f->nup; i++)
			all_down &= fwd_up_down(f, &f->up[i]);
		if (!all_down || f->failfast || fq->tries >= fq->max_tries + fq->n) {
			if (fq->pending)
				return;         /* a try still out may answer */
			fq_answer_servfail(fq);
			fq_put(fq);
			return;
		}
		if (!f->all_down_logged) {
			log_warning("plugin/%s: every upstream is down; trying them anyway",
				f->plugin_name);
			f->all_down_logged = 1;
		}
		f->stats.hc_broken++;
		u = &f->up[fq->order[fq->pos]];
		fq->pos = (fq->pos + 1) % fq->n;
		fq->tries++;
	}
	pkt = send_copy(f, h);
	if (!pkt) {
		if (fq->pending)
			return;
		fq_answer_servfail(fq);
		fq_put(fq);
		return;
	}
	u->stats.requests++;
	t->fq = fq;
	t->u = u;
	t->sent_ns = query_now_ns();
	t->current = 1;
	fq->pending++;
	evtimer_add(fq->try_timer, f->ct_try);
	/* When the send fails at once (connect refused: `forward .
	 * [fe80::1]:53`) the callback runs inside the send, tries the next
	 * upstream and may answer and release h and recycle fq before
	 * fwd_send returns: after it, nothing may touch h or fq.  (c-ares
	 * has copied pkt by then, so a nested send may reuse the buffer.) */
	fwd_send(fwd_chan_current(u, (f->force_tcp || (fq->use_tcp && !f->prefer_udp)) ? CH_TCP : CH_UDP),
		t, pkt, h->pktlen, on_answer);
}

static int in_from(const struct forward *f, const struct dns_query *q)
{
	if (wire_zone_match(q, &f->from) < 0)
		return 0;
	/* CoreDNS: the FROM apex itself is always forwarded */
	if (q->nlabels == f->from.nlabels)
		return 1;
	for (size_t i = 0; i < f->nexcept; i++)
		if (wire_zone_match(q, &f->except[i]) >= 0)
			return 0;
	return 1;
}

static void order_for(struct forward *f, struct fwd_query *fq)
{
	unsigned int n = (unsigned int)f->nup;

	fq->n = n;
	fq->pos = 0;
	for (unsigned int i = 0; i < n; i++)
		fq->order[i] = (uint8_t)i;
	switch (f->policy) {
	case POLICY_RANDOM:
		for (unsigned int i = n - 1; i > 0; i--) {
			unsigned int j = fwd_rand(f) % (i + 1);
			uint8_t t = fq->order[i];
			fq->order[i] = fq->order[j];
			fq->order[j] = t;
		}
		break;
	case POLICY_ROUND_ROBIN:
		fq->pos = f->rr++ % n;
		break;
	case POLICY_SEQUENTIAL:
		break;
	}
}

static enum plugin_result fwd_serve(void *state, struct dns_request *req)
{
	struct forward *f = state;
	struct fwd_query *fq;

	if (!in_from(f, &req->q))
		return PLUGIN_NEXT;
	if (query_on_worker())          /* c-ares and the timers are the main loop's */
		return query_to_main_loop(req);
	if (!f->base) {                 /* not started (unit tests) */
		query_answer_rcode(req, DNS_RCODE_SERVFAIL, f->plugin_name);
		req->synthesized = 1;
		return PLUGIN_DONE;
	}
	if (f->max_concurrent && f->stats.inflight >= f->max_concurrent) {
		/* bounded memory and CPU whatever the upstreams do: answer at
		 * once rather than queue (never cached: synthesized) */
		f->stats.max_concurrent_rejects++;
		query_answer_rcode(req, f->reject_rcode, f->plugin_name);
		req->synthesized = 1;
		req->error = "concurrent queries exceeded maximum";
		return PLUGIN_DONE;
	}
	fq = fq_get(f);
	if (!fq || !(fq->req = query_hold(req))) {
		if (fq)
			fq_put(fq);
		query_answer_rcode(req, DNS_RCODE_SERVFAIL, f->plugin_name);
		req->synthesized = 1;
		return PLUGIN_DONE;
	}
	f->stats.inflight++;
	fq->use_tcp = req->tcp;
	fq->tries = 0;
	fq->why[0] = '\0';
	fq->pending = 0;
	order_for(f, fq);
	/* each upstream twice at most, and the deadline bounds it all */
	fq->max_tries = 2 * fq->n;
	evtimer_add(fq->deadline, f->ct_deadline);
	fq_try(fq);
	return PLUGIN_ASYNC;
}

static int fwd_start(void *state, const struct plugin_env *env)
{
	struct forward *f = state;
	struct event_base *base = env->base;
	struct timeval tv;

	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
		return -1;
	f->ares_init = 1;
	f->base = base;
	fwd_ms_to_tv(f->deadline_ms, &tv);
	f->ct_deadline = event_base_init_common_timeout(base, &tv);
	fwd_ms_to_tv(f->timeout_ms, &tv);
	f->ct_try = event_base_init_common_timeout(base, &tv);
	if (!f->ct_deadline || !f->ct_try)
		return -1;
	for (size_t i = 0; i < f->nup; i++)
		if (fwd_upstream_start(&f->up[i], base) < 0)
			return -1;
	return 0;
}

static void fwd_free(void *state)
{
	struct forward *f = state;
	struct fwd_query *fq, *next;

	if (!f)
		return;
	for (size_t i = 0; i < f->nup; i++)
		fwd_upstream_stop(&f->up[i]);
	for (fq = f->all_q; fq; fq = next) {
		next = fq->all_next;
		if (fq->req)
			query_release(fq->req);
		if (fq->deadline)
			event_free(fq->deadline);
		if (fq->try_timer)
			event_free(fq->try_timer);
		free(fq);
	}
	if (f->ares_init)
		ares_library_cleanup();
	free(f->sendbuf);
	free(f);
}

size_t forward_upstream_count(const struct forward *f)
{
	return f->nup;
}

const struct forward_upstream_stats *forward_upstream_stats(
	const struct forward *f, size_t i)
{
	return i < f->nup ? &f->up[i].stats : NULL;
}

const struct forward_stats *forward_get_stats(const struct forward *f)
{
	return &f->stats;
}

long forward_deadline_ms(const struct forward *f)
{
	return f->deadline_ms;
}

/* ---- metrics ---- */

/*
 * CoreDNS's families (plugin/forward, plugin/pkg/proxy): the two counters
 * without labels (summed over the instances, as CoreDNS's process-wide
 * counters), and per upstream coredns_proxy_request_duration_seconds
 * {proxy_name,to,rcode} and coredns_proxy_healthcheck_failures_total
 * {proxy_name,to}.  CoreDNS 1.7 - 1.10's coredns_forward_requests_total,
 * _responses_total, _request_duration_seconds and _healthcheck_failures_total
 * are gone there and here.  globaldns_forward_upstream_down{to} is ours.
 */
static void forward_families(struct metrics_out *o)
{
	metrics_out_family(o, "coredns_forward_healthcheck_broken_total", METRICS_COUNTER,
		"Counter of the number of complete failures of the healthchecks.");
	metrics_out_family(o, "coredns_forward_max_concurrent_rejects_total", METRICS_COUNTER,
		"Counter of the number of queries rejected because the concurrent queries were at maximum.");
	metrics_out_family(o, "coredns_proxy_request_duration_seconds", METRICS_HISTOGRAM,
		"Histogram of the time each request took.");
	metrics_out_family(o, "coredns_proxy_healthcheck_failures_total", METRICS_COUNTER,
		"Counter of the number of failed healthchecks.");
	metrics_out_family(o, "globaldns_forward_upstream_down", METRICS_GAUGE,
		"1 while the upstream is marked down by its health checks.");
}

static void fwd_collect(void *state, const struct plugin_block *b,
	struct metrics_out *o)
{
	const struct forward *f = state;
	const struct forward_stats *fs = forward_get_stats(f);

	(void)b;
	forward_families(o);
	metrics_out_sample(o, "coredns_forward_healthcheck_broken_total", "",
		(double)fs->hc_broken, NULL);
	metrics_out_sample(o, "coredns_forward_max_concurrent_rejects_total", "",
		(double)fs->max_concurrent_rejects, NULL);
	for (size_t i = 0; i < forward_upstream_count(f); i++) {
		const struct forward_upstream_stats *u = forward_upstream_stats(f, i);
		for (size_t r = 0; r < FORWARD_RCODES; r++) {
			struct metrics_hist h;
			if (!u->answers[r])
				continue;
			metrics_hist_init(&h, metrics_time_buckets, metrics_time_nbuckets);
			for (size_t k = 0; k < FORWARD_BUCKETS && k <= METRICS_HIST_MAX; k++)
				h.buckets[k] = u->buckets[r][k];
			h.count = u->answers[r];
			h.sum = (double)u->duration_ns[r] / 1e9;
			metrics_out_histogram(o, "coredns_proxy_request_duration_seconds", &h,
				"proxy_name", f->plugin_name, "to", u->to,
				"rcode", r < FORWARD_RCODE_OTHER ? dns_rcode_name((int)r) : "other", NULL);
		}
		metrics_out_sample(o, "coredns_proxy_healthcheck_failures_total", "",
			(double)u->hc_failures, "proxy_name", f->plugin_name, "to", u->to, NULL);
		metrics_out_sample(o, "globaldns_forward_upstream_down", "",
			u->down ? 1 : 0, "to", u->to, NULL);
	}
}

const struct plugin_ops forward_plugin = {
	.name = "forward",
	.setup = fwd_setup,
	.start = fwd_start,
	.serve = fwd_serve,
	.ready = NULL,
	.free = fwd_free,
	.collect = fwd_collect,
};
