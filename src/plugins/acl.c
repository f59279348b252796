/*
 * acl.c -- the `acl` directive, as CoreDNS's plugin/acl: allow, block,
 * filter or drop queries by source address and query type.
 *
 *   acl [ZONES...] {
 *       ACTION [type QTYPE...] [net SOURCE...]
 *   }
 *
 * ACTION is allow, block (REFUSED, EDE 15 "Blocked"), filter (NOERROR
 * with no records, EDE 17 "Filtered") or drop (no answer at all).  QTYPE
 * is a type name or "*" (every type: also the default without `type`);
 * SOURCE an address, a CIDR or "*" (every address: the default without
 * `net`).  The rules are checked in order for a query whose name is in
 * ZONES (default: the block's zones); the first whose types and
 * networks both match decides; allow passes the query on at once (later
 * rules are not checked); a query no rule matches is allowed.  The
 * source is the UDP/TCP peer address (an IPv4-mapped IPv6 address counts
 * as IPv4).
 *
 * A server block may hold several `acl` lines, each with its own zones:
 * as in CoreDNS they are checked in the order written, each only for
 * queries in its zones; the first rule that matches in any of them
 * decides (allow passes the query on at once, later lines unchecked), and
 * an acl whose rules all miss hands the query to the next one.
 *
 * Difference from CoreDNS: the EDE option is added only when the query
 * had EDNS (RFC 6891: no OPT in an answer to a query without one; CoreDNS
 * always adds one).
 *
 * Metrics (CoreDNS's): coredns_acl_{blocked,filtered,dropped}_requests_total
 * {server, zone, view} and coredns_acl_allowed_requests_total{server, view}.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

#include "globaldns/corefile.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"

#define ACL_MAX_ZONES 64
#define EDE_BLOCKED 15                  /* RFC 8914 */
#define EDE_FILTERED 17
#define EDNS_OPT_EDE 15

enum acl_action { ACL_ALLOW, ACL_BLOCK, ACL_FILTER, ACL_DROP };

struct acl_net {
	int family;                     /* AF_INET or AF_INET6 */
	uint8_t addr[16];               /* masked */
	unsigned int plen;
};

struct acl_rule {
	enum acl_action action;
	uint16_t *types;                /* none: every type */
	size_t ntypes;
	struct acl_net *nets;           /* none: every address */
	size_t nnets;
};

/* One `acl` line: its zones and rules. */
struct acl_policy {
	struct wire_zone zones[ACL_MAX_ZONES];
	size_t nzones;
	struct acl_rule *rules;
	size_t nrules;
	/* per zone: blocked, filtered, dropped */
	uint64_t (*counts)[3];
};

/* Every `acl` line of a server block, in the order written. */
struct acl {
	struct acl_policy *pols;
	size_t npols;
	uint64_t allowed;
};

static const char *const action_names[] = { "allow", "block", "filter", "drop" };

/* "10.0.0.0/8", "192.0.2.1" (/32), "2001:db8::/32", "::1" (/128). */
static int parse_net(const char *s, struct acl_net *n)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	unsigned long plen;
	size_t len = slash ? (size_t)(slash - s) : strlen(s);

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, buf, n->addr) == 1)
		n->family = AF_INET;
	else if (inet_pton(AF_INET6, buf, n->addr) == 1)
		n->family = AF_INET6;
	else
		return -1;
	plen = n->family == AF_INET ? 32 : 128;
	if (slash && parse_uint(slash + 1, plen, &plen) < 0)
		return -1;
	n->plen = (unsigned int)plen;
	/* as Go's net.ParseCIDR: host bits are masked off */
	for (unsigned int b = n->plen; b < (n->family == AF_INET ? 32u : 128u); b++)
		n->addr[b / 8] &= (uint8_t)~(0x80 >> (b % 8));
	return 0;
}

