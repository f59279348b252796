/*
 * serviceentries_extra.c -- SRV and PTR answers of a serviceentries block
 * (serviceentries_extra.h).
 *
 *   srv                 _NAME._tcp.HOST / _NAME._udp.HOST answer SRV
 *                       "0 100 PORT HOST." for each spec.ports entry
 *                       named NAME (UDP under _udp, every other protocol
 *                       under _tcp), HOST's addresses in the additional
 *                       section when they all fit.  _tcp.HOST and
 *                       _udp.HOST are empty non-terminals when HOST has
 *                       such a port.  A name below a wildcard host takes
 *                       the wildcard's ports.  Every other name whose
 *                       first label starts with '_' is NXDOMAIN.
 *   reverse NETWORK...  authoritative for the reverse zones of the
 *                       networks (CoreDNS's split of a CIDR into zones):
 *                       PTR with every served name holding the address,
 *                       NXDOMAIN for an address nobody holds, SOA and NS
 *                       at each zone apex.  The zones must be inside the
 *                       server block's zones (the block key), which is how
 *                       queries reach the block; block zones at or below
 *                       in-addr.arpa and ip6.arpa then serve only this.
 *
 * Both use the block's ttl, and its SOA serial (which moves when the
 * served names, addresses or SRV records change).
 */
#include "serviceentries_extra.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "globaldns/query.h"
#include "globaldns/registry.h"
#include "globaldns/wire.h"

#define DNS_TYPE_SRV 33

static const char name[] = "serviceentries";

int se_extra_prop(struct se_extra_conf *c, const struct cf_directive *d,
	char *err, size_t errlen)
{
	if (strcmp(d->name, "srv") == 0) {
		if (d->nargs != 0)
			PLUGIN_FAIL(d, "srv: takes no arguments");
		c->srv = 1;
		return 1;
	}
	if (strcmp(d->name, "reverse") != 0)
		return 0;
	if (d->nargs == 0)
		PLUGIN_FAIL(d, "reverse: needs at least one network (e.g. 240.0.0.0/4)");
	for (size_t a = 0; a < d->nargs; a++) {
		char why[256];
		if (rev_zones_from_cidr(d->args[a], c->rz, SE_REV_MAX_ZONES, &c->nrz, why, sizeof(why)) < 0)
			PLUGIN_FAIL(d, "reverse: %s", why);
	}
	if (!c->rev_prop)
		c->rev_prop = d;
	return 1;
fail:
	return -1;
}

/* 1 if z is a zone at or below in-addr.arpa. or ip6.arpa. */
static int is_arpa(const char *z)
{
	static const char *const arpa[] = { "in-addr.arpa.", "ip6.arpa." };

	for (size_t i = 0; i < 2; i++) {
		size_t zl = strlen(z), al = strlen(arpa[i]);
		if (zl >= al && strcmp(z + zl - al, arpa[i]) == 0 && (zl == al || z[zl - al - 1] == '.'))
			return 1;
	}
	return 0;
}

static int inside(const char *zone, const char *parent)
{
	size_t zl = strlen(zone), pl = strlen(parent);

	return strcmp(parent, ".") == 0 || (zl >= pl && strcmp(zone + zl - pl, parent) == 0
		&& (zl == pl || zone[zl - pl - 1] == '.'));
}

int se_extra_setup(struct se_extra_conf *c, const struct plugin_block *b,
	struct wire_zone *zones, char **names, size_t *nzones, char *err,
	size_t errlen)
{
	size_t o = 0;

	if (!c->nrz)
		return 0;
	for (size_t i = 0; i < c->nrz; i++) {
		int ok = 0;
		for (size_t z = 0; z < b->nzones && !ok; z++)
			ok = inside(c->rz[i].z.name, b->zones[z]);
		if (!ok)
			PLUGIN_FAIL(c->rev_prop, "reverse: the zone %s is not inside the server block's zones"
				"; add it (or in-addr.arpa / ip6.arpa) to the block key", c->rz[i].z.name);
	}
	for (size_t i = 0; i < *nzones; i++) {
		if (is_arpa(zones[i].name)) {
			free(names[i]);
			continue;
		}
		zones[o] = zones[i];
		names[o++] = names[i];
	}
	*nzones = o;
	if (o == 0)
		PLUGIN_FAIL(c->rev_prop, "reverse: no forward zone left to serve the ServiceEntry hosts in"
			"; add one (e.g. global) to the block key");
	c->rev_prop = NULL;     /* points into the Corefile tree */
	return 0;
fail:
	return -1;
}

