/*
 * test_kube_store.c -- list bodies scanned as they arrive (every way of
 * cutting a body gives the same items and the same rest; strings holding
 * brackets and escapes; items that are not objects; a list whose items is
 * not an array; the cap on one item), and the compact store (entries and
 * rejects kept and copied back whole, objects at the same
 * resourceVersion shared, deletions in a crowded table, the overlay a
 * resync uses), and the proxy chosen by Go's rules.
 */
#define _GNU_SOURCE 1

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube_proxy.h"
#include "kube/kube_store.h"
#include "kube/kube_watch.h"

struct items {
	char text[8][256];
	size_t n;
};

static int take(void *arg, const char *item, size_t len)
{
	struct items *it = arg;

	assert_true(it->n < 8);
	assert_true(len < sizeof(it->text[0]));
	memcpy(it->text[it->n], item, len);
	it->text[it->n][len] = '\0';
	it->n++;
	return 0;
}

static const char LIST[] =
	"{\"apiVersion\":\"networking.istio.io/v1\",\"items\":[ "
	"{\"metadata\":{\"name\":\"a]\\\"}[\"},\"spec\":{\"hosts\":[\"a.x\"]}} ,"
	"{\"x\":[1,{\"y\":\"}\"}]},\n"
	"42, \"str]ing\", null,[1,[2]]"
	"],\"kind\":\"ServiceEntryList\",\"metadata\":{\"continue\":\"c1\",\"resourceVersion\":\"77\","
	"\"items\":[\"not these\"]}}";

static void check_list(struct kube_listscan *s, const struct items *it)
{
	const cJSON *cont, *rv;
	char err[200];
	cJSON *doc;

	assert_int_equal(it->n, 6);
	assert_string_equal(it->text[0], "{\"metadata\":{\"name\":\"a]\\\"}[\"},\"spec\":{\"hosts\":[\"a.x\"]}}");
	assert_string_equal(it->text[1], "{\"x\":[1,{\"y\":\"}\"}]}");
	assert_string_equal(it->text[2], "42");
	assert_string_equal(it->text[3], "\"str]ing\"");
	assert_string_equal(it->text[4], "null");
	assert_string_equal(it->text[5], "[1,[2]]");
	assert_int_equal(s->items, 6);
	doc = kube_listscan_finish(s, &cont, &rv, err, sizeof(err));
	assert_non_null(doc);
	assert_string_equal(cont->valuestring, "c1");
	assert_string_equal(rv->valuestring, "77");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "items")), 0);
	cJSON_Delete(doc);
}

/* Every cut into two or three pieces scans the same. */
static void test_listscan_any_split(void **state)
{
	size_t n = sizeof(LIST) - 1;

	(void)state;
	for (size_t i = 0; i <= n; i += 3)
		for (size_t j = i; j <= n; j += 7) {
			struct kube_listscan s;
			struct items it = { .n = 0 };
			kube_listscan_init(&s, 4096);
			assert_int_equal(kube_listscan_feed(&s, LIST, i, take, &it), 0);
			assert_int_equal(kube_listscan_feed(&s, LIST + i, j - i, take, &it), 0);
			assert_int_equal(kube_listscan_feed(&s, LIST + j, n - j, take, &it), 0);
			check_list(&s, &it);
			kube_listscan_free(&s);
		}
}

static void test_listscan_byte_by_byte(void **state)
{
	struct kube_listscan s;
	struct items it = { .n = 0 };

	(void)state;
	kube_listscan_init(&s, 4096);
	for (size_t i = 0; i < sizeof(LIST) - 1; i++)
		assert_int_equal(kube_listscan_feed(&s, LIST + i, 1, take, &it), 0);
	check_list(&s, &it);
	kube_listscan_free(&s);
}

static void test_listscan_bad(void **state)
{
	static const struct { const char *body, *err; } cases[] = {
		{ "{\"kind\":\"ServiceEntryList\",\"items\":null,\"metadata\":{\"resourceVersion\":\"1\"}}", "items is null" },
		{ "{\"kind\":\"ServiceEntryList\",\"items\":\"x\",\"metadata\":{\"resourceVersion\":\"1\"}}", "not a ServiceEntryList" },
		{ "{\"kind\":\"Other\",\"items\":[],\"metadata\":{\"resourceVersion\":\"1\"}}", "kind is not ServiceEntryList" },
		{ "{\"kind\":\"ServiceEntryList\",\"items\":[{\"a\":1}", "cut short" },
		{ "<html>", "not JSON" },
	};
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct kube_listscan s;
		struct items it = { .n = 0 };
		const cJSON *cont, *rv;
		kube_listscan_init(&s, 4096);
		assert_int_equal(kube_listscan_feed(&s, cases[i].body, strlen(cases[i].body), take, &it), 0);
		assert_null(kube_listscan_finish(&s, &cont, &rv, err, sizeof(err)));
		if (!strstr(err, cases[i].err))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].err);
		kube_listscan_free(&s);
	}
}

