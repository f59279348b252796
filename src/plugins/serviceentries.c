/*
 * serviceentries.c -- the `serviceentries` directive: authoritative
 * answers for a block's zones from Istio ServiceEntries.
 *
 *   serviceentries [ZONES...] {
 *       file PATH...            manifests (files or directories)
 *       ttl SECONDS             answer TTL, default 30
 *       default_address ADDR... for entries without a usable address
 *       fallthrough [ZONES...]  unknown names (NXDOMAIN) go to the next plugin
 *       ns_address ADDR...      what ns.dns.<zone> answers (default: the
 *                               block's bind addresses, else the host's)
 *       srv                     SRV for ports, reverse NETWORK... PTR for
 *                               addresses (serviceentries_extra.c)
 *       (without file: the Kubernetes API, src/kube -- kubeconfig, endpoint,
 *        namespaces, api_version, poll, nowatch, timeout, max_body, backoff,
 *        sa_dir, tls_ca, token_file)
 *       cluster NAME { ... }    one of several sources, merged
 *       snapshot PATH [{ ... }] the last good entries on disk
 *                               (both in serviceentries_sources.c)
 *   }
 *
 * The sources (serviceentries_sources.h) deliver whole entry lists; each
 * becomes a new registry snapshot, built here off the query path and
 * swapped in with one pointer.
 * The snapshot holds ns.dns.<zone> too (the apex NS target, unless an
 * entry names that host), so dns.<zone> is an empty non-terminal.
 * The SOA serial moves whenever the served names change.  Until the first
 * load the zones answer SERVFAIL, never NXDOMAIN: a cached NXDOMAIN would
 * outlive the outage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cjson/cJSON.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/registry.h"
#include "globaldns/source.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"
#include "globaldns/workers.h"
#include "serviceentries_sources.h"

#include "serviceentries_extra.h"

#define SE_DEFAULT_TTL 30

static const char name[] = "serviceentries";

struct se_plugin {
	struct wire_zone *zones;
	size_t nzones;
	char **zone_names;              /* for registry_conf */
	uint32_t ttl;
	struct se_addr *defaults;
	size_t ndefaults;
	/* where the entries come from: one source or several, the snapshot */
	struct se_sources srcs;
	struct registry *reg;           /* current snapshot, NULL before the first load */
	struct registry_conf conf;      /* what snapshots are built with */
	struct registry_builder *builder;       /* once started: builds off the loop */
	uint32_t serial;
	/* fallthrough [ZONES...]: names not known (NXDOMAIN) within these
	 * zones (all if none) go to the next plugin instead */
	int fallthrough;
	struct wire_zone ft_zones[16];
	size_t nft_zones;
	/* ns_address: what ns.dns.<zone>, the target of the apex NS, answers */
	uint8_t ns_v4[8][4];
	size_t nns_v4;
	uint8_t ns_v6[8][16];
	size_t nns_v6;
	int ns_capped;                  /* the host has more than 8 of a family */
	/* srv, reverse: their indexes are built with each snapshot */
	struct se_extra_conf xconf;
	struct se_extra *extra;
};

static void se_free(void *state)
{
	struct se_plugin *p = state;

	if (!p)
		return;
	se_sources_free(&p->srcs);      /* first: it may write the snapshot of p->reg */
	registry_builder_free(p->builder);
	registry_free(p->reg);
	for (size_t i = 0; i < p->nzones; i++)
		free(p->zone_names[i]);
	free(p->zone_names);
	free(p->zones);
	free(p->defaults);
	free(p);
}

