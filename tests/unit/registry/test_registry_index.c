/*
 * test_registry_index.c -- spec.ports as seentry.c reads them (Istio's
 * rules, reasons naming the field), and the indexes built beside a
 * registry snapshot: SRV ports per served name (union, order, wildcards),
 * reverse zones split from networks, reverse names back to addresses, and
 * PTR names per address.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "globaldns/registry.h"
#include "globaldns/registry_index.h"
#include "globaldns/seentry.h"
#include "globaldns/wire.h"

#define SE(spec) "{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},\"spec\":{\"hosts\":[\"a.b\"]," spec "}}"

static int decode(const char *json, struct se_entry *e, char *why, size_t whylen)
{
	cJSON *obj = cJSON_Parse(json);
	int rc;

	if (!obj)
		fail_msg("test JSON does not parse: %s", json);
	rc = se_from_json(obj, e, why, whylen);
	cJSON_Delete(obj);
	return rc;
}

static void expect_invalid(const char *json, const char *want)
{
	struct se_entry e;
	char why[256];

	if (decode(json, &e, why, sizeof(why)) == 0) {
		se_entry_clear(&e);
		fail_msg("accepted: %s", json);
	}
	assert_int_equal(errno, EINVAL);
	if (!strstr(why, want))
		fail_msg("\"%s\" does not contain \"%s\"", why, want);
	assert_null(e.ports);
	assert_int_equal(e.nports, 0);
}

static void test_ports_valid(void **state)
{
	struct se_entry e, c;
	char why[256];

	(void)state;
	assert_int_equal(decode(SE("\"ports\":[{\"name\":\"http1\",\"number\":8000,\"protocol\":\"HTTP\"},"
		"{\"name\":\"web\",\"number\":1,\"protocol\":\"grpc-web\",\"targetPort\":9}," /* any case */
		"{\"name\":\"d-n-s\",\"number\":65535,\"protocol\":\"UDP\"},"
		"{\"name\":\"x1\",\"number\":80},"                  /* no protocol: Istio sniffs */
		"{\"name\":\"x2\",\"number\":80,\"protocol\":null},"
		"{\"name\":\"m\",\"number\":27017,\"protocol\":\"MONGO\"}]"), &e, why, sizeof(why)), 0);
	assert_int_equal(e.nports, 6);
	assert_string_equal(e.ports[0].name, "http1");
	assert_int_equal(e.ports[0].number, 8000);
	assert_int_equal(e.ports[0].protocol, SE_PROTO_HTTP);
	assert_int_equal(e.ports[1].protocol, SE_PROTO_GRPC_WEB);
	assert_string_equal(se_protocol_name(e.ports[1].protocol), "GRPC-Web");
	assert_int_equal(e.ports[2].number, 65535);
	assert_int_equal(e.ports[2].protocol, SE_PROTO_UDP);
	assert_int_equal(e.ports[3].protocol, SE_PROTO_UNSET);
	assert_int_equal(e.ports[4].protocol, SE_PROTO_UNSET);
	assert_int_equal(e.ports[5].protocol, SE_PROTO_MONGO);
	/* copies own their ports */
	assert_int_equal(se_entry_copy(&c, &e), 0);
	se_entry_clear(&e);
	assert_int_equal(c.nports, 6);
	assert_string_equal(c.ports[2].name, "d-n-s");
	se_entry_clear(&c);
	/* absent, null and empty: no ports */
	assert_int_equal(decode(SE("\"ports\":null"), &e, why, sizeof(why)), 0);
	assert_int_equal(e.nports, 0);
	se_entry_clear(&e);
	assert_int_equal(decode(SE("\"ports\":[]"), &e, why, sizeof(why)), 0);
	assert_int_equal(e.nports, 0);
	se_entry_clear(&e);
}

