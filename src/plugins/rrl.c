/*
 * rrl.c -- the `rrl` directive, response rate limiting against reflection
 * attacks, with the options of CoreDNS's external plugin
 * (github.com/coredns/rrl, after BIND 9's rate-limit).  Off unless
 * configured.
 *
 *   rrl [ZONES...] {
 *       responses-per-second N     positive answers (0: not limited; default 0)
 *       nodata-per-second N        NODATA          (default: responses-per-second)
 *       nxdomains-per-second N     NXDOMAIN        (default: responses-per-second)
 *       referrals-per-second N     referrals       (default: responses-per-second)
 *       errors-per-second N        other errors    (default: responses-per-second)
 *       requests-per-second N      requests, before any answer (0: off)
 *       window SECONDS             the longest debt remembered (15)
 *       ipv4-prefix-length L       clients counted together (24)
 *       ipv6-prefix-length L       (56)
 *       slip-ratio N               every Nth dropped answer goes out truncated (0-10; 0)
 *       max-table-size SIZE        accounts kept (100000)
 *       report-only                count, drop nothing
 *   }
 *
 * Each UDP answer is put in an account: the client's prefix, the response
 * type (answer, NODATA, NXDOMAIN, referral, error) and, per BIND, the
 * name and type asked (answers), the name (NODATA), the zone in the
 * authority section (NXDOMAIN, referrals), nothing more (errors).  An
 * account earns N credits a second, at most one second's worth, and owes
 * at most `window` seconds' worth; an answer costs one; an account in
 * debt has its answers dropped, except every slip-ratio-th, which goes
 * out empty with TC so a real client retries over TCP.  TCP answers are
 * never limited.  CoreDNS's accounting is followed exactly (allowTime).
 *
 * Allocation-free on the query path: the accounts are a fixed table made
 * at setup, open addressing on a 64-bit hash of the account, eight slots
 * probed; when all eight are taken, the one with the most credit is
 * replaced (an account with a full second of credit is the same as a new
 * one; CoreDNS instead stops limiting new accounts once its table is full).
 *
 * Metrics: coredns_rrl_responses_exceeded_total and
 * coredns_rrl_requests_exceeded_total by client_ip (the client's prefix,
 * the first 64 prefixes seen, the rest as "other"), and
 * globaldns_rrl_slipped_total.
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "globaldns/corefile.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"

#define NS 1000000000LL
#define RRL_MAX_ZONES 64
#define RRL_PROBES 8
#define RRL_CLIENTS 64

enum rtype { RT_ANSWER, RT_NODATA, RT_NXDOMAIN, RT_REFERRAL, RT_ERROR, RT_REQUEST, RT_N };

struct account {
	uint64_t key;                   /* 0: empty */
	int64_t allow_ns;               /* the next answer is free from then */
	uint32_t slip;                  /* countdown to the next slip */
};

struct client_count {
	int family;                     /* 0: empty */
	uint8_t prefix[16];
	uint64_t responses, requests;
};

struct rrl {
	struct wire_zone zones[RRL_MAX_ZONES];
	size_t nzones;
	int64_t interval[RT_N];         /* ns per credit; 0: not limited */
	int64_t window_ns;
	unsigned int v4len, v6len;
	uint32_t slip_ratio;
	int report_only;
	struct account *table;
	size_t mask;                    /* table size - 1 (a power of two) */
	struct client_count clients[RRL_CLIENTS];
	uint64_t other_responses, other_requests, slipped, evictions;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* The client's address masked to its prefix; family 0 if unknown. */
static int client_prefix(const struct rrl *r, const struct dns_request *req,
	uint8_t *p)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
	unsigned int len, bits;
	int family;

	memset(p, 0, 16);
	if (req->client.ss_family == AF_INET) {
		memcpy(p, &((const struct sockaddr_in *)&req->client)->sin_addr, 4);
		family = AF_INET;
	} else if (req->client.ss_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)&req->client)->sin6_addr.s6_addr;
		family = memcmp(a, mapped, 12) == 0 ? AF_INET : AF_INET6;
		memcpy(p, family == AF_INET ? a + 12 : a, family == AF_INET ? 4 : 16);
	} else {
		return 0;
	}
	len = family == AF_INET ? r->v4len : r->v6len;
	bits = family == AF_INET ? 32 : 128;
	for (unsigned int b = len; b < bits; b++)
		p[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
	return family;
}

