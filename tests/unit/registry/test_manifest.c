/*
 * test_manifest.c -- YAML to cJSON conversion and manifest loading: scalar
 * typing, multi-document streams, anchors and the alias-bomb guard, error
 * positions, the fixtures in tests/data/manifests, all-or-nothing loading
 * and directory order (including a ConfigMap volume's ..data layout).
 *
 * Fixtures are found in $MANIFEST_DATA_DIR, else $TESTDATA/manifests (set
 * by Makefile.am), else $srcdir/tests/data/manifests, else
 * ./tests/data/manifests.  Scratch files go to a directory under $TMPDIR
 * (or /tmp) that teardown removes.
 */
#define _XOPEN_SOURCE 700

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "globaldns/log.h"
#include "globaldns/manifest.h"
#include "globaldns/yaml_json.h"

#define assert_contains(hay, needle) do { \
	const char *h_ = (hay), *n_ = (needle); \
	if (h_ == NULL || strstr(h_, n_) == NULL) \
		fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); \
} while (0)

#define PATHLEN 4096

static char data_dir[PATHLEN];

/* dir/name into buf (PATHLEN bytes); fails the test if it does not fit. */
static char *join(char *buf, const char *dir, const char *name)
{
	int n = snprintf(buf, PATHLEN, "%s/%s", dir, name);

	if (n < 0 || n >= PATHLEN)
		fail_msg("path too long: %s/%s", dir, name);
	return buf;
}

/* A fixture's path (in a static buffer). */
static const char *fixture(const char *name)
{
	static char buf[PATHLEN];

	return join(buf, data_dir, name);
}

/* Convert YAML and return the compact JSON text (caller frees), or NULL. */
static char *y2j(const char *yaml, char *err, size_t errlen)
{
	cJSON *j = yaml_json_parse(yaml, strlen(yaml), err, errlen);
	char *s;

	if (j == NULL)
		return NULL;
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	assert_non_null(s);
	return s;
}

static void expect_json(const char *yaml, const char *want)
{
	char err[256], *got = y2j(yaml, err, sizeof(err));

	if (got == NULL)
		fail_msg("YAML rejected: %s\n%s", err, yaml);
	if (strcmp(got, want) != 0) {
		fail_msg("YAML:\n%s\ngot:  %s\nwant: %s", yaml, got, want);
	}
	free(got);
}

static void expect_error(const char *yaml, const char *want)
{
	char err[256], *got = y2j(yaml, err, sizeof(err));

	if (got != NULL) {
		fail_msg("YAML accepted as %s:\n%s", got, yaml);
	}
	assert_contains(err, want);
}

