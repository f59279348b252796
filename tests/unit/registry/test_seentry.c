/*
 * test_seentry.c -- ServiceEntry decoding and Istio's validation rules:
 * hosts, addresses, resolution, wrong JSON types, status.addresses, the
 * se_list helpers and se_list_add_json's kind/apiVersion dispatch.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "globaldns/log.h"
#include "globaldns/seentry.h"

#define assert_contains(hay, needle) do { \
	const char *h_ = (hay), *n_ = (needle); \
	if (h_ == NULL || strstr(h_, n_) == NULL) \
		fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); \
} while (0)

/* Decode json, which must parse, into e; returns se_from_json's result. */
static int decode(const char *json, struct se_entry *e, char *why, size_t whylen)
{
	cJSON *obj = cJSON_Parse(json);
	int rc;

	if (obj == NULL)
		fail_msg("test JSON does not parse: %s", json);
	rc = se_from_json(obj, e, why, whylen);
	cJSON_Delete(obj);
	return rc;
}

/* Expect json to be rejected with a reason containing want. */
static void expect_invalid(const char *json, const char *want)
{
	struct se_entry e;
	char why[256];

	if (decode(json, &e, why, sizeof(why)) == 0) {
		se_entry_clear(&e);
		fail_msg("accepted: %s", json);
	}
	assert_int_equal(errno, EINVAL);
	assert_contains(why, want);
	/* A failed decode leaves nothing behind. */
	assert_null(e.name);
	assert_null(e.hosts);
	assert_int_equal(e.nhosts, 0);
}

#define SE(spec) "{\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},\"spec\":" spec "}"

static void test_host_valid(void **state)
{
	static const char *const good[] = {
		"a", "httpbin.bar.global", "*.global", "*.example.com",
		"foo-bar.example.com", "a1.b2.c3", "example.com.", "*.global.",
		"API.Example.COM", "x.y-z.io", "0a.1b", "a.b.c1",
		/* 63-character label */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
		"123.example.com",
	};
	static const struct { const char *host, *why; } bad[] = {
		{ "", "empty host" },
		{ "*", "\"*\" alone" },
		{ "*.", "\"*\" alone" },
		{ "*foo.global", "whole first label" },
		{ "foo*.global", "whole first label" },
		{ "a.*.global", "whole first label" },
		{ "a.global.*", "whole first label" },
		{ "**.global", "whole first label" },
		{ "a..b", "empty label" },
		{ ".a", "empty label" },
		{ ".", "empty label" },
		{ "a.b..", "empty label" },
		{ "-a.b", "starts or ends with '-'" },
		{ "a-.b", "starts or ends with '-'" },
		{ "a_b.c", "invalid character" },
		{ "a b.c", "invalid character" },
		{ "caf\xc3\xa9.com", "invalid character" },
		{ "1.2.3.4", "all digits" },
		{ "example.123", "all digits" },
		{ "example.123.", "all digits" },
		{ "*.123", "all digits" },
		{ "8080", "all digits" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com",
		  "longer than 63" },
	};
	char why[256], name[300];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!se_host_valid(good[i], why, sizeof(why)))
			fail_msg("\"%s\" rejected: %s", good[i], why);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		if (se_host_valid(bad[i].host, why, sizeof(why)))
			fail_msg("\"%s\" accepted", bad[i].host);
		assert_contains(why, bad[i].why);
	}
	assert_false(se_host_valid(NULL, why, sizeof(why)));
	assert_false(se_host_valid("*", NULL, 0));

	/* 255 characters (four 63-character labels and dots) is the limit. */
	memset(name, 'a', 255);
	name[63] = name[127] = name[191] = '.';
	name[255] = '\0';
	assert_true(se_host_valid(name, why, sizeof(why)));
	name[255] = 'a';
	name[256] = '\0';
	assert_false(se_host_valid(name, why, sizeof(why)));
	assert_contains(why, "longer than 255");
	/* 255 characters plus the trailing dot is 256. */
	name[255] = '.';
	assert_false(se_host_valid(name, why, sizeof(why)));
}

static void test_host_stored_lowercase(void **state)
{
	struct se_entry e;
	char why[256];

	(void)state;
	assert_int_equal(decode(SE("{\"hosts\":[\"HttpBin.Bar.GLOBAL.\","
		"\"*.Example.com\"]}"), &e, why, sizeof(why)), 0);
	assert_int_equal(e.nhosts, 2);
	assert_string_equal(e.hosts[0], "httpbin.bar.global");
	assert_string_equal(e.hosts[1], "*.example.com");
	se_entry_clear(&e);

	expect_invalid(SE("{\"hosts\":[\"ok.example.com\",\"*foo.global\"]}"),
		"spec.hosts[1]: \"*foo.global\": ");
	expect_invalid(SE("{\"hosts\":[\"*\"]}"), "spec.hosts[0]: \"*\"");
	expect_invalid(SE("{\"hosts\":[\"a.*.global\"]}"), "spec.hosts[0]");
	expect_invalid(SE("{\"hosts\":[\"10.0.0.1\"]}"), "all digits");
}