/* FNV-1a of a (possibly compressed) name in m at off, lowercased. */
static uint64_t hash_name(uint64_t h, const uint8_t *m, size_t len, size_t off)
{
	for (int jumps = 0; off < len && jumps < 64;) {
		uint8_t l = m[off];
		if ((l & 0xC0) == 0xC0) {
			if (off + 1 >= len)
				break;
			off = (size_t)((l & 0x3F) << 8 | m[off + 1]);
			jumps++;
			continue;
		}
		if (l == 0 || off + 1 + l > len)
			break;
		h = hash_fnv1a(h, &l, 1);
		for (size_t i = 0; i < l; i++) {
			uint8_t c = m[off + 1 + i];
			if (c >= 'A' && c <= 'Z')
				c = (uint8_t)(c + 32);
			h = hash_fnv1a(h, &c, 1);
		}
		off += 1 + (size_t)l;
	}
	return h;
}

/* Offset of the first authority record (no answers), or 0. */
static size_t authority(const uint8_t *m, size_t len)
{
	size_t off = WIRE_HDR;

	for (uint16_t i = 0; i < wire_get16(m + 4); i++) {
		if (!(off = wire_skip_name(m, len, off)))
			return 0;
		off += 4;
	}
	return off < len ? off : 0;
}

/*
 * The answer's response type, and the name of its account (a hash), per
 * BIND: an answer and NODATA by the name asked; NXDOMAIN and a referral
 * by the zone (the authority section's first owner; none: one account);
 * an error by nothing.
 */
static enum rtype classify(const struct dns_request *req, uint64_t *name)
{
	const uint8_t *m = req->resp;
	size_t len = req->resp_len, off;
	int rcode = m[3] & 0x0F;

	*name = HASH_FNV1A_INIT;
	if (wire_get16(m + 6) == 0 && (rcode == DNS_RCODE_NXDOMAIN || rcode == DNS_RCODE_NOERROR)
	    && wire_get16(m + 8) > 0 && (off = authority(m, len))) {
		size_t t = wire_skip_name(m, len, off);
		if (rcode == DNS_RCODE_NXDOMAIN) {
			*name = hash_name(*name, m, len, off);
			return RT_NXDOMAIN;
		}
		if (t && t + 2 <= len && wire_get16(m + t) == DNS_TYPE_NS) {
			*name = hash_name(*name, m, len, off);
			return RT_REFERRAL;
		}
	}
	if (wire_get16(m + 6) == 0 && rcode == DNS_RCODE_NXDOMAIN)
		return RT_NXDOMAIN;
	if (wire_get16(m + 6) == 0 && rcode != DNS_RCODE_NOERROR)
		return RT_ERROR;
	*name = hash_fnv1a(*name, req->q.qname_lc, req->q.qname_len);
	return wire_get16(m + 6) ? RT_ANSWER : RT_NODATA;
}

/*
 * Debit the account `key`: the balance after it (ns; negative: in debt)
 * and whether this one slips.  CoreDNS's debit(), on a fixed table.
 */
static int64_t debit(struct rrl *r, uint64_t key, int64_t interval, int *slip)
{
	size_t i, victim;
	int64_t now = now_ns(), balance;
	struct account *a = NULL;

	*slip = 0;
	key = key ? key : 1;            /* 0 marks an empty slot */
	i = victim = (size_t)key & r->mask;
	for (int p = 0; p < RRL_PROBES; p++) {
		struct account *s = &r->table[(i + (size_t)p) & r->mask];
		if (s->key == key || s->key == 0) {
			a = s;
			break;
		}
		if (s->allow_ns < r->table[victim].allow_ns)
			victim = (i + (size_t)p) & r->mask;
	}
	if (!a) {
		a = &r->table[victim];
		r->evictions++;
		a->key = 0;
	}
	if (a->key == 0) {              /* a new account: a second's credit */
		a->key = key;
		a->allow_ns = now - NS + interval;
		a->slip = r->slip_ratio;
		return 0;
	}
	balance = now - a->allow_ns - interval;
	if (balance >= NS)
		balance = NS - interval;
	else if (balance < -r->window_ns)
		balance = -r->window_ns;
	a->allow_ns = now - balance;
	if (balance > 0 || a->slip == 0)
		return balance;
	if (a->slip == 1) {
		a->slip = r->slip_ratio;
		*slip = 1;
	} else {
		a->slip--;
	}
	return balance;
}

static uint64_t account_key(int family, const uint8_t *prefix, enum rtype t,
	uint16_t qtype, uint64_t name)
{
	uint64_t h = hash_fnv1a(HASH_FNV1A_INIT, prefix, 16);
	uint8_t b[3] = { (uint8_t)family, (uint8_t)t, 0 };

	h = hash_fnv1a(h, b, 2);
	if (t == RT_ANSWER || t == RT_REFERRAL)
		h = hash_fnv1a(h, &qtype, sizeof(qtype));
	return hash_fnv1a(h, &name, sizeof(name));
}

