/*
 * test_registry.c -- building snapshots from entries and looking names up:
 * address choice, union, wildcards, empty non-terminals, zones, diffs;
 * the compact snapshot (records in wire form, what introspection keeps)
 * and the build thread.
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
#include <event2/event.h>

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

/* The records are rendered as they go on the wire: owner a pointer to
 * the question, type, class IN, the conf's TTL, rdlength, address. */
static void test_rendered_records(void **state)
{
	const char *zones[] = { "global." };
	struct registry_conf c = { .zones = zones, .nzones = 1, .ttl = 300 };
	struct se_list l;
	struct registry *r;
	struct registry_answer a;

	(void)state;
	se_list_init(&l);
	add_entry(&l, "one", "h.global", "240.0.0.7 2001:db8::5", SE_RES_STATIC, NULL);
	add_entry(&l, "two", "h.global", "240.0.0.3", SE_RES_STATIC, NULL);
	r = registry_build(&c, &l, 1);
	assert_non_null(r);
	assert_int_equal(look(r, "h.global", &a), REG_NAME);
	assert_int_equal(a.nv4, 2);
	assert_int_equal(a.nv6, 1);
	assert_memory_equal(a.a_rrs, "\xc0\x0c\0\x01\0\x01\0\0\x01\x2c\0\x04\xf0\0\0\x03"
		"\xc0\x0c\0\x01\0\x01\0\0\x01\x2c\0\x04\xf0\0\0\x07", 2 * REGISTRY_RR_A);
	assert_memory_equal(a.aaaa_rrs, "\xc0\x0c\0\x1c\0\x01\0\0\x01\x2c\0\x10"
		"\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x05", REGISTRY_RR_AAAA);
	assert_memory_equal(registry_answer_v6(&a, 0), a.aaaa_rrs + 12, 16);
	registry_free(r);
}

struct seen {
	int names;
	char sources[256];
	char addrs[256];
};

static void collect_names(void *arg, const char *name, const uint8_t (*v4)[4],
	size_t nv4, const uint8_t (*v6)[16], size_t nv6,
	const char *const *sources, size_t nsources)
{
	struct seen *s = arg;
	char text[64];

	s->names++;
	if (strcmp(name, "h.global.") != 0)
		return;
	for (size_t i = 0; i < nsources; i++)
		snprintf(s->sources + strlen(s->sources), sizeof(s->sources) - strlen(s->sources),
			"%s;", sources[i]);
	for (size_t i = 0; i < nv4; i++)
		snprintf(s->addrs + strlen(s->addrs), sizeof(s->addrs) - strlen(s->addrs), "%s;",
			inet_ntop(AF_INET, v4[i], text, sizeof(text)));
	for (size_t i = 0; i < nv6; i++)
		snprintf(s->addrs + strlen(s->addrs), sizeof(s->addrs) - strlen(s->addrs), "%s;",
			inet_ntop(AF_INET6, v6[i], text, sizeof(text)));
}

/* What introspection needs survives the list (which the build frees):
 * each name's addresses and source entries, the rejects, the counts. */
static void test_kept_for_introspection(void **state)
{
	struct se_list l;
	struct registry *r;
	struct registry_answer a;
	struct seen s = { 0 };
	const char *ns, *name, *reason;

	(void)state;
	se_list_init(&l);
	add_entry(&l, "one", "h.global x.y.global", "240.0.0.7 2001:db8::5", SE_RES_STATIC, NULL);
	add_entry(&l, "two", "h.global *.w.global", "240.0.0.3", SE_RES_STATIC, NULL);
	add_entry(&l, "none", "n.global", "", SE_RES_NONE, NULL);
	assert_int_equal(se_list_reject(&l, "bad", "e1", "spec.hosts[0]: not a string"), 0);
	assert_int_equal(se_list_reject(&l, NULL, NULL, "metadata.name: missing"), 0);
	r = build(&l, "global.", NULL);
	assert_non_null(r);
	assert_int_equal(l.n + l.nrejects, 0);          /* freed by the build */
	assert_null(l.items);
	assert_int_equal(registry_entries(r), 3);
	assert_int_equal(registry_names(r), 3);         /* h, x.y, *.w */
	/* apex, h, y (ENT), x.y, w (wildcard base), *.w */
	assert_int_equal(registry_nodes(r), 6);
	assert_true(registry_bytes(r) > 0);
	assert_int_equal(registry_rejects(r), 2);
	registry_reject(r, 0, &ns, &name, &reason);
	assert_string_equal(ns, "bad");
	assert_string_equal(name, "e1");
	assert_string_equal(reason, "spec.hosts[0]: not a string");
	registry_reject(r, 1, &ns, &name, &reason);
	assert_null(ns);
	assert_null(name);
	assert_string_equal(reason, "metadata.name: missing");
	registry_foreach(r, collect_names, &s);
	assert_int_equal(s.names, 3);
	/* sources in the order of their first (sorted) address */
	assert_string_equal(s.sources, "ns/two;ns/one;");
	assert_string_equal(s.addrs, "240.0.0.3;240.0.0.7;2001:db8::5;");
	assert_int_equal(look(r, "y.global", &a), REG_NAME);   /* ENT */
	assert_int_equal(a.nv4 + a.nv6, 0);
	assert_int_equal(look(r, "q.r.w.global", &a), REG_WILDCARD);
	assert_int_equal(a.nv4, 1);
	assert_memory_equal(registry_answer_v4(&a, 0), "\xf0\0\0\x03", 4);
	assert_int_equal(look(r, "w.global", &a), REG_NAME);
	assert_int_equal(look(r, "n.global", &a), REG_NXDOMAIN);
	registry_free(r);
}

