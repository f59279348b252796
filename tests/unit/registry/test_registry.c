/*
 * test_registry.c -- building snapshots from entries and looking names up:
 * address choice, union, wildcards, empty non-terminals, zones, diffs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "globaldns/registry.h"
#include "globaldns/wire.h"

/* An entry from a compact description; addresses via se_parse_addr. */
static void add_entry(struct se_list *l, const char *name, const char *hosts,
	const char *addrs, enum se_resolution res, const char *status)
{
	struct se_entry e;
	char *dup, *tok, *save;

	memset(&e, 0, sizeof(e));
	e.ns = strdup("ns");
	e.name = strdup(name);
	e.resolution = res;
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
	if (status) {
		e.status_addrs = calloc(1, sizeof(*e.status_addrs));
		assert_int_equal(se_parse_addr(status, &e.status_addrs[0].addr), 1);
		e.nstatus_addrs = 1;
	}
	assert_int_equal(se_list_push(l, &e), 0);
}

static struct registry *build(struct se_list *l, const char *zone,
	const char *deflt)
{
	static struct se_addr def;
	const char *zones[] = { zone };
	struct registry_conf c = { .zones = zones, .nzones = 1 };

	if (deflt) {
		assert_int_equal(se_parse_addr(deflt, &def), 1);
		c.defaults = &def;
		c.ndefaults = 1;
	}
	return registry_build(&c, l, 42);
}

static enum registry_match look(const struct registry *r, const char *name,
	struct registry_answer *a)
{
	struct dns_query q;
	uint8_t w[WIRE_MAXNAME];
	int len = wire_name_from_str(name, w), off = 0, n = 0;

	assert_true(len > 0);
	memset(&q, 0, sizeof(q));
	memcpy(q.qname, w, (size_t)len);
	memcpy(q.qname_lc, w, (size_t)len);
	wire_name_lower(q.qname_lc, (size_t)len);
	q.qname_len = (uint16_t)len;
	while (w[off]) {
		q.label_off[n++] = (uint8_t)off;
		off += w[off] + 1;
	}
	q.nlabels = (uint8_t)n;
	return registry_lookup(r, &q, a);
}

static void test_basic(void **state)
{
	struct se_list l;
	struct registry *r;
	struct registry_answer a;

	(void)state;
	se_list_init(&l);
	add_entry(&l, "httpbin", "httpbin.bar.global", "240.0.0.2", SE_RES_DNS, NULL);
	r = build(&l, "global.", NULL);
	assert_non_null(r);
	assert_int_equal(l.n, 0);               /* moved into the snapshot */
	assert_int_equal(registry_serial(r), 42);
	assert_int_equal(registry_names(r), 1);
	assert_int_equal(look(r, "httpbin.bar.global", &a), REG_NAME);
	assert_int_equal(a.nv4, 1);
	assert_int_equal(a.nv6, 0);
	assert_memory_equal(registry_answer_v4(&a, 0), "\xf0\x00\x00\x02", 4);
	assert_int_equal(look(r, "HTTPBIN.bar.global", &a), REG_NAME);
	/* empty non-terminal and apex exist without addresses */
	assert_int_equal(look(r, "bar.global", &a), REG_NAME);
	assert_int_equal(a.nv4 + a.nv6, 0);
	assert_int_equal(look(r, "global", &a), REG_NAME);
	assert_int_equal(look(r, "nothere.global", &a), REG_NXDOMAIN);
	assert_int_equal(look(r, "x.httpbin.bar.global", &a), REG_NXDOMAIN);
	registry_free(r);
}

static void count_names(void *arg, const char *name, const uint8_t (*v4)[4],
	size_t nv4, const uint8_t (*v6)[16], size_t nv6,
	const char *const *sources, size_t nsources)
{
	(void)name; (void)v4; (void)nv4; (void)v6; (void)nv6; (void)sources; (void)nsources;
	(*(int *)arg)++;
}

/* ns.dns.<zone> from the configuration: a name like the others, so
 * dns.<zone> is an empty non-terminal (RFC 8020); an entry for that host
 * wins; it is not a served ServiceEntry host (names, foreach, diff). */