static void test_hosts_count(void **state)
{
	char *json, *p;
	size_t i, cap = 300 * 24 + 128;
	struct se_entry e;
	char why[256];

	(void)state;
	expect_invalid(SE("{\"hosts\":[]}"), "spec.hosts: empty");
	expect_invalid(SE("{}"), "spec.hosts: missing");
	expect_invalid(SE("{\"hosts\":null}"), "spec.hosts: missing");

	json = malloc(cap);
	assert_non_null(json);
	for (int n = 256; n <= 257; n++) {
		p = json + sprintf(json, "{\"metadata\":{\"name\":\"n\"},\"spec\":{\"hosts\":[");
		for (i = 0; i < (size_t)n; i++)
			p += sprintf(p, "%s\"h%zu.example.com\"", i ? "," : "", i);
		strcpy(p, "]}}");
		if (n == 256) {
			assert_int_equal(decode(json, &e, why, sizeof(why)), 0);
			assert_int_equal(e.nhosts, 256);
			assert_string_equal(e.hosts[255], "h255.example.com");
			se_entry_clear(&e);
		} else {
			expect_invalid(json, "spec.hosts: more than 256 hosts");
		}
	}
	free(json);
}

static void test_parse_addr(void **state)
{
	static const uint8_t v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	struct se_addr a;

	(void)state;
	assert_int_equal(se_parse_addr("240.0.0.2", &a), 1);
	assert_int_equal(a.family, AF_INET);
	assert_memory_equal(a.addr, "\xf0\x00\x00\x02", 4);

	assert_int_equal(se_parse_addr("2001:db8::1", &a), 1);
	assert_int_equal(a.family, AF_INET6);
	assert_memory_equal(a.addr, v6, 16);

	memset(&a, 0, sizeof(a));
	assert_int_equal(se_parse_addr("10.1.2.3/32", &a), 1);
	assert_int_equal(a.family, AF_INET);
	assert_memory_equal(a.addr, "\x0a\x01\x02\x03", 4);
	assert_int_equal(se_parse_addr("2001:db8::1/128", &a), 1);
	assert_int_equal(a.family, AF_INET6);
	assert_memory_equal(a.addr, v6, 16);

	/* Valid CIDRs wider than one address: skipped, *a untouched. */
	memset(&a, 0x5a, sizeof(a));
	assert_int_equal(se_parse_addr("10.0.0.0/24", &a), 0);
	assert_int_equal(a.family, 0x5a5a5a5a);
	assert_int_equal(se_parse_addr("10.0.0.1/24", &a), 0);
	assert_int_equal(se_parse_addr("0.0.0.0/0", &a), 0);
	assert_int_equal(se_parse_addr("2001:db8::/64", &a), 0);
	assert_int_equal(se_parse_addr("::/0", NULL), 0);

	/* Junk. */
	assert_int_equal(se_parse_addr("2001:db8::/129", &a), -1);
	assert_int_equal(se_parse_addr("10.0.0.0/33", &a), -1);
	assert_int_equal(se_parse_addr("10.0.0.0/", &a), -1);
	assert_int_equal(se_parse_addr("10.0.0.0/-1", &a), -1);
	assert_int_equal(se_parse_addr("10.0.0.0/+8", &a), -1);
	assert_int_equal(se_parse_addr("10.0.0.0/032", &a), -1);
	assert_int_equal(se_parse_addr("10.0.0.0/8x", &a), -1);
	assert_int_equal(se_parse_addr("10.0.0.0/99999999999999999999", &a), -1);
	assert_int_equal(se_parse_addr("/32", &a), -1);
	assert_int_equal(se_parse_addr("", &a), -1);
	assert_int_equal(se_parse_addr(NULL, &a), -1);
	assert_int_equal(se_parse_addr("not-an-ip", &a), -1);
	assert_int_equal(se_parse_addr("example.com", &a), -1);
	assert_int_equal(se_parse_addr("256.0.0.1", &a), -1);
	assert_int_equal(se_parse_addr("010.0.0.1", &a), -1);
	assert_int_equal(se_parse_addr("1.2.3", &a), -1);
	assert_int_equal(se_parse_addr(" 1.2.3.4", &a), -1);
	assert_int_equal(se_parse_addr("1.2.3.4 ", &a), -1);
	assert_int_equal(se_parse_addr("fe80::1%eth0", &a), -1);
	assert_int_equal(se_parse_addr("1.2.3.4/32/32", &a), -1);
	assert_int_equal(se_parse_addr(
		"0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0001", &a), -1);
}

