/*
 * test_acl.c -- the `acl` directive without sockets: its rules (CoreDNS's
 * order and semantics) for clients IPv4, IPv6 and IPv4-mapped, types,
 * zones, "*", its configuration errors with FILE:LINE, and the acl of the
 * shipped Kubernetes Corefile (packaging/kubernetes/base/configmap.yaml): cluster
 * networks pass, any other source is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin_test.h"

static char err[1024];

/* What acl { RULES } does with NAME TYPE from SRC: "next", "drop",
 * "REFUSED", "NOERROR" (+ " ede N" when it added one). */
static const char *verdict_in(const char *zone, const char *rules,
	const char *name, uint16_t type, const char *src)
{
	static char out[1100];
	static struct pt_query t;
	struct corefile *cf;
	void *st = pt_setup(zone, rules, &cf, err, sizeof(err));
	enum plugin_result r;

	if (!st) {
		corefile_free(cf);
		snprintf(out, sizeof(out), "error: %s", err);
		return out;
	}
	pt_query(&t, name, type, src, 0, 1);
	r = pt_ops("acl")->serve(st, &t.req);
	if (r == PLUGIN_NEXT)
		snprintf(out, sizeof(out), "next");
	else if (t.req.resp_len == 0)
		snprintf(out, sizeof(out), "drop");
	else {
		const uint8_t *e = t.resp + t.req.resp_len - 6;
		snprintf(out, sizeof(out), "%s", dns_rcode_name(t.resp[3] & 0xF));
		if (t.req.resp_len > WIRE_HDR + 6 && wire_get16(e) == 15 && wire_get16(e + 2) == 2)
			snprintf(out + strlen(out), sizeof(out) - strlen(out), " ede %u", wire_get16(e + 4));
	}
	pt_ops("acl")->free(st);
	corefile_free(cf);
	return out;
}

static const char *verdict(const char *rules, const char *name, uint16_t type,
	const char *src)
{
	return verdict_in(".", rules, name, type, src);
}

static void test_actions(void **s)
{
	const char *rules = "acl {\n allow net 192.168.1.0/24\n block type AAAA net 192.168.0.0/16\n"
		" filter type TXT MX net 192.168.0.0/16\n drop net 192.0.2.0/24\n block net 192.168.0.0/16\n}";

	(void)s;
	assert_string_equal(verdict(rules, "a.example.", DNS_TYPE_A, "192.168.1.7"), "next");
	assert_string_equal(verdict(rules, "a.example.", DNS_TYPE_AAAA, "192.168.1.7"), "next");
	assert_string_equal(verdict(rules, "a.example.", DNS_TYPE_AAAA, "192.168.2.7"), "REFUSED ede 15");
	assert_string_equal(verdict(rules, "a.example.", 16, "192.168.2.7"), "NOERROR ede 17");
	assert_string_equal(verdict(rules, "a.example.", 15, "192.168.2.7"), "NOERROR ede 17");
	assert_string_equal(verdict(rules, "a.example.", DNS_TYPE_A, "192.168.2.7"), "REFUSED ede 15");
	assert_string_equal(verdict(rules, "a.example.", DNS_TYPE_A, "192.0.2.200"), "drop");
	assert_string_equal(verdict(rules, "a.example.", DNS_TYPE_A, "10.1.1.1"), "next");
}

static void test_defaults_and_stars(void **s)
{
	(void)s;
	/* no type/net: everything; "*" likewise */
	assert_string_equal(verdict("acl {\n block\n}", "a.", DNS_TYPE_A, "10.0.0.1"), "REFUSED ede 15");
	assert_string_equal(verdict("acl {\n block type * net *\n}", "a.", DNS_TYPE_AAAA, "2001:db8::1"),
		"REFUSED ede 15");
	assert_string_equal(verdict("acl {\n block net * type A\n}", "a.", DNS_TYPE_A, "10.0.0.1"),
		"REFUSED ede 15");
	assert_string_equal(verdict("acl {\n block net * type A\n}", "a.", DNS_TYPE_AAAA, "10.0.0.1"), "next");
	/* no rules: allowed */
	assert_string_equal(verdict("acl", "a.", DNS_TYPE_A, "10.0.0.1"), "next");
	/* a single address is /32 or /128; host bits of a CIDR are ignored */
	assert_string_equal(verdict("acl {\n block net 10.0.0.1\n}", "a.", DNS_TYPE_A, "10.0.0.2"), "next");
	assert_string_equal(verdict("acl {\n block net 10.0.0.1/8\n}", "a.", DNS_TYPE_A, "10.200.0.2"),
		"REFUSED ede 15");
	assert_string_equal(verdict("acl {\n block net 10.0.0.0/12\n}", "a.", DNS_TYPE_A, "10.16.0.1"), "next");
	assert_string_equal(verdict("acl {\n block net 10.0.0.0/12\n}", "a.", DNS_TYPE_A, "10.15.0.1"),
		"REFUSED ede 15");
}