static void test_ns_host(void **state)
{
	static const uint8_t v4[1][4] = { { 192, 0, 2, 53 } };
	static const uint8_t v6[1][16] = { { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x53 } };
	const char *zones[] = { "global.", "mesh." };
	struct registry_conf c = { .zones = zones, .nzones = 2,
		.ns_v4 = v4, .nns_v4 = 1, .ns_v6 = v6, .nns_v6 = 1 };
	struct se_list l;
	struct registry *r, *r2;
	struct registry_answer a;
	size_t added, removed, changed;
	int n = 0;

	(void)state;
	se_list_init(&l);
	add_entry(&l, "httpbin", "httpbin.bar.global", "240.0.0.2", SE_RES_DNS, NULL);
	add_entry(&l, "own", "ns.dns.mesh", "240.0.0.53", SE_RES_DNS, NULL);
	r = registry_build(&c, &l, 1);
	assert_non_null(r);
	assert_int_equal(look(r, "ns.dns.global", &a), REG_NAME);
	assert_int_equal(a.nv4, 1);
	assert_memory_equal(registry_answer_v4(&a, 0), v4[0], 4);
	assert_int_equal(a.nv6, 1);
	assert_memory_equal(registry_answer_v6(&a, 0), v6[0], 16);
	assert_int_equal(look(r, "dns.global", &a), REG_NAME);    /* ENT */
	assert_int_equal(a.nv4 + a.nv6, 0);
	assert_int_equal(look(r, "x.dns.global", &a), REG_NXDOMAIN);
	/* an entry names ns.dns.mesh: its addresses, not the configured ones */
	assert_int_equal(look(r, "ns.dns.mesh", &a), REG_NAME);
	assert_int_equal(a.nv4, 1);
	assert_int_equal(a.nv6, 0);
	assert_memory_equal(registry_answer_v4(&a, 0), "\xf0\x00\x00\x35", 4);
	/* served hosts: httpbin and the entry's ns.dns.mesh, not ns.dns.global */
	assert_int_equal(registry_names(r), 2);
	registry_foreach(r, count_names, &n);
	assert_int_equal(n, 2);
	se_list_init(&l);
	add_entry(&l, "httpbin", "httpbin.bar.global", "240.0.0.2", SE_RES_DNS, NULL);
	r2 = registry_build(&c, &l, 2);
	registry_diff(r, r2, &added, &removed, &changed);
	assert_int_equal(added, 0);
	assert_int_equal(removed, 1);           /* ns.dns.mesh's entry only */
	assert_int_equal(changed, 0);
	assert_int_equal(look(r2, "ns.dns.mesh", &a), REG_NAME);  /* back to the configured */
	assert_memory_equal(registry_answer_v4(&a, 0), v4[0], 4);
	registry_free(r);
	registry_free(r2);
	/* without addresses there is no ns.dns name */
	se_list_init(&l);
	c.nns_v4 = c.nns_v6 = 0;
	r = registry_build(&c, &l, 3);
	assert_int_equal(look(r, "ns.dns.global", &a), REG_NXDOMAIN);
	assert_int_equal(look(r, "dns.global", &a), REG_NXDOMAIN);
	registry_free(r);
}

static void test_union_and_order(void **state)
{
	struct se_list l;
	struct registry *r;
	struct registry_answer a;

	(void)state;
	se_list_init(&l);
	add_entry(&l, "b", "svc.global", "240.0.0.9 2001:db8::1 240.0.0.3", SE_RES_STATIC, NULL);
	add_entry(&l, "a", "svc.global", "240.0.0.3 240.0.0.1/32 2001:db8::1/128", SE_RES_STATIC, NULL);
	r = build(&l, "global.", NULL);
	assert_int_equal(look(r, "svc.global", &a), REG_NAME);
	assert_int_equal(a.nv4, 3);
	assert_memory_equal(registry_answer_v4(&a, 0), "\xf0\x00\x00\x01", 4);
	assert_memory_equal(registry_answer_v4(&a, 1), "\xf0\x00\x00\x03", 4);
	assert_memory_equal(registry_answer_v4(&a, 2), "\xf0\x00\x00\x09", 4);
	assert_int_equal(a.nv6, 1);
	registry_free(r);
}

static void test_fallbacks(void **state)
{
	struct se_list l;
	struct registry *r;
	struct registry_answer a;

	(void)state;
	se_list_init(&l);
	/* no spec address, DNS resolution: status VIP */
	add_entry(&l, "s", "status.global", "", SE_RES_DNS, "240.240.0.5");
	/* no address at all: default_address */
	add_entry(&l, "d", "default.global", "", SE_RES_DNS, NULL);
	/* NONE: never status or default */
	add_entry(&l, "n", "none.global", "", SE_RES_NONE, "240.240.0.6");
	/* NONE with explicit addresses is served */
	add_entry(&l, "n2", "none2.global", "240.0.0.7", SE_RES_NONE, NULL);
	r = build(&l, "global.", "240.0.0.1");
	assert_int_equal(look(r, "status.global", &a), REG_NAME);
	assert_memory_equal(registry_answer_v4(&a, 0), "\xf0\xf0\x00\x05", 4);
	assert_int_equal(look(r, "default.global", &a), REG_NAME);
	assert_memory_equal(registry_answer_v4(&a, 0), "\xf0\x00\x00\x01", 4);
	assert_int_equal(look(r, "none.global", &a), REG_NXDOMAIN);
	assert_int_equal(look(r, "none2.global", &a), REG_NAME);
	assert_int_equal(a.nv4, 1);
	registry_free(r);
}

