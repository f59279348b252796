/*
 * forward.c -- the `forward` directive (and its old name `proxy`):
 * send the queries a block does not answer itself to upstream resolvers,
 * with c-ares on the libevent loop.  Design and counters: forward_int.h.
 *
 *   forward FROM TO... {
 *       except ZONE...           names below these are not forwarded
 *       force_tcp | prefer_udp   transport to the upstreams
 *       max_fails N              failures before an upstream is down (2; 0 never)
 *       health_check DURATION [no_rec] [domain NAME]   probe interval (0.5s)
 *       policy random|round_robin|sequential           (random)
 *       max_concurrent N         queries in flight; over it REFUSED (0: no limit)
 *       expire DURATION          replace sockets this old (10s): new source ports
 *       failfast_all_unhealthy_upstreams   SERVFAIL at once when all are down
 *       timeout DURATION         one try (2s)           globaldns extension
 *       deadline DURATION        the whole query (5s)   globaldns extension
 *   }
 */
#include "forward_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <ares.h>
#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"

/* ---- queries ---- */

static void fq_put(struct fwd_query *fq)
{
	struct forward *f = fq->f;

	if (fq->deadline)
		evtimer_del(fq->deadline);
	fq->next_free = f->free_q;
	f->free_q = fq;
}

static struct fwd_query *fq_get(struct forward *f)
{
	struct fwd_query *fq = f->free_q;

	if (fq) {
		f->free_q = fq->next_free;
		return fq;
	}
	/* the pool grows to the peak number in flight, then is reused */
	fq = calloc(1, sizeof(*fq));
	if (!fq)
		return NULL;
	fq->f = f;
	fq->deadline = NULL;
	fq->all_next = f->all_q;
	f->all_q = fq;
	return fq;
}

static void fq_answer_servfail(struct fwd_query *fq)
{
	struct dns_request *h = fq->req;

	fq->req = NULL;
	fq->f->stats.inflight--;
	fq->f->stats.servfail_deadline++;
	query_answer_rcode(h, DNS_RCODE_SERVFAIL, fq->f->plugin_name);
	h->synthesized = 1;             /* no upstream said so: never cached */
	/* why, for `errors` (read while the answer is completed, below) */
	h->error = fq->why[0] ? fq->why : fq->tries ? "no answer before the deadline"
		: "no upstream could be tried";
	evtimer_del(fq->deadline);
	query_complete(h, 0);
}

static void fq_try(struct fwd_query *fq);

static void on_deadline(evutil_socket_t fd, short what, void *arg)
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

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf,
	int alen)
{
	struct fwd_query *fq = arg;
	struct fwd_upstream *u = fq->cur;
	uint64_t now = query_now_ns();
	const char *why;

	(void)timeouts;
	fq->pending--;
	if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
		/* shutting down: drop the query, the client will retry */
		if (fq->req) {
			fq->f->stats.inflight--;
			query_release(fq->req);
			fq->req = NULL;
		}
		return;                 /* the pool is freed with the plugin */
	}
	if (status == ARES_SUCCESS && fq->req && answer_matches(fq->req, abuf, (size_t)alen)) {
		record_answer(u, abuf[3] & 0x0F, now - fq->sent_ns);
		if (u->fails)
			fwd_up_ok(u, "answered a query");
		deliver(fq, abuf, (size_t)alen);
		fq_put(fq);
		return;
	}
	why = status == ARES_SUCCESS ? "answer does not match the question"
		: ares_strerror(status);
	snprintf(fq->why, sizeof(fq->why), "%s: %s", u->name, why);
	u->stats.failures++;
	fwd_up_failed(u, why);
	if (!fq->req) {                 /* already answered at the deadline */
		fq_put(fq);
		return;
	}
	fq_try(fq);
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
	struct fwd_chan *c;
	uint8_t *pkt;

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
	fq->cur = u;
	c = fwd_chan_current(u, (f->force_tcp || (fq->use_tcp && !f->prefer_udp)) ? CH_TCP : CH_UDP);
	u->stats.requests++;
	fq->sent_ns = query_now_ns();
	pkt = send_copy(f, h);
	if (!pkt) {
		fq_answer_servfail(fq);
		fq_put(fq);
		return;
	}
	fq->pending++;
	/* When the send fails at once (connect refused: `forward .
	 * [fe80::1]:53`) on_answer runs inside ares_send, tries the next
	 * upstream and may answer and release h and recycle fq before
	 * ares_send returns: after it, nothing may touch h or fq.  (c-ares
	 * has copied pkt by then, so a nested send may reuse the buffer.) */
	ares_send(c->ch, pkt, (int)h->pktlen, on_answer, fq);
	fwd_chan_schedule(c);
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
	struct timeval tv;

	if (!in_from(f, &req->q))
		return PLUGIN_NEXT;
	if (!f->base) {                 /* not started (unit tests) */
		query_answer_rcode(req, DNS_RCODE_SERVFAIL, f->plugin_name);
		req->synthesized = 1;
		return PLUGIN_DONE;
	}
	if (f->max_concurrent && f->stats.inflight >= f->max_concurrent) {
		f->stats.max_concurrent_rejects++;
		query_answer_rcode(req, DNS_RCODE_REFUSED, f->plugin_name);
		req->synthesized = 1;
		return PLUGIN_DONE;
	}
	fq = fq_get(f);
	if (fq && !fq->deadline)
		fq->deadline = evtimer_new(f->base, on_deadline, fq);
	if (!fq || !fq->deadline || !(fq->req = query_hold(req))) {
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
	fwd_ms_to_tv(f->deadline_ms, &tv);
	evtimer_add(fq->deadline, &tv);
	fq_try(fq);
	return PLUGIN_ASYNC;
}

