/*
 * cache.c -- the `cache` directive (CoreDNS 1.11 semantics; design
 * in cache.h).
 *
 *   cache [TTL] [ZONES...] {
 *       success CAPACITY [TTL] [MINTTL]     9984 3600 5
 *       denial CAPACITY [TTL] [MINTTL]      9984 1800 5
 *       prefetch AMOUNT [DURATION [PERCENTAGE%]]   1 1m 10%
 *       serve_stale [DURATION [immediate|verify]]  1h immediate
 *       servfail DURATION                   5s (0 disables, at most 5m)
 *       disable success|denial [ZONES...]
 *       keepttl
 *   }
 */
#include "cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"

#define CACHE_DEFAULT_CAP 9984
#define CACHE_MAX_SUCCESS_TTL 3600
#define CACHE_MAX_DENIAL_TTL 1800
#define CACHE_MIN_TTL 5
#define CACHE_DEFAULT_SERVFAIL 5
#define CACHE_MAX_SERVFAIL 300
#define CACHE_MAX_ZONES 64
#define CACHE_KEY_MAX (WIRE_MAXNAME + 5)
#define NS_PER_S 1000000000ULL

static const char name[] = "cache";

struct centry {
	int32_t chain;                  /* next in bucket, -1 */
	int32_t lru_prev, lru_next;
	uint32_t hash;
	uint16_t keylen;
	uint8_t key[CACHE_KEY_MAX];
	uint8_t *msg;                   /* without OPT */
	uint16_t len;
	uint32_t cap;
	uint8_t used;
	uint8_t kind;
	uint64_t stored_ns;
	uint32_t ttl;                   /* seconds, after clamping */
	uint32_t hits;                  /* for prefetch */
	uint64_t last_hit_ns;
	uint64_t refreshing_ns;         /* a refresh in flight since */
};

struct ctable {
	struct centry *e;
	size_t n;                       /* slots in use or recycled */
	size_t alloc;                   /* slots allocated (grows to cap) */
	size_t cap;
	size_t count;
	int32_t *buckets;
	uint32_t mask;
	int32_t lru_head, lru_tail;     /* most recent at head */
	int32_t free_head;              /* unused slots, via chain */
	uint32_t max_ttl, min_ttl;
	int disabled_all;
};

struct cache {
	struct ctable t[2];             /* 0 success, 1 denial */
	struct wire_zone zones[CACHE_MAX_ZONES];
	size_t nzones;
	struct wire_zone disable[2][CACHE_MAX_ZONES];
	size_t ndisable[2];
	uint32_t servfail_s;
	uint32_t prefetch;              /* AMOUNT, 0 off */
	uint64_t prefetch_window_ns;
	uint32_t prefetch_pct;
	uint64_t stale_ns;              /* 0 off */
	int stale_verify;
	int keepttl;
	uint32_t seed;
	struct cache_stats stats;
};

/* ---- classifying a response ---- */

enum cache_kind cache_classify(const uint8_t *msg, size_t len, uint32_t *ttl)
{
	struct wire_msg_info mi;
	int rcode;
	enum cache_kind k;

	if (wire_msg_walk((uint8_t *)(uintptr_t)msg, len, &mi, NULL, 0) < 0)
		return CACHE_NONE;
	if (msg[2] & 0x02)              /* TC: never cached */
		return CACHE_NONE;
	if ((msg[2] & 0x78) != 0)       /* opcode QUERY only */
		return CACHE_NONE;
	rcode = msg[3] & 0x0F;
	if (rcode == DNS_RCODE_SERVFAIL)
		k = CACHE_SERVFAIL;
	else if (rcode == DNS_RCODE_NXDOMAIN)
		k = CACHE_DENIAL;
	else if (rcode != DNS_RCODE_NOERROR)
		return CACHE_NONE;
	else if (mi.counts[0] > 0)
		k = CACHE_SUCCESS;
	else if (mi.ns && !mi.soa)
		k = CACHE_SUCCESS;      /* a referral (delegation) */
	else
		k = CACHE_DENIAL;       /* NODATA */
	/* dnsutil.MinimalTTL */
	if (mi.counts[0] + mi.counts[1] == 0 || mi.nrecords == 0)
		*ttl = CACHE_MIN_TTL;
	else {
		*ttl = mi.min_ttl < CACHE_MAX_SUCCESS_TTL ? mi.min_ttl : CACHE_MAX_SUCCESS_TTL;
		if (k == CACHE_DENIAL && mi.soa && mi.soa_min < *ttl)
			*ttl = mi.soa_min;
	}
	return k;
}