/* The cap is on one item (and on the rest), not on the body. */
static int count_items(void *arg, const char *item, size_t len)
{
	(void)item;
	(void)len;
	(*(size_t *)arg)++;
	return 0;
}

static void test_listscan_cap_per_item(void **state)
{
	struct kube_listscan s;
	char body[8192], big[300];
	size_t cnt = 0;
	const cJSON *cont, *rv;
	char err[100];
	cJSON *doc;
	int n;

	(void)state;
	kube_listscan_init(&s, 100);
	n = snprintf(body, sizeof(body), "{\"items\":[");
	for (int i = 0; i < 40; i++)
		n += snprintf(body + n, sizeof(body) - (size_t)n, "%s{\"n\":\"%030d\"}", i ? "," : "", i);
	n += snprintf(body + n, sizeof(body) - (size_t)n,
		"],\"kind\":\"List\",\"metadata\":{\"resourceVersion\":\"5\"}}");
	/* 40 items of 40 bytes: 16 times the cap, and whole */
	assert_int_equal(kube_listscan_feed(&s, body, (size_t)n, count_items, &cnt), 0);
	assert_int_equal(cnt, 40);
	doc = kube_listscan_finish(&s, &cont, &rv, err, sizeof(err));
	assert_non_null(doc);
	cJSON_Delete(doc);
	kube_listscan_free(&s);
	/* one item over the cap */
	kube_listscan_init(&s, 100);
	memset(big, 'x', sizeof(big));
	assert_int_equal(kube_listscan_feed(&s, "{\"items\":[{\"p\":\"", 16, count_items, &cnt), 0);
	assert_int_equal(kube_listscan_feed(&s, big, sizeof(big), count_items, &cnt), -1);
	kube_listscan_free(&s);
}

static int stop_at_two(void *arg, const char *item, size_t len)
{
	(void)item;
	(void)len;
	return ++*(size_t *)arg == 2 ? -1 : 0;
}

static void test_listscan_stop(void **state)
{
	struct kube_listscan s;
	size_t cnt = 0;

	(void)state;
	kube_listscan_init(&s, 4096);
	assert_int_equal(kube_listscan_feed(&s, LIST, sizeof(LIST) - 1, stop_at_two, &cnt), -2);
	assert_int_equal(cnt, 2);
	kube_listscan_free(&s);
}

/* ---- the store ---- */

static cJSON *se(const char *ns, const char *name, const char *rv, const char *hosts,
	const char *addrs, const char *extra)
{
	char buf[2048];

	snprintf(buf, sizeof(buf),
		"{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
		"\"metadata\":{\"namespace\":\"%s\",\"name\":\"%s\",\"resourceVersion\":\"%s\",\"uid\":\"u-1\"},"
		"\"spec\":{\"hosts\":%s,\"addresses\":%s,\"resolution\":\"STATIC\"}%s}",
		ns, name, rv, hosts, addrs, extra ? extra : "");
	return cJSON_Parse(buf);
}

static void put(struct kube_store *s, const struct kube_store *known, cJSON *o, int want)
{
	assert_non_null(o);
	assert_int_equal(kube_store_put_json(s, o, known, "test"), want);
	cJSON_Delete(o);
}

static const struct se_entry *find(const struct se_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].name, name) == 0)
			return &l->items[i];
	return NULL;
}