static int add_zone(struct se_plugin *p, const char *zone, char *err,
	size_t errlen)
{
	struct wire_zone *z;
	char **names;

	z = realloc(p->zones, (p->nzones + 1) * sizeof(*z));
	if (!z)
		return -1;
	p->zones = z;
	names = realloc(p->zone_names, (p->nzones + 1) * sizeof(*names));
	if (!names)
		return -1;
	p->zone_names = names;
	z = &p->zones[p->nzones];
	if (wire_zone_set(z, zone) < 0) {
		snprintf(err, errlen, "invalid zone \"%s\"", zone);
		return -1;
	}
	names[p->nzones] = strdup(z->name);
	if (!names[p->nzones])
		return -1;
	p->nzones++;
	return 0;
}

static const char *const own_props[] = {
	"ttl", "default_address", "ns_address", "fallthrough", "srv", "reverse",
};

static int parse_block(struct se_plugin *p, const struct cf_directive *d,
	char *err, size_t errlen)
{
	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		int taken = se_sources_prop(&p->srcs, c, err, errlen);
		int x;
		if (taken < 0)
			goto fail;
		if (taken)
			continue;
		x = se_extra_prop(&p->xconf, c, err, errlen);
		if (x < 0)
			goto fail;
		if (x)
			continue;
		if (strcmp(c->name, "ttl") == 0) {
			unsigned long ttl;
			if (c->nargs != 1)
				PLUGIN_FAIL(c, "ttl: needs one value in seconds");
			if (parse_uint(c->args[0], 604800, &ttl) < 0)
				PLUGIN_FAIL(c, "ttl: \"%s\": not a number of seconds from 0 to 604800", c->args[0]);
			p->ttl = (uint32_t)ttl;
		} else if (strcmp(c->name, "default_address") == 0) {
			if (c->nargs == 0)
				PLUGIN_FAIL(c, "default_address: needs at least one address");
			for (size_t a = 0; a < c->nargs; a++) {
				struct se_addr *na = realloc(p->defaults, (p->ndefaults + 1) * sizeof(*na));
				if (!na)
					PLUGIN_FAIL(c, "out of memory");
				p->defaults = na;
				if (se_parse_addr(c->args[a], &na[p->ndefaults]) != 1)
					PLUGIN_FAIL(c, "default_address: \"%s\": not an IPv4 or IPv6 address", c->args[a]);
				p->ndefaults++;
			}
		} else if (strcmp(c->name, "ns_address") == 0) {
			if (c->nargs == 0 || c->nargs > 8)
				PLUGIN_FAIL(c, "ns_address: needs one to eight addresses");
			for (size_t a = 0; a < c->nargs; a++) {
				struct se_addr na;
				if (se_parse_addr(c->args[a], &na) != 1)
					PLUGIN_FAIL(c, "ns_address: \"%s\": not an IPv4 or IPv6 address", c->args[a]);
				if (na.family == AF_INET)
					memcpy(p->ns_v4[p->nns_v4++], na.addr, 4);
				else
					memcpy(p->ns_v6[p->nns_v6++], na.addr, 16);
			}
		} else if (strcmp(c->name, "fallthrough") == 0) {
			p->fallthrough = 1;
			for (size_t a = 0; a < c->nargs; a++) {
				char zerr[256];
				if (p->nft_zones >= sizeof(p->ft_zones) / sizeof(p->ft_zones[0]))
					PLUGIN_FAIL(c, "fallthrough: more than 16 zones");
				if (cf_parse_zone(c->args[a], &p->ft_zones[p->nft_zones], zerr, sizeof(zerr)) < 0)
					PLUGIN_FAIL(c, "fallthrough: zone \"%s\": %s", c->args[a], zerr);
				p->nft_zones++;
			}
		} else {
			char list[512];
			se_sources_supported(list, sizeof(list), own_props,
				sizeof(own_props) / sizeof(own_props[0]));
			PLUGIN_FAIL(c, "unknown property \"%s\"; supported: %s", c->name, list);
		}
	}
	return 0;
fail:
	return -1;
}

/*
 * Give the pages a rebuild freed back to the system: the parse and the
 * build's scratch leave free chunks below the live ones, which free()
 * alone never returns (glibc trims only the top of the heap).  On the
 * build thread when there is one: not on the loop's time.
 */