static void test_addresses(void **state)
{
	struct se_entry e;
	char why[256];

	(void)state;
	assert_int_equal(decode(SE("{\"hosts\":[\"a.b\"],\"addresses\":["
		"\"240.0.0.2\",\"2001:db8::1\",\"10.0.0.0/24\",\"10.0.0.9/32\","
		"\"2001:db8::/64\",\"2001:db8::9/128\",\"240.0.0.2\"]}"),
		&e, why, sizeof(why)), 0);
	/* The /24 and /64 are skipped; the duplicate is kept. */
	assert_int_equal(e.naddrs, 5);
	assert_int_equal(e.addrs[0].family, AF_INET);
	assert_int_equal(e.addrs[1].family, AF_INET6);
	assert_memory_equal(e.addrs[2].addr, "\x0a\x00\x00\x09", 4);
	assert_int_equal(e.addrs[3].family, AF_INET6);
	assert_int_equal(e.addrs[3].addr[15], 9);
	assert_memory_equal(e.addrs[4].addr, "\xf0\x00\x00\x02", 4);
	se_entry_clear(&e);

	/* Only wide CIDRs: no addresses, still valid. */
	assert_int_equal(decode(SE("{\"hosts\":[\"a.b\"],\"addresses\":"
		"[\"10.0.0.0/8\"]}"), &e, why, sizeof(why)), 0);
	assert_int_equal(e.naddrs, 0);
	se_entry_clear(&e);

	assert_int_equal(decode(SE("{\"hosts\":[\"a.b\"],\"addresses\":[]}"),
		&e, why, sizeof(why)), 0);
	assert_int_equal(e.naddrs, 0);
	assert_null(e.addrs);
	se_entry_clear(&e);

	expect_invalid(SE("{\"hosts\":[\"a.b\"],\"addresses\":[\"1.2.3.4\","
		"\"2001:db8::/129\"]}"),
		"spec.addresses[1]: invalid address \"2001:db8::/129\"");
	expect_invalid(SE("{\"hosts\":[\"a.b\"],\"addresses\":[\"junk\"]}"),
		"invalid address \"junk\"");
	expect_invalid(SE("{\"hosts\":[\"a.b\"],\"addresses\":[\"10.0.0.0/24\","
		"\"x\"]}"), "spec.addresses[1]: invalid address \"x\"");
}

static void test_resolution(void **state)
{
	static const struct { const char *name; enum se_resolution r; } all[] = {
		{ "NONE", SE_RES_NONE }, { "STATIC", SE_RES_STATIC },
		{ "DNS", SE_RES_DNS }, { "DNS_ROUND_ROBIN", SE_RES_DNS_ROUND_ROBIN },
		{ "DYNAMIC_DNS", SE_RES_DYNAMIC_DNS },
	};
	struct se_entry e;
	char why[256], json[256];
	size_t i;

	(void)state;
	assert_int_equal(decode(SE("{\"hosts\":[\"a.b\"]}"), &e, why,
		sizeof(why)), 0);
	assert_int_equal(e.resolution, SE_RES_NONE);
	se_entry_clear(&e);
	assert_int_equal(decode(SE("{\"hosts\":[\"a.b\"],\"resolution\":null}"),
		&e, why, sizeof(why)), 0);
	assert_int_equal(e.resolution, SE_RES_NONE);
	se_entry_clear(&e);

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		snprintf(json, sizeof(json), SE("{\"hosts\":[\"a.b\"],"
			"\"resolution\":\"%s\"}"), all[i].name);
		assert_int_equal(decode(json, &e, why, sizeof(why)), 0);
		assert_int_equal(e.resolution, all[i].r);
		assert_string_equal(se_resolution_name(e.resolution), all[i].name);
		se_entry_clear(&e);
	}
	assert_string_equal(se_resolution_name((enum se_resolution)42), "UNKNOWN");

	expect_invalid(SE("{\"hosts\":[\"a.b\"],\"resolution\":\"MAGIC\"}"),
		"spec.resolution: unknown value \"MAGIC\"");
	/* Enum names are case-sensitive, as in the CRD schema. */
	expect_invalid(SE("{\"hosts\":[\"a.b\"],\"resolution\":\"dns\"}"),
		"spec.resolution: unknown value \"dns\"");
	expect_invalid(SE("{\"hosts\":[\"a.b\"],\"resolution\":\"\"}"),
		"spec.resolution: unknown value");
}