/* ---- tables ---- */

static int table_init(struct ctable *t, size_t cap, uint32_t max_ttl, uint32_t min_ttl)
{
	size_t nb = 16;

	t->cap = cap;
	t->max_ttl = max_ttl;
	t->min_ttl = min_ttl;
	while (nb < cap && nb < ((size_t)1 << 30))
		nb <<= 1;
	t->buckets = malloc(nb * sizeof(*t->buckets));
	if (!t->buckets)
		return -1;
	memset(t->buckets, 0xFF, nb * sizeof(*t->buckets));
	t->mask = (uint32_t)(nb - 1);
	t->lru_head = t->lru_tail = t->free_head = -1;
	return 0;
}

static void table_free(struct ctable *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->e[i].msg);
	free(t->e);
	free(t->buckets);
}

static void lru_unlink(struct ctable *t, int32_t i)
{
	struct centry *e = &t->e[i];

	if (e->lru_prev >= 0)
		t->e[e->lru_prev].lru_next = e->lru_next;
	else
		t->lru_head = e->lru_next;
	if (e->lru_next >= 0)
		t->e[e->lru_next].lru_prev = e->lru_prev;
	else
		t->lru_tail = e->lru_prev;
}

static void lru_front(struct ctable *t, int32_t i)
{
	struct centry *e = &t->e[i];

	e->lru_prev = -1;
	e->lru_next = t->lru_head;
	if (t->lru_head >= 0)
		t->e[t->lru_head].lru_prev = i;
	t->lru_head = i;
	if (t->lru_tail < 0)
		t->lru_tail = i;
}