static void test_store_roundtrip(void **state)
{
	struct kube_store s = { 0 };
	struct se_list l;
	const struct se_entry *e;
	char a[64];

	(void)state;
	put(&s, NULL, se("ns1", "web", "5", "[\"web.ns1.global\",\"*.web.ns1.global\"]",
		"[\"10.0.0.1\",\"2001:db8::1\",\"10.1.0.0/16\"]",
		",\"status\":{\"addresses\":[{\"value\":\"240.0.0.9\",\"host\":\"web.ns1.global\"},{\"value\":\"2001:db8::9\"}]}"), 1);
	put(&s, NULL, se("ns1", "bad", "6", "[\"*\"]", "[]", NULL), 1);
	assert_int_equal(s.n, 2);
	se_list_init(&l);
	assert_int_equal(kube_store_to_list(&s, &l), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.nrejects, 1);
	assert_string_equal(l.rejects[0].ns, "ns1");
	assert_string_equal(l.rejects[0].name, "bad");
	assert_non_null(l.rejects[0].reason);
	e = find(&l, "web");
	assert_non_null(e);
	assert_string_equal(e->ns, "ns1");
	assert_int_equal(e->resolution, SE_RES_STATIC);
	assert_int_equal(e->nhosts, 2);
	assert_string_equal(e->hosts[1], "*.web.ns1.global");
	assert_int_equal(e->naddrs, 2);         /* the /16 is not an address */
	inet_ntop(AF_INET6, e->addrs[1].addr, a, sizeof(a));
	assert_string_equal(a, "2001:db8::1");
	assert_int_equal(e->nstatus_addrs, 2);
	assert_string_equal(e->status_addrs[0].host, "web.ns1.global");
	assert_null(e->status_addrs[1].host);
	assert_null(e->uid);                    /* what a registry does not read is not copied */
	assert_null(e->resource_version);
	se_list_free(&l);
	kube_store_clear(&s);
}

/* A frozen view keeps the objects of its moment while the store changes
 * (replaced, deleted, cleared), and converts them a slice at a time. */
static void test_store_frozen(void **state)
{
	struct kube_store s = { 0 };
	struct kube_frozen f = { 0 };
	struct se_list l;
	const struct se_entry *e;
	int rc, calls = 0;

	(void)state;
	put(&s, NULL, se("ns1", "a", "1", "[\"a.ns1.global\"]", "[\"10.0.0.1\"]", NULL), 1);
	put(&s, NULL, se("ns1", "b", "1", "[\"b.ns1.global\"]", "[\"10.0.0.2\"]", NULL), 1);
	put(&s, NULL, se("ns1", "c", "1", "[\"c.ns1.global\"]", "[\"10.0.0.3\"]", NULL), 1);
	put(&s, NULL, se("ns1", "bad", "1", "[\"*\"]", "[]", NULL), 1);
	assert_int_equal(kube_store_freeze(&s, &f), 0);
	assert_int_equal(f.n, 4);
	assert_int_equal(f.valid, 3);
	assert_int_equal(f.rejected, 1);
	/* the store moves on */
	put(&s, NULL, se("ns1", "a", "2", "[\"a.ns1.global\"]", "[\"10.9.9.9\"]", NULL), 1);
	{
		cJSON *o = se("ns1", "b", "1", "[]", "[]", NULL);
		kube_store_del_json(&s, o);
		cJSON_Delete(o);
	}
	se_list_init(&l);
	do {
		rc = kube_frozen_to_list(&f, &l, 1);
		calls++;
	} while (rc == 0 && calls < 10);
	assert_int_equal(rc, 1);
	assert_int_equal(calls, 4);
	kube_store_clear(&s);                   /* the view holds its own references */
	assert_int_equal(l.n, 3);
	assert_int_equal(l.nrejects, 1);
	assert_non_null(e = find(&l, "a"));
	assert_memory_equal(e->addrs[0].addr, "\x0a\0\0\x01", 4);   /* as frozen */
	assert_non_null(find(&l, "b"));                                  /* deleted after */
	kube_frozen_release(&f);
	assert_null(f.objs);
	assert_int_equal(f.n, 0);
	se_list_free(&l);
}

/* spec.ports survive the compact form (SRV records read them). */
static void test_store_ports(void **state)
{
	struct kube_store s = { 0 };
	struct se_list l;
	const struct se_entry *e;

	(void)state;
	put(&s, NULL, se("ns1", "web", "5", "[\"web.ns1.global\"]",
		"[\"10.0.0.1\"],\"ports\":[{\"name\":\"http1\",\"number\":8000,\"protocol\":\"HTTP\"},"
		"{\"name\":\"dns\",\"number\":65535,\"protocol\":\"udp\"},{\"name\":\"raw\",\"number\":1}]", NULL), 1);
	put(&s, NULL, se("ns1", "noports", "6", "[\"b.ns1.global\"]", "[\"10.0.0.2\"]", NULL), 1);
	se_list_init(&l);
	assert_int_equal(kube_store_to_list(&s, &l), 0);
	assert_int_equal(l.n, 2);
	e = find(&l, "web");
	assert_non_null(e);
	assert_int_equal(e->nports, 3);
	assert_string_equal(e->ports[0].name, "http1");
	assert_int_equal(e->ports[0].number, 8000);
	assert_int_equal(e->ports[0].protocol, SE_PROTO_HTTP);
	assert_string_equal(e->ports[1].name, "dns");
	assert_int_equal(e->ports[1].number, 65535);
	assert_int_equal(e->ports[1].protocol, SE_PROTO_UDP);
	assert_int_equal(e->ports[2].number, 1);
	assert_int_equal(e->ports[2].protocol, SE_PROTO_UNSET);
	assert_int_equal(e->naddrs, 1);
	e = find(&l, "noports");
	assert_non_null(e);
	assert_int_equal(e->nports, 0);
	assert_null(e->ports);
	se_list_free(&l);
	kube_store_clear(&s);
}