static int net_has(const struct acl_net *n, int family, const uint8_t *a)
{
	unsigned int full = n->plen / 8, rest = n->plen % 8;

	if (n->family != family || memcmp(n->addr, a, full) != 0)
		return 0;
	return !rest || ((a[full] ^ n->addr[full]) & (uint8_t)(0xFF << (8 - rest))) == 0;
}

static int rule_matches(const struct acl_rule *r, uint16_t qtype, int family,
	const uint8_t *a)
{
	int t = r->ntypes == 0, n = r->nnets == 0;

	for (size_t i = 0; i < r->ntypes && !t; i++)
		t = r->types[i] == qtype;
	for (size_t i = 0; i < r->nnets && t && !n; i++)
		n = net_has(&r->nets[i], family, a);
	return t && n;
}

/* The client's address; an IPv4-mapped IPv6 one as IPv4.  0 or -1. */
static int client_addr(const struct dns_request *req, int *family, uint8_t *a)
{
	if (req->client.ss_family == AF_INET) {
		memcpy(a, &((const struct sockaddr_in *)&req->client)->sin_addr, 4);
		*family = AF_INET;
		return 0;
	}
	if (req->client.ss_family == AF_INET6) {
		const uint8_t *p = ((const struct sockaddr_in6 *)&req->client)->sin6_addr.s6_addr;
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF };
		if (memcmp(p, mapped, 12) == 0) {
			memcpy(a, p + 12, 4);
			*family = AF_INET;
		} else {
			memcpy(a, p, 16);
			*family = AF_INET6;
		}
		return 0;
	}
	return -1;
}

/* RFC 8914: an Extended DNS Error in the OPT record that ends the answer
 * (wire_resp_finish writes it last, with no options yet). */
static void add_ede(struct dns_request *req, uint16_t code)
{
	uint8_t *opt;

	if (!req->q.edns || req->resp_len < WIRE_HDR + 11 || req->resp_len + 6 > req->limit)
		return;
	opt = req->resp + req->resp_len - 11;
	if (opt[0] != 0 || wire_get16(opt + 1) != DNS_TYPE_OPT || wire_get16(opt + 9) != 0)
		return;
	wire_put16(opt + 9, 6);
	wire_put16(opt + 11, EDNS_OPT_EDE);
	wire_put16(opt + 13, 2);
	wire_put16(opt + 15, code);
	req->resp_len += 6;
}

/* What one acl line decides for a query in its zone (index zone):
 * PLUGIN_DONE (answered or dropped), PLUGIN_NEXT with *allow set (allowed:
 * stop looking), or PLUGIN_NEXT (no rule matched: the next line). */
static enum plugin_result policy_check(struct acl_policy *a, int zone,
	struct dns_request *req, int *allow)
{
	uint8_t addr[16];
	int family;

	if (client_addr(req, &family, addr) < 0) {
		/* CoreDNS blocks what it cannot place */
		a->counts[zone][0]++;
		query_answer_rcode(req, DNS_RCODE_REFUSED, "acl");
		return PLUGIN_DONE;
	}
	for (size_t i = 0; i < a->nrules; i++) {
		const struct acl_rule *r = &a->rules[i];
		if (!rule_matches(r, req->q.qtype, family, addr))
			continue;
		switch (r->action) {
		case ACL_ALLOW:
			*allow = 1;
			return PLUGIN_NEXT;
		case ACL_BLOCK:
			a->counts[zone][0]++;
			query_answer_rcode(req, DNS_RCODE_REFUSED, "acl");
			add_ede(req, EDE_BLOCKED);
			return PLUGIN_DONE;
		case ACL_FILTER:
			a->counts[zone][1]++;
			query_answer_rcode(req, DNS_RCODE_NOERROR, "acl");
			add_ede(req, EDE_FILTERED);
			return PLUGIN_DONE;
		case ACL_DROP:
			a->counts[zone][2]++;
			req->resp_len = 0;      /* nothing is sent */
			req->plugin = "acl";
			return PLUGIN_DONE;
		}
	}
	return PLUGIN_NEXT;
}