static int32_t table_find(const struct ctable *t, uint32_t hash, const uint8_t *key,
	size_t keylen)
{
	for (int32_t i = t->buckets[hash & t->mask]; i >= 0; i = t->e[i].chain) {
		const struct centry *e = &t->e[i];
		if (e->hash == hash && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
			return i;
	}
	return -1;
}

static void table_remove(struct ctable *t, int32_t i)
{
	struct centry *e = &t->e[i];
	int32_t *pp = &t->buckets[e->hash & t->mask];

	while (*pp >= 0 && *pp != i)
		pp = &t->e[*pp].chain;
	if (*pp == i)
		*pp = e->chain;
	lru_unlink(t, i);
	e->used = 0;
	e->chain = t->free_head;
	t->free_head = i;
	t->count--;
}

/* A free slot: a recycled one, a new one, or the least recently used. */
static int32_t table_slot(struct ctable *t, uint64_t *evictions)
{
	int32_t i;

	if (t->free_head >= 0) {
		i = t->free_head;
		t->free_head = t->e[i].chain;
		return i;
	}
	if (t->n < t->cap) {
		if (t->n == t->alloc) {
			size_t ncap = t->alloc ? t->alloc * 2 : 16;
			struct centry *ne;
			if (ncap > t->cap)
				ncap = t->cap;
			ne = realloc(t->e, ncap * sizeof(*ne));
			if (!ne)
				return -1;
			memset(ne + t->alloc, 0, (ncap - t->alloc) * sizeof(*ne));
			t->e = ne;
			t->alloc = ncap;
		}
		return (int32_t)t->n++;
	}
	i = t->lru_tail;
	if (i < 0)
		return -1;
	table_remove(t, i);
	(*evictions)++;
	t->free_head = t->e[i].chain;
	return i;
}

/* ---- keys and zones ---- */

static size_t make_key(const struct dns_request *req, uint8_t *key)
{
	const struct dns_query *q = &req->q;
	size_t n = q->qname_len;

	memcpy(key, q->qname_lc, n);
	key[n++] = (uint8_t)(q->qtype >> 8);
	key[n++] = (uint8_t)q->qtype;
	key[n++] = (uint8_t)(q->qclass >> 8);
	key[n++] = (uint8_t)q->qclass;
	key[n++] = (uint8_t)((q->edns_do ? 1 : 0) | ((q->flags & DNS_FLAG_CD) ? 2 : 0));
	return n;
}

static uint32_t hash_key(const struct cache *c, const uint8_t *key, size_t n)
{
	uint64_t h = hash_fnv1a(HASH_FNV1A_INIT ^ c->seed, key, n);

	return (uint32_t)(h ^ (h >> 32));
}

static int in_zones(const struct wire_zone *z, size_t nz, const struct dns_query *q)
{
	for (size_t i = 0; i < nz; i++)
		if (wire_zone_match(q, &z[i]) >= 0)
			return 1;
	return 0;
}

/* ---- answering from an entry ---- */

/* Write entry e as the answer to req with every TTL set to ttl. */
static void answer_from(struct cache *c, struct dns_request *req,
	const struct centry *e, uint32_t ttl)
{
	const struct dns_query *q = &req->q;
	uint8_t *r = req->resp;
	struct wire_msg_info mi;
	uint16_t fl = wire_get16(e->msg + 2);
	size_t len = e->len;

	/* too big for this client: TC before anything is copied, since a held
	 * request's buffer is only as large as the client's limit */
	if (len + (q->edns ? 11 : 0) > req->limit) {
		struct wire_resp w;
		query_begin(req, &w, fl & 0xF, (uint16_t)(fl & (DNS_FLAG_AA | DNS_FLAG_RA | DNS_FLAG_AD)));
		w.truncated = 1;
		query_finish(req, &w, "cache");
		return;
	}
	memcpy(r, e->msg, len);
	r[0] = (uint8_t)(q->id >> 8);
	r[1] = (uint8_t)q->id;
	/* AA as the upstream sent it: CoreDNS sets it on every cached answer,
	 * but a forwarded answer must not claim authority it never had.  RD
	 * and CD from the client; AD only if the client asked DO or AD */
	fl = (uint16_t)((fl & ~(DNS_FLAG_TC | DNS_FLAG_RD | DNS_FLAG_CD | 0x0040))
		| (q->flags & (DNS_FLAG_RD | DNS_FLAG_CD)));
	if (!q->edns_do && !(q->flags & DNS_FLAG_AD))
		fl &= (uint16_t)~DNS_FLAG_AD;
	r[2] = (uint8_t)(fl >> 8);
	r[3] = (uint8_t)fl;
	memcpy(r + WIRE_HDR, req->pkt + WIRE_HDR, q->qname_len);
	wire_msg_walk(r, len, &mi, c->keepttl ? NULL : &ttl, 0);
	/* store() keeps room for the OPT: len + 11 <= QUERY_RESP_MAX */
	if (q->edns) {
		uint16_t ar = wire_get16(r + 10) + 1;
		static const uint8_t opt[11] = { 0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0 };
		memcpy(r + len, opt, sizeof(opt));
		if (q->edns_do)
			r[len + 7] = 0x80;
		len += sizeof(opt);
		r[10] = (uint8_t)(ar >> 8);
		r[11] = (uint8_t)ar;
	}
	req->resp_len = len;
	req->plugin = "cache";
}

static void on_answer(void *arg, struct dns_request *req);

/* Refresh an entry in the background: run the rest of the chain for a copy
 * of req that has no client; its answer comes back through on_answer. */
static void refresh(struct cache *c, const struct dns_request *req,
	struct centry *e, uint64_t now)
{
	struct dns_request tmp = *req;
	struct dns_request *h;

	if (e->refreshing_ns && now - e->refreshing_ns < 10 * NS_PER_S)
		return;
	tmp.transport.reply = NULL;
	tmp.transport.ref = NULL;
	tmp.transport.ctx = NULL;
	tmp.nhooks = 0;
	tmp.synthesized = 0;
	h = query_hold(&tmp);
	if (!h)
		return;
	e->refreshing_ns = now;
	query_on_answer(h, on_answer, c);
	h->start_ns = now;
	c->stats.prefetches++;
	query_complete(h, 1);
}

/* The entry for req's key in either table, and which table. */
static struct centry *lookup(struct cache *c, const uint8_t *key, size_t n,
	uint32_t hash, struct ctable **tp)
{
	for (int k = 1; k >= 0; k--) {
		int32_t i = table_find(&c->t[k], hash, key, n);
		if (i >= 0) {
			*tp = &c->t[k];
			return &c->t[k].e[i];
		}
	}
	return NULL;
}

static void store(struct cache *c, const struct dns_request *req,
	enum cache_kind kind, uint32_t ttl, const uint8_t *key, size_t keylen,
	uint32_t hash, uint64_t now)
{
	struct ctable *t = &c->t[kind == CACHE_SUCCESS ? 0 : 1];
	struct ctable *other = &c->t[kind == CACHE_SUCCESS ? 1 : 0];
	struct wire_msg_info mi;
	struct centry *e;
	int32_t i;
	size_t len = req->resp_len;

	if (wire_msg_walk(req->resp, req->resp_len, &mi, NULL, 0) < 0)
		return;
	if (mi.opt_end) {
		if (mi.opt_end != len)
			return;         /* records after the OPT: leave it */
		len = mi.opt_off;
	}
	/* a hit adds an OPT for an EDNS client: the message must leave room
	 * for it, or it would be cut mid-record */
	if (len > QUERY_RESP_MAX - 11)
		return;
	i = table_find(other, hash, key, keylen);
	if (i >= 0)
		table_remove(other, i);
	i = table_find(t, hash, key, keylen);
	if (i >= 0)
		table_remove(t, i);
	i = table_slot(t, &c->stats.evictions);
	if (i < 0)
		return;
	e = &t->e[i];
	if (e->cap < len) {
		uint32_t ncap = (uint32_t)((len + 511) & ~(size_t)511);
		uint8_t *m = realloc(e->msg, ncap);
		if (!m) {
			e->chain = t->free_head;
			t->free_head = i;
			return;
		}
		e->msg = m;
		e->cap = ncap;
	}
	memcpy(e->msg, req->resp, len);
	if (mi.opt_end) {
		uint16_t ar = (uint16_t)(mi.counts[2] - 1);
		e->msg[10] = (uint8_t)(ar >> 8);
		e->msg[11] = (uint8_t)ar;
	}
	e->len = (uint16_t)len;
	e->used = 1;
	e->kind = (uint8_t)kind;
	e->hash = hash;
	e->keylen = (uint16_t)keylen;
	memcpy(e->key, key, keylen);
	e->stored_ns = now;
	e->ttl = ttl;
	e->hits = 0;
	e->last_hit_ns = now;
	e->refreshing_ns = 0;
	e->chain = t->buckets[hash & t->mask];
	t->buckets[hash & t->mask] = i;
	lru_front(t, i);
	t->count++;
	c->stats.inserts++;
}

static int disabled(const struct cache *c, int which, const struct dns_query *q)
{
	if (c->t[which].disabled_all)
		return 1;
	return c->ndisable[which] && in_zones(c->disable[which], c->ndisable[which], q);
}

/* The final answer of a query we passed on (sync or async). */
static void on_answer(void *arg, struct dns_request *req)
{
	struct cache *c = arg;
	uint8_t key[CACHE_KEY_MAX];
	size_t n;
	uint32_t hash, ttl;
	uint64_t now = query_now_ns();
	enum cache_kind kind;
	struct ctable *t;
	struct centry *e;
	int background = req->transport.reply == NULL;

	/* only what the forwarder produced: serviceentries answers must
	 * follow the registry at once */
	if (strcmp(req->plugin, "forward") != 0 && strcmp(req->plugin, "proxy") != 0)
		return;
	n = make_key(req, key);
	hash = hash_key(c, key, n);
	e = lookup(c, key, n, hash, &t);
	kind = cache_classify(req->resp, req->resp_len, &ttl);
	if (kind == CACHE_SERVFAIL && c->stale_ns && e
	    && now < e->stored_ns + (uint64_t)e->ttl * NS_PER_S + c->stale_ns) {
		/* upstreams failing: the stale entry stays, and answers */
		e->refreshing_ns = 0;
		if (!background) {
			c->stats.served_stale++;
			answer_from(c, req, e, 0);
		}
		return;
	}
	/* CoreDNS caches only what an upstream said: never the forwarder's
	 * own SERVFAIL (deadline, every upstream down) */
	if (kind == CACHE_NONE || req->synthesized)
		return;
	if (kind == CACHE_SERVFAIL)
		ttl = c->servfail_s;
	else {
		const struct ctable *ct = &c->t[kind == CACHE_SUCCESS ? 0 : 1];
		if (ttl > ct->max_ttl)
			ttl = ct->max_ttl;
		if (ttl < ct->min_ttl)
			ttl = ct->min_ttl;
	}
	if (ttl == 0 || disabled(c, kind == CACHE_SUCCESS ? 0 : 1, &req->q))
		return;
	store(c, req, kind, ttl, key, n, hash, now);
	if (!background && !c->keepttl) {
		/* this answer too carries at most the cached TTL (CoreDNS: no
		 * jarring 1799 -> 8 when the next one comes from the cache) */
		struct wire_msg_info mi;
		if (kind != CACHE_SERVFAIL)
			wire_msg_walk(req->resp, req->resp_len, &mi, &ttl, 1);
	}
}

static enum plugin_result cache_serve(void *state, struct dns_request *req)
{
	struct cache *c = state;
	uint8_t key[CACHE_KEY_MAX];
	size_t n;
	uint32_t hash;
	uint64_t now, age_ns, life_ns;
	struct ctable *t;
	struct centry *e;

	if (!in_zones(c->zones, c->nzones, &req->q))
		return PLUGIN_NEXT;
	n = make_key(req, key);
	hash = hash_key(c, key, n);
	now = query_now_ns();
	e = lookup(c, key, n, hash, &t);
	if (e) {
		age_ns = now - e->stored_ns;
		life_ns = (uint64_t)e->ttl * NS_PER_S;
		if (age_ns < life_ns) {
			uint32_t left = e->ttl - (uint32_t)(age_ns / NS_PER_S);
			int32_t idx = (int32_t)(e - t->e);
			lru_unlink(t, idx);
			lru_front(t, idx);
			if (t == &c->t[0])
				c->stats.hits_success++;
			else
				c->stats.hits_denial++;
			if (now - e->last_hit_ns > c->prefetch_window_ns)
				e->hits = 0;
			e->hits++;
			e->last_hit_ns = now;
			answer_from(c, req, e, left);
			if (c->prefetch && e->hits >= c->prefetch && e->kind != CACHE_SERVFAIL) {
				/* CoreDNS: refresh when the TTL left is at most
				 * PERCENTAGE of the original, rounded up */
				uint32_t threshold = (uint32_t)(((uint64_t)c->prefetch_pct * e->ttl + 99) / 100);
				if (left <= threshold)
					refresh(c, req, e, now);
			}
			return PLUGIN_DONE;
		}
		if (c->stale_ns && age_ns < life_ns + c->stale_ns && e->kind != CACHE_SERVFAIL
		    && !c->stale_verify) {
			c->stats.served_stale++;
			answer_from(c, req, e, 0);
			refresh(c, req, e, now);
			return PLUGIN_DONE;
		}
	}
	c->stats.misses++;
	req->synthesized = 0;
	query_on_answer(req, on_answer, c);
	return PLUGIN_NEXT;
}

/* ---- configuration ---- */

static int add_zone(struct wire_zone *z, size_t *nz, const char *s, char *why, size_t whylen)
{
	if (*nz >= CACHE_MAX_ZONES) {
		snprintf(why, whylen, "more than %d zones", CACHE_MAX_ZONES);
		return -1;
	}
	if (cf_parse_zone(s, &z[*nz], why, whylen) < 0)
		return -1;
	(*nz)++;
	return 0;
}

static void cache_free(void *state)
{
	struct cache *c = state;

	if (!c)
		return;
	table_free(&c->t[0]);
	table_free(&c->t[1]);
	free(c);
}

/* success|denial CAPACITY [TTL] [MINTTL] */
static int parse_table(const struct cf_directive *x, size_t *cap, uint32_t *max,
	uint32_t *min, char *err, size_t errlen)
{
	unsigned long v;

	if (x->nargs < 1 || x->nargs > 3)
		PLUGIN_FAIL(x, "%s: needs CAPACITY [TTL] [MINTTL]", x->name);
	if (parse_uint(x->args[0], 100000000, &v) < 0 || v == 0)
		PLUGIN_FAIL(x, "%s: capacity \"%s\": not a positive number", x->name, x->args[0]);
	*cap = v;
	if (x->nargs > 1) {
		if (parse_uint(x->args[1], 604800, &v) < 0)
			PLUGIN_FAIL(x, "%s: TTL \"%s\": not a number of seconds", x->name, x->args[1]);
		*max = (uint32_t)v;
	}
	if (x->nargs > 2) {
		if (parse_uint(x->args[2], 604800, &v) < 0)
			PLUGIN_FAIL(x, "%s: MINTTL \"%s\": not a number of seconds", x->name, x->args[2]);
		*min = (uint32_t)v;
	}
	if (*min > *max)
		PLUGIN_FAIL(x, "%s: MINTTL %u is above TTL %u", x->name, *min, *max);
	return 0;
fail:
	return -1;
}

static int cache_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	struct cache *c = calloc(1, sizeof(*c));
	size_t cap[2] = { CACHE_DEFAULT_CAP, CACHE_DEFAULT_CAP };
	uint32_t max[2] = { CACHE_MAX_SUCCESS_TTL, CACHE_MAX_DENIAL_TTL };
	uint32_t min[2] = { CACHE_MIN_TTL, CACHE_MIN_TTL };
	char why[256];
	size_t a = 0;
	unsigned long v;
	long ms;

	if (!c) {
		snprintf(err, errlen, "%s:%d: cache: out of memory", d->file, d->line);
		return -1;
	}
	c->servfail_s = CACHE_DEFAULT_SERVFAIL;
	c->prefetch_window_ns = 60 * NS_PER_S;
	c->prefetch_pct = 10;
	if (d->nargs && parse_uint(d->args[0], 604800, &v) == 0) {
		/* cache TTL: the maximum for both */
		if (v == 0)
			PLUGIN_FAIL(d, "TTL can not be zero");
		max[0] = max[1] = (uint32_t)v;
		if (min[0] > v)
			min[0] = min[1] = (uint32_t)v;
		a = 1;
	}
	for (; a < d->nargs; a++)
		if (add_zone(c->zones, &c->nzones, d->args[a], why, sizeof(why)) < 0)
			PLUGIN_FAIL(d, "zone \"%s\": %s", d->args[a], why);
	if (!c->nzones)
		for (size_t z = 0; z < ctx->block->nzones; z++)
			if (add_zone(c->zones, &c->nzones, ctx->block->zones[z], why, sizeof(why)) < 0)
				PLUGIN_FAIL(d, "zone \"%s\": %s", ctx->block->zones[z], why);
	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *x = &d->children[i];
		if (strcmp(x->name, "success") == 0 || strcmp(x->name, "denial") == 0) {
			int k = x->name[0] == 'd';
			if (parse_table(x, &cap[k], &max[k], &min[k], err, errlen) < 0)
				goto fail;
		} else if (strcmp(x->name, "prefetch") == 0) {
			size_t p = 0;
			c->prefetch = 1;
			if (x->nargs > 3)
				PLUGIN_FAIL(x, "prefetch: needs [AMOUNT [DURATION [PERCENTAGE%%]]]");
			if (p < x->nargs) {
				if (parse_uint(x->args[p], 1000000, &v) < 0 || v == 0)
					PLUGIN_FAIL(x, "prefetch: amount \"%s\": not a positive number", x->args[p]);
				c->prefetch = (uint32_t)v;
				p++;
			}
			if (p < x->nargs && !strchr(x->args[p], '%')) {
				if (cf_parse_duration_ms(x->args[p], &ms) < 0 || ms <= 0)
					PLUGIN_FAIL(x, "prefetch: duration \"%s\": not a duration such as 1m", x->args[p]);
				c->prefetch_window_ns = (uint64_t)ms * 1000000u;
				p++;
			}
			if (p < x->nargs) {
				char num[16];
				size_t l = strlen(x->args[p]);
				if (l < 2 || l > sizeof(num) || x->args[p][l - 1] != '%')
					PLUGIN_FAIL(x, "prefetch: percentage \"%s\": needs a %% sign, such as 10%%", x->args[p]);
				memcpy(num, x->args[p], l - 1);
				num[l - 1] = '\0';
				if (parse_uint(num, 100, &v) < 0 || v < 10 || v > 90)
					PLUGIN_FAIL(x, "prefetch: percentage \"%s\": must be from 10%% to 90%%", x->args[p]);
				c->prefetch_pct = (uint32_t)v;
				p++;
			}
			if (p < x->nargs)
				PLUGIN_FAIL(x, "prefetch: unexpected \"%s\"", x->args[p]);
		} else if (strcmp(x->name, "serve_stale") == 0) {
			c->stale_ns = 3600 * NS_PER_S;
			if (x->nargs > 2)
				PLUGIN_FAIL(x, "serve_stale: needs [DURATION [immediate|verify]]");
			if (x->nargs > 0) {
				if (cf_parse_duration_ms(x->args[0], &ms) < 0 || ms < 0)
					PLUGIN_FAIL(x, "serve_stale: duration \"%s\": not a duration such as 1h", x->args[0]);
				c->stale_ns = (uint64_t)ms * 1000000u;
			}
			if (x->nargs > 1) {
				if (strcmp(x->args[1], "verify") == 0)
					c->stale_verify = 1;
				else if (strcmp(x->args[1], "immediate") != 0)
					PLUGIN_FAIL(x, "serve_stale: refresh mode \"%s\": use immediate or verify", x->args[1]);
			}
		} else if (strcmp(x->name, "servfail") == 0) {
			if (x->nargs != 1 || cf_parse_duration_ms(x->args[0], &ms) < 0)
				PLUGIN_FAIL(x, "servfail: needs a duration such as 5s");
			if (ms > CACHE_MAX_SERVFAIL * 1000L)
				PLUGIN_FAIL(x, "servfail: \"%s\": at most 5m", x->args[0]);
			c->servfail_s = (uint32_t)(ms / 1000);
		} else if (strcmp(x->name, "disable") == 0) {
			int k;
			if (x->nargs < 1 || (strcmp(x->args[0], "success") != 0 && strcmp(x->args[0], "denial") != 0))
				PLUGIN_FAIL(x, "disable: needs success or denial, then optional zones");
			k = x->args[0][0] == 'd';
			if (x->nargs == 1)
				c->t[k].disabled_all = 1;
			for (size_t z = 1; z < x->nargs; z++)
				if (add_zone(c->disable[k], &c->ndisable[k], x->args[z], why, sizeof(why)) < 0)
					PLUGIN_FAIL(x, "disable: zone \"%s\": %s", x->args[z], why);
		} else if (strcmp(x->name, "keepttl") == 0) {
			if (x->nargs)
				PLUGIN_FAIL(x, "keepttl: takes no arguments");
			c->keepttl = 1;
		} else {
			PLUGIN_FAIL(x, "unknown property \"%s\"; supported: success, denial, prefetch, serve_stale, "
				"servfail, disable, keepttl", x->name);
		}
	}
	for (int k = 0; k < 2; k++) {
		int dis = c->t[k].disabled_all;
		if (table_init(&c->t[k], cap[k], max[k], min[k]) < 0)
			PLUGIN_FAIL(d, "out of memory");
		c->t[k].disabled_all = dis;
	}
	if (getrandom(&c->seed, sizeof(c->seed), 0) != sizeof(c->seed))
		c->seed = (uint32_t)query_now_ns();
	*state = c;
	return 0;