static void test_wildcards(void **state)
{
	struct se_list l;
	struct registry *r;
	struct registry_answer a;

	(void)state;
	se_list_init(&l);
	add_entry(&l, "w1", "*.ext.global", "240.0.1.1", SE_RES_STATIC, NULL);
	add_entry(&l, "w2", "*.deep.ext.global", "240.0.1.2", SE_RES_STATIC, NULL);
	add_entry(&l, "x", "exact.ext.global", "240.0.1.3", SE_RES_STATIC, NULL);
	add_entry(&l, "all", "*.global", "240.0.1.4", SE_RES_STATIC, NULL);
	r = build(&l, "global.", NULL);
	assert_int_equal(look(r, "a.ext.global", &a), REG_WILDCARD);
	assert_memory_equal(registry_answer_v4(&a, 0), "\xf0\x00\x01\x01", 4);
	assert_int_equal(look(r, "a.b.c.ext.global", &a), REG_WILDCARD);
	assert_memory_equal(registry_answer_v4(&a, 0), "\xf0\x00\x01\x01", 4);
	assert_int_equal(look(r, "x.deep.ext.global", &a), REG_WILDCARD);
	assert_memory_equal(registry_answer_v4(&a, 0), "\xf0\x00\x01\x02", 4);
	assert_int_equal(look(r, "exact.ext.global", &a), REG_NAME);
	assert_memory_equal(registry_answer_v4(&a, 0), "\xf0\x00\x01\x03", 4);
	/* the base exists (NODATA), it is not covered by its wildcard */
	assert_int_equal(look(r, "ext.global", &a), REG_NAME);
	assert_int_equal(a.nv4, 0);
	assert_int_equal(look(r, "other.global", &a), REG_WILDCARD);
	assert_memory_equal(registry_answer_v4(&a, 0), "\xf0\x00\x01\x04", 4);
	registry_free(r);
}

static void test_zone_filter_and_diff(void **state)
{
	struct se_list l, l2;
	struct registry *r, *r2;
	struct registry_answer a;
	size_t added, removed, changed;

	(void)state;
	se_list_init(&l);
	add_entry(&l, "in", "a.global b.global", "240.0.0.1", SE_RES_STATIC, NULL);
	add_entry(&l, "out", "a.example.com", "240.0.0.2", SE_RES_STATIC, NULL);
	add_entry(&l, "x", "xglobal", "240.0.0.3", SE_RES_STATIC, NULL);
	r = build(&l, "global.", NULL);
	assert_int_equal(registry_names(r), 2);
	assert_int_equal(look(r, "a.example.com", &a), REG_NXDOMAIN);
	registry_diff(NULL, r, &added, &removed, &changed);
	assert_int_equal(added, 2);
	se_list_init(&l2);
	add_entry(&l2, "in", "a.global c.global", "240.0.0.9", SE_RES_STATIC, NULL);
	r2 = build(&l2, "global.", NULL);
	registry_diff(r, r2, &added, &removed, &changed);
	assert_int_equal(added, 1);
	assert_int_equal(removed, 1);
	assert_int_equal(changed, 1);
	registry_free(r);
	registry_free(r2);
}

static void test_many(void **state)
{
	struct se_list l;
	struct registry *r;
	struct registry_answer a;
	char host[64], addr[32];

	(void)state;
	se_list_init(&l);
	for (int i = 0; i < 5000; i++) {
		snprintf(host, sizeof(host), "svc-%05d.ns%d.global", i, i % 7);
		snprintf(addr, sizeof(addr), "240.1.%d.%d", i / 256, i % 256);
		add_entry(&l, host, host, addr, SE_RES_STATIC, NULL);
	}
	r = build(&l, "global.", NULL);
	assert_int_equal(registry_names(r), 5000);
	for (int i = 0; i < 5000; i += 97) {
		snprintf(host, sizeof(host), "svc-%05d.ns%d.global", i, i % 7);
		assert_int_equal(look(r, host, &a), REG_NAME);
		assert_int_equal(registry_answer_v4(&a, 0)[2], i / 256);
		assert_int_equal(registry_answer_v4(&a, 0)[3], i % 256);
	}
	assert_int_equal(look(r, "ns3.global", &a), REG_NAME);
	registry_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_ns_host),
		cmocka_unit_test(test_union_and_order),
		cmocka_unit_test(test_fallbacks),
		cmocka_unit_test(test_wildcards),
		cmocka_unit_test(test_zone_filter_and_diff),
		cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