/* ---- configuration ---- */

static void fwd_free(void *state);

/* "1.2.3.4", "1.2.3.4:53", "[::1]:53", "::1", with an optional dns://. */
static int parse_hostport(const char *s, struct fwd_upstream *u, char *why,
	size_t whylen)
{
	char host[128];
	const char *port = NULL;
	struct addrinfo hints, *res = NULL;
	int p = 53;

	if (strncmp(s, "dns://", 6) == 0)
		s += 6;
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e || (size_t)(e - s - 1) >= sizeof(host)) {
			snprintf(why, whylen, "unterminated [");
			return -1;
		}
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		if (e[1] == ':')
			port = e + 2;
		else if (e[1]) {
			snprintf(why, whylen, "junk after ]");
			return -1;
		}
	} else {
		const char *colon = strchr(s, ':');
		if (strlen(s) >= sizeof(host)) {
			snprintf(why, whylen, "too long");
			return -1;
		}
		snprintf(host, sizeof(host), "%s", s);
		if (colon && !strchr(colon + 1, ':')) {   /* one colon: IPv4:port */
			host[colon - s] = '\0';
			port = colon + 1;
		}
	}
	if (port) {
		if (parse_port(port, &p) < 0) {
			snprintf(why, whylen, "port \"%s\" out of range (1-65535)", port);
			return -1;
		}
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST;
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
		snprintf(why, whylen, "not an IP address");
		return 1;               /* maybe a file */
	}
	u->family = res->ai_family;
	if (res->ai_family == AF_INET)
		memcpy(u->addr, &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr, 4);
	else
		memcpy(u->addr, &((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr, 16);
	freeaddrinfo(res);
	u->port = (uint16_t)p;
	if (u->family == AF_INET) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, u->addr, a, sizeof(a));
		snprintf(u->name, sizeof(u->name), "%s:%u", a, u->port);
	} else {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, u->addr, a, sizeof(a));
		snprintf(u->name, sizeof(u->name), "[%s]:%u", a, u->port);
	}
	u->stats.to = u->name;
	return 0;
}

static int add_upstream(struct forward *f, const char *to, const char *file,
	int line, char *err, size_t errlen)
{
	struct fwd_upstream *u;
	char why[128];
	int r;

	if (f->nup >= FWD_MAX_UPSTREAMS) {
		snprintf(err, errlen, "%s:%d: %s: more than %d upstreams",
			file, line, f->plugin_name, FWD_MAX_UPSTREAMS);
		return -1;
	}
	u = &f->up[f->nup];
	memset(u, 0, sizeof(*u));
	u->f = f;
	r = parse_hostport(to, u, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "%s:%d: %s: \"%s\": %s", file, line,
			f->plugin_name, to, why);
		return -1;
	}
	if (r > 0)
		return 1;
	f->nup++;
	return 0;
}