static enum plugin_result acl_serve(void *state, struct dns_request *req)
{
	struct acl *a = state;
	int allow = 0;

	for (size_t i = 0; i < a->npols && !allow; i++) {
		struct acl_policy *p = &a->pols[i];
		int zone = -1;
		for (size_t z = 0; z < p->nzones && zone < 0; z++)
			if (wire_zone_match(&req->q, &p->zones[z]) >= 0)
				zone = (int)z;
		if (zone >= 0 && policy_check(p, zone, req, &allow) == PLUGIN_DONE)
			return PLUGIN_DONE;
	}
	a->allowed++;
	return PLUGIN_NEXT;
}

static void acl_free(void *state)
{
	struct acl *a = state;

	if (!a)
		return;
	for (size_t p = 0; p < a->npols; p++) {
		struct acl_policy *pol = &a->pols[p];
		for (size_t i = 0; i < pol->nrules; i++) {
			free(pol->rules[i].types);
			free(pol->rules[i].nets);
		}
		free(pol->rules);
		free(pol->counts);
	}
	free(a->pols);
	free(a);
}

/* One rule: ACTION [type QTYPE...] [net SOURCE...] (sections in any order). */
static int parse_rule(const struct cf_directive *c, struct acl_rule *r,
	char *err, size_t errlen)
{
	const char *name = "acl";
	size_t a = 0, cap;

	for (r->action = ACL_ALLOW; r->action <= ACL_DROP; r->action++)
		if (strcasecmp(c->name, action_names[r->action]) == 0)
			break;
	if (r->action > ACL_DROP)
		PLUGIN_FAIL(c, "unexpected token \"%s\"; expect 'allow', 'block', 'filter' or 'drop'", c->name);
	while (a < c->nargs) {
		int is_type = strcasecmp(c->args[a], "type") == 0;
		int all = 0;
		size_t first;
		if (!is_type && strcasecmp(c->args[a], "net") != 0)
			PLUGIN_FAIL(c, "unexpected token \"%s\"; expect 'type' or 'net'", c->args[a]);
		first = ++a;
		while (a < c->nargs && strcasecmp(c->args[a], "type") != 0
		       && strcasecmp(c->args[a], "net") != 0)
			a++;
		if (a == first)
			PLUGIN_FAIL(c, "no token specified in \"%s\" section", is_type ? "type" : "net");
		for (size_t i = first; i < a; i++) {
			if (strcmp(c->args[i], "*") == 0) {
				all = 1;
				continue;
			}
			if (is_type) {
				ldns_rr_type t = ldns_get_rr_type_by_name(c->args[i]);
				if (t == 0)
					PLUGIN_FAIL(c, "unexpected token \"%s\"; expect legal QTYPE", c->args[i]);
				cap = r->ntypes;
				if (grow_array((void **)&r->types, &cap, r->ntypes + 1, sizeof(*r->types)) < 0)
					PLUGIN_FAIL(c, "out of memory");
				r->types[r->ntypes++] = (uint16_t)t;
			} else {
				struct acl_net n;
				if (parse_net(c->args[i], &n) < 0)
					PLUGIN_FAIL(c, "illegal CIDR notation \"%s\"", c->args[i]);
				cap = r->nnets;
				if (grow_array((void **)&r->nets, &cap, r->nnets + 1, sizeof(*r->nets)) < 0)
					PLUGIN_FAIL(c, "out of memory");
				r->nets[r->nnets++] = n;
			}
		}
		/* "*" in a section: every type, or every address */
		if (all && is_type)
			r->ntypes = 0;
		else if (all)
			r->nnets = 0;
	}
	return 0;
fail:
	return -1;
}

/* One `acl [ZONES...] { RULE... }` line into a (zeroed) policy. */
static int parse_policy(const struct plugin_ctx *ctx, const struct cf_directive *d,
	struct acl_policy *a, char *err, size_t errlen)
{
	const char *name = d->name;
	char why[256];
	size_t cap = 0;
	int nz;