static void test_yaml_scalars(void **state)
{
	(void)state;
	expect_json("n: [1, -2, +3, 1.5, .5, 5., 1e3, -1E-2, 012]",
		"[{\"n\":[1,-2,3,1.5,0.5,5,1000,-0.01,12]}]");
	expect_json("s: [0x1f, 0o7, .inf, .NaN, 1_000, 1e999, '-', +, ., 1.2.3, "
		"240.0.0.2, 2001:db8::1, 10.0.0.0/24]",
		"[{\"s\":[\"0x1f\",\"0o7\",\".inf\",\".NaN\",\"1_000\",\"1e999\","
		"\"-\",\"+\",\".\",\"1.2.3\",\"240.0.0.2\",\"2001:db8::1\","
		"\"10.0.0.0/24\"]}]");
	expect_json("b: [true, True, TRUE, false, False, FALSE, yes, no, on, off, "
		"tRUE, y]",
		"[{\"b\":[true,true,true,false,false,false,\"yes\",\"no\",\"on\","
		"\"off\",\"tRUE\",\"y\"]}]");
	expect_json("z: [null, Null, NULL, ~, '', nULL]\ne:\nf: ",
		"[{\"z\":[null,null,null,null,\"\",\"nULL\"],\"e\":null,\"f\":null}]");
	/* Quoted scalars are strings whatever they look like. */
	expect_json("q: ['1', \"2\", 'true', \"null\", '~', \"\"]",
		"[{\"q\":[\"1\",\"2\",\"true\",\"null\",\"~\",\"\"]}]");
	/* Block scalars too. */
	expect_json("l: |\n  8000\nf: >-\n  true\n  text\n",
		"[{\"l\":\"8000\\n\",\"f\":\"true text\"}]");
	/* Tags: !!str and "!" make strings; core tags resolve. */
	expect_json("t: [!!str 2, ! 4, !!int 3, !!bool true, !!null null, "
		"!!float '1.5', !custom 5]",
		"[{\"t\":[\"2\",\"4\",3,true,null,1.5,\"5\"]}]");
	/* Keys stay text. */
	expect_json("8000: a\ntrue: b\nnull: c\n~: d\n'q': e",
		"[{\"8000\":\"a\",\"true\":\"b\",\"null\":\"c\",\"~\":\"d\",\"q\":\"e\"}]");
	expect_json("{\"json\": [1, \"two\", {\"three\": null}]}",
		"[{\"json\":[1,\"two\",{\"three\":null}]}]");
	expect_json("\"caf\\u00e9\": \"\\t\"", "[{\"caf\xc3\xa9\":\"\\t\"}]");
	/* Top-level scalars and sequences are documents too. */
	expect_json("--- 5\n--- [a]\n--- text\n", "[5,[\"a\"],\"text\"]");
}

static void test_yaml_documents(void **state)
{
	char err[64];
	cJSON *j;

	(void)state;
	expect_json("", "[]");
	expect_json("# only a comment\n", "[]");
	expect_json("---\n", "[]");
	expect_json("---\n---\n...\n--- ~\n---\nx: 1\n---\n# end\n---",
		"[{\"x\":1}]");
	expect_json("a: 1\n---\nb: 2\n...\n---\nc: 3\n",
		"[{\"a\":1},{\"b\":2},{\"c\":3}]");
	/* Not NUL-terminated: only len bytes are read. */
	j = yaml_json_parse("a: 1\nb: 2", 4, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(cJSON_GetArraySize(j), 1);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(j, 0)), 1);
	cJSON_Delete(j);
	j = yaml_json_parse(NULL, 0, err, sizeof(err));
	assert_non_null(j);
	assert_int_equal(cJSON_GetArraySize(j), 0);
	cJSON_Delete(j);
	/* err may be NULL. */
	assert_null(yaml_json_parse("[", 1, NULL, 0));
}

static void test_yaml_anchors(void **state)
{
	(void)state;
	expect_json("base: &b {hosts: [a.x], n: 1}\ncopy: *b\nlist: [*b, *b]",
		"[{\"base\":{\"hosts\":[\"a.x\"],\"n\":1},"
		"\"copy\":{\"hosts\":[\"a.x\"],\"n\":1},"
		"\"list\":[{\"hosts\":[\"a.x\"],\"n\":1},{\"hosts\":[\"a.x\"],\"n\":1}]}]");
	/* Scalar anchors keep their type; an alias may be a key. */
	expect_json("a: &x 8000\nb: *x\n*x : c\nd: &y text\n*y : e",
		"[{\"a\":8000,\"b\":8000,\"8000\":\"c\",\"d\":\"text\",\"text\":\"e\"}]");
	/* An anchor on a key. */
	expect_json("&k name: v\nother: *k", "[{\"name\":\"v\",\"other\":\"name\"}]");
	/* The latest definition wins. */
	expect_json("a: &x 1\nb: *x\nc: &x [2]\nd: *x",
		"[{\"a\":1,\"b\":1,\"c\":[2],\"d\":[2]}]");
	/* Anchors do not reach into the next document. */
	expect_error("a: &x 1\n---\nb: *x\n", "line 3, column 4: undefined alias \"x\"");
	/* A node cannot contain itself. */
	expect_error("&a [*a]", "undefined alias \"a\"");
	expect_error("a: &m {b: 1}\n*m : 2", "alias \"m\" used as a key is not a scalar");
}