fail:
	cache_free(c);
	return -1;
}

const struct cache_stats *cache_get_stats(const struct cache *c)
{
	struct cache_stats *s = (struct cache_stats *)(uintptr_t)&c->stats;

	s->entries_success = c->t[0].count;
	s->entries_denial = c->t[1].count;
	return s;
}

/* ---- metrics ---- */

static void cache_families(struct metrics_out *o)
{
	metrics_out_family(o, "coredns_cache_entries", METRICS_GAUGE,
		"The number of elements in the cache.");
	metrics_out_family(o, "coredns_cache_requests_total", METRICS_COUNTER,
		"The count of cache requests.");
	metrics_out_family(o, "coredns_cache_hits_total", METRICS_COUNTER,
		"The count of cache hits.");
	metrics_out_family(o, "coredns_cache_misses_total", METRICS_COUNTER,
		"The count of cache misses. Deprecated, derive misses from cache hits/requests counters.");
	metrics_out_family(o, "coredns_cache_prefetch_total", METRICS_COUNTER,
		"The number of times the cache has prefetched a cached item.");
	metrics_out_family(o, "coredns_cache_served_stale_total", METRICS_COUNTER,
		"The number of requests served from stale cache entries.");
	metrics_out_family(o, "globaldns_cache_evictions_total", METRICS_COUNTER,
		"Entries removed from the cache to make room.");
}