static void test_ports_invalid(void **state)
{
	(void)state;
	expect_invalid(SE("\"ports\":{}"), "spec.ports: not an array");
	expect_invalid(SE("\"ports\":[7]"), "spec.ports[0]: not an object");
	expect_invalid(SE("\"ports\":[{\"number\":80}]"), "spec.ports[0].name: missing");
	expect_invalid(SE("\"ports\":[{\"name\":\"\",\"number\":80}]"), "spec.ports[0].name: missing");
	expect_invalid(SE("\"ports\":[{\"name\":1,\"number\":80}]"), "spec.ports[0].name: not a string");
	expect_invalid(SE("\"ports\":[{\"name\":\"a\",\"number\":80},{\"name\":\"Http\",\"number\":80}]"),
		"spec.ports[1].name: \"Http\" is not a DNS-1123 label");
	expect_invalid(SE("\"ports\":[{\"name\":\"-a\",\"number\":80}]"), "is not a DNS-1123 label");
	expect_invalid(SE("\"ports\":[{\"name\":\"a-\",\"number\":80}]"), "is not a DNS-1123 label");
	expect_invalid(SE("\"ports\":[{\"name\":\"a_b\",\"number\":80}]"), "is not a DNS-1123 label");
	expect_invalid(SE("\"ports\":[{\"name\":\"a234567890123456789012345678901234567890123456789012345678901234\",\"number\":80}]"),
		"is not a DNS-1123 label");
	expect_invalid(SE("\"ports\":[{\"name\":\"a\"}]"), "spec.ports[0].number: missing");
	expect_invalid(SE("\"ports\":[{\"name\":\"a\",\"number\":0}]"), "spec.ports[0].number: not a port number");
	expect_invalid(SE("\"ports\":[{\"name\":\"a\",\"number\":65536}]"), "not a port number from 1 to 65535");
	expect_invalid(SE("\"ports\":[{\"name\":\"a\",\"number\":80.5}]"), "not a port number");
	expect_invalid(SE("\"ports\":[{\"name\":\"a\",\"number\":\"80\"}]"), "not a port number");
	expect_invalid(SE("\"ports\":[{\"name\":\"a\",\"number\":80,\"protocol\":\"SCTP\"}]"),
		"spec.ports[0].protocol: unrecognized protocol \"SCTP\"");
	expect_invalid(SE("\"ports\":[{\"name\":\"a\",\"number\":80,\"protocol\":5}]"),
		"spec.ports[0].protocol: not a string");
	expect_invalid(SE("\"ports\":[{\"name\":\"a\",\"number\":80},{\"name\":\"a\",\"number\":81}]"),
		"spec.ports[1].name: \"a\" is not unique");
}

/* ---- indexes ---- */

struct port_desc { const char *name; int number; enum se_protocol proto; };