int se_extra_build(const struct se_extra_conf *c, const struct registry *r,
	const struct se_list *entries, struct se_extra **out)
{
	struct se_extra *x;

	*out = NULL;
	if (!c->srv && !c->nrz)
		return 0;
	if (!(x = calloc(1, sizeof(*x))))
		return -1;
	if ((c->srv && !(x->srv = srv_index_build(r, entries)))
	    || (c->nrz && !(x->ptr = ptr_index_build(r, c->rz, c->nrz)))) {
		se_extra_free(x);
		return -1;
	}
	*out = x;
	return 0;
}

void se_extra_release(void *x)
{
	se_extra_free(x);
}

void se_extra_free(struct se_extra *x)
{
	if (!x)
		return;
	srv_index_free(x->srv);
	ptr_index_free(x->ptr);
	free(x);
}

int se_extra_same(const struct se_extra *a, const struct se_extra *b)
{
	return srv_index_same(a ? a->srv : NULL, b ? b->srv : NULL);
}

void se_extra_introspect(const struct se_extra_conf *c,
	const struct se_extra *x, cJSON *obj)
{
	cJSON *zones;

	cJSON_AddBoolToObject(obj, "srv", c->srv);
	cJSON_AddNumberToObject(obj, "srv_records", (double)srv_index_records(x ? x->srv : NULL));
	zones = cJSON_AddArrayToObject(obj, "reverse_zones");
	for (size_t i = 0; zones && i < c->nrz; i++)
		cJSON_AddItemToArray(zones, cJSON_CreateString(c->rz[i].z.name));
	cJSON_AddNumberToObject(obj, "ptr_addresses", (double)ptr_index_addresses(x ? x->ptr : NULL));
}

/* ---- SRV ---- */

/* "_tcp" 1, "_udp" 2, else 0; l is a lowercased wire label. */
static int proto_label(const uint8_t *l)
{
	if (l[0] != 4)
		return 0;
	if (memcmp(l + 1, "_tcp", 4) == 0)
		return 1;
	if (memcmp(l + 1, "_udp", 4) == 0)
		return 2;
	return 0;
}

/* The query for the name at label `first` of q (lowercased form only). */
static void sub_query(const struct dns_query *q, unsigned int first,
	struct dns_query *s)
{
	/* label_off has no entry for the root (first == nlabels) */
	unsigned int off = first < q->nlabels ? q->label_off[first] : (unsigned int)q->qname_len - 1;

	s->qname_len = (uint16_t)(q->qname_len - off);
	memcpy(s->qname_lc, q->qname_lc + off, s->qname_len);
	s->nlabels = (uint8_t)(q->nlabels - first);
	for (unsigned int i = 0; i < s->nlabels; i++)
		s->label_off[i] = (uint8_t)(q->label_off[i + first] - off);
	s->qtype = q->qtype;
	s->qclass = q->qclass;
}

/* The ports of the nearest wildcard above host (as registry_lookup finds it). */
static const struct srv_port *wildcard_ports(const struct srv_index *x,
	const struct dns_query *h, size_t *n)
{
	uint8_t w[WIRE_MAXNAME + 2];

	for (unsigned int i = 1; i < h->nlabels; i++) {
		size_t len = (size_t)h->qname_len - h->label_off[i];
		const struct srv_port *p;
		w[0] = 1;
		w[1] = '*';
		memcpy(w + 2, h->qname_lc + h->label_off[i], len);
		if (srv_index_find(x, w, len + 2, &p, n))
			return p;
	}
	*n = 0;
	return NULL;
}