static void test_families(void **s)
{
	const char *rules = "acl {\n allow net 2001:db8::/32 10.0.0.0/8\n block\n}";

	(void)s;
	assert_string_equal(verdict(rules, "a.", DNS_TYPE_A, "2001:db8:1::5"), "next");
	assert_string_equal(verdict(rules, "a.", DNS_TYPE_A, "2001:db9::5"), "REFUSED ede 15");
	/* an IPv4-mapped IPv6 client is an IPv4 client */
	assert_string_equal(verdict(rules, "a.", DNS_TYPE_A, "::ffff:10.1.2.3"), "next");
	assert_string_equal(verdict(rules, "a.", DNS_TYPE_A, "::ffff:11.1.2.3"), "REFUSED ede 15");
	/* an IPv4 network never matches an IPv6 client */
	assert_string_equal(verdict("acl {\n block net 0.0.0.0/0\n}", "a.", DNS_TYPE_A, "::1"), "next");
}

static void test_zones(void **s)
{
	(void)s;
	assert_string_equal(verdict("acl a.example.org {\n block net 192.168.1.0/24\n}",
		"x.a.example.org.", DNS_TYPE_A, "192.168.1.1"), "REFUSED ede 15");
	assert_string_equal(verdict("acl a.example.org {\n block net 192.168.1.0/24\n}",
		"b.example.org.", DNS_TYPE_A, "192.168.1.1"), "next");
	/* without zones: the block's */
	assert_string_equal(verdict_in("example.org.", "acl {\n block\n}", "b.example.org.", DNS_TYPE_A,
		"192.168.1.1"), "REFUSED ede 15");
	assert_string_equal(verdict_in("example.org.", "acl {\n block\n}", "b.example.com.", DNS_TYPE_A,
		"192.168.1.1"), "next");
}

static void test_no_edns_no_opt(void **s)
{
	static struct pt_query t;
	struct corefile *cf;
	void *st = pt_setup(".", "acl {\n block\n}", &cf, err, sizeof(err));

	(void)s;
	assert_non_null(st);
	pt_query(&t, "a.", DNS_TYPE_A, "10.0.0.1", 0, 0);
	assert_int_equal(pt_ops("acl")->serve(st, &t.req), PLUGIN_DONE);
	assert_int_equal(wire_get16(t.resp + 10), 0);   /* ARCOUNT: no OPT */
	pt_ops("acl")->free(st);
	corefile_free(cf);
}

static void test_errors(void **s)
{
	(void)s;
	assert_string_equal(verdict("acl {\n permit net 10.0.0.0/8\n}", "a.", 1, "10.0.0.1"),
		"error: Corefile:3: acl: unexpected token \"permit\"; expect 'allow', 'block', 'filter' or 'drop'");
	assert_string_equal(verdict("acl {\n block net 10.0.0.0/33\n}", "a.", 1, "10.0.0.1"),
		"error: Corefile:3: acl: illegal CIDR notation \"10.0.0.0/33\"");
	assert_string_equal(verdict("acl {\n block net\n}", "a.", 1, "10.0.0.1"),
		"error: Corefile:3: acl: no token specified in \"net\" section");
	assert_string_equal(verdict("acl {\n block type BOGUS\n}", "a.", 1, "10.0.0.1"),
		"error: Corefile:3: acl: unexpected token \"BOGUS\"; expect legal QTYPE");
	assert_string_equal(verdict("acl {\n block 10.0.0.0/8\n}", "a.", 1, "10.0.0.1"),
		"error: Corefile:3: acl: unexpected token \"10.0.0.0/8\"; expect 'type' or 'net'");
}

/* The acl block of the Corefile in packaging/kubernetes/base/configmap.yaml. */
static const char *shipped_acl(void)
{
	static char out[2048];
	const char *top = getenv("TOP_SRCDIR");
	char path[1024], line[512];
	size_t o = 0;
	int on = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/packaging/kubernetes/base/configmap.yaml", top ? top : ".");
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *p = line + strspn(line, " ");
		if (strncmp(p, "acl ", 4) == 0)
			on = 1;
		if (on && o + strlen(p) < sizeof(out))
			o += (size_t)snprintf(out + o, sizeof(out) - o, "%s", p);
		if (on && p[0] == '}')
			break;
	}
	fclose(f);
	assert_true(on);
	return out;
}

static void test_shipped_corefile(void **s)
{
	const char *acl = shipped_acl();
	static const char *const cluster[] = {
		"10.244.1.5", "172.20.0.9", "192.168.3.4", "100.64.0.10", "127.0.0.1",
		"fd00::1234", "::1", "::ffff:10.0.0.1",
	};
	static const char *const outside[] = {
		"8.8.8.8", "203.0.113.9", "172.32.0.1", "2001:db8::1", "::ffff:198.51.100.1",
	};

	(void)s;
	for (size_t i = 0; i < sizeof(cluster) / sizeof(*cluster); i++) {
		assert_string_equal(verdict(acl, "httpbin.bar.global.", DNS_TYPE_A, cluster[i]), "next");
		assert_string_equal(verdict(acl, "example.com.", DNS_TYPE_A, cluster[i]), "next");
	}
	/* never an open resolver: not forwarded, not answered */
	for (size_t i = 0; i < sizeof(outside) / sizeof(*outside); i++) {
		assert_string_equal(verdict(acl, "example.com.", DNS_TYPE_A, outside[i]), "REFUSED ede 15");
		assert_string_equal(verdict(acl, "httpbin.bar.global.", DNS_TYPE_A, outside[i]), "REFUSED ede 15");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_defaults_and_stars),
		cmocka_unit_test(test_families),
		cmocka_unit_test(test_zones),
		cmocka_unit_test(test_no_edns_no_opt),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_shipped_corefile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