static void add_entry(struct se_list *l, const char *ns, const char *name,
	const char *hosts, const char *addrs, const struct port_desc *ports)
{
	struct se_entry e;
	char *dup, *tok, *save;

	memset(&e, 0, sizeof(e));
	e.ns = strdup(ns);
	e.name = strdup(name);
	e.resolution = SE_RES_STATIC;
	dup = strdup(hosts);
	for (tok = strtok_r(dup, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		e.hosts = realloc(e.hosts, (e.nhosts + 1) * sizeof(char *));
		e.hosts[e.nhosts++] = strdup(tok);
	}
	free(dup);
	dup = strdup(addrs);
	for (tok = strtok_r(dup, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		e.addrs = realloc(e.addrs, (e.naddrs + 1) * sizeof(*e.addrs));
		assert_int_equal(se_parse_addr(tok, &e.addrs[e.naddrs]), 1);
		e.naddrs++;
	}
	free(dup);
	if (ports && ports->name) {
		struct se_port tmp[8];
		size_t n = 0;
		for (; ports->name && n < 8; ports++, n++) {
			tmp[n].name = ports->name;
			tmp[n].number = (uint16_t)ports->number;
			tmp[n].protocol = ports->proto;
		}
		assert_int_equal(se_entry_set_ports(&e, tmp, n), 0);
	}
	assert_int_equal(se_list_push(l, &e), 0);
}

static struct registry *build(struct se_list *l)
{
	const char *zones[] = { "global." };
	struct registry_conf c = { .zones = zones, .nzones = 1 };
	struct registry *r = registry_build(&c, l, 1);

	assert_non_null(r);
	return r;
}

/* The SRV index as serviceentries builds it: from the entries, beside the
 * snapshot (registry_conf.attach), before registry_build frees them. */
static struct srv_index *attached;

static int attach_srv(void *arg, const struct se_list *entries, struct registry *r)
{
	(void)arg;
	attached = srv_index_build(r, entries);
	return attached ? 0 : -1;
}

static struct registry *build_srv(struct se_list *l, struct srv_index **x)
{
	const char *zones[] = { "global." };
	struct registry_conf c = { .zones = zones, .nzones = 1, .attach = attach_srv };
	struct registry *r = registry_build(&c, l, 1);

	assert_non_null(r);
	*x = attached;
	attached = NULL;
	return r;
}

/* The ports of name as "name/udp/number ..." ("-" if not in the index). */
static const char *ports_of(const struct srv_index *x, const char *name)
{
	static char out[512];
	const struct srv_port *p;
	uint8_t w[WIRE_MAXNAME];
	int len = wire_name_from_str(name, w);
	size_t n, o = 0;

	assert_true(len > 0);
	if (!srv_index_find(x, w, (size_t)len, &p, &n))
		return "-";
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%.*s/%s/%u", i ? " " : "",
			p[i].namelen, srv_index_port_name(x, &p[i]), p[i].udp ? "udp" : "tcp", p[i].number);
	return out;
}

static void test_srv_index(void **state)
{
	static const struct port_desc web[] = {
		{ "http1", 8000, SE_PROTO_HTTP }, { "dns", 53, SE_PROTO_UDP },
		{ "dns-tcp", 53, SE_PROTO_TCP }, { NULL, 0, 0 } };
	static const struct port_desc web2[] = {
		{ "http1", 8080, SE_PROTO_HTTP2 }, { "dns", 53, SE_PROTO_UDP }, { NULL, 0, 0 } };
	static const struct port_desc wild[] = { { "https", 443, SE_PROTO_TLS }, { NULL, 0, 0 } };
	static const struct port_desc far[] = { { "x", 1, SE_PROTO_TCP }, { NULL, 0, 0 } };
	struct se_list l, l2;
	struct registry *r, *r2;
	struct srv_index *x, *x2;

	(void)state;
	se_list_init(&l);
	add_entry(&l, "a", "web", "web.global", "240.0.0.1", web);
	/* the same host from another entry: the union, duplicates once */
	add_entry(&l, "b", "web2", "web.global other.global", "240.0.0.2", web2);
	add_entry(&l, "c", "wild", "*.ext.global", "240.0.0.3", wild);
	/* a wildcard without ports: in the index, it hides the one above */
	add_entry(&l, "c", "inner", "*.in.ext.global", "240.0.0.4", NULL);
	add_entry(&l, "c", "plain", "plain.global", "240.0.0.5", NULL);
	/* ports of a host nobody serves (no address, no default) */
	add_entry(&l, "d", "far", "far.global", "", far);
	/* outside the zone */
	add_entry(&l, "d", "out", "web.elsewhere", "240.0.0.6", far);
	r = build_srv(&l, &x);
	assert_non_null(x);
	assert_string_equal(ports_of(x, "web.global."), "dns/udp/53 dns-tcp/tcp/53 http1/tcp/8000 http1/tcp/8080");
	assert_string_equal(ports_of(x, "WEB.global."), "-");   /* callers lowercase */
	assert_string_equal(ports_of(x, "other.global."), "dns/udp/53 http1/tcp/8080");
	assert_string_equal(ports_of(x, "*.ext.global."), "https/tcp/443");
	assert_string_equal(ports_of(x, "*.in.ext.global."), "");
	assert_string_equal(ports_of(x, "plain.global."), "-");
	assert_string_equal(ports_of(x, "far.global."), "-");
	assert_string_equal(ports_of(x, "web.elsewhere."), "-");
	assert_int_equal(srv_index_records(x), 4 + 2 + 1);

	/* the same ports, entries in another order: the same index */
	se_list_init(&l2);
	add_entry(&l2, "c", "wild", "*.ext.global", "240.0.0.3", wild);
	add_entry(&l2, "c", "inner", "*.in.ext.global", "240.0.0.4", NULL);
	add_entry(&l2, "b", "web2", "web.global other.global", "240.0.0.2", web2);
	add_entry(&l2, "a", "web", "web.global", "240.0.0.1", web);
	r2 = build_srv(&l2, &x2);
	assert_true(srv_index_same(x, x2));
	assert_true(srv_index_same(NULL, NULL));
	assert_false(srv_index_same(x, NULL));
	srv_index_free(x2);
	registry_free(r2);
	/* one port number changed: not the same */
	se_list_init(&l2);
	add_entry(&l2, "c", "wild", "*.ext.global", "240.0.0.3", far);
	add_entry(&l2, "c", "inner", "*.in.ext.global", "240.0.0.4", NULL);
	add_entry(&l2, "b", "web2", "web.global other.global", "240.0.0.2", web2);
	add_entry(&l2, "a", "web", "web.global", "240.0.0.1", web);
	r2 = build_srv(&l2, &x2);
	assert_false(srv_index_same(x, x2));
	srv_index_free(x2);
	registry_free(r2);
	srv_index_free(x);
	srv_index_free(NULL);
	registry_free(r);
}

static void test_rev_zones(void **state)
{
	struct rev_zone z[300];
	size_t n = 0;
	char why[256];

	(void)state;
	assert_int_equal(rev_zones_from_cidr("240.0.0.0/4", z, 300, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 16);
	assert_string_equal(z[0].z.name, "240.in-addr.arpa.");
	assert_string_equal(z[1].z.name, "241.in-addr.arpa.");
	assert_string_equal(z[15].z.name, "255.in-addr.arpa.");
	assert_int_equal(z[15].bits, 8);
	n = 0;
	assert_int_equal(rev_zones_from_cidr("10.1.2.0/24", z, 300, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(z[0].z.name, "2.1.10.in-addr.arpa.");
	/* not on a label boundary: one zone per address */
	assert_int_equal(rev_zones_from_cidr("10.1.2.128/25", z, 300, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 129);
	assert_string_equal(z[1].z.name, "128.2.1.10.in-addr.arpa.");
	assert_string_equal(z[128].z.name, "255.2.1.10.in-addr.arpa.");
	assert_int_equal(z[128].bits, 32);
	n = 0;
	assert_int_equal(rev_zones_from_cidr("0.0.0.0/0", z, 300, &n, why, sizeof(why)), 0);
	assert_string_equal(z[0].z.name, "in-addr.arpa.");
	n = 0;
	assert_int_equal(rev_zones_from_cidr("fd00::/8", z, 300, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(z[0].z.name, "d.f.ip6.arpa.");
	n = 0;
	assert_int_equal(rev_zones_from_cidr("2001:db8::/30", z, 300, &n, why, sizeof(why)), 0);
	assert_int_equal(n, 4);
	assert_string_equal(z[0].z.name, "8.b.d.0.1.0.0.2.ip6.arpa.");
	assert_string_equal(z[3].z.name, "b.b.d.0.1.0.0.2.ip6.arpa.");

	n = 0;
	assert_int_equal(rev_zones_from_cidr("240.1.0.0/4", z, 300, &n, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "bits set beyond the /4 prefix"));
	assert_int_equal(rev_zones_from_cidr("10.0.0.0/33", z, 300, &n, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not a number from 0 to 32"));
	assert_int_equal(rev_zones_from_cidr("10.0.0.0", z, 300, &n, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not a network"));
	assert_int_equal(rev_zones_from_cidr("ten/8", z, 300, &n, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not an IPv4 or IPv6 network"));
	assert_int_equal(rev_zones_from_cidr("10.0.0.0/17", z, 100, &n, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "too many reverse zones"));
	assert_int_equal(n, 0);
}

static void make_query(const char *name, struct dns_query *q)
{
	uint8_t w[WIRE_MAXNAME];
	int len = wire_name_from_str(name, w), off = 0, n = 0;

	assert_true(len > 0);
	memset(q, 0, sizeof(*q));
	memcpy(q->qname, w, (size_t)len);
	memcpy(q->qname_lc, w, (size_t)len);
	wire_name_lower(q->qname_lc, (size_t)len);
	q->qname_len = (uint16_t)len;
	while (w[off]) {
		q->label_off[n++] = (uint8_t)off;
		off += w[off] + 1;
	}
	q->nlabels = (uint8_t)n;
}

/* rev_name_addr as text: "BITS ADDRESS" or "-1". */
static const char *addr_of(const char *name, const struct rev_zone *z)
{
	static char out[80];
	struct dns_query q;
	uint8_t a[16];
	char text[INET6_ADDRSTRLEN];
	int bits;

	make_query(name, &q);
	bits = rev_name_addr(&q, z, a);
	if (bits < 0)
		return "-1";
	inet_ntop(z->family, a, text, sizeof(text));
	snprintf(out, sizeof(out), "%d %s", bits, text);
	return out;
}

static void test_rev_names(void **state)
{
	struct rev_zone z[2];
	size_t n = 0;
	char why[256];

	(void)state;
	assert_int_equal(rev_zones_from_cidr("240.0.0.0/8", z, 2, &n, why, sizeof(why)), 0);
	assert_int_equal(rev_zones_from_cidr("2001:db8::/32", z, 2, &n, why, sizeof(why)), 0);
	assert_string_equal(addr_of("2.0.0.240.in-addr.arpa.", &z[0]), "32 240.0.0.2");
	assert_string_equal(addr_of("0.240.in-addr.arpa.", &z[0]), "16 240.0.0.0");
	assert_string_equal(addr_of("240.in-addr.arpa.", &z[0]), "8 240.0.0.0");
	assert_string_equal(addr_of("255.254.0.240.in-addr.arpa.", &z[0]), "32 240.0.254.255");
	assert_string_equal(addr_of("02.0.0.240.in-addr.arpa.", &z[0]), "-1");
	assert_string_equal(addr_of("256.0.0.240.in-addr.arpa.", &z[0]), "-1");
	assert_string_equal(addr_of("x.0.0.240.in-addr.arpa.", &z[0]), "-1");
	assert_string_equal(addr_of("1.2.0.0.240.in-addr.arpa.", &z[0]), "-1");
	assert_string_equal(addr_of("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6.arpa.", &z[1]),
		"128 2001:db8::2");
	assert_string_equal(addr_of("8.b.d.0.1.0.0.2.ip6.arpa.", &z[1]), "32 2001:db8::");
	assert_string_equal(addr_of("10.b.d.0.1.0.0.2.ip6.arpa.", &z[1]), "-1");
	assert_string_equal(addr_of("g.b.d.0.1.0.0.2.ip6.arpa.", &z[1]), "-1");
}

/* The PTR names of an address as "a. b." ("0" when none, "1" for a prefix). */
static const char *ptr_of(const struct ptr_index *x, const char *addr, int bits)
{
	static char out[512];
	const struct ptr_name *names;
	struct se_addr a;
	size_t n, o = 0;

	assert_int_equal(se_parse_addr(addr, &a), 1);
	n = ptr_index_lookup(x, a.family, a.addr, bits, &names);
	if (!names) {
		snprintf(out, sizeof(out), "%zu", n);
		return out;
	}
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char t[300];
		wire_name_to_str(names[i].wire, t, sizeof(t));
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? " " : "", t);
	}
	return out;
}

static void test_ptr_index(void **state)
{
	struct rev_zone z[32];
	size_t n = 0;
	char why[256];
	struct se_list l;
	struct registry *r;
	struct ptr_index *x;

	(void)state;
	assert_int_equal(rev_zones_from_cidr("240.0.0.0/4", z, 32, &n, why, sizeof(why)), 0);
	assert_int_equal(rev_zones_from_cidr("2001:db8::/32", z, 32, &n, why, sizeof(why)), 0);
	se_list_init(&l);
	add_entry(&l, "a", "z", "zeta.global", "240.0.0.2", NULL);
	add_entry(&l, "a", "y", "alpha.b.global alpha.a.global", "240.0.0.2 2001:db8::2 10.0.0.1", NULL);
	add_entry(&l, "a", "w", "*.ext.global", "240.0.0.2 255.1.2.3", NULL);
	add_entry(&l, "a", "o", "ab.global", "240.0.0.2 2001:db9::1", NULL);
	r = build(&l);
	x = ptr_index_build(r, z, n);
	assert_non_null(x);
	/* every name holding it, label by label from the left */
	assert_string_equal(ptr_of(x, "240.0.0.2", 32), "*.ext.global. ab.global. alpha.a.global. alpha.b.global. zeta.global.");
	assert_string_equal(ptr_of(x, "2001:db8::2", 128), "alpha.a.global. alpha.b.global.");
	assert_string_equal(ptr_of(x, "255.1.2.3", 32), "*.ext.global.");
	assert_string_equal(ptr_of(x, "240.0.0.3", 32), "0");
	assert_string_equal(ptr_of(x, "10.0.0.1", 32), "0");        /* outside the networks */
	assert_string_equal(ptr_of(x, "2001:db9::1", 128), "0");
	/* prefixes: empty non-terminals exist where an address lies below */
	assert_string_equal(ptr_of(x, "240.0.0.0", 24), "1");
	assert_string_equal(ptr_of(x, "240.0.0.0", 8), "1");
	assert_string_equal(ptr_of(x, "240.0.1.0", 24), "0");
	assert_string_equal(ptr_of(x, "241.0.0.0", 8), "0");
	assert_string_equal(ptr_of(x, "255.1.0.0", 16), "1");
	assert_string_equal(ptr_of(x, "2001:db8::", 32), "1");
	assert_string_equal(ptr_of(x, "2001:db8:1::", 48), "0");
	assert_int_equal(ptr_index_addresses(x), 3);
	ptr_index_free(x);
	/* no zones: nothing indexed */
	x = ptr_index_build(r, z, 0);
	assert_non_null(x);
	assert_int_equal(ptr_index_addresses(x), 0);
	assert_string_equal(ptr_of(x, "240.0.0.2", 32), "0");
	ptr_index_free(x);
	assert_string_equal(ptr_of(NULL, "240.0.0.2", 32), "0");
	registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports_valid),
		cmocka_unit_test(test_ports_invalid),
		cmocka_unit_test(test_srv_index),
		cmocka_unit_test(test_rev_zones),
		cmocka_unit_test(test_rev_names),
		cmocka_unit_test(test_ptr_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