static void test_yaml_alias_bomb(void **state)
{
	char err[256], *yaml, *p;
	int i;

	(void)state;
	expect_error("a: &a [x,x,x,x,x,x,x,x,x,x]\n"
		"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
		"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
		"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
		"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
		"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n",
		"aliases expand to more than 1000000 nodes");

	/* One anchor of 10,000 nodes: 100 copies are the limit, 101 too many. */
	yaml = malloc(200000);
	assert_non_null(yaml);
	p = yaml + sprintf(yaml, "a: &a [x");
	for (i = 1; i < 9999; i++)
		p += sprintf(p, ",x");
	p += sprintf(p, "]\nb: [");
	for (i = 0; i < 101; i++)
		p += sprintf(p, "%s*a", i ? "," : "");
	strcpy(p, "]\n");
	assert_null(y2j(yaml, err, sizeof(err)));
	assert_contains(err, "line 2, column 305: aliases expand to more than");
	free(yaml);

	/* A few copies are fine. */
	expect_json("a: &a [1, [2]]\nb: [*a, *a, *a]",
		"[{\"a\":[1,[2]],\"b\":[[1,[2]],[1,[2]],[1,[2]]]}]");
}

static void test_yaml_depth(void **state)
{
	size_t n = YAML_JSON_MAX_DEPTH, i;
	char *yaml = malloc(4 * n + 64), err[256], *p;
	cJSON *j;

	(void)state;
	assert_non_null(yaml);
	/* The document itself is level 0: MAX_DEPTH nested sequences fit... */
	memset(yaml, '[', n);
	memset(yaml + n, ']', n);
	yaml[2 * n] = '\0';
	j = yaml_json_parse(yaml, 2 * n, err, sizeof(err));
	if (j == NULL)
		fail_msg("%s", err);
	cJSON_Delete(j);
	/* ...one more does not. */
	memset(yaml, '[', n + 1);
	memset(yaml + n + 1, ']', n + 1);
	yaml[2 * n + 2] = '\0';
	expect_error(yaml, "nesting deeper than 512 levels");

	/* Nor does an alias that would take a deep node deeper. */
	p = yaml + sprintf(yaml, "a: &a ");
	for (i = 0; i < n / 2; i++)
		*p++ = '[';
	for (i = 0; i < n / 2; i++)
		*p++ = ']';
	p += sprintf(p, "\nb: ");
	for (i = 0; i < n / 2; i++)
		*p++ = '[';
	*p++ = '*';
	*p++ = 'a';
	for (i = 0; i < n / 2; i++)
		*p++ = ']';
	*p = '\0';
	expect_error(yaml, "nesting deeper than 512 levels");
	free(yaml);
}

static void test_yaml_errors(void **state)
{
	(void)state;
	expect_error("a: 1\nmetadata:\n  name: x\n    namespace: y\n",
		"line 4, column 14: mapping values are not allowed in this context");
	expect_error("key: [a, b\nother: 1\n",
		"line 2, column 6: did not find expected ',' or ']' "
		"(while parsing a flow sequence at line 1, column 6)");
	expect_error("\"unterminated", "line 1, column 14: found unexpected end of stream");
	expect_error("a:\t1\n\tb: 2", "line 2, column 1: found a tab character");
	expect_error("spec:\n  hosts: [a]\n  resolution: DNS\n  hosts: [b]\n",
		"line 4, column 3: duplicate key \"hosts\"");
	expect_error("{a: 1, b: 2, a: 3}", "line 1, column 14: duplicate key \"a\"");
	expect_error("base: &b {a: 1}\nm:\n  <<: *b\n",
		"line 3, column 3: merge keys (<<) are not supported");
	expect_json("'<<': 1", "[{\"<<\":1}]");
	expect_error("? [a]\n: 1\n", "line 1, column 3: mapping keys must be scalars");
	expect_error("a: *nope", "line 1, column 4: undefined alias \"nope\"");
	expect_error("a: \"x\\0y\"", "line 1, column 4: string contains a NUL character");
	expect_error("\"k\\0\": 1", "line 1, column 1: string contains a NUL character");
	/* The reader reports a byte offset; it is turned into line/column. */
	expect_error("a: 1\nb: \xff\xfe\n", "line 2, column 4: invalid leading UTF-8 octet");
}