static void trim_heap(const struct se_plugin *p)
{
	if (registry_builder_trim(p->builder) == 0)
		return;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* The conf of the snapshots, once the block's settings are known. */
/* registry_conf.attach: the SRV and PTR indexes (with `srv`, `reverse`),
 * built from the same entries as the snapshot and hung on it -- on the
 * build thread; reads only p->xconf, fixed after setup. */
static int se_attach(void *arg, const struct se_list *entries, struct registry *r)
{
	const struct se_plugin *p = arg;
	struct se_extra *x;

	if (se_extra_build(&p->xconf, r, entries, &x) < 0)
		return -1;
	if (x)
		registry_set_extra(r, x, se_extra_release);
	return 0;
}

static void set_conf(struct se_plugin *p)
{
	p->conf = (struct registry_conf){
		.attach = se_attach, .attach_arg = p,
		.zones = (const char *const *)p->zone_names, .nzones = p->nzones,
		.defaults = p->defaults, .ndefaults = p->ndefaults,
		.ns_v4 = (const uint8_t (*)[4])p->ns_v4, .nns_v4 = p->nns_v4,
		.ns_v6 = (const uint8_t (*)[16])p->ns_v6, .nns_v6 = p->nns_v6,
		.ttl = p->ttl,
	};
}

/* A new snapshot, on the loop: swap it in (the serial moves if what is
 * served changed), free the old one -- under the data lock, so no worker
 * is reading it (workers.h). */
static void publish_locked(void *arg, struct registry *r)
{
	struct se_plugin *p = arg;
	uint32_t now = (uint32_t)time(NULL);
	uint32_t serial = p->serial ? p->serial + 1 : now;
	size_t added, removed, changed;
	struct se_extra *x;

	if (!r) {
		log_error("plugin/serviceentries: %s: out of memory building the registry; keeping the previous one",
			p->zones[0].name);
		return;
	}
	if (serial < now)
		serial = now;
	x = registry_extra(r);      /* the SRV/PTR indexes, built with it (se_attach) */
	registry_diff(p->reg, r, &added, &removed, &changed);
	if (p->reg && !added && !removed && !changed && se_extra_same(p->extra, x)) {
		/* nothing served changed: keep the serial, drop the copy */
		registry_free(p->reg);
		registry_set_serial(r, p->serial);
		p->reg = r;
		trim_heap(p);
		p->extra = registry_extra(r);
		return;
	}
	registry_set_serial(r, serial);
	log_info("plugin/serviceentries: %s: %zu names from %zu entries (%zu added, %zu removed, %zu changed, %zu rejected), serial %u, %zu bytes",
		p->zones[0].name, registry_names(r), registry_entries(r), added,
		removed, changed, registry_rejects(r), serial, registry_bytes(r));
	registry_free(p->reg);
	p->reg = r;
	p->extra = x;
	p->serial = serial;
	trim_heap(p);
}

static void publish(void *arg, struct registry *r)
{
	workers_lock();
	publish_locked(arg, r);
	workers_unlock();
}

/* The source's new list: built on the builder's thread once started,
 * here before (the first load at setup, and -check). */
static void on_update(void *arg, struct se_list *entries)
{
	struct se_plugin *p = arg;

	if (p->builder && registry_builder_submit(p->builder, entries) == 0)
		return;
	publish(p, registry_build(&p->conf, entries, 0));
}

/* ---- ns.dns.<zone>: the target of the apex NS ---- */

static void ns_add(struct se_plugin *p, int family, const uint8_t *a)
{
	if (family == AF_INET) {
		for (size_t i = 0; i < p->nns_v4; i++)
			if (memcmp(p->ns_v4[i], a, 4) == 0)
				return;
		if (p->nns_v4 < 8)
			memcpy(p->ns_v4[p->nns_v4++], a, 4);
		else
			p->ns_capped = 1;
	} else {
		for (size_t i = 0; i < p->nns_v6; i++)
			if (memcmp(p->ns_v6[i], a, 16) == 0)
				return;
		if (p->nns_v6 < 8)
			memcpy(p->ns_v6[p->nns_v6++], a, 16);
		else
			p->ns_capped = 1;
	}
}

/*
 * The addresses of the interfaces that are up, of one family (or both if
 * 0): loopback ones only if `loopback`, else none of them.  IPv6
 * link-local addresses never: an AAAA record cannot carry their scope.
 */
static void ns_from_interfaces(struct se_plugin *p, int family, int loopback)
{
	struct ifaddrs *all;

	if (getifaddrs(&all) < 0) {
		log_warning("plugin/serviceentries: the host's addresses for ns.dns: getifaddrs: %s",
			strerror(errno));
		return;
	}
	for (const struct ifaddrs *i = all; i; i = i->ifa_next) {
		const struct sockaddr *sa = i->ifa_addr;
		const uint8_t *a;
		int fam, loop;

		if (!sa || !(i->ifa_flags & IFF_UP))
			continue;
		fam = sa->sa_family;
		if ((fam != AF_INET && fam != AF_INET6) || (family && fam != family))
			continue;
		if (fam == AF_INET) {
			a = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
			loop = a[0] == 127;
		} else {
			a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
			if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
				continue;
			loop = memcmp(a, in6addr_loopback.s6_addr, 16) == 0;
		}
		if (loop == !!loopback)
			ns_add(p, fam, a);
	}
	freeifaddrs(all);
}

/*
 * Without ns_address, ns.dns.<zone> answers where this server can be
 * reached, as CoreDNS's kubernetes plugin answers its own pod IPs: the
 * block's bind addresses, and for a wildcard bind (or none) the host's
 * non-loopback addresses -- its loopback ones if it has no other.
 */
static void ns_defaults(struct se_plugin *p, const struct plugin_ctx *ctx)
{
	int any4 = ctx->block->nbinds == 0, any6 = ctx->block->nbinds == 0;

	for (size_t b = 0; b < ctx->block->nbinds; b++) {
		struct se_addr a;
		if (se_parse_addr(ctx->block->binds[b], &a) != 1)
			continue;
		if (a.family == AF_INET && memcmp(a.addr, "\0\0\0\0", 4) == 0)
			any4 = 1;
		else if (a.family == AF_INET6 && memcmp(a.addr, in6addr_any.s6_addr, 16) == 0)
			any6 = 1;
		else
			ns_add(p, a.family, a.addr);
	}
	if (!any4 && !any6)
		return;
	ns_from_interfaces(p, any4 && any6 ? 0 : any4 ? AF_INET : AF_INET6, 0);
	if (p->nns_v4 + p->nns_v6 == 0)
		ns_from_interfaces(p, any4 && any6 ? 0 : any4 ? AF_INET : AF_INET6, 1);
	if (p->ns_capped)
		log_warning("plugin/serviceentries: %s: ns.dns.%s answers only the first 8 addresses of each family"
			"; set ns_address to choose", p->zones[0].name, p->zones[0].name);
}

static int se_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	struct se_plugin *p = calloc(1, sizeof(*p));
	char zerr[256];

	if (!p)
		return -1;
	p->ttl = SE_DEFAULT_TTL;
	if (d->nargs) {
		for (size_t a = 0; a < d->nargs; a++) {
			char zone[256];
			int port, inside = 0;
			if (corefile_parse_key(d->args[a], 0, zone, sizeof(zone), &port, zerr, sizeof(zerr)) < 0)
				PLUGIN_FAIL(d, "zone \"%s\": %s", d->args[a], zerr);
			for (size_t z = 0; z < ctx->block->nzones; z++) {
				size_t zl = strlen(zone), bl = strlen(ctx->block->zones[z]);
				inside |= strcmp(ctx->block->zones[z], ".") == 0
					|| (zl >= bl && strcmp(zone + zl - bl, ctx->block->zones[z]) == 0
					    && (zl == bl || zone[zl - bl - 1] == '.'));
			}
			if (!inside)
				PLUGIN_FAIL(d, "zone \"%s\" is not inside the server block's zones", zone);
			if (add_zone(p, zone, zerr, sizeof(zerr)) < 0)
				PLUGIN_FAIL(d, "%s", zerr);
		}
	} else {
		for (size_t z = 0; z < ctx->block->nzones; z++)
			if (add_zone(p, ctx->block->zones[z], zerr, sizeof(zerr)) < 0)
				PLUGIN_FAIL(d, "%s", zerr);
	}
	if (parse_block(p, d, err, errlen) < 0
	    || se_extra_setup(&p->xconf, ctx->block, p->zones, p->zone_names, &p->nzones, err, errlen) < 0)
		goto fail;
	if (p->nns_v4 + p->nns_v6 == 0)
		ns_defaults(p, ctx);
	set_conf(p);
	p->srcs.zone = p->zones[0].name;
	p->srcs.zones = (const char *const *)p->zone_names;
	p->srcs.nzones = p->nzones;
	p->srcs.reg = &p->reg;
	p->srcs.build = on_update;
	p->srcs.build_arg = p;
	if (se_sources_create(&p->srcs, d, ctx->check, err, errlen) < 0)
		goto fail;
	*state = p;
	return 0;
fail:
	se_free(p);
	return -1;
}