static void test_metadata(void **state)
{
	struct se_entry e;
	char why[256];

	(void)state;
	assert_int_equal(decode("{\"metadata\":{\"name\":\"x\",\"uid\":\"u-1\","
		"\"resourceVersion\":\"77\",\"labels\":{\"a\":\"b\"}},"
		"\"spec\":{\"hosts\":[\"a.b\"],\"unknown\":[1,2]},\"extra\":true}",
		&e, why, sizeof(why)), 0);
	assert_string_equal(e.ns, "default");
	assert_string_equal(e.name, "x");
	assert_string_equal(e.uid, "u-1");
	assert_string_equal(e.resource_version, "77");
	se_entry_clear(&e);
	assert_null(e.ns);

	assert_int_equal(decode("{\"metadata\":{\"name\":\"x\",\"namespace\":\"\"},"
		"\"spec\":{\"hosts\":[\"a.b\"]}}", &e, why, sizeof(why)), 0);
	assert_string_equal(e.ns, "default");
	assert_null(e.uid);
	assert_null(e.resource_version);
	se_entry_clear(&e);

	assert_int_equal(decode("{\"metadata\":{\"name\":\"x\",\"namespace\":null},"
		"\"spec\":{\"hosts\":[\"a.b\"]}}", &e, why, sizeof(why)), 0);
	assert_string_equal(e.ns, "default");
	se_entry_clear(&e);

	expect_invalid("{\"spec\":{\"hosts\":[\"a.b\"]}}", "metadata.name: missing");
	expect_invalid("{\"metadata\":{},\"spec\":{\"hosts\":[\"a.b\"]}}",
		"metadata.name: missing");
	expect_invalid("{\"metadata\":{\"name\":\"\"},\"spec\":{\"hosts\":[\"a\"]}}",
		"metadata.name: empty");
	expect_invalid("{\"metadata\":{\"name\":\"x\"}}", "spec: missing");
	expect_invalid("{\"metadata\":{\"name\":\"x\"},\"spec\":null}",
		"spec: missing");
}