static void test_yaml_duplicate_keys_many(void **state)
{
	char *yaml = malloc(20 * 50000 + 64), *p = yaml;
	cJSON *j;
	char err[256];
	int i;

	(void)state;
	assert_non_null(yaml);
	for (i = 0; i < 50000; i++)
		p += sprintf(p, "k%d: %d\n", i, i);
	j = yaml_json_parse(yaml, strlen(yaml), err, sizeof(err));
	if (j == NULL)
		fail_msg("%s", err);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(j, 0)), 50000);
	cJSON_Delete(j);
	sprintf(p, "k777: dup\n");
	expect_error(yaml, "line 50001, column 1: duplicate key \"k777\"");
	free(yaml);
}

static void test_load_httpbin(void **state)
{
	struct se_list l;
	struct se_entry *e;
	char err[512];

	(void)state;
	se_list_init(&l);
	assert_int_equal(manifest_load_file(fixture("httpbin.yaml"), &l, err,
		sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.nrejects, 0);
	e = &l.items[0];
	assert_string_equal(e->ns, "foo");
	assert_string_equal(e->name, "httpbin-bar");
	assert_int_equal(e->nhosts, 1);
	assert_string_equal(e->hosts[0], "httpbin.bar.global");
	assert_int_equal(e->naddrs, 1);
	assert_int_equal(e->addrs[0].family, AF_INET);
	assert_memory_equal(e->addrs[0].addr, "\xf0\x00\x00\x02", 4);
	assert_int_equal(e->resolution, SE_RES_DNS);
	assert_int_equal(e->nstatus_addrs, 0);
	assert_null(e->uid);
	se_list_free(&l);
}

static char *read_fixture(const char *name, size_t *len)
{
	FILE *f = fopen(fixture(name), "rb");
	char *buf = malloc(1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, (1 << 16) - 1, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static void test_load_multi(void **state)
{
	struct se_list l;
	char err[512], *text;
	size_t len, ignored, total = 0;
	cJSON *docs, *doc;

	(void)state;
	se_list_init(&l);
	assert_int_equal(manifest_load_file(fixture("multi.yaml"), &l, err,
		sizeof(err)), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.nrejects, 0);

	assert_string_equal(l.items[0].ns, "web");
	assert_string_equal(l.items[0].name, "api-example");
	assert_int_equal(l.items[0].nhosts, 2);
	assert_string_equal(l.items[0].hosts[0], "api.example.com");
	assert_string_equal(l.items[0].hosts[1], "www.example.com");
	assert_int_equal(l.items[0].resolution, SE_RES_DNS_ROUND_ROBIN);

	assert_string_equal(l.items[1].ns, "default");
	assert_string_equal(l.items[1].name, "wildcard-global");
	assert_string_equal(l.items[1].hosts[0], "*.global");
	assert_int_equal(l.items[1].naddrs, 2);
	assert_memory_equal(l.items[1].addrs[0].addr, "\xf0\x00\x00\x0a", 4);
	assert_int_equal(l.items[1].addrs[1].family, AF_INET6);
	assert_int_equal(l.items[1].nstatus_addrs, 2);
	assert_string_equal(l.items[1].status_addrs[0].host, "*.global");
	assert_null(l.items[1].status_addrs[1].host);
	assert_int_equal(l.items[1].status_addrs[1].addr.family, AF_INET6);

	assert_string_equal(l.items[2].name, "db");
	assert_int_equal(l.items[2].resolution, SE_RES_STATIC);
	assert_int_equal(l.items[2].naddrs, 2);
	se_list_free(&l);

	/* The Deployment and the ConfigMap are counted as ignored. */
	text = read_fixture("multi.yaml", &len);
	docs = yaml_json_parse(text, len, err, sizeof(err));
	assert_non_null(docs);
	assert_int_equal(cJSON_GetArraySize(docs), 5);
	cJSON_ArrayForEach(doc, docs) {
		assert_int_equal(se_list_add_json(&l, doc, "multi.yaml", &ignored), 0);
		total += ignored;
	}
	assert_int_equal(total, 2);
	assert_int_equal(l.n, 3);
	cJSON_Delete(docs);
	free(text);
	se_list_free(&l);
}

static void test_load_json(void **state)
{
	struct se_list l;
	char err[512];

	(void)state;
	se_list_init(&l);
	assert_int_equal(manifest_load_file(fixture("single.json"), &l, err,
		sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].ns, "istio-system");
	assert_string_equal(l.items[0].uid, "3d1c3d4e-9b1a-4c5e-8a84-0d6e5f3c2b11");
	assert_string_equal(l.items[0].resource_version, "48151");
	assert_int_equal(l.items[0].nhosts, 2);

	/* `kubectl get serviceentries -A -o json` */
	assert_int_equal(manifest_load_file(fixture("list.json"), &l, err,
		sizeof(err)), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[1].ns, "foo");
	assert_string_equal(l.items[1].name, "httpbin-bar");
	assert_int_equal(l.items[1].naddrs, 1);
	assert_string_equal(l.items[2].name, "payments");
	assert_int_equal(l.items[2].naddrs, 0);
	assert_int_equal(l.items[2].nstatus_addrs, 2);
	assert_string_equal(l.items[2].status_addrs[0].host, "payments.example.com");
	assert_memory_equal(l.items[2].status_addrs[0].addr.addr,
		"\xf0\xf0\x00\x07", 4);
	assert_int_equal(l.items[2].status_addrs[1].addr.family, AF_INET6);
	assert_int_equal(l.nrejects, 0);
	se_list_free(&l);
}

static void test_load_invalid_entries(void **state)
{
	struct se_list l;
	char err[512];

	(void)state;
	se_list_init(&l);
	assert_int_equal(manifest_load_file(fixture("invalid.yaml"), &l, err,
		sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].name, "good");
	assert_int_equal(l.nrejects, 6);
	assert_string_equal(l.rejects[0].name, "star");
	assert_string_equal(l.rejects[0].reason,
		"spec.hosts[0]: \"*\": \"*\" alone is not allowed");
	assert_string_equal(l.rejects[1].reason,
		"spec.addresses[0]: invalid address \"10.0.0.1/33\"");
	assert_string_equal(l.rejects[2].reason,
		"spec.resolution: unknown value \"MAGIC\"");
	assert_string_equal(l.rejects[3].ns, "bad");
	assert_null(l.rejects[3].name);
	assert_string_equal(l.rejects[3].reason, "metadata.name: missing");
	/* A plain 8080 in YAML is a number, as kubectl would read it. */
	assert_string_equal(l.rejects[4].reason, "spec.hosts[1]: not a string");
	assert_string_equal(l.rejects[5].reason,
		"unsupported apiVersion \"networking.istio.io/v2\"");
	se_list_free(&l);
}

/* A list holding one entry, to check that failed loads leave it alone. */
static void preload(struct se_list *l)
{
	char err[512];

	se_list_init(l);
	assert_int_equal(manifest_load_file(fixture("httpbin.yaml"), l, err,
		sizeof(err)), 0);
	assert_int_equal(se_list_reject(l, "x", "y", "z"), 0);
	assert_int_equal(l->n, 1);
}

static void assert_unchanged(const struct se_list *l, const struct se_entry *items)
{
	assert_int_equal(l->n, 1);
	assert_int_equal(l->nrejects, 1);
	assert_ptr_equal(l->items, items);
	assert_string_equal(l->items[0].name, "httpbin-bar");
}

static void test_load_broken(void **state)
{
	struct se_list l;
	struct se_entry *items;
	char err[512];

	(void)state;
	preload(&l);
	items = l.items;

	assert_int_equal(manifest_load_file(fixture("broken.yaml"), &l, err,
		sizeof(err)), -1);
	assert_contains(err, "broken.yaml: line 10, column 14: mapping values "
		"are not allowed");
	assert_unchanged(&l, items);

	assert_int_equal(manifest_load_file(fixture("broken.json"), &l, err,
		sizeof(err)), -1);
	assert_contains(err, "broken.json: line 5, column ");
	assert_contains(err, "invalid JSON");
	assert_unchanged(&l, items);

	assert_int_equal(manifest_load_file(fixture("bomb.yaml"), &l, err,
		sizeof(err)), -1);
	assert_contains(err, "bomb.yaml: line ");
	assert_contains(err, "aliases expand to more than 1000000 nodes");
	assert_unchanged(&l, items);

	assert_int_equal(manifest_load_file(fixture("no-such-file.yaml"), &l, err,
		sizeof(err)), -1);
	assert_contains(err, "no-such-file.yaml: No such file or directory");
	assert_int_equal(manifest_load_path(fixture("no-such-file.yaml"), &l, err,
		sizeof(err)), -1);
	assert_contains(err, "no-such-file.yaml: No such file or directory");

	assert_int_equal(manifest_load_file(fixture("dir"), &l, err,
		sizeof(err)), -1);
	assert_contains(err, "dir: is a directory");
	assert_unchanged(&l, items);
	se_list_free(&l);
}

/* ---- temporary directories -------------------------------------------- */

static int rm_one(const char *path, const struct stat *st, int flag,
	struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/*
 * Tests that write files get a new empty directory as *state; teardown
 * removes it even when the test failed half-way.
 */
static int setup_tmpdir(void **state)
{
	const char *t = getenv("TMPDIR");
	char *dir = malloc(PATHLEN);

	if (dir == NULL)
		return -1;
	join(dir, t && *t ? t : "/tmp", "globaldns-test-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int teardown_tmpdir(void **state)
{
	char *dir = *state;
	int rc = nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	free(dir);
	return rc;
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[PATHLEN];
	FILE *f;

	f = fopen(join(path, dir, name), "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void put_entry(const char *dir, const char *file, const char *name)
{
	char text[512];

	snprintf(text, sizeof(text), "apiVersion: networking.istio.io/v1\n"
		"kind: ServiceEntry\nmetadata: {name: %s, namespace: t}\n"
		"spec: {hosts: [%s.example.com]}\n", name, name);
	put(dir, file, text);
}

static void test_load_file_edges(void **state)
{
	const char *dir = *state;
	char path[PATHLEN], err[512];
	struct se_list l;
	int fd;

	se_list_init(&l);

	/* Empty and comment-only YAML files hold no entries; that is fine. */
	put(dir, "empty.yaml", "");
	put(dir, "comment.yaml", "# nothing yet\n---\n");
	join(path, dir, "empty.yaml");
	assert_int_equal(manifest_load_file(path, &l, err, sizeof(err)), 0);
	join(path, dir, "comment.yaml");
	assert_int_equal(manifest_load_file(path, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);

	/* An empty JSON file is not JSON. */
	put(dir, "empty.json", "");
	join(path, dir, "empty.json");
	assert_int_equal(manifest_load_file(path, &l, err, sizeof(err)), -1);
	assert_contains(err, "empty.json: line 1, column 1: invalid JSON");

	/* Trailing garbage after the value. */
	put(dir, "trailing.json", "{\"kind\":\"Secret\"}\n{}\n");
	join(path, dir, "trailing.json");
	assert_int_equal(manifest_load_file(path, &l, err, sizeof(err)), -1);
	assert_contains(err, "trailing.json: line 2, column 1: invalid JSON");

	/* A UTF-8 byte order mark is skipped; the suffix is case-insensitive. */
	put(dir, "bom.JSON", "\xef\xbb\xbf{\"apiVersion\":\"networking.istio.io/v1\","
		"\"kind\":\"ServiceEntry\",\"metadata\":{\"name\":\"bom\"},"
		"\"spec\":{\"hosts\":[\"bom.example.com\"]}}");
	join(path, dir, "bom.JSON");
	assert_int_equal(manifest_load_file(path, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	put(dir, "bom.yaml", "\xef\xbb\xbf" "apiVersion: networking.istio.io/v1\n"
		"kind: ServiceEntry\nmetadata: {name: bomy}\n"
		"spec: {hosts: [bomy.example.com]}\n");
	join(path, dir, "bom.yaml");
	assert_int_equal(manifest_load_file(path, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 2);

	/* A NUL byte cannot hide the rest of a JSON file. */
	join(path, dir, "nul.json");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{}\n\0junk", 8), 8);
	close(fd);
	assert_int_equal(manifest_load_file(path, &l, err, sizeof(err)), -1);
	assert_contains(err, "nul.json: line 2, column 1: NUL byte in JSON");

	/* A file over the cap is refused without being read (sparse here). */
	join(path, dir, "huge.yaml");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)MANIFEST_MAX_FILE_SIZE + 1), 0);
	close(fd);
	assert_int_equal(manifest_load_file(path, &l, err, sizeof(err)), -1);
	assert_contains(err, "huge.yaml: larger than 64 MiB");
	assert_int_equal(l.n, 2);

	se_list_free(&l);
}

static void test_load_dir_order(void **state)
{
	struct se_list l;
	char err[512], path[PATHLEN];

	(void)state;
	se_list_init(&l);
	/* strcmp order: "10-first.yaml" < "20-second.json" < "3-third.yml";
	 * .hidden.yaml and README.txt are skipped. */
	assert_int_equal(manifest_load_path(fixture("dir"), &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.items[0].name, "first");
	assert_string_equal(l.items[1].name, "second");
	assert_string_equal(l.items[2].name, "third");
	se_list_free(&l);

	/* A trailing slash changes nothing; a file path loads that file. */
	join(path, fixture("dir"), "");
	assert_int_equal(manifest_load_path(path, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(manifest_load_path(fixture("httpbin.yaml"), &l, err,
		sizeof(err)), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.items[3].name, "httpbin-bar");
	se_list_free(&l);
}

static void test_load_dir_configmap(void **state)
{
	const char *dir = *state;
	char ts[PATHLEN], link[PATHLEN], err[512];
	struct se_list l;

	/*
	 * What the kubelet writes for a ConfigMap volume:
	 *   ..2024_05_02_09_14_07.123456789/{a.yaml,b.json}
	 *   ..data -> ..2024_05_02_09_14_07.123456789
	 *   a.yaml -> ..data/a.yaml, b.json -> ..data/b.json
	 */
	join(ts, dir, "..2024_05_02_09_14_07.123456789");
	assert_int_equal(mkdir(ts, 0755), 0);
	put_entry(ts, "a.yaml", "cm-a");
	put(ts, "b.json", "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[]}");
	join(link, dir, "..data");
	assert_int_equal(symlink("..2024_05_02_09_14_07.123456789", link), 0);
	join(link, dir, "a.yaml");
	assert_int_equal(symlink("..data/a.yaml", link), 0);
	join(link, dir, "b.json");
	assert_int_equal(symlink("..data/b.json", link), 0);
	/* A subdirectory with a manifest-like name is not a file: skipped. */
	join(link, dir, "sub.yaml");
	assert_int_equal(mkdir(link, 0755), 0);
	put_entry(link, "c.yaml", "nested");

	se_list_init(&l);
	assert_int_equal(manifest_load_path(dir, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].name, "cm-a");

	/* A dangling link fails the whole directory. */
	join(link, dir, "gone.yaml");
	assert_int_equal(symlink("..data/gone.yaml", link), 0);
	assert_int_equal(manifest_load_path(dir, &l, err, sizeof(err)), -1);
	assert_contains(err, "gone.yaml: No such file or directory");
	assert_int_equal(l.n, 1);
	se_list_free(&l);
}

static void test_load_dir_all_or_nothing(void **state)
{
	const char *dir = *state;
	char sub[PATHLEN], err[512];
	struct se_list l;
	struct se_entry *items;

	put_entry(dir, "a.yaml", "first");
	put_entry(dir, "c.yaml", "third");
	put(dir, "b.yaml", "apiVersion: networking.istio.io/v1\nkind: [\n");

	preload(&l);
	items = l.items;
	assert_int_equal(manifest_load_path(dir, &l, err, sizeof(err)), -1);
	assert_contains(err, "/b.yaml: line 3, column 1: ");
	assert_unchanged(&l, items);

	/* Fixed, everything loads, appended after what was there. */
	put_entry(dir, "b.yaml", "second");
	assert_int_equal(manifest_load_path(dir, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.items[0].name, "httpbin-bar");
	assert_string_equal(l.items[1].name, "first");
	assert_string_equal(l.items[2].name, "second");
	assert_string_equal(l.items[3].name, "third");
	assert_int_equal(l.nrejects, 1);
	se_list_free(&l);

	/* An empty directory is an empty set. */
	join(sub, dir, "empty");
	assert_int_equal(mkdir(sub, 0755), 0);
	se_list_init(&l);
	assert_int_equal(manifest_load_path(sub, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	se_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yaml_scalars),
		cmocka_unit_test(test_yaml_documents),
		cmocka_unit_test(test_yaml_anchors),
		cmocka_unit_test(test_yaml_alias_bomb),
		cmocka_unit_test(test_yaml_depth),
		cmocka_unit_test(test_yaml_errors),
		cmocka_unit_test(test_yaml_duplicate_keys_many),
		cmocka_unit_test(test_load_httpbin),
		cmocka_unit_test(test_load_multi),
		cmocka_unit_test(test_load_json),
		cmocka_unit_test(test_load_invalid_entries),
		cmocka_unit_test(test_load_broken),
		cmocka_unit_test_setup_teardown(test_load_file_edges,
			setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test(test_load_dir_order),
		cmocka_unit_test_setup_teardown(test_load_dir_configmap,
			setup_tmpdir, teardown_tmpdir),
		cmocka_unit_test_setup_teardown(test_load_dir_all_or_nothing,
			setup_tmpdir, teardown_tmpdir),
	};
	const char *d = getenv("MANIFEST_DATA_DIR"), *td = getenv("TESTDATA");
	const char *src = getenv("srcdir");

	if (d != NULL && *d)
		snprintf(data_dir, sizeof(data_dir), "%s", d);
	else if (td != NULL && *td)
		join(data_dir, td, "manifests");
	else
		join(data_dir, src && *src ? src : ".", "tests/data/manifests");
	if (access(fixture("httpbin.yaml"), R_OK) != 0) {
		fprintf(stderr, "test_manifest: no fixtures in %s; set TESTDATA "
			"(the tests/data folder) or run from the source tree\n",
			data_dir);
		return 1;
	}
	/* invalid.yaml logs a warning per entry; tests check the records. */
	log_set_level(LOGL_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