static int se_start(void *state, const struct plugin_env *env)
{
	struct se_plugin *p = state;
	int rc;

	/* a list the source delivers while starting is built here, so a
	 * reload's new server has its registry before it answers */
	if ((rc = se_sources_start(&p->srcs, env->base)) < 0)
		return rc;
	if (!(p->builder = registry_builder_new(env->base, &p->conf, publish, p)))
		log_warning("plugin/serviceentries: %s: no build thread; rebuilds run on the event loop",
			p->zones[0].name);
	return rc;
}

/*
 * Records for the asked type, copied as the snapshot rendered them (owner
 * the question, the block's TTL); 0, or -1 when they did not all fit.
 */
static int add_addrs(struct wire_resp *w, const struct registry_answer *a,
	uint16_t qtype)
{
	if ((qtype == DNS_TYPE_A || qtype == DNS_TYPE_ANY) && a->nv4)
		return wire_resp_rrs(w, WIRE_SEC_ANSWER, a->a_rrs,
			a->nv4 * REGISTRY_RR_A, (unsigned int)a->nv4);
	/* RFC 8482: ANY gets one RRset, not everything */
	if ((qtype == DNS_TYPE_AAAA || qtype == DNS_TYPE_ANY) && a->nv6)
		return wire_resp_rrs(w, WIRE_SEC_ANSWER, a->aaaa_rrs,
			a->nv6 * REGISTRY_RR_AAAA, (unsigned int)a->nv6);
	return 0;
}