static int port_matches(const struct srv_index *x, const struct srv_port *p,
	int proto, const uint8_t *svc)
{
	if (p->udp != (proto == 2))
		return 0;
	return !svc || (svc[0] == p->namelen + 1
		&& memcmp(svc + 2, srv_index_port_name(x, p), p->namelen) == 0);
}

/* The host's addresses in the additional section, if they all fit. */
static void add_glue(struct wire_resp *w, uint16_t owner,
	const struct registry_answer *a, uint32_t ttl)
{
	if (w->len + a->nv4 * 16 + a->nv6 * 28 + (w->edns ? 11 : 0) > w->limit)
		return;
	for (size_t i = 0; i < a->nv4; i++)
		wire_resp_rr(w, WIRE_SEC_ADDITIONAL, owner, DNS_TYPE_A, DNS_CLASS_IN, ttl, registry_answer_v4(a, i), 4);
	for (size_t i = 0; i < a->nv6; i++)
		wire_resp_rr(w, WIRE_SEC_ADDITIONAL, owner, DNS_TYPE_AAAA, DNS_CLASS_IN, ttl, registry_answer_v6(a, i), 16);
}

enum se_extra_result se_srv_serve(const struct se_extra_conf *c,
	const struct se_extra *x, const struct registry *r,
	struct dns_request *req, int zl, uint32_t ttl, uint32_t serial)
{
	const struct dns_query *q = &req->q;
	const uint8_t *l0 = q->qname_lc + q->label_off[0], *svc = NULL;
	const struct srv_port *ports;
	struct registry_answer ans;
	enum registry_match m;
	struct dns_query h;
	struct wire_resp w;
	unsigned int hl;
	size_t nports, nmatch = 0;
	int proto;

	if (!c->srv || !x || q->nlabels == 0 || l0[0] < 1 || l0[1] != '_')
		return SE_EXTRA_PASS;
	if (q->nlabels >= 2 && l0[0] >= 2 && (proto = proto_label(q->qname_lc + q->label_off[1]))) {
		svc = l0;
		hl = 2;
	} else if ((proto = proto_label(l0))) {
		hl = 1;
	} else {
		return SE_EXTRA_NXDOMAIN;
	}
	if ((int)hl > zl)
		return SE_EXTRA_NXDOMAIN;       /* the host would be above the zone */
	sub_query(q, hl, &h);
	m = registry_lookup(r, &h, &ans);
	if (m == REG_NXDOMAIN || ans.nv4 + ans.nv6 == 0)
		return SE_EXTRA_NXDOMAIN;
	if (m == REG_WILDCARD)
		ports = wildcard_ports(x->srv, &h, &nports);
	else
		srv_index_find(x->srv, h.qname_lc, h.qname_len, &ports, &nports);
	for (size_t i = 0; i < nports; i++)
		nmatch += (size_t)port_matches(x->srv, &ports[i], proto, svc);
	if (nmatch == 0)
		return SE_EXTRA_NXDOMAIN;
	query_begin(req, &w, DNS_RCODE_NOERROR, DNS_FLAG_AA);
	if (svc && (q->qtype == DNS_TYPE_SRV || q->qtype == DNS_TYPE_ANY)) {
		uint8_t rd[6 + WIRE_MAXNAME];
		int rc = 0;
		/* priority 0, weight 100, port, target uncompressed (RFC 2782) */
		wire_put16(rd, 0);
		wire_put16(rd + 2, 100);
		memcpy(rd + 6, h.qname_lc, h.qname_len);
		for (size_t i = 0; i < nports && rc == 0; i++) {
			if (!port_matches(x->srv, &ports[i], proto, svc))
				continue;
			wire_put16(rd + 4, ports[i].number);
			rc = wire_resp_rr(&w, WIRE_SEC_ANSWER, WIRE_HDR, DNS_TYPE_SRV,
				DNS_CLASS_IN, ttl, rd, (uint16_t)(6 + h.qname_len));
		}
		if (rc == 0)
			add_glue(&w, wire_qname_suffix_off(q, hl), &ans, ttl);
	}
	/* NODATA (RFC 2308 2.2): the SOA of the zone in authority */
	if (w.counts[WIRE_SEC_ANSWER] == 0 && !w.truncated)
		wire_resp_soa(&w, WIRE_SEC_AUTHORITY, wire_qname_suffix_off(q, (unsigned int)zl),
			ttl, serial, ttl);
	query_finish(req, &w, name);
	return SE_EXTRA_DONE;
}

