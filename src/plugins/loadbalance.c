/*
 * loadbalance.c -- `loadbalance [round_robin] { prefer CIDR... }`:
 * CoreDNS's round-robin DNS: the address records of every NOERROR answer
 * of the block come out in a random order.
 *
 * As CoreDNS's plugin/loadbalance: the A and AAAA records of the answer,
 * authority and additional sections are shuffled (uniformly, each section
 * on its own), whoever answered -- the cache's hits too, since the plugin
 * watches the final answer (query_on_answer) from before the cache in the
 * chain; other rcodes and zone transfers are left alone.  With `prefer`,
 * after the shuffle the addresses inside the listed subnets move to the
 * front of the answer and additional sections, subnet by subnet in the
 * order given, the rest after them.
 *
 * Differences: the `weighted` policy is refused; MX records keep their
 * order (their exchange names may be the target of compression pointers
 * in the rest of the message); a run of address records is reordered only
 * when their owner names are compression pointers to earlier in the
 * message (what every server writes, and what keeps the message valid
 * once the records move) -- otherwise the answer is left as it came.
 *
 * The query path does not allocate: records are moved through a buffer
 * made at setup.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"

#define LB_MAX_RECORDS 512      /* per section; more are left in order */
#define LB_MAX_PREFER 32

struct lb_subnet {
	int family;
	uint8_t addr[16];
	unsigned int bits;
};

struct loadbalance {
	uint64_t rng;
	struct lb_subnet prefer[LB_MAX_PREFER];
	size_t nprefer;
	uint8_t *scratch;               /* QUERY_RESP_MAX bytes */
};

struct lb_rr {
	uint16_t off, len;
	uint16_t type;
	uint16_t key;                   /* prefer: subnet index, or nprefer */
};

static uint32_t lb_rand(struct loadbalance *lb)
{
	uint64_t x = lb->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	lb->rng = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1DULL) >> 32);
}

static int is_addr(uint16_t t)
{
	return t == DNS_TYPE_A || t == DNS_TYPE_AAAA;
}

static int in_subnet(const struct lb_subnet *s, const uint8_t *m, const struct lb_rr *r)
{
	const uint8_t *a = m + r->off + r->len - (r->type == DNS_TYPE_A ? 4 : 16);
	unsigned int full = s->bits / 8, rest = s->bits % 8;

	if ((r->type == DNS_TYPE_A) != (s->family == AF_INET))
		return 0;
	if (memcmp(a, s->addr, full) != 0)
		return 0;
	return rest == 0 || ((a[full] ^ s->addr[full]) & (0xFF << (8 - rest)) & 0xFF) == 0;
}

/*
 * Reorder rr[from..to) (consecutive address records) in the message:
 * shuffled, then, with prefer, grouped by subnet.  Only when every owner
 * is a pointer to before the run: then nothing in the message points
 * into it, and moving its records keeps every name valid.
 */
static void reorder_run(struct loadbalance *lb, uint8_t *m, struct lb_rr *rr,
	size_t n, int prefer)
{
	size_t start, end, o = 0;

	if (n < 2)
		return;
	start = rr[0].off;
	end = (size_t)rr[n - 1].off + rr[n - 1].len;
	for (size_t i = 0; i < n; i++)
		if ((m[rr[i].off] & 0xC0) != 0xC0
		    || (size_t)(((m[rr[i].off] & 0x3F) << 8) | m[rr[i].off + 1]) >= start)
			return;
	/* CoreDNS's roundRobinShuffle: uniform */
	for (size_t j = 0; j + 1 < n; j++) {
		size_t p = j + lb_rand(lb) % (n - j);
		struct lb_rr t = rr[j];
		rr[j] = rr[p];
		rr[p] = t;
	}
	if (prefer && lb->nprefer) {
		for (size_t i = 0; i < n; i++) {
			rr[i].key = (uint16_t)lb->nprefer;
			for (size_t s = 0; s < lb->nprefer; s++)
				if (in_subnet(&lb->prefer[s], m, &rr[i])) {
					rr[i].key = (uint16_t)s;
					break;
				}
		}
		/* stable: insertion sort by subnet */
		for (size_t i = 1; i < n; i++) {
			struct lb_rr t = rr[i];
			size_t j = i;
			while (j > 0 && rr[j - 1].key > t.key) {
				rr[j] = rr[j - 1];
				j--;
			}
			rr[j] = t;
		}
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(lb->scratch + o, m + rr[i].off, rr[i].len);
		o += rr[i].len;
	}
	memcpy(m + start, lb->scratch, end - start);
}