static void cache_collect(void *state, const struct plugin_block *b,
	struct metrics_out *o)
{
	const struct cache_stats *cs = cache_get_stats(state);

	cache_families(o);
#define L "server", b->server_label, "zone", b->zones_label, "view", ""
	metrics_out_sample(o, "coredns_cache_entries", "", (double)cs->entries_success, L, "type", "success", NULL);
	metrics_out_sample(o, "coredns_cache_entries", "", (double)cs->entries_denial, L, "type", "denial", NULL);
	metrics_out_sample(o, "coredns_cache_requests_total", "",
		(double)(cs->hits_success + cs->hits_denial + cs->misses), L, NULL);
	metrics_out_sample(o, "coredns_cache_hits_total", "", (double)cs->hits_success, L, "type", "success", NULL);
	metrics_out_sample(o, "coredns_cache_hits_total", "", (double)cs->hits_denial, L, "type", "denial", NULL);
	metrics_out_sample(o, "coredns_cache_misses_total", "", (double)cs->misses, L, NULL);
	metrics_out_sample(o, "coredns_cache_prefetch_total", "", (double)cs->prefetches, L, NULL);
	metrics_out_sample(o, "coredns_cache_served_stale_total", "", (double)cs->served_stale, L, NULL);
	metrics_out_sample(o, "globaldns_cache_evictions_total", "", (double)cs->evictions, L, NULL);
#undef L
}

const struct plugin_ops cache_plugin = {
	.name = "cache",
	.setup = cache_setup,
	.start = NULL,
	.serve = cache_serve,
	.ready = NULL,
	.free = cache_free,
	.collect = cache_collect,
};