/*
 * The apex NS, and its addresses in the additional section when they all
 * fit (glue is optional: a response without it is not truncated).
 */
static void add_ns(const struct se_plugin *p, struct wire_resp *w, uint16_t apex)
{
	size_t ns_off = w->len, glue = p->nns_v4 * 16 + p->nns_v6 * 28;
	uint16_t target;

	if (wire_resp_ns(w, WIRE_SEC_ANSWER, apex, p->ttl) < 0)
		return;
	/* the NS rdata, "ns.dns" + pointer, follows owner (2) and fixed part (10) */
	target = (uint16_t)(ns_off + 12);
	if (w->len + glue + (w->edns ? 11 : 0) > w->limit)
		return;
	for (size_t i = 0; i < p->nns_v4; i++)
		wire_resp_rr(w, WIRE_SEC_ADDITIONAL, target, DNS_TYPE_A, DNS_CLASS_IN,
			p->ttl, p->ns_v4[i], 4);
	for (size_t i = 0; i < p->nns_v6; i++)
		wire_resp_rr(w, WIRE_SEC_ADDITIONAL, target, DNS_TYPE_AAAA, DNS_CLASS_IN,
			p->ttl, p->ns_v6[i], 16);
}

/* CoreDNS's fall.Through: no zones means every name. */
static int se_falls_through(const struct se_plugin *p, const struct dns_query *q)
{
	if (!p->fallthrough)
		return 0;
	if (!p->nft_zones)
		return 1;
	for (size_t i = 0; i < p->nft_zones; i++)
		if (wire_zone_match(q, &p->ft_zones[i]) >= 0)
			return 1;
	return 0;
}