/* ---- PTR ---- */

const struct rev_zone *se_rev_zone(const struct se_extra_conf *c,
	const struct dns_query *q, int *zl)
{
	const struct rev_zone *best = NULL;
	const uint8_t *last;

	/* most queries are not reverse names: one look at the last label */
	if (c->nrz == 0 || q->nlabels < 2)
		return NULL;
	last = q->qname_lc + q->label_off[q->nlabels - 1];
	if (last[0] != 4 || memcmp(last + 1, "arpa", 4) != 0)
		return NULL;
	for (size_t i = 0; i < c->nrz; i++) {
		int l = wire_zone_match(q, &c->rz[i].z);
		if (l >= 0 && (!best || c->rz[i].z.nlabels > best->z.nlabels)) {
			best = &c->rz[i];
			*zl = l;
		}
	}
	return best;
}

enum plugin_result se_rev_serve(const struct rev_zone *rz, int zl,
	const struct se_extra *x, struct dns_request *req, uint32_t ttl,
	uint32_t serial, int falls)
{
	const struct dns_query *q = &req->q;
	uint16_t qt = q->qtype, apex = wire_qname_suffix_off(q, (unsigned int)zl);
	const struct ptr_name *names = NULL;
	uint8_t addr[16];
	struct wire_resp w;
	int bits = rev_name_addr(q, rz, addr);
	int full = bits == (rz->family == AF_INET ? 32 : 128);
	size_t n = bits < 0 ? 0 : ptr_index_lookup(x ? x->ptr : NULL, rz->family, addr, bits, &names);

	if (zl != 0 && n == 0) {
		if (falls)
			return PLUGIN_NEXT;
		query_begin(req, &w, DNS_RCODE_NXDOMAIN, DNS_FLAG_AA);
		wire_resp_soa(&w, WIRE_SEC_AUTHORITY, apex, ttl, serial, ttl);
		query_finish(req, &w, name);
		return PLUGIN_DONE;
	}
	query_begin(req, &w, DNS_RCODE_NOERROR, DNS_FLAG_AA);
	if (zl == 0 && qt == DNS_TYPE_SOA)
		wire_resp_soa(&w, WIRE_SEC_ANSWER, apex, ttl, serial, ttl);
	else if (zl == 0 && qt == DNS_TYPE_NS)
		wire_resp_ns(&w, WIRE_SEC_ANSWER, apex, ttl);
	else if (full && names && (qt == DNS_TYPE_PTR || qt == DNS_TYPE_ANY))
		for (size_t i = 0; i < n; i++)
			if (wire_resp_rr(&w, WIRE_SEC_ANSWER, WIRE_HDR, DNS_TYPE_PTR, DNS_CLASS_IN,
				ttl, names[i].wire, names[i].len) < 0)
				break;
	if (zl == 0 && qt == DNS_TYPE_ANY && w.counts[WIRE_SEC_ANSWER] == 0 && !w.truncated)
		wire_resp_soa(&w, WIRE_SEC_ANSWER, apex, ttl, serial, ttl);
	if (w.counts[WIRE_SEC_ANSWER] == 0 && !w.truncated)
		wire_resp_soa(&w, WIRE_SEC_AUTHORITY, apex, ttl, serial, ttl);
	query_finish(req, &w, name);
	return PLUGIN_DONE;
}