/* The same resourceVersion: shared with the known store, not parsed (its
 * hosts here would be rejected if they were). */
static void test_store_shared(void **state)
{
	struct kube_store old = { 0 }, fresh = { 0 };
	struct se_list l;

	(void)state;
	put(&old, NULL, se("d", "a", "3", "[\"a.d.global\"]", "[\"10.0.0.1\"]", NULL), 1);
	put(&fresh, &old, se("d", "a", "3", "[\"*\"]", "[\"10.0.0.1\"]", NULL), 1);
	kube_store_clear(&old);                 /* the shared object lives on in fresh */
	se_list_init(&l);
	assert_int_equal(kube_store_to_list(&fresh, &l), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].hosts[0], "a.d.global");
	se_list_free(&l);
	/* a new resourceVersion is parsed */
	put(&old, &fresh, se("d", "a", "4", "[\"*\"]", "[\"10.0.0.1\"]", NULL), 1);
	se_list_init(&l);
	assert_int_equal(kube_store_to_list(&old, &l), 0);
	assert_int_equal(l.nrejects, 1);
	se_list_free(&l);
	kube_store_clear(&old);
	kube_store_clear(&fresh);
}

/* Many keys, deleted in another order: every survivor stays reachable. */
static void test_store_delete_crowded(void **state)
{
	struct kube_store s = { 0 };
	char name[32];

	(void)state;
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "e%d", i);
		put(&s, NULL, se("d", name, "1", "[\"x.d.global\"]", "[\"10.0.0.1\"]", NULL), 1);
	}
	for (int i = 0; i < 3000; i += 3) {
		cJSON *o;
		snprintf(name, sizeof(name), "e%d", i);
		o = se("d", name, "1", "[]", "[]", NULL);
		kube_store_del_json(&s, o);
		kube_store_del_json(&s, o);     /* twice: nothing more happens */
		cJSON_Delete(o);
	}
	assert_int_equal(s.n, 2000);
	/* replacing each survivor keeps the count: each was found */
	for (int i = 0; i < 3000; i++) {
		if (i % 3 == 0)
			continue;
		snprintf(name, sizeof(name), "e%d", i);
		put(&s, NULL, se("d", name, "2", "[\"y.d.global\"]", "[\"10.0.0.2\"]", NULL), 1);
	}
	assert_int_equal(s.n, 2000);
	for (int i = 0; i < 3000; i += 3) {
		snprintf(name, sizeof(name), "e%d", i);
		put(&s, NULL, se("d", name, "2", "[\"y.d.global\"]", "[\"10.0.0.2\"]", NULL), 1);
	}
	assert_int_equal(s.n, 3000);
	kube_store_clear(&s);
}

/* resync: keys the watch touched keep the watch's state over the list's. */
static void test_store_overlay(void **state)
{
	struct kube_store live = { 0 }, listed = { 0 }, touched = { 0 };
	struct se_list l;
	cJSON *o;

	(void)state;
	put(&listed, NULL, se("d", "kept", "1", "[\"k.d.global\"]", "[\"10.0.0.1\"]", NULL), 1);
	put(&listed, NULL, se("d", "changed", "1", "[\"c.d.global\"]", "[\"10.0.0.1\"]", NULL), 1);
	put(&listed, NULL, se("d", "deleted", "1", "[\"x.d.global\"]", "[\"10.0.0.1\"]", NULL), 1);
	put(&live, NULL, se("d", "changed", "9", "[\"c.d.global\"]", "[\"10.0.0.9\"]", NULL), 1);
	put(&live, NULL, se("d", "added", "9", "[\"a.d.global\"]", "[\"10.0.0.9\"]", NULL), 1);
	for (const char *n = "changed"; n; n = strcmp(n, "changed") == 0 ? "deleted" :
	     strcmp(n, "deleted") == 0 ? "added" : NULL) {
		o = se("d", n, "9", "[]", "[]", NULL);
		assert_int_equal(kube_store_touch_json(&touched, o), 0);
		cJSON_Delete(o);
	}
	assert_int_equal(kube_store_overlay(&listed, &live, &touched), 0);
	se_list_init(&l);
	assert_int_equal(kube_store_to_list(&listed, &l), 0);
	assert_int_equal(l.n, 3);
	assert_non_null(find(&l, "kept"));
	assert_non_null(find(&l, "added"));
	assert_null(find(&l, "deleted"));
	assert_int_equal(find(&l, "changed")->addrs[0].addr[3], 9);
	se_list_free(&l);
	kube_store_clear(&live);
	kube_store_clear(&listed);
	kube_store_clear(&touched);
}