static enum plugin_result se_serve(void *state, struct dns_request *req)
{
	struct se_plugin *p = state;
	const struct dns_query *q = &req->q;
	const struct wire_zone *zone = NULL;
	struct registry_answer ans;
	enum registry_match m;
	struct wire_resp w;
	int zl = -1;
	uint16_t apex;
	uint16_t qt = q->qtype;
	int rzl = -1;
	const struct rev_zone *rz = se_rev_zone(&p->xconf, q, &rzl);

	for (size_t i = 0; i < p->nzones; i++) {
		int l = wire_zone_match(q, &p->zones[i]);
		if (l >= 0 && (!zone || p->zones[i].nlabels > zone->nlabels)) {
			zone = &p->zones[i];
			zl = l;
		}
	}
	if (rz && (!zone || rz->z.nlabels > zone->nlabels))
		zl = rzl;       /* a reverse zone (deeper than a forward one) */
	else
		rz = NULL;
	if (!zone && !rz)
		return PLUGIN_NEXT;
	/* the registry is class IN only; CH and the rest are not ours */
	if (q->qclass != DNS_CLASS_IN && q->qclass != DNS_CLASS_ANY) {
		query_answer_rcode(req, DNS_RCODE_REFUSED, "serviceentries");
		return PLUGIN_DONE;
	}
	if (!p->reg) {
		query_answer_rcode(req, DNS_RCODE_SERVFAIL, "serviceentries");
		req->error = "first load of the ServiceEntries not complete";
		return PLUGIN_DONE;
	}
	if (rz)
		return se_rev_serve(rz, zl, p->extra, req, p->ttl, p->serial, se_falls_through(p, q));
	apex = wire_qname_suffix_off(q, (unsigned int)zl);
	switch (se_srv_serve(&p->xconf, p->extra, p->reg, req, zl, p->ttl, p->serial)) {
	case SE_EXTRA_DONE:
		return PLUGIN_DONE;
	case SE_EXTRA_NXDOMAIN:
		m = REG_NXDOMAIN;
		break;
	default:
		m = registry_lookup(p->reg, q, &ans);
	}
	if (m == REG_NXDOMAIN) {
		if (se_falls_through(p, q))
			return PLUGIN_NEXT;
		query_begin(req, &w, DNS_RCODE_NXDOMAIN, DNS_FLAG_AA);
		wire_resp_soa(&w, WIRE_SEC_AUTHORITY, apex, p->ttl, p->serial, p->ttl);
		query_finish(req, &w, "serviceentries");
		return PLUGIN_DONE;
	}
	query_begin(req, &w, DNS_RCODE_NOERROR, DNS_FLAG_AA);
	if (zl == 0 && (qt == DNS_TYPE_SOA || (qt == DNS_TYPE_ANY && ans.nv4 + ans.nv6 == 0)))
		wire_resp_soa(&w, WIRE_SEC_ANSWER, apex, p->ttl, p->serial, p->ttl);
	else if (zl == 0 && qt == DNS_TYPE_NS)
		add_ns(p, &w, apex);
	else if (qt == DNS_TYPE_A || qt == DNS_TYPE_AAAA || qt == DNS_TYPE_ANY)
		add_addrs(&w, &ans, qt);
	/* NODATA (RFC 2308 2.2): NOERROR, no answer, SOA in authority */
	if (w.counts[WIRE_SEC_ANSWER] == 0 && !w.truncated)
		wire_resp_soa(&w, WIRE_SEC_AUTHORITY, apex, p->ttl, p->serial, p->ttl);
	query_finish(req, &w, "serviceentries");
	return PLUGIN_DONE;
}