static void test_wrong_types(void **state)
{
	static const struct { const char *json, *why; } cases[] = {
		{ "[]", "not an object" },
		{ "{\"metadata\":[],\"spec\":{\"hosts\":[\"a\"]}}",
		  "metadata: not an object" },
		{ "{\"metadata\":{\"name\":7},\"spec\":{\"hosts\":[\"a\"]}}",
		  "metadata.name: not a string" },
		{ "{\"metadata\":{\"name\":\"n\",\"namespace\":{}},"
		  "\"spec\":{\"hosts\":[\"a\"]}}", "metadata.namespace: not a string" },
		{ "{\"metadata\":{\"name\":\"n\",\"uid\":1},\"spec\":{\"hosts\":[\"a\"]}}",
		  "metadata.uid: not a string" },
		{ "{\"metadata\":{\"name\":\"n\",\"resourceVersion\":48150},"
		  "\"spec\":{\"hosts\":[\"a\"]}}", "metadata.resourceVersion: not a string" },
		{ SE("[]"), "spec: not an object" },
		{ SE("\"hosts\""), "spec: not an object" },
		{ SE("{\"hosts\":\"a.b\"}"), "spec.hosts: not an array" },
		{ SE("{\"hosts\":{\"a\":1}}"), "spec.hosts: not an array" },
		{ SE("{\"hosts\":[\"a.b\",1]}"), "spec.hosts[1]: not a string" },
		{ SE("{\"hosts\":[null]}"), "spec.hosts[0]: not a string" },
		{ SE("{\"hosts\":[[\"a.b\"]]}"), "spec.hosts[0]: not a string" },
		{ SE("{\"hosts\":[\"a.b\"],\"addresses\":\"1.2.3.4\"}"),
		  "spec.addresses: not an array" },
		{ SE("{\"hosts\":[\"a.b\"],\"addresses\":[\"1.2.3.4\",true]}"),
		  "spec.addresses[1]: not a string" },
		{ SE("{\"hosts\":[\"a.b\"],\"resolution\":1}"),
		  "spec.resolution: not a string" },
		{ SE("{\"hosts\":[\"a.b\"]},\"status\":\"ok\""), "status: not an object" },
		{ SE("{\"hosts\":[\"a.b\"]},\"status\":{\"addresses\":{}}"),
		  "status.addresses: not an array" },
		{ SE("{\"hosts\":[\"a.b\"]},\"status\":{\"addresses\":[\"1.2.3.4\"]}"),
		  "status.addresses[0]: not an object" },
		{ SE("{\"hosts\":[\"a.b\"]},\"status\":{\"addresses\":"
		     "[{\"value\":\"1.2.3.4\"},{\"value\":3}]}"),
		  "status.addresses[1].value: not a string" },
		{ SE("{\"hosts\":[\"a.b\"]},\"status\":{\"addresses\":"
		     "[{\"value\":\"1.2.3.4\",\"host\":[]}]}"),
		  "status.addresses[0].host: not a string" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_invalid(cases[i].json, cases[i].why);
	assert_int_equal(se_from_json(NULL, &(struct se_entry){ 0 }, NULL, 0), -1);
}

static void test_nulls_are_absent(void **state)
{
	struct se_entry e;
	char why[256];

	(void)state;
	assert_int_equal(decode("{\"metadata\":{\"name\":\"n\",\"uid\":null},"
		"\"spec\":{\"hosts\":[\"a.b\"],\"addresses\":null},"
		"\"status\":null}", &e, why, sizeof(why)), 0);
	assert_int_equal(e.naddrs, 0);
	assert_int_equal(e.nstatus_addrs, 0);
	assert_null(e.uid);
	se_entry_clear(&e);
	assert_int_equal(decode(SE("{\"hosts\":[\"a.b\"]},\"status\":"
		"{\"addresses\":null,\"conditions\":[]}"), &e, why, sizeof(why)), 0);
	se_entry_clear(&e);
}

static void test_status_addresses(void **state)
{
	struct se_entry e;
	char why[256];

	(void)state;
	assert_int_equal(decode(SE("{\"hosts\":[\"a.example.com\",\"b.example.com\"]},"
		"\"status\":{\"addresses\":["
		"{\"value\":\"240.240.0.1\",\"host\":\"A.Example.com.\"},"
		"{\"value\":\"2001:2::1\"},"
		"{\"value\":\"not-an-ip\",\"host\":\"b.example.com\"},"
		"{\"value\":\"240.240.0.0/16\"},"
		"{\"host\":\"b.example.com\"},"
		"{\"value\":null},"
		"{\"value\":\"240.240.0.2/32\",\"host\":\"\"}]}"),
		&e, why, sizeof(why)), 0);
	/* Unusable values are skipped without failing the entry. */
	assert_int_equal(e.nstatus_addrs, 3);
	assert_int_equal(e.status_addrs[0].addr.family, AF_INET);
	assert_memory_equal(e.status_addrs[0].addr.addr, "\xf0\xf0\x00\x01", 4);
	assert_string_equal(e.status_addrs[0].host, "a.example.com");
	assert_int_equal(e.status_addrs[1].addr.family, AF_INET6);
	assert_null(e.status_addrs[1].host);
	assert_memory_equal(e.status_addrs[2].addr.addr, "\xf0\xf0\x00\x02", 4);
	assert_null(e.status_addrs[2].host);
	se_entry_clear(&e);
	assert_null(e.status_addrs);
	assert_int_equal(e.nstatus_addrs, 0);
}

static void test_list_ops(void **state)
{
	struct se_list a, b;
	struct se_entry e;
	char why[256];
	int i;

	(void)state;
	se_list_init(&a);
	se_list_init(&b);
	for (i = 0; i < 20; i++) {
		assert_int_equal(decode(SE("{\"hosts\":[\"a.b\"]}"), &e, why,
			sizeof(why)), 0);
		assert_int_equal(se_list_push(i < 5 ? &a : &b, &e), 0);
		assert_null(e.name);
		assert_null(e.hosts);
	}
	assert_int_equal(se_list_reject(&a, "ns", NULL, "r1"), 0);
	assert_int_equal(se_list_reject(&b, NULL, "nm", "r2"), 0);
	assert_int_equal(se_list_reject(&b, "x", "y", "r3"), 0);
	assert_int_equal(se_list_take(&a, &b), 0);
	assert_int_equal(a.n, 20);
	assert_int_equal(a.nrejects, 3);
	assert_null(a.rejects[0].name);
	assert_null(a.rejects[1].ns);
	assert_string_equal(a.rejects[1].name, "nm");
	assert_string_equal(a.rejects[2].reason, "r3");
	assert_int_equal(b.n, 0);
	assert_int_equal(b.nrejects, 0);
	assert_null(b.items);
	assert_null(b.rejects);
	/* Taking an empty list, and into an empty list. */
	assert_int_equal(se_list_take(&a, &b), 0);
	assert_int_equal(a.n, 20);
	assert_int_equal(se_list_take(&b, &a), 0);
	assert_int_equal(b.n, 20);
	assert_int_equal(a.n, 0);
	se_list_free(&b);
	assert_int_equal(b.n, 0);
	se_list_free(&b);
	se_list_free(NULL);
	se_entry_clear(NULL);
}

/* A packed list (the manifest file cache's form) unpacks to the same
 * entries and rejects, appended; an empty one is empty. */
static void test_pack(void **state)
{
	struct se_list l, out;
	struct se_packed pk, empty = { 0 };
	struct se_entry e;
	char why[256];

	(void)state;
	se_list_init(&l);
	se_list_init(&out);
	assert_int_equal(decode("{\"metadata\":{\"name\":\"a\",\"namespace\":\"n1\",\"uid\":\"u-1\","
		"\"resourceVersion\":\"7\"},\"spec\":{\"hosts\":[\"a.global\",\"b.global\"],"
		"\"addresses\":[\"240.0.0.1\",\"2001:db8::1\"],\"resolution\":\"DNS\"},"
		"\"status\":{\"addresses\":[{\"value\":\"240.0.0.9\",\"host\":\"b.global\"},"
		"{\"value\":\"2001:db8::9\"}]}}", &e, why, sizeof(why)), 0);
	assert_int_equal(se_list_push(&l, &e), 0);
	assert_int_equal(decode(SE("{\"hosts\":[\"c.global\"]}"), &e, why, sizeof(why)), 0);
	assert_int_equal(se_list_push(&l, &e), 0);
	assert_int_equal(se_list_reject(&l, "ns", NULL, "r1"), 0);
	assert_int_equal(se_list_reject(&l, NULL, "nm", "r2"), 0);
	assert_int_equal(se_list_pack(&l, &pk), 0);
	assert_int_equal(pk.n, 2);
	assert_int_equal(pk.nrejects, 2);
	assert_int_equal(se_packed_unpack(&pk, &out), 0);
	assert_int_equal(se_packed_unpack(&pk, &out), 0);      /* appends */
	assert_int_equal(out.n, 4);
	assert_int_equal(out.nrejects, 4);
	for (size_t k = 0; k < 4; k += 2) {
		const struct se_entry *a = &out.items[k], *b = &out.items[k + 1];
		assert_string_equal(a->ns, "n1");
		assert_string_equal(a->name, "a");
		assert_string_equal(a->uid, "u-1");
		assert_string_equal(a->resource_version, "7");
		assert_int_equal(a->resolution, SE_RES_DNS);
		assert_int_equal(a->nhosts, 2);
		assert_string_equal(a->hosts[1], "b.global");
		assert_int_equal(a->naddrs, 2);
		assert_int_equal(a->addrs[0].family, AF_INET);
		assert_memory_equal(a->addrs[0].addr, "\xf0\0\0\x01", 4);
		assert_int_equal(a->addrs[1].family, AF_INET6);
		assert_memory_equal(a->addrs[1].addr, l.items[0].addrs[1].addr, 16);
		assert_int_equal(a->nstatus_addrs, 2);
		assert_string_equal(a->status_addrs[0].host, "b.global");
		assert_memory_equal(a->status_addrs[0].addr.addr, "\xf0\0\0\x09", 4);
		assert_null(a->status_addrs[1].host);
		assert_int_equal(a->status_addrs[1].addr.family, AF_INET6);
		assert_string_equal(b->name, "n");
		assert_null(b->uid);
		assert_null(b->resource_version);
		assert_int_equal(b->naddrs, 0);
		assert_null(b->addrs);
		assert_int_equal(b->nstatus_addrs, 0);
		assert_string_equal(out.rejects[k].ns, "ns");
		assert_null(out.rejects[k].name);
		assert_string_equal(out.rejects[k].reason, "r1");
		assert_null(out.rejects[k + 1].ns);
		assert_string_equal(out.rejects[k + 1].name, "nm");
	}
	se_list_free(&out);
	assert_int_equal(se_packed_unpack(&empty, &out), 0);
	assert_int_equal(out.n + out.nrejects, 0);
	se_list_free(&l);
	assert_int_equal(se_list_pack(&l, &empty), 0);
	assert_int_equal(empty.n + empty.nrejects, 0);
	se_packed_free(&empty);
	se_packed_free(&pk);
	assert_null(pk.data);
}

/* se_list_add_json on one JSON text; returns ignored, fills l. */
static size_t add(struct se_list *l, const char *json)
{
	cJSON *doc = cJSON_Parse(json);
	size_t ignored = 999;

	if (doc == NULL)
		fail_msg("test JSON does not parse: %s", json);
	assert_int_equal(se_list_add_json(l, doc, "test.json", &ignored), 0);
	cJSON_Delete(doc);
	return ignored;
}

#define OBJ(api, kind, name, hosts) "{\"apiVersion\":\"" api "\",\"kind\":\"" \
	kind "\",\"metadata\":{\"name\":\"" name "\",\"namespace\":\"t\"}," \
	"\"spec\":{\"hosts\":" hosts "}}"

static void test_add_json_versions(void **state)
{
	struct se_list l;

	(void)state;
	se_list_init(&l);
	assert_int_equal(add(&l, OBJ("networking.istio.io/v1", "ServiceEntry",
		"a", "[\"a.x\"]")), 0);
	assert_int_equal(add(&l, OBJ("networking.istio.io/v1beta1", "ServiceEntry",
		"b", "[\"b.x\"]")), 0);
	assert_int_equal(add(&l, OBJ("networking.istio.io/v1alpha3", "ServiceEntry",
		"c", "[\"c.x\"]")), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[2].name, "c");
	assert_int_equal(l.nrejects, 0);

	assert_int_equal(add(&l, OBJ("networking.istio.io/v2", "ServiceEntry",
		"d", "[\"d.x\"]")), 0);
	assert_int_equal(add(&l, OBJ("example.com/v1", "ServiceEntry",
		"e", "[\"e.x\"]")), 0);
	assert_int_equal(add(&l, "{\"kind\":\"ServiceEntry\",\"metadata\":"
		"{\"name\":\"f\"},\"spec\":{\"hosts\":[\"f.x\"]}}"), 0);
	assert_int_equal(add(&l, "{\"kind\":\"ServiceEntry\",\"apiVersion\":1,"
		"\"metadata\":{\"name\":\"g\"},\"spec\":{\"hosts\":[\"g.x\"]}}"), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.nrejects, 4);
	assert_string_equal(l.rejects[0].ns, "t");
	assert_string_equal(l.rejects[0].name, "d");
	assert_string_equal(l.rejects[0].reason,
		"unsupported apiVersion \"networking.istio.io/v2\"");
	assert_string_equal(l.rejects[1].reason,
		"unsupported apiVersion \"example.com/v1\"");
	assert_string_equal(l.rejects[2].ns, "default");
	assert_string_equal(l.rejects[2].reason, "apiVersion: missing");
	assert_string_equal(l.rejects[3].reason, "apiVersion: not a string");
	se_list_free(&l);
}

static void test_add_json_kinds(void **state)
{
	struct se_list l;

	(void)state;
	se_list_init(&l);
	/* Other kinds are counted, not rejected. */
	assert_int_equal(add(&l, "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
		"\"metadata\":{\"name\":\"d\"},\"spec\":{\"hosts\":[\"x\"]}}"), 1);
	assert_int_equal(add(&l, "{\"metadata\":{\"name\":\"nokind\"}}"), 1);
	assert_int_equal(add(&l, "[1,2]"), 1);
	assert_int_equal(add(&l, "\"text\""), 1);
	assert_int_equal(l.n, 0);
	assert_int_equal(l.nrejects, 0);

	/* A List: any kinds; non-ServiceEntries and non-objects counted. */
	assert_int_equal(add(&l, "{\"apiVersion\":\"v1\",\"kind\":\"List\","
		"\"metadata\":{\"resourceVersion\":\"\"},\"items\":["
		OBJ("networking.istio.io/v1", "ServiceEntry", "one", "[\"one.x\"]") ","
		"{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"s\"}},"
		OBJ("networking.istio.io/v1beta1", "ServiceEntry", "two", "[\"Two.X.\"]") ","
		OBJ("networking.istio.io/v1", "ServiceEntry", "bad", "[\"*\"]") ","
		"{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":["
		OBJ("networking.istio.io/v1", "ServiceEntry", "nested", "[\"n.x\"]")
		"]},"
		"{\"metadata\":{\"name\":\"kindless\"},\"spec\":{\"hosts\":[\"k.x\"]}},"
		"42]}"), 4);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.items[0].name, "one");
	assert_string_equal(l.items[1].hosts[0], "two.x");
	assert_int_equal(l.nrejects, 1);
	assert_string_equal(l.rejects[0].name, "bad");
	assert_contains(l.rejects[0].reason, "spec.hosts[0]: \"*\": ");

	/* A ServiceEntryList's items may leave out kind and apiVersion. */
	assert_int_equal(add(&l, "{\"apiVersion\":\"networking.istio.io/v1\","
		"\"kind\":\"ServiceEntryList\",\"metadata\":{\"continue\":\"\"},"
		"\"items\":[{\"metadata\":{\"name\":\"bare\"},\"spec\":{\"hosts\":"
		"[\"bare.x\"]}},"
		OBJ("networking.istio.io/v1alpha3", "ServiceEntry", "full", "[\"f.x\"]") ","
		"{\"apiVersion\":\"networking.istio.io/v3\",\"metadata\":"
		"{\"name\":\"v3\"},\"spec\":{\"hosts\":[\"v3.x\"]}}]}"), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.items[2].name, "bare");
	assert_string_equal(l.items[3].name, "full");
	assert_int_equal(l.nrejects, 2);
	assert_string_equal(l.rejects[1].reason,
		"unsupported apiVersion \"networking.istio.io/v3\"");

	/* Empty lists, and lists without or with broken items. */
	assert_int_equal(add(&l, "{\"apiVersion\":\"v1\",\"kind\":\"List\","
		"\"items\":[]}"), 0);
	assert_int_equal(add(&l, "{\"apiVersion\":\"v1\",\"kind\":\"List\"}"), 0);
	assert_int_equal(add(&l, "{\"apiVersion\":\"v1\",\"kind\":\"List\","
		"\"items\":{}}"), 1);
	assert_int_equal(add(&l, "{\"kind\":\"ServiceEntryList\",\"items\":"
		"[{\"metadata\":{\"name\":\"nover\"},\"spec\":{\"hosts\":[\"a.x\"]}}]}"), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.rejects[2].reason, "apiVersion: missing");

	/* ignored may be NULL. */
	{
		cJSON *doc = cJSON_Parse("{\"kind\":\"Secret\"}");

		assert_int_equal(se_list_add_json(&l, doc, "x", NULL), 0);
		cJSON_Delete(doc);
	}
	se_list_free(&l);
}

static void test_reject_records(void **state)
{
	struct se_list l;

	(void)state;
	se_list_init(&l);
	add(&l, "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
		"\"metadata\":{\"namespace\":\"prod\"},\"spec\":{\"hosts\":[\"a.x\"]}}");
	add(&l, "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
		"\"metadata\":{\"name\":\"n\"},\"spec\":{\"hosts\":[\"a.x\"],"
		"\"addresses\":[\"1.2.3.4/99\"]}}");
	assert_int_equal(l.n, 0);
	assert_int_equal(l.nrejects, 2);
	assert_string_equal(l.rejects[0].ns, "prod");
	assert_null(l.rejects[0].name);
	assert_string_equal(l.rejects[0].reason, "metadata.name: missing");
	assert_string_equal(l.rejects[1].ns, "default");
	assert_string_equal(l.rejects[1].name, "n");
	assert_string_equal(l.rejects[1].reason,
		"spec.addresses[0]: invalid address \"1.2.3.4/99\"");
	se_list_free(&l);
}

static void test_reject_log_line(void **state)
{
	struct se_list l;
	char buf[1024];
	FILE *f = tmpfile();
	int saved;
	size_t n;

	(void)state;
	assert_non_null(f);
	se_list_init(&l);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fileno(f), 2), 2);
	log_set_level(LOGL_WARNING);
	add(&l, OBJ("networking.istio.io/v1", "ServiceEntry", "web", "[\"*\"]"));
	add(&l, "{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
		"\"metadata\":{\"namespace\":\"a\\nb\"},\"spec\":{}}");
	log_set_level(LOGL_ERROR);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	assert_string_equal(buf,
		"[WARNING] plugin/serviceentries: test.json: skipping t/web: "
		"spec.hosts[0]: \"*\": \"*\" alone is not allowed\n"
		"[WARNING] plugin/serviceentries: test.json: skipping a\\x0ab/?: "
		"metadata.name: missing\n");
	se_list_free(&l);
}

