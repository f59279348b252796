/*
 * test_snapshot.c -- the disk snapshot (snapshot.h): what is written reads
 * back the same (entries, status addresses, rejects, cluster, identity,
 * times); a changed byte, a cut file, other zones, another format version
 * are rejected and nothing is passed on; no file is 1; the path checks.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "globaldns/readfile.h"
#include "globaldns/snapshot.h"

static char dir[64], path[128];
static const char *const zones[] = { "global.", "mesh." };

struct got {
	int calls;
	char cluster[32], identity[128];
	time_t synced_at;
	struct se_list l;
};

static void on_part(void *arg, const char *cluster, const char *identity,
	time_t synced_at, struct se_list *entries)
{
	struct got *g = arg;

	g->calls++;
	snprintf(g->cluster, sizeof(g->cluster), "%s", cluster ? cluster : "(null)");
	snprintf(g->identity, sizeof(g->identity), "%s", identity);
	g->synced_at = synced_at;
	assert_int_equal(se_list_take(&g->l, entries), 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_snapshot.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/s.json", dir);
	return 0;
}

static int teardown(void **state)
{
	char tmp[160];

	(void)state;
	unlink(path);
	snprintf(tmp, sizeof(tmp), "%s/x", dir);
	rmdir(tmp);
	rmdir(dir);
	return 0;
}

/* A list of two entries (one with a status address) and one reject. */
static void sample(struct se_list *l)
{
	cJSON *doc = cJSON_Parse("{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"List\",\"items\":["
		"{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
		" \"metadata\":{\"namespace\":\"ns1\",\"name\":\"web\",\"uid\":\"u1\",\"resourceVersion\":\"7\"},"
		" \"spec\":{\"hosts\":[\"web.ns1.global\",\"*.web.global\"],\"addresses\":[\"10.0.0.1\",\"2001:db8::1\"],\"resolution\":\"STATIC\"}},"
		"{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
		" \"metadata\":{\"namespace\":\"ns2\",\"name\":\"dns\"},"
		" \"spec\":{\"hosts\":[\"db.ns2.global\"],\"resolution\":\"DNS\"},"
		" \"status\":{\"addresses\":[{\"value\":\"240.240.0.5\",\"host\":\"db.ns2.global\"}]}}]}");

	assert_non_null(doc);
	se_list_init(l);
	assert_int_equal(se_list_add_json(l, doc, "test", NULL), 0);
	cJSON_Delete(doc);
	assert_int_equal(l->n, 2);
	assert_int_equal(se_list_reject(l, "ns3", "bad", "spec.hosts[0]: invalid host"), 0);
}

static void write_sample(void)
{
	struct se_list l;
	struct snapshot_part pt = { .cluster = "east", .identity = "kubernetes https://a:6443",
		.synced_at = 1700000000, .list = &l };
	char err[256];

	sample(&l);
	assert_int_equal(snapshot_write(path, zones, 2, &pt, 1, 1700000100, err, sizeof(err)), 0);
	se_list_free(&l);
}

static void test_roundtrip(void **state)
{
	struct got g = { 0 };
	time_t written = 0;
	char err[256];
	const struct se_entry *e;

	(void)state;
	write_sample();
	se_list_init(&g.l);
	assert_int_equal(snapshot_read(path, zones, 2, on_part, &g, &written, err, sizeof(err)), 0);
	assert_int_equal(g.calls, 1);
	assert_string_equal(g.cluster, "east");
	assert_string_equal(g.identity, "kubernetes https://a:6443");
	assert_int_equal(g.synced_at, 1700000000);
	assert_int_equal(written, 1700000100);
	assert_int_equal(g.l.n, 2);
	e = &g.l.items[0];
	assert_string_equal(e->ns, "ns1");
	assert_string_equal(e->name, "web");
	assert_string_equal(e->uid, "u1");
	assert_string_equal(e->resource_version, "7");
	assert_int_equal(e->nhosts, 2);
	assert_string_equal(e->hosts[1], "*.web.global");
	assert_int_equal(e->naddrs, 2);
	assert_int_equal(e->addrs[1].family, AF_INET6);
	assert_int_equal(e->resolution, SE_RES_STATIC);
	e = &g.l.items[1];
	assert_int_equal(e->resolution, SE_RES_DNS);
	assert_int_equal(e->nstatus_addrs, 1);
	assert_string_equal(e->status_addrs[0].host, "db.ns2.global");
	assert_memory_equal(e->status_addrs[0].addr.addr, "\xf0\xf0\x00\x05", 4);
	assert_int_equal(g.l.nrejects, 1);
	assert_string_equal(g.l.rejects[0].name, "bad");
	assert_string_equal(g.l.rejects[0].reason, "spec.hosts[0]: invalid host");
	se_list_free(&g.l);
}

/* Rewrite the file through fn, then it must be rejected with why. */
static void rejected(void (*fn)(char *text, size_t *len), const char *const *z,
	size_t nz, const char *why)
{
	struct got g = { 0 };
	time_t written = 0;
	char err[256], *text;
	size_t len;
	FILE *f;

	write_sample();
	assert_int_equal(read_whole_file(path, 1 << 20, &text, &len), 0);
	if (fn)
		fn(text, &len);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	free(text);
	se_list_init(&g.l);
	assert_int_equal(snapshot_read(path, z, nz, on_part, &g, &written, err, sizeof(err)), -1);
	assert_int_equal(g.calls, 0);
	if (!strstr(err, why))
		fail_msg("\"%s\" does not say \"%s\"", err, why);
}

static void flip_address(char *text, size_t *len)
{
	char *p = strstr(text, "10.0.0.1");

	(void)len;
	assert_non_null(p);
	p[7] = '2';
}

static void cut(char *text, size_t *len)
{
	(void)text;
	*len /= 2;
}

static void version2(char *text, size_t *len)
{
	char *p = strstr(text, "\"version\":1");

	(void)len;
	assert_non_null(p);
	p[10] = '2';
}

static void test_corrupt(void **state)
{
	(void)state;
	rejected(flip_address, zones, 2, "checksum mismatch");
}

static void test_truncated(void **state)
{
	(void)state;
	rejected(cut, zones, 2, "truncated");
}

static void test_other_zones(void **state)
{
	static const char *const other[] = { "global." };

	(void)state;
	rejected(NULL, other, 1, "other zones");
}

static void test_version(void **state)
{
	(void)state;
	rejected(version2, zones, 2, "format version 2");
}

static void test_missing(void **state)
{
	struct got g = { 0 };
	time_t written = 0;
	char err[256];

	(void)state;
	unlink(path);
	assert_int_equal(snapshot_read(path, zones, 2, on_part, &g, &written, err, sizeof(err)), 1);
	assert_int_equal(g.calls, 0);
}

static void test_check_path(void **state)
{
	char p[192], err[256];

	(void)state;
	assert_int_equal(snapshot_check_path(path, err, sizeof(err)), 0);
	snprintf(p, sizeof(p), "%s/nodir/s.json", dir);
	assert_int_equal(snapshot_check_path(p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file or directory"));
	snprintf(p, sizeof(p), "%s/x", dir);
	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(snapshot_check_path(p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_other_zones),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_check_path),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