/* Count an exceeded limit for the client's prefix (fixed table). */
static void count_client(struct rrl *r, int family, const uint8_t *prefix,
	int request)
{
	for (size_t i = 0; i < RRL_CLIENTS; i++) {
		struct client_count *c = &r->clients[i];
		if (c->family == 0) {
			c->family = family;
			memcpy(c->prefix, prefix, 16);
		} else if (c->family != family || memcmp(c->prefix, prefix, 16) != 0) {
			continue;
		}
		if (request)
			c->requests++;
		else
			c->responses++;
		return;
	}
	if (request)
		r->other_requests++;
	else
		r->other_responses++;
}

/* The final answer of a UDP query: pass it, drop it, or let it slip. */
static void on_answer(void *arg, struct dns_request *req)
{
	struct rrl *r = arg;
	uint8_t prefix[16];
	uint64_t name;
	enum rtype t;
	int family, slip;

	if (req->resp_len < WIRE_HDR || !(family = client_prefix(r, req, prefix)))
		return;
	t = classify(req, &name);
	if (!r->interval[t])
		return;
	if (debit(r, account_key(family, prefix, t, req->q.qtype, name), r->interval[t], &slip) >= 0)
		return;
	count_client(r, family, prefix, 0);
	if (r->report_only)
		return;
	if (!slip) {
		req->resp_len = 0;      /* dropped: nothing is sent */
		return;
	}
	/* slip: header and question only, TC set, so a client retries over TCP */
	r->slipped++;
	req->resp[2] |= DNS_FLAG_TC >> 8;
	memset(req->resp + 6, 0, 6);
	if (wire_get16(req->resp + 4) && req->q.qname_len)
		req->resp_len = WIRE_HDR + req->q.qname_len + 4;
	else
		req->resp_len = WIRE_HDR;
}

static enum plugin_result rrl_serve(void *state, struct dns_request *req)
{
	struct rrl *r = state;
	int in = 0;

	for (size_t z = 0; z < r->nzones && !in; z++)
		in = wire_zone_match(&req->q, &r->zones[z]) >= 0;
	if (!in)
		return PLUGIN_NEXT;
	if (r->interval[RT_REQUEST]) {
		uint8_t prefix[16];
		int family = client_prefix(r, req, prefix), slip;
		if (family && debit(r, account_key(family, prefix, RT_REQUEST, 0, 0),
			r->interval[RT_REQUEST], &slip) < 0) {
			count_client(r, family, prefix, 1);
			if (!r->report_only) {
				req->resp_len = 0;      /* dropped, unanswered */
				req->plugin = "rrl";
				return PLUGIN_DONE;
			}
		}
	}
	/* TCP answers are never limited: a spoofed source cannot do TCP */
	if (!req->tcp)
		query_on_answer(req, on_answer, r);
	return PLUGIN_NEXT;
}

static void rrl_free(void *state)
{
	struct rrl *r = state;

	if (r)
		free(r->table);
	free(r);
}

/* "10", "0.5": per second -> ns per credit (0: off). */
static int rate_arg(const struct cf_directive *c, int64_t *interval)
{
	char *end;
	double rps;

	if (c->nargs != 1)
		return -1;
	rps = strtod(c->args[0], &end);
	if (end == c->args[0] || *end || !isfinite(rps) || rps < 0 || rps > 1e9)
		return -1;
	*interval = rps == 0 ? 0 : (int64_t)(1e9 / rps);
	if (rps > 0 && *interval < 1)
		*interval = 1;
	return 0;
}