/* ---- the proxy, by Go's rules ---- */

static void test_proxy_rules(void **state)
{
	static const struct { const char *url, *http, *https, *no, *want; int cgi; } cases[] = {
		{ "https://api.example.com:6443", NULL, "http://p:3128", NULL, "http://p:3128", 0 },
		{ "https://api.example.com", NULL, "p:3128", NULL, "http://p:3128", 0 },
		{ "https://api.example.com", NULL, "socks5://p:1080", NULL, "socks5h://p:1080", 0 },
		{ "https://api.example.com", "http://h:1", NULL, NULL, "", 0 },
		{ "http://api.example.com", "http://h:1", "http://s:2", NULL, "http://h:1", 0 },
		{ "http://api.example.com", "http://h:1", NULL, NULL, "", 1 },   /* CGI */
		{ "https://127.0.0.1:6443", NULL, "http://p:1", NULL, "", 0 },
		{ "https://127.9.9.9", NULL, "http://p:1", NULL, "", 0 },
		{ "https://[::1]:6443", NULL, "http://p:1", NULL, "", 0 },
		{ "https://localhost:6443", NULL, "http://p:1", NULL, "", 0 },
		{ "https://LocalHost", NULL, "http://p:1", NULL, "", 0 },
		{ "https://10.1.2.3", NULL, "http://p:1", "10.0.0.0/8", "", 0 },
		{ "https://11.1.2.3", NULL, "http://p:1", "10.0.0.0/8", "http://p:1", 0 },
		{ "https://10.1.2.3:6443", NULL, "http://p:1", "10.1.2.3:443", "http://p:1", 0 },
		{ "https://10.1.2.3", NULL, "http://p:1", "10.1.2.3:443", "", 0 },
		{ "https://api.example.com", NULL, "http://p:1", "example.com", "", 0 },
		{ "https://example.com", NULL, "http://p:1", "example.com", "", 0 },
		{ "https://example.com", NULL, "http://p:1", ".example.com", "http://p:1", 0 },
		{ "https://a.example.com", NULL, "http://p:1", "*.example.com", "", 0 },
		{ "https://example.com", NULL, "http://p:1", "*.example.com", "http://p:1", 0 },
		{ "https://notexample.com", NULL, "http://p:1", "example.com", "http://p:1", 0 },
		{ "https://API.Example.COM", NULL, "http://p:1", " Example.com ,x", "", 0 },
		{ "https://10.1.2.3", NULL, "http://p:1", "example.com", "http://p:1", 0 },
		{ "https://anything", NULL, "http://p:1", "*", "", 0 },
		{ "https://[2001:db8::1]:6443", NULL, "http://p:1", "2001:db8::/32", "", 0 },
	};
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p;
		err[0] = '\0';
		p = kube_proxy_for(cases[i].url, cases[i].http, cases[i].https, cases[i].no,
			cases[i].cgi, err, sizeof(err));
		if (!p || strcmp(p, cases[i].want) != 0)
			fail_msg("case %zu (%s, NO_PROXY %s): got \"%s\", want \"%s\" (%s)", i, cases[i].url,
				cases[i].no ? cases[i].no : "-", p ? p : "NULL", cases[i].want, err);
		free(p);
	}
	err[0] = '\0';
	assert_null(kube_proxy_for("https://x", NULL, "ftp://p:1", NULL, 0, err, sizeof(err)));
	assert_non_null(strstr(err, "unsupported scheme"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listscan_any_split),
		cmocka_unit_test(test_listscan_byte_by_byte),
		cmocka_unit_test(test_listscan_bad),
		cmocka_unit_test(test_listscan_cap_per_item),
		cmocka_unit_test(test_listscan_stop),
		cmocka_unit_test(test_store_roundtrip),
		cmocka_unit_test(test_store_frozen),
		cmocka_unit_test(test_store_ports),
		cmocka_unit_test(test_store_shared),
		cmocka_unit_test(test_store_delete_crowded),
		cmocka_unit_test(test_store_overlay),
		cmocka_unit_test(test_proxy_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