/* A resolv.conf-style file: its `nameserver` lines. */
static int add_file(struct forward *f, const char *path, const char *file,
	int line, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char buf[512];
	size_t before = f->nup;
	int ln = 0;

	if (!fp) {
		snprintf(err, errlen, "%s:%d: %s: \"%s\": not an IP address or a readable file (%s)",
			file, line, f->plugin_name, path, strerror(errno));
		return -1;
	}
	while (fgets(buf, sizeof(buf), fp)) {
		char *tok, *save = NULL;
		ln++;
		tok = strtok_r(buf, " \t\r\n", &save);
		if (!tok || strcmp(tok, "nameserver") != 0)
			continue;
		tok = strtok_r(NULL, " \t\r\n", &save);
		if (!tok)
			continue;
		if (add_upstream(f, tok, path, ln, err, errlen) != 0) {
			if (!strstr(err, path) || strstr(err, "more than") == NULL)
				snprintf(err, errlen, "%s:%d: nameserver \"%s\": not an IP address (used by %s at %s:%d)",
					path, ln, tok, f->plugin_name, file, line);
			fclose(fp);
			return -1;
		}
	}
	fclose(fp);
	if (f->nup == before) {
		snprintf(err, errlen, "%s:%d: %s: \"%s\": no nameserver lines",
			file, line, f->plugin_name, path);
		return -1;
	}
	return 0;
}

static int parse_block(struct forward *f, const struct cf_directive *d,
	char *err, size_t errlen)
{
	const char *name = f->plugin_name;
	char why[256];

	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		unsigned long v;
		long ms;

		if (strcmp(c->name, "except") == 0) {
			if (c->nargs == 0)
				PLUGIN_FAIL(c, "except: needs at least one zone");
			for (size_t a = 0; a < c->nargs; a++) {
				if (f->nexcept >= FWD_MAX_EXCEPT)
					PLUGIN_FAIL(c, "except: more than %d zones", FWD_MAX_EXCEPT);
				if (cf_parse_zone(c->args[a], &f->except[f->nexcept], why, sizeof(why)) < 0)
					PLUGIN_FAIL(c, "except: \"%s\": %s", c->args[a], why);
				f->nexcept++;
			}
		} else if (strcmp(c->name, "force_tcp") == 0 || strcmp(c->name, "prefer_udp") == 0
			   || strcmp(c->name, "failfast_all_unhealthy_upstreams") == 0) {
			if (c->nargs)
				PLUGIN_FAIL(c, "%s: takes no arguments", c->name);
			if (c->name[0] == 'f' && c->name[1] == 'o')
				f->force_tcp = 1;
			else if (c->name[0] == 'p')
				f->prefer_udp = 1;
			else
				f->failfast = 1;
		} else if (strcmp(c->name, "max_fails") == 0) {
			if (c->nargs != 1 || parse_uint(c->args[0], 1000000, &v) < 0)
				PLUGIN_FAIL(c, "max_fails: needs one number (0 = never mark an upstream down)");
			f->max_fails = (unsigned int)v;
		} else if (strcmp(c->name, "max_concurrent") == 0) {
			if (c->nargs != 1 || parse_uint(c->args[0], 100000000, &v) < 0)
				PLUGIN_FAIL(c, "max_concurrent: needs one number");
			f->max_concurrent = v;
		} else if (strcmp(c->name, "health_check") == 0) {
			if (c->nargs < 1 || cf_parse_duration_ms(c->args[0], &ms) < 0)
				PLUGIN_FAIL(c, "health_check: needs a duration such as 0.5s");
			f->hc_ms = ms;
			for (size_t a = 1; a < c->nargs; a++) {
				if (strcmp(c->args[a], "no_rec") == 0) {
					f->hc_rd = 0;
				} else if (strcmp(c->args[a], "domain") == 0 && a + 1 < c->nargs) {
					f->hc_name_len = wire_name_from_str(c->args[++a], f->hc_name);
					if (f->hc_name_len < 0)
						PLUGIN_FAIL(c, "health_check: domain \"%s\": invalid name", c->args[a]);
					/* the probe appends the root label itself */
					f->hc_name_len--;
				} else {
					PLUGIN_FAIL(c, "health_check: unknown option \"%s\" (no_rec, domain NAME)", c->args[a]);
				}
			}
		} else if (strcmp(c->name, "policy") == 0) {
			if (c->nargs != 1)
				PLUGIN_FAIL(c, "policy: needs one of random, round_robin, sequential");
			if (strcmp(c->args[0], "random") == 0)
				f->policy = POLICY_RANDOM;
			else if (strcmp(c->args[0], "round_robin") == 0)
				f->policy = POLICY_ROUND_ROBIN;
			else if (strcmp(c->args[0], "sequential") == 0)
				f->policy = POLICY_SEQUENTIAL;
			else
				PLUGIN_FAIL(c, "policy: \"%s\": unknown; use random, round_robin or sequential", c->args[0]);
		} else if (strcmp(c->name, "expire") == 0) {
			if (c->nargs != 1 || cf_parse_duration_ms(c->args[0], &ms) < 0)
				PLUGIN_FAIL(c, "expire: needs a duration such as 10s");
			f->expire_ms = ms;
		} else if (strcmp(c->name, "timeout") == 0 || strcmp(c->name, "deadline") == 0) {
			if (c->nargs != 1 || cf_parse_duration_ms(c->args[0], &ms) < 0 || ms < 10 || ms > 60000)
				PLUGIN_FAIL(c, "%s: needs a duration from 10ms to 60s", c->name);
			if (c->name[0] == 't')
				f->timeout_ms = ms;
			else
				f->deadline_ms = ms;
		} else if (strcmp(c->name, "tls") == 0 || strcmp(c->name, "tls_servername") == 0) {
			PLUGIN_FAIL(c, "%s: DNS over TLS upstreams are not supported", c->name);
		} else {
			PLUGIN_FAIL(c, "unknown property \"%s\"; supported: except, force_tcp, prefer_udp, max_fails, "
				"health_check, policy, max_concurrent, expire, failfast_all_unhealthy_upstreams, "
				"timeout, deadline", c->name);
		}
	}
	if (f->force_tcp && f->prefer_udp)
		PLUGIN_FAIL(d, "force_tcp and prefer_udp are mutually exclusive");
	return 0;