static int rrl_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	struct rrl *r = calloc(1, sizeof(*r));
	const char *name = d->name;
	char why[256];
	int set[RT_N] = { 0 };
	unsigned long size = 100000, n;
	int nz;

	if (!r)
		PLUGIN_FAIL(d, "out of memory");
	r->window_ns = 15 * NS;
	r->v4len = 24;
	r->v6len = 56;
	nz = cf_parse_zones(d, 0, ctx->block->zones, ctx->block->nzones, r->zones,
		RRL_MAX_ZONES, why, sizeof(why));
	if (nz < 0)
		PLUGIN_FAIL(d, "%s", why);
	r->nzones = (size_t)nz;
	for (size_t i = 0; i < d->nchildren; i++) {
		static const char *const rates[RT_N] = {
			"responses-per-second", "nodata-per-second", "nxdomains-per-second",
			"referrals-per-second", "errors-per-second", "requests-per-second",
		};
		const struct cf_directive *c = &d->children[i];
		int k;
		for (k = 0; k < RT_N && strcmp(c->name, rates[k]) != 0; k++)
			;
		if (k < RT_N) {
			if (rate_arg(c, &r->interval[k]) < 0)
				PLUGIN_FAIL(c, "%s: needs one number of responses per second, 0 or more", c->name);
			set[k] = 1;
		} else if (strcmp(c->name, "window") == 0) {
			char *end;
			double w = c->nargs == 1 ? strtod(c->args[0], &end) : -1;
			if (c->nargs != 1 || *end || !(w > 0) || w > 86400)
				PLUGIN_FAIL(c, "window: needs a number of seconds greater than zero");
			r->window_ns = (int64_t)(w * (double)NS);
		} else if (strcmp(c->name, "ipv4-prefix-length") == 0
			   || strcmp(c->name, "ipv6-prefix-length") == 0) {
			unsigned long max = c->name[3] == '4' ? 32 : 128;
			if (c->nargs != 1 || parse_uint(c->args[0], max, &n) < 0 || n == 0)
				PLUGIN_FAIL(c, "%s: must be between 1 and %lu", c->name, max);
			if (max == 32)
				r->v4len = (unsigned int)n;
			else
				r->v6len = (unsigned int)n;
		} else if (strcmp(c->name, "slip-ratio") == 0) {
			if (c->nargs != 1 || parse_uint(c->args[0], 10, &n) < 0)
				PLUGIN_FAIL(c, "slip-ratio: must be between 0 and 10");
			r->slip_ratio = (uint32_t)n;
		} else if (strcmp(c->name, "max-table-size") == 0) {
			if (c->nargs != 1 || parse_uint(c->args[0], 100000000, &size) < 0)
				PLUGIN_FAIL(c, "max-table-size: needs a number of accounts");
		} else if (strcmp(c->name, "report-only") == 0) {
			if (c->nargs)
				PLUGIN_FAIL(c, "report-only: takes no arguments");
			r->report_only = 1;
		} else {
			PLUGIN_FAIL(c, "unknown property \"%s\"", c->name);
		}
	}
	for (int k = RT_NODATA; k <= RT_ERROR; k++)
		if (!set[k])
			r->interval[k] = r->interval[RT_ANSWER];
	/* a power of two at least the size asked (and RRL_PROBES) */
	for (n = RRL_PROBES; n < size; n *= 2)
		;
	r->mask = n - 1;
	if (!(r->table = calloc(n, sizeof(*r->table))))
		PLUGIN_FAIL(d, "out of memory (max-table-size %lu)", size);
	*state = r;
	return 0;
fail:
	rrl_free(r);
	return -1;
}

static void rrl_collect(void *state, const struct plugin_block *b,
	struct metrics_out *o)
{
	const struct rrl *r = state;
	char ip[INET6_ADDRSTRLEN];

	metrics_out_family(o, "coredns_rrl_responses_exceeded_total", METRICS_COUNTER,
		"Counter of responses exceeding QPS limit.");
	metrics_out_family(o, "coredns_rrl_requests_exceeded_total", METRICS_COUNTER,
		"Counter of requests exceeding QPS limit.");
	metrics_out_family(o, "globaldns_rrl_slipped_total", METRICS_COUNTER,
		"Counter of responses over the limit sent truncated (slip-ratio).");
	for (size_t i = 0; i < RRL_CLIENTS && r->clients[i].family; i++) {
		const struct client_count *c = &r->clients[i];
		inet_ntop(c->family, c->prefix, ip, sizeof(ip));
		if (c->responses)
			metrics_out_sample(o, "coredns_rrl_responses_exceeded_total", "",
				(double)c->responses, "client_ip", ip, NULL);
		if (c->requests)
			metrics_out_sample(o, "coredns_rrl_requests_exceeded_total", "",
				(double)c->requests, "client_ip", ip, NULL);
	}
	if (r->other_responses)
		metrics_out_sample(o, "coredns_rrl_responses_exceeded_total", "",
			(double)r->other_responses, "client_ip", "other", NULL);
	if (r->other_requests)
		metrics_out_sample(o, "coredns_rrl_requests_exceeded_total", "",
			(double)r->other_requests, "client_ip", "other", NULL);
	metrics_out_sample(o, "globaldns_rrl_slipped_total", "", (double)r->slipped,
		"server", b->server_label, NULL);
}

const struct plugin_ops rrl_plugin = {
	.name = "rrl",
	.setup = rrl_setup,
	.serve = rrl_serve,
	.free = rrl_free,
	.collect = rrl_collect,
};