/* The answer is final: shuffle its address records, section by section. */
static void lb_answer(void *arg, struct dns_request *req)
{
	struct loadbalance *lb = arg;
	struct lb_rr rr[LB_MAX_RECORDS];
	uint8_t *m = req->resp;
	size_t len = req->resp_len, off;
	uint16_t counts[3];

	if (len < WIRE_HDR || (m[3] & 0x0F) != DNS_RCODE_NOERROR || wire_get16(m + 4) != 1
	    || req->q.qtype == DNS_TYPE_AXFR || req->q.qtype == DNS_TYPE_IXFR)
		return;
	counts[0] = wire_get16(m + 6);
	counts[1] = wire_get16(m + 8);
	counts[2] = wire_get16(m + 10);
	off = wire_skip_name(m, len, WIRE_HDR);
	if (!off || off + 4 > len)
		return;
	off += 4;
	for (int sec = 0; sec < 3; sec++) {
		size_t n = 0, run = 0;
		for (uint16_t i = 0; i < counts[sec]; i++) {
			size_t e = wire_skip_name(m, len, off);
			uint16_t type, rdlen;
			if (!e || e + 10 > len)
				return;
			type = wire_get16(m + e);
			rdlen = wire_get16(m + e + 8);
			if (e + 10 + rdlen > len)
				return;
			if (is_addr(type) && n < LB_MAX_RECORDS) {
				rr[n].off = (uint16_t)off;
				rr[n].len = (uint16_t)(e + 10 + rdlen - off);
				rr[n].type = type;
				n++;
			} else {
				/* a record that is not an address ends the run */
				reorder_run(lb, m, rr + run, n - run, sec != 1);
				run = n;
			}
			off = e + 10 + rdlen;
		}
		reorder_run(lb, m, rr + run, n - run, sec != 1);
	}
}

static enum plugin_result lb_serve(void *state, struct dns_request *req)
{
	query_on_answer(req, lb_answer, state);
	return PLUGIN_NEXT;
}

static void lb_free(void *state)
{
	struct loadbalance *lb = state;

	if (!lb)
		return;
	free(lb->scratch);
	free(lb);
}

static int parse_cidr(const char *s, struct lb_subnet *sn)
{
	char host[64];
	const char *slash = strchr(s, '/');
	unsigned long bits;
	size_t hl = slash ? (size_t)(slash - s) : strlen(s);

	if (!slash || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = '\0';
	sn->family = strchr(host, ':') ? AF_INET6 : AF_INET;
	memset(sn->addr, 0, sizeof(sn->addr));
	if (inet_pton(sn->family, host, sn->addr) != 1
	    || parse_uint(slash + 1, sn->family == AF_INET ? 32 : 128, &bits) < 0)
		return -1;
	sn->bits = (unsigned int)bits;
	return 0;
}

static int lb_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "loadbalance";
	struct loadbalance *lb = calloc(1, sizeof(*lb));

	(void)ctx;
	if (!lb || !(lb->scratch = malloc(QUERY_RESP_MAX))) {
		free(lb);
		snprintf(err, errlen, "%s:%d: loadbalance: out of memory", d->file, d->line);
		return -1;
	}
	if (d->nargs > 0 && strcmp(d->args[0], "weighted") == 0)
		PLUGIN_FAIL(d, "the weighted policy is not supported; use round_robin");
	if (d->nargs > 0 && strcmp(d->args[0], "round_robin") != 0)
		PLUGIN_FAIL(d, "unknown policy: %s", d->args[0]);
	if (d->nargs > 1)
		PLUGIN_FAIL(d, "unknown property for %s", d->args[0]);
	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		if (strcmp(c->name, "prefer") != 0)
			PLUGIN_FAIL(c, "unknown property \"%s\"; supported: prefer", c->name);
		if (c->nargs == 0)
			PLUGIN_FAIL(c, "prefer: needs at least one CIDR");
		for (size_t a = 0; a < c->nargs; a++) {
			if (lb->nprefer == LB_MAX_PREFER)
				PLUGIN_FAIL(c, "prefer: more than %d subnets", LB_MAX_PREFER);
			if (parse_cidr(c->args[a], &lb->prefer[lb->nprefer]) < 0)
				PLUGIN_FAIL(c, "prefer: invalid CIDR \"%s\"", c->args[a]);
			lb->nprefer++;
		}
	}
	if (getrandom(&lb->rng, sizeof(lb->rng), 0) != sizeof(lb->rng) || !lb->rng)
		lb->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)query_now_ns();
	*state = lb;
	return 0;
fail:
	lb_free(lb);
	return -1;
}

const struct plugin_ops loadbalance_plugin = {
	.name = "loadbalance",
	.setup = lb_setup,
	.serve = lb_serve,
	.free = lb_free,
};