static int se_ready(void *state, char *why, size_t whylen)
{
	struct se_plugin *p = state;

	return se_sources_ready(&p->srcs, why, whylen);
}

/* ---- metrics and introspection (GET /registry) ---- */

/* A bounded label for a reject reason: its field, indexes dropped
 * ("spec.hosts[1]: not a string" -> "spec.hosts"). */
static void reason_label(const char *reason, char *out, size_t outlen)
{
	size_t o = 0;

	for (const char *c = reason; *c && o + 1 < outlen; c++) {
		if (c[0] == ':' && (c[1] == ' ' || c[1] == '\0'))
			break;
		if (*c == '[') {
			const char *rb = strchr(c, ']');
			if (rb) {
				c = rb;
				continue;
			}
		}
		out[o++] = *c;
	}
	out[o] = '\0';
}

static const char *reject_reason(const struct registry *r, size_t i)
{
	const char *ns, *nm, *reason;

	registry_reject(r, i, &ns, &nm, &reason);
	return reason ? reason : "?";
}

static void se_collect(void *state, const struct plugin_block *b,
	struct metrics_out *o)
{
	struct se_plugin *p = state;
	const char *zone = p->zones[0].name;

	metrics_out_family(o, "globaldns_registry_entries", METRICS_GAUGE,
		"ServiceEntries in the registry a serviceentries block serves.");
	metrics_out_family(o, "globaldns_registry_names", METRICS_GAUGE,
		"Names with at least one address served from ServiceEntries.");
	metrics_out_family(o, "globaldns_registry_bytes", METRICS_GAUGE,
		"Bytes of the registry snapshot (names, records, sources, rejects).");
	metrics_out_family(o, "globaldns_registry_rejected_entries", METRICS_GAUGE,
		"ServiceEntries skipped as invalid, by the field that was wrong.");
	metrics_out_sample(o, "globaldns_registry_entries", "",
		p->reg ? (double)registry_entries(p->reg) : 0, "zone", zone, NULL);
	metrics_out_sample(o, "globaldns_registry_names", "",
		p->reg ? (double)registry_names(p->reg) : 0, "zone", zone, NULL);
	metrics_out_sample(o, "globaldns_registry_bytes", "",
		p->reg ? (double)registry_bytes(p->reg) : 0, "zone", zone, NULL);
	for (size_t i = 0, nr = p->reg ? registry_rejects(p->reg) : 0; i < nr; i++) {
		char label[128], prev[128];
		size_t n = 0;
		int seen = 0;
		reason_label(reject_reason(p->reg, i), label, sizeof(label));
		for (size_t j = 0; j < nr && !seen; j++) {
			reason_label(reject_reason(p->reg, j), prev, sizeof(prev));
			if (strcmp(prev, label) != 0)
				continue;
			if (j < i)
				seen = 1;
			n++;
		}
		if (!seen)
			metrics_out_sample(o, "globaldns_registry_rejected_entries", "",
				(double)n, "zone", zone, "reason", label, NULL);
	}
	se_sources_collect(&p->srcs, o);
}