struct delivered {
	struct registry *r;
	int calls;
};

static void on_built(void *arg, struct registry *r)
{
	struct delivered *d = arg;

	registry_free(d->r);
	d->r = r;
	d->calls++;
}

/* The builder delivers on the loop; lists submitted while one waits are
 * coalesced, and the last one submitted is what is delivered last. */
static void test_builder(void **state)
{
	const char *zones[] = { "global." };
	struct registry_conf c = { .zones = zones, .nzones = 1, .ttl = 30 };
	struct event_base *base = event_base_new();
	struct registry_builder *b;
	struct delivered d = { 0 };
	struct registry_answer a;
	char host[64];

	(void)state;
	assert_non_null(base);
	b = registry_builder_new(base, &c, on_built, &d);
	assert_non_null(b);
	for (int i = 0; i < 5; i++) {
		struct se_list l;
		se_list_init(&l);
		snprintf(host, sizeof(host), "v%d.global", i);
		add_entry(&l, "e", host, "240.0.0.1", SE_RES_STATIC, NULL);
		assert_int_equal(registry_builder_submit(b, &l), 0);
		assert_int_equal(l.n, 0);
	}
	for (int i = 0; i < 200; i++) {         /* at most 2 s */
		struct timeval tv = { 0, 10000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		if (d.r && look(d.r, "v4.global", &a) == REG_NAME)
			break;
	}
	assert_non_null(d.r);
	assert_true(d.calls >= 1 && d.calls <= 5);
	assert_int_equal(look(d.r, "v4.global", &a), REG_NAME);
	assert_int_equal(registry_names(d.r), 1);
	assert_int_equal(registry_builder_trim(b), 0);          /* its thread runs */
	assert_int_equal(registry_builder_trim(NULL), -1);
	registry_builder_free(b);
	registry_free(d.r);
	event_base_free(base);
}

static int attach_count(void *arg, const struct se_list *entries,
	struct registry *r)
{
	size_t *n;

	if (arg)
		return -1;
	if (!(n = malloc(sizeof(*n))))
		return -1;
	*n = entries->n;
	registry_set_extra(r, n, free);
	return 0;
}

/* conf->attach sees the entries before the build frees them and hangs
 * its result on the snapshot (freed with it); its failure fails the
 * build and leaves the entries to the caller. */
static void test_attach(void **state)
{
	const char *zones[] = { "global." };
	struct registry_conf c = { .zones = zones, .nzones = 1, .attach = attach_count };
	struct se_list l;
	struct registry *r;
	int fail = 1;

	(void)state;
	se_list_init(&l);
	add_entry(&l, "a", "a.global", "240.0.0.1", SE_RES_STATIC, NULL);
	add_entry(&l, "b", "b.global", "240.0.0.2", SE_RES_STATIC, NULL);
	r = registry_build(&c, &l, 1);
	assert_non_null(r);
	assert_non_null(registry_extra(r));
	assert_int_equal(*(size_t *)registry_extra(r), 2);
	assert_int_equal(l.n, 0);
	registry_free(r);
	add_entry(&l, "a", "a.global", "240.0.0.1", SE_RES_STATIC, NULL);
	c.attach_arg = &fail;
	assert_null(registry_build(&c, &l, 1));
	assert_int_equal(l.n, 1);
	se_list_free(&l);
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
		cmocka_unit_test(test_rendered_records),
		cmocka_unit_test(test_kept_for_introspection),
		cmocka_unit_test(test_builder),
		cmocka_unit_test(test_attach),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