static void test_printable(void **state)
{
	char buf[16];

	(void)state;
	assert_string_equal(se_printable(buf, sizeof(buf), "plain"), "plain");
	assert_string_equal(se_printable(buf, sizeof(buf), NULL), "?");
	assert_string_equal(se_printable(buf, sizeof(buf), "a\"b\\c\n\x7f"),
		"a\\\"b\\\\c\\x0a\\x7f");
	/* Exactly 15 characters fit; 16 are cut. */
	assert_string_equal(se_printable(buf, sizeof(buf), "123456789012345"),
		"123456789012345");
	assert_string_equal(se_printable(buf, sizeof(buf), "1234567890123456"),
		"123456789012...");
	assert_string_equal(se_printable(buf, sizeof(buf), "12345678901\n"),
		"12345678901\\x0a");
	/* An escape is not split. */
	assert_string_equal(se_printable(buf, sizeof(buf), "123456789012\n"),
		"123456789012...");
	assert_string_equal(se_printable(buf, sizeof(buf), "1234567890\n\n"),
		"1234567890...");
	assert_string_equal(se_printable(buf, 3, "abcdef"), "ab");
	assert_string_equal(se_printable(buf, 1, "abcdef"), "");
	assert_null(se_printable(NULL, 0, "x"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_host_valid),
		cmocka_unit_test(test_host_stored_lowercase),
		cmocka_unit_test(test_hosts_count),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_resolution),
		cmocka_unit_test(test_metadata),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_nulls_are_absent),
		cmocka_unit_test(test_status_addresses),
		cmocka_unit_test(test_list_ops),
		cmocka_unit_test(test_pack),
		cmocka_unit_test(test_add_json_versions),
		cmocka_unit_test(test_add_json_kinds),
		cmocka_unit_test(test_reject_records),
		cmocka_unit_test(test_reject_log_line),
		cmocka_unit_test(test_printable),
	};

	/* Skipped entries log warnings; the tests check them, not the reader. */
	log_set_level(LOGL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