fail:
	return -1;
}

static int fwd_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	struct forward *f = calloc(1, sizeof(*f));
	const char *name = d->name;
	char why[256];

	if (!f) {
		snprintf(err, errlen, "%s:%d: %s: out of memory", d->file, d->line, d->name);
		return -1;
	}
	f->plugin_name = strcmp(d->name, "proxy") == 0 ? "proxy" : "forward";
	f->max_fails = FWD_DEFAULT_MAX_FAILS;
	f->hc_ms = FWD_DEFAULT_HC_MS;
	f->hc_rd = 1;
	f->hc_name_len = 0;             /* "." */
	f->policy = POLICY_RANDOM;
	f->timeout_ms = FWD_DEFAULT_TIMEOUT_MS;
	f->deadline_ms = FWD_DEFAULT_DEADLINE_MS;
	f->expire_ms = FWD_DEFAULT_EXPIRE_MS;
	if (d->nargs < 2)
		PLUGIN_FAIL(d, "needs FROM and at least one TO (forward . 10.0.0.10 or forward . /etc/resolv.conf)");
	if (cf_parse_zone(d->args[0], &f->from, why, sizeof(why)) < 0)
		PLUGIN_FAIL(d, "FROM \"%s\": %s", d->args[0], why);
	for (size_t a = 1; a < d->nargs; a++) {
		const char *to = d->args[a];
		int r;
		if (strstr(to, "://") && strncmp(to, "dns://", 6) != 0)
			PLUGIN_FAIL(d, "\"%s\": only plain DNS upstreams (dns://) are supported", to);
		r = add_upstream(f, to, d->file, d->line, err, errlen);
		if (r < 0)
			goto fail;
		if (r > 0 && add_file(f, to, d->file, d->line, err, errlen) < 0)
			goto fail;
	}
	if (parse_block(f, d, err, errlen) < 0)
		goto fail;
	if (getrandom(&f->rng, sizeof(f->rng), 0) != sizeof(f->rng) || !f->rng)
		f->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)query_now_ns();
	/* a query it holds is answered within the deadline: the drain at
	 * shutdown waits that long */
	if (f->deadline_ms > ctx->process->hold_ms)
		ctx->process->hold_ms = f->deadline_ms;
	*state = f;
	return 0;
fail:
	fwd_free(f);
	return -1;
}

static int fwd_start(void *state, const struct plugin_env *env)
{
	struct forward *f = state;
	struct event_base *base = env->base;

	if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
		return -1;
	f->ares_init = 1;
	f->base = base;
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