static void visit_name(void *arg, const char *host, const uint8_t (*v4)[4],
	size_t nv4, const uint8_t (*v6)[16], size_t nv6,
	const char *const *sources, size_t nsources)
{
	cJSON *names = arg, *n = cJSON_CreateObject(), *a, *aaaa, *src;
	char text[INET6_ADDRSTRLEN];

	if (!n)
		return;
	cJSON_AddStringToObject(n, "name", host);
	a = cJSON_AddArrayToObject(n, "A");
	aaaa = cJSON_AddArrayToObject(n, "AAAA");
	src = cJSON_AddArrayToObject(n, "service_entries");
	for (size_t i = 0; a && i < nv4; i++)
		if (inet_ntop(AF_INET, v4[i], text, sizeof(text)))
			cJSON_AddItemToArray(a, cJSON_CreateString(text));
	for (size_t i = 0; aaaa && i < nv6; i++)
		if (inet_ntop(AF_INET6, v6[i], text, sizeof(text)))
			cJSON_AddItemToArray(aaaa, cJSON_CreateString(text));
	for (size_t i = 0; src && i < nsources; i++)
		cJSON_AddItemToArray(src, cJSON_CreateString(sources[i]));
	cJSON_AddItemToArray(names, n);
}

static int se_introspect(void *state, cJSON *obj)
{
	struct se_plugin *p = state;
	cJSON *zones, *nsa, *names, *rej;

	zones = cJSON_AddArrayToObject(obj, "zones");
	for (size_t i = 0; zones && i < p->nzones; i++)
		cJSON_AddItemToArray(zones, cJSON_CreateString(p->zones[i].name));
	cJSON_AddNumberToObject(obj, "ttl", p->ttl);
	cJSON_AddNumberToObject(obj, "serial", p->serial);
	se_extra_introspect(&p->xconf, p->extra, obj);
	nsa = cJSON_AddArrayToObject(obj, "ns_addresses");
	for (size_t i = 0; nsa && i < p->nns_v4 + p->nns_v6; i++) {
		char text[INET6_ADDRSTRLEN];
		if (i < p->nns_v4)
			inet_ntop(AF_INET, p->ns_v4[i], text, sizeof(text));
		else
			inet_ntop(AF_INET6, p->ns_v6[i - p->nns_v4], text, sizeof(text));
		cJSON_AddItemToArray(nsa, cJSON_CreateString(text));
	}
	se_sources_introspect(&p->srcs, obj);
	cJSON_AddNumberToObject(obj, "entries", p->reg ? (double)registry_entries(p->reg) : 0);
	/* the snapshot's one allocation, and per served name */
	cJSON_AddNumberToObject(obj, "registry_bytes", p->reg ? (double)registry_bytes(p->reg) : 0);
	cJSON_AddNumberToObject(obj, "bytes_per_name", p->reg && registry_names(p->reg)
		? (double)(registry_bytes(p->reg) / registry_names(p->reg)) : 0);
	names = cJSON_AddArrayToObject(obj, "names");
	rej = cJSON_AddArrayToObject(obj, "rejected");
	if (p->reg && names)
		registry_foreach(p->reg, visit_name, names);
	for (size_t i = 0, nr = p->reg && rej ? registry_rejects(p->reg) : 0; i < nr; i++) {
		cJSON *r = cJSON_CreateObject();
		const char *ns, *nm, *reason;
		if (!r)
			break;
		registry_reject(p->reg, i, &ns, &nm, &reason);
		if (ns)
			cJSON_AddStringToObject(r, "namespace", ns);
		else
			cJSON_AddNullToObject(r, "namespace");
		if (nm)
			cJSON_AddStringToObject(r, "name", nm);
		else
			cJSON_AddNullToObject(r, "name");
		cJSON_AddStringToObject(r, "reason", reason ? reason : "");
		cJSON_AddItemToArray(rej, r);
	}
	return 0;
}

const struct plugin_ops serviceentries_plugin = {
	.name = "serviceentries",
	.setup = se_setup,
	.start = se_start,
	.serve = se_serve,
	.ready = se_ready,
	.free = se_free,
	.collect = se_collect,
	.introspect = se_introspect,
};