	nz = cf_parse_zones(d, 0, ctx->block->zones, ctx->block->nzones, a->zones,
		ACL_MAX_ZONES, why, sizeof(why));
	if (nz < 0)
		PLUGIN_FAIL(d, "%s", why);
	a->nzones = (size_t)nz;
	if (!(a->counts = calloc(a->nzones ? a->nzones : 1, sizeof(*a->counts))))
		PLUGIN_FAIL(d, "out of memory");
	for (size_t i = 0; i < d->nchildren; i++) {
		if (grow_array((void **)&a->rules, &cap, a->nrules + 1, sizeof(*a->rules)) < 0)
			PLUGIN_FAIL(d, "out of memory");
		memset(&a->rules[a->nrules], 0, sizeof(*a->rules));
		a->nrules++;
		if (parse_rule(&d->children[i], &a->rules[a->nrules - 1], err, errlen) < 0)
			return -1;
	}
	return 0;
fail:
	return -1;
}

static int acl_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	struct acl *a = calloc(1, sizeof(*a));
	size_t n = ctx->nlines ? ctx->nlines : 1;
	const char *name = d->name;

	if (!a || !(a->pols = calloc(n, sizeof(*a->pols)))) {
		free(a);
		PLUGIN_FAIL(d, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		a->npols++;
		if (parse_policy(ctx, ctx->nlines ? ctx->lines[i] : d, &a->pols[i], err, errlen) < 0)
			goto fail;
	}
	*state = a;
	return 0;
fail:
	acl_free(a);
	return -1;
}

/* Was zone z of line p's name already named by an earlier line or zone? */
static int zone_seen(const struct acl *a, size_t p, size_t z)
{
	const char *zn = a->pols[p].zones[z].name;

	for (size_t q = 0; q <= p; q++)
		for (size_t y = 0; y < (q == p ? z : a->pols[q].nzones); y++)
			if (strcmp(a->pols[q].zones[y].name, zn) == 0)
				return 1;
	return 0;
}

static uint64_t zone_count(const struct acl *a, const char *zn, int k)
{
	uint64_t sum = 0;

	for (size_t p = 0; p < a->npols; p++)
		for (size_t z = 0; z < a->pols[p].nzones; z++)
			if (strcmp(a->pols[p].zones[z].name, zn) == 0)
				sum += a->pols[p].counts[z][k];
	return sum;
}

static void acl_collect(void *state, const struct plugin_block *b,
	struct metrics_out *o)
{
	static const char *const fam[3] = {
		"coredns_acl_blocked_requests_total", "coredns_acl_filtered_requests_total",
		"coredns_acl_dropped_requests_total",
	};
	static const char *const help[3] = {
		"Counter of DNS requests being blocked.", "Counter of DNS requests being filtered.",
		"Counter of DNS requests being dropped.",
	};
	const struct acl *a = state;

	for (int k = 0; k < 3; k++) {
		metrics_out_family(o, fam[k], METRICS_COUNTER, help[k]);
		/* one sample per zone name, summed over the lines that name it */
		for (size_t p = 0; p < a->npols; p++) {
			for (size_t z = 0; z < a->pols[p].nzones; z++) {
				const char *zn = a->pols[p].zones[z].name;
				if (zone_seen(a, p, z))
					continue;
				metrics_out_sample(o, fam[k], "", (double)zone_count(a, zn, k),
					"server", b->server_label, "zone", zn, "view", "", NULL);
			}
		}
	}
	metrics_out_family(o, "coredns_acl_allowed_requests_total", METRICS_COUNTER,
		"Counter of DNS requests being allowed.");
	metrics_out_sample(o, "coredns_acl_allowed_requests_total", "", (double)a->allowed,
		"server", b->server_label, "view", "", NULL);
}

const struct plugin_ops acl_plugin = {
	.name = "acl",
	.setup = acl_setup,
	.serve = acl_serve,
	.free = acl_free,
	.collect = acl_collect,
	.repeatable = 1,
};
