/*
 * test_corefile.c -- unit tests for the Corefile parser, server block keys
 * and durations.  Import tests build their files in a fresh temporary
 * directory; the fixtures in tests/data/corefile are found through
 * $TESTDATA or $srcdir (as make check sets them) or the current directory.
 */
#if !defined(_GNU_SOURCE) && !defined(_XOPEN_SOURCE)
#define _XOPEN_SOURCE 700
#endif

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "globaldns/corefile.h"

static char err[512];

static struct corefile *parse_ok(const char *text)
{
	struct corefile *cf = corefile_parse("Corefile", text, err, sizeof(err));

	if (!cf)
		fail_msg("unexpected error: %s", err);
	return cf;
}

/* The parse fails and err starts with prefix and contains what. */
static void expect_err_at(const char *path, const char *text,
	const char *prefix, const char *what)
{
	struct corefile *cf = corefile_parse(path, text, err, sizeof(err));

	if (cf) {
		corefile_free(cf);
		fail_msg("parsed, expected \"%s ... %s\"", prefix, what);
	}
	if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, what))
		fail_msg("got \"%s\", expected \"%s ... %s\"", err, prefix, what);
}

static void expect_err(const char *text, const char *prefix, const char *what)
{
	expect_err_at("Corefile", text, prefix, what);
}

static void assert_args(const struct cf_directive *d, const char *name,
	size_t nargs, ...)
{
	va_list ap;

	assert_string_equal(d->name, name);
	assert_int_equal(d->nargs, nargs);
	va_start(ap, nargs);
	for (size_t i = 0; i < nargs; i++)
		assert_string_equal(d->args[i], va_arg(ap, const char *));
	va_end(ap);
}

/* Names point into cf->files, not at copies. */
static void assert_file_in(const struct corefile *cf, const char *file)
{
	for (size_t i = 0; i < cf->nfiles; i++)
		if (cf->files[i] == file)
			return;
	fail_msg("\"%s\" does not point into cf->files", file);
}

static void test_basic(void **state)
{
	struct corefile *cf;
	const struct cf_block *b;

	(void)state;
	cf = parse_ok(
		"# header comment\n"
		"global:1053 {\n"
		"\terrors # trailing comment\n"
		"\tforward . 1.1.1.1 8.8.8.8 {\n"
		"\t\texcept global\n"
		"\t\tmax_fails 3\n"
		"\t}\n"
		"}\n"
		"\n"
		".:53 {\n"
		"\twhoami\n"
		"}\n");
	assert_int_equal(cf->nblocks, 2);
	assert_int_equal(cf->nfiles, 1);
	b = &cf->blocks[0];
	assert_int_equal(b->nkeys, 1);
	assert_string_equal(b->keys[0], "global:1053");
	assert_ptr_equal(b->file, cf->files[0]);
	assert_string_equal(b->file, "Corefile");
	assert_int_equal(b->line, 2);
	assert_int_equal(b->ndirs, 2);
	assert_args(&b->dirs[0], "errors", 0);
	assert_int_equal(b->dirs[0].line, 3);
	assert_int_equal(b->dirs[0].has_block, 0);
	assert_args(&b->dirs[1], "forward", 3, ".", "1.1.1.1", "8.8.8.8");
	assert_int_equal(b->dirs[1].has_block, 1);
	assert_int_equal(b->dirs[1].nchildren, 2);
	assert_args(&b->dirs[1].children[0], "except", 1, "global");
	assert_int_equal(b->dirs[1].children[0].line, 5);
	assert_ptr_equal(b->dirs[1].children[1].file, cf->files[0]);
	assert_args(&b->dirs[1].children[1], "max_fails", 1, "3");
	assert_int_equal(b->dirs[1].children[1].line, 6);
	assert_string_equal(cf->blocks[1].keys[0], ".:53");
	assert_int_equal(cf->blocks[1].line, 10);
	assert_args(&cf->blocks[1].dirs[0], "whoami", 0);
	corefile_free(cf);
	corefile_free(NULL);
}

static void test_keys(void **state)
{
	struct corefile *cf;
	const struct cf_block *b;

	(void)state;
	cf = parse_ok("a.org, b.org,\n  c.org d.org,e.org , f.org {\n}\n"
		"g.org\n{\n\twhoami\n}\n");
	assert_int_equal(cf->nblocks, 2);
	b = &cf->blocks[0];
	assert_int_equal(b->nkeys, 6);
	for (size_t i = 0; i < 6; i++) {
		char want[8];

		snprintf(want, sizeof(want), "%c.org", (char)('a' + i));
		assert_string_equal(b->keys[i], want);
	}
	assert_int_equal(b->line, 1);
	assert_int_equal(b->ndirs, 0);
	assert_int_equal(cf->blocks[1].nkeys, 1);
	assert_string_equal(cf->blocks[1].keys[0], "g.org");
	assert_args(&cf->blocks[1].dirs[0], "whoami", 0);
	corefile_free(cf);
}

static void test_quotes(void **state)
{
	struct corefile *cf;
	const struct cf_directive *d;

	(void)state;
	cf = parse_ok(
		". {\n"
		"\ttemplate \"say \\\"hi\\\" \\\\ \\n\" `raw \\\" #x` \"\" \"{\" \"}\"\n"
		"\tanswer \"two\n"
		"lines\" next\n"
		"\tafter a#b c#d\n"
		"}\n");
	d = cf->blocks[0].dirs;
	assert_int_equal(cf->blocks[0].ndirs, 3);
	assert_args(&d[0], "template", 5, "say \"hi\" \\ \\n", "raw \\\" #x",
		"", "{", "}");
	assert_int_equal(d[0].has_block, 0);
	assert_args(&d[1], "answer", 2, "two\nlines", "next");
	assert_int_equal(d[1].line, 3);
	assert_args(&d[2], "after", 2, "a#b", "c#d");
	assert_int_equal(d[2].line, 5);
	corefile_free(cf);

	cf = parse_ok(". {\r\n\twhoami\r\n}\r\n");
	assert_args(&cf->blocks[0].dirs[0], "whoami", 0);
	corefile_free(cf);
}

static void test_env(void **state)
{
	struct corefile *cf;

	(void)state;
	setenv("GDNS_TEST_ZONE", "example.org", 1);
	setenv("GDNS_TEST_UP", "10.0.0.1", 1);
	setenv("GDNS_TEST_LOOP", "{$GDNS_TEST_ZONE}", 1);
	unsetenv("GDNS_TEST_UNSET");
	cf = parse_ok("{$GDNS_TEST_ZONE}:53 {\n"
		"\tforward . {%GDNS_TEST_UP%}:5353 pre{$GDNS_TEST_UNSET}post"
		" \"q-{$GDNS_TEST_UP}\" {$GDNS_TEST_LOOP} {$ {$} {$GDNS_TEST_UP\n"
		"}\n");
	assert_string_equal(cf->blocks[0].keys[0], "example.org:53");
	assert_args(&cf->blocks[0].dirs[0], "forward", 8, ".", "10.0.0.1:5353",
		"prepost", "q-10.0.0.1", "{$GDNS_TEST_ZONE}", "{$", "{$}",
		"{$GDNS_TEST_UP");
	corefile_free(cf);
}

static void test_snippets(void **state)
{
	struct corefile *cf;
	const struct cf_block *b;

	(void)state;
	cf = parse_ok(
		"(common) {\n"
		"\terrors\n"
		"\tlog {\n"
		"\t\tclass denial\n"
		"\t}\n"
		"}\n"
		"(up) {\n"
		"\tmax_fails 2\n"
		"}\n"
		". {\n"
		"\timport common\n"
		"\tforward . 1.1.1.1 {\n"
		"\t\timport up\n"
		"\t}\n"
		"\timport common\n"
		"}\n");
	assert_int_equal(cf->nblocks, 1);
	b = &cf->blocks[0];
	assert_int_equal(b->ndirs, 5);
	assert_args(&b->dirs[0], "errors", 0);
	assert_int_equal(b->dirs[0].line, 2);
	assert_args(&b->dirs[1], "log", 0);
	assert_args(&b->dirs[1].children[0], "class", 1, "denial");
	assert_int_equal(b->dirs[1].children[0].line, 4);
	assert_args(&b->dirs[2], "forward", 2, ".", "1.1.1.1");
	assert_int_equal(b->dirs[2].line, 12);
	assert_args(&b->dirs[2].children[0], "max_fails", 1, "2");
	assert_int_equal(b->dirs[2].children[0].line, 8);
	assert_args(&b->dirs[3], "errors", 0);
	assert_args(&b->dirs[4], "log", 0);
	corefile_free(cf);
}

static void test_braceless(void **state)
{
	struct corefile *cf;
	const struct cf_block *b;

	(void)state;
	cf = parse_ok(".:53\nforward . 1.1.1.1 {\n\texcept x\n}\nlog\n");
	assert_int_equal(cf->nblocks, 1);
	b = &cf->blocks[0];
	assert_string_equal(b->keys[0], ".:53");
	assert_int_equal(b->ndirs, 2);
	assert_args(&b->dirs[0], "forward", 2, ".", "1.1.1.1");
	assert_args(&b->dirs[0].children[0], "except", 1, "x");
	assert_args(&b->dirs[1], "log", 0);
	assert_int_equal(b->dirs[1].line, 5);
	corefile_free(cf);

	cf = parse_ok("(s) {\n\twhoami\n}\n.:53 example.org\nimport s\n");
	assert_int_equal(cf->blocks[0].nkeys, 2);
	assert_args(&cf->blocks[0].dirs[0], "whoami", 0);
	corefile_free(cf);

	cf = parse_ok(".:53\n");
	assert_int_equal(cf->nblocks, 1);
	assert_int_equal(cf->blocks[0].ndirs, 0);
	corefile_free(cf);
}

static void test_empty_and_deep(void **state)
{
	struct corefile *cf;
	const struct cf_directive *d;

	(void)state;
	cf = parse_ok("");
	assert_int_equal(cf->nblocks, 0);
	corefile_free(cf);
	cf = parse_ok("# only a comment\n\n");
	assert_int_equal(cf->nblocks, 0);
	corefile_free(cf);

	cf = parse_ok(". {\n}\nx.org {\n\ta {\n\t\tb c {\n\t\t\td {\n\t\t\t}\n"
		"\t\t}\n\t}\n\te {\n\t}\n}\n");
	assert_int_equal(cf->nblocks, 2);
	assert_int_equal(cf->blocks[0].ndirs, 0);
	d = cf->blocks[1].dirs;
	assert_int_equal(cf->blocks[1].ndirs, 2);
	assert_args(&d[0], "a", 0);
	assert_args(&d[0].children[0], "b", 1, "c");
	assert_args(&d[0].children[0].children[0], "d", 0);
	assert_int_equal(d[0].children[0].children[0].has_block, 1);
	assert_int_equal(d[0].children[0].children[0].nchildren, 0);
	assert_int_equal(d[0].children[0].children[0].line, 6);
	assert_args(&d[1], "e", 0);
	assert_int_equal(d[1].has_block, 1);
	assert_int_equal(d[1].nchildren, 0);
	corefile_free(cf);
}

static void test_errors(void **state)
{
	char deep[1024] = ". {\n";

	(void)state;
	expect_err("# comment\n\n.:53 {\n\terrors\n\twhoami\n}\n}\n",
		"Corefile:7: ", "unexpected '}'");
	expect_err(".:53 {\n\twhoami\n", "Corefile:1: ", "unterminated block");
	expect_err(".:53 {\n\tforward . x {\n\t\texcept y\n\t}\n",
		"Corefile:1: ", "unterminated block");
	expect_err(". {\n\tforward . x {\n\t\texcept y\n",
		"Corefile:2: ", "unterminated block");
	expect_err(". {\n\twhoami\n\ttemplate \"abc\n\n}\n",
		"Corefile:3: ", "unterminated quoted string");
	expect_err(". {\n\tx `abc\n}\n", "Corefile:2: ", "unterminated quoted");
	expect_err(". {\n\timport nothere\n}\n", "Corefile:2: ",
		"import nothere: no snippet by that name and no file nothere");
	expect_err(". {\n\twhoami\n}\nforward . 1.1.1.1\n", "Corefile:4: ",
		"\"forward\" is outside any server block");
	expect_err(". {\n}\nexample.org\n\twhoami\n", "Corefile:3: ",
		"outside any server block");
	expect_err("{\n\twhoami\n}\n", "Corefile:1: ", "server block with no keys");
	expect_err(". {\n}\n, {\n}\n", "Corefile:3: ", "server block with no keys");
	expect_err(".:53 { whoami\n}\n", "Corefile:1: ",
		"'{' must be the last token on its line");
	expect_err(". {\n\tforward . { x\n\t}\n}\n", "Corefile:2: ",
		"'{' must be the last token on its line");
	expect_err(". {\n\twhoami }\n", "Corefile:2: ",
		"'}' must be on a line of its own");
	expect_err(". {\n\tx {\n\t} y\n}\n", "Corefile:3: ",
		"'}' must be on a line of its own");
	expect_err(". {\n\tforward . x\n\t{\n\t}\n}\n", "Corefile:3: ",
		"'{' must end the line of the directive it opens");
	expect_err("a.org,\n", "Corefile:1: ", "expected another key after ','");
	expect_err(". {\n\t\"\" x\n}\n", "Corefile:2: ", "empty directive name");
	expect_err(". {\n\timport a b\n}\n", "Corefile:2: ",
		"import needs exactly one argument");
	expect_err(". {\n\timport\n}\n", "Corefile:2: ",
		"import needs exactly one argument");
	expect_err("(a) {\n}\n(a) {\n}\n", "Corefile:3: ",
		"snippet (a) is defined twice");
	expect_err("(a)\n. {\n}\n", "Corefile:1: ", "snippet (a): expected '{'");
	expect_err("(a) {\n\twhoami\n", "Corefile:1: ", "unterminated block");
	expect_err("(a) {\n\twhoami\n\timport a\n}\n. {\n\timport a\n}\n",
		"Corefile:3: ", "import a: imports nested more than 16 deep");
	expect_err_at("conf/Corefile", "\n. {\n\tx {\n", "conf/Corefile:3: ",
		"unterminated block");

	for (int i = 0; i < 40; i++)
		strcat(deep, "x {\n");
	expect_err(deep, "Corefile:33: ", "blocks nested more than 32 deep");
}

struct tmp {
	char dir[64];
	char path[512];
};

static int tmp_setup(void **state)
{
	struct tmp *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	strcpy(t->dir, "/tmp/test_corefile.XXXXXX");
	if (!mkdtemp(t->dir)) {
		free(t);
		return -1;
	}
	*state = t;
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
	struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int tmp_teardown(void **state)
{
	struct tmp *t = *state;
	int rc = nftw(t->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);

	free(t);
	return rc;
}

/* Write dir/name and return the path in t->path. */
static const char *tmp_file(struct tmp *t, const char *name, const char *text)
{
	FILE *f;

	snprintf(t->path, sizeof(t->path), "%s/%s", t->dir, name);
	assert_non_null(f = fopen(t->path, "w"));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return t->path;
}

static void test_import_files(void **state)
{
	struct tmp *t = *state;
	struct corefile *cf;
	char conf[600], want[600];

	snprintf(conf, sizeof(conf), "%s/conf.d", t->dir);
	assert_int_equal(mkdir(conf, 0700), 0);
	tmp_file(t, "conf.d/b.conf", "b.org {\n\twhoami\n}\n");
	tmp_file(t, "conf.d/a.conf", "(shared) {\n\tlog\n}\n\na.org {\n\timport ../plugins\n}\n");
	tmp_file(t, "plugins", "errors\ncache 30\n");
	tmp_file(t, "up", "max_fails 2\n");
	tmp_file(t, "Corefile",
		"import conf.d/*.conf\n"
		"import none.d/*\n"
		". {\n"
		"\timport shared\n"
		"\tforward . 1.1.1.1 {\n"
		"\t\timport up\n"
		"\t}\n"
		"\timport plugins\n"
		"}\n");
	cf = corefile_load(t->path, err, sizeof(err));
	if (!cf)
		fail_msg("%s", err);
	assert_int_equal(cf->nblocks, 3);
	assert_string_equal(cf->blocks[0].keys[0], "a.org");
	snprintf(want, sizeof(want), "%s/conf.d/a.conf", t->dir);
	assert_string_equal(cf->blocks[0].file, want);
	assert_int_equal(cf->blocks[0].line, 5);
	assert_args(&cf->blocks[0].dirs[0], "errors", 0);
	assert_args(&cf->blocks[0].dirs[1], "cache", 1, "30");
	assert_int_equal(cf->blocks[0].dirs[1].line, 2);
	assert_string_equal(cf->blocks[1].keys[0], "b.org");
	assert_args(&cf->blocks[2].dirs[0], "log", 0);
	assert_ptr_equal(cf->blocks[2].dirs[0].file, cf->blocks[0].file);
	assert_args(&cf->blocks[2].dirs[1].children[0], "max_fails", 1, "2");
	assert_int_equal(cf->blocks[2].dirs[1].children[0].line, 1);
	assert_args(&cf->blocks[2].dirs[3], "cache", 1, "30");
	/*
	 * Corefile, a.conf, b.conf, conf.d/../plugins, plugins (once), up:
	 * names are stored once as spelt, not resolved.
	 */
	assert_int_equal(cf->nfiles, 6);
	assert_file_in(cf, cf->blocks[0].dirs[0].file);
	assert_file_in(cf, cf->blocks[1].file);
	assert_file_in(cf, cf->blocks[2].dirs[1].children[0].file);
	corefile_free(cf);
}

static void test_import_errors(void **state)
{
	struct tmp *t = *state;
	char pfx[600];

	tmp_file(t, "loop.conf", "\nimport loop.conf\n");
	tmp_file(t, "bad.conf", "whoami\nforward . \"1.1.1.1\n");
	tmp_file(t, "Corefile", ". {\n\timport loop.conf\n}\n");
	snprintf(pfx, sizeof(pfx), "%s/loop.conf:2: ", t->dir);
	assert_null(corefile_load(t->path, err, sizeof(err)));
	if (strncmp(err, pfx, strlen(pfx)) != 0 || !strstr(err, "nested more than 16"))
		fail_msg("got \"%s\"", err);

	tmp_file(t, "Corefile", "# x\n. {\n\timport bad.conf\n}\n");
	snprintf(pfx, sizeof(pfx), "%s/bad.conf:2: ", t->dir);
	expect_err_at(t->path, "# x\n. {\n\timport bad.conf\n}\n", pfx,
		"unterminated quoted string");

	snprintf(pfx, sizeof(pfx), "%s/Corefile:3: ", t->dir);
	expect_err_at(t->path, "\n. {\n\timport missing.conf\n}\n", pfx,
		"import missing.conf: no snippet by that name and no file");
	snprintf(pfx, sizeof(pfx), "%s/nope/Corefile", t->dir);
	assert_null(corefile_load(pfx, err, sizeof(err)));
	assert_int_equal(strncmp(err, pfx, strlen(pfx)), 0);
	assert_non_null(strstr(err, "No such file"));
}

/* $TESTDATA (set by make check), else $srcdir, else the current dir. */
static const char *datadir(char *buf, size_t len)
{
	const char *data = getenv("TESTDATA"), *src = getenv("srcdir");

	if (data && *data)
		snprintf(buf, len, "%s/corefile", data);
	else
		snprintf(buf, len, "%s/tests/data/corefile", src ? src : ".");
	return buf;
}

static void test_fixtures(void **state)
{
	static const struct {
		const char *name;
		int line;
		const char *what;
	} bad[] = {
		{ "bad-unexpected-close.Corefile", 7, "unexpected '}'" },
		{ "bad-unterminated-block.Corefile", 1, "unterminated block" },
		{ "bad-unterminated-quote.Corefile", 4, "unterminated quoted" },
		{ "bad-unknown-snippet.Corefile", 2, "no snippet by that name" },
		{ "bad-outside-block.Corefile", 4, "outside any server block" },
		{ "bad-no-keys.Corefile", 5, "server block with no keys" },
		{ "bad-brace-mid-line.Corefile", 1, "'{' must be the last token" },
		{ "bad-import-loop.Corefile", 2, "nested more than 16" },
	};
	char dir[256], path[512], pfx[600];
	struct corefile *cf;

	(void)state;
	datadir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/good-full.Corefile", dir);
	if (!(cf = corefile_load(path, err, sizeof(err))))
		fail_msg("%s", err);
	assert_int_equal(cf->nblocks, 2);
	assert_int_equal(cf->blocks[0].nkeys, 2);
	assert_string_equal(cf->blocks[0].keys[1], "dns://global.example:1053");
	assert_int_equal(cf->blocks[0].ndirs, 4);
	assert_args(&cf->blocks[0].dirs[2].children[0], "kubeconfig", 1,
		"/etc/globaldns/kubeconfig");
	assert_args(&cf->blocks[1].dirs[2], "forward", 3, ".", "1.1.1.1", "8.8.8.8");
	corefile_free(cf);

	snprintf(path, sizeof(path), "%s/good-braceless.Corefile", dir);
	if (!(cf = corefile_load(path, err, sizeof(err))))
		fail_msg("%s", err);
	assert_int_equal(cf->nblocks, 1);
	assert_int_equal(cf->blocks[0].ndirs, 2);
	corefile_free(cf);

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, bad[i].name);
		snprintf(pfx, sizeof(pfx), "%s:%d: ", path, bad[i].line);
		cf = corefile_load(path, err, sizeof(err));
		corefile_free(cf);
		if (cf || strncmp(err, pfx, strlen(pfx)) != 0 || !strstr(err, bad[i].what))
			fail_msg("%s: got \"%s\", want \"%s... %s\"", bad[i].name,
				cf ? "(parsed)" : err, pfx, bad[i].what);
	}
}

static void check_key(const char *key, int dport, const char *zone, int port)
{
	char z[256];
	int p = -1;

	if (corefile_parse_key(key, dport, z, sizeof(z), &p, err, sizeof(err)))
		fail_msg("\"%s\": %s", key, err);
	assert_string_equal(z, zone);
	assert_int_equal(p, port);
}

static void check_bad_key(const char *key, const char *what)
{
	char z[256];
	int p = -1;

	err[0] = '\0';
	if (corefile_parse_key(key, 53, z, sizeof(z), &p, err, sizeof(err)) == 0)
		fail_msg("\"%s\" accepted as %s:%d", key, z, p);
	if (!strstr(err, what))
		fail_msg("\"%s\": got \"%s\", want \"%s\"", key, err, what);
	assert_int_equal(p, -1);
}

static void test_parse_key(void **state)
{
	char z[4];
	int p;

	(void)state;
	check_key("global:1053", 53, "global.", 1053);
	check_key("dns://Global.:53", 1053, "global.", 53);
	check_key(".", 1053, ".", 1053);
	check_key(".:53", 1053, ".", 53);
	check_key(":5353", 53, ".", 5353);
	check_key("Example.ORG", 53, "example.org.", 53);
	check_key("DNS://example.org:065535", 53, "example.org.", 65535);
	check_key("10.in-addr.arpa", 53, "10.in-addr.arpa.", 53);
	check_key("_tcp.svc-1.example", 53, "_tcp.svc-1.example.", 53);
	check_bad_key("tls://.:853", "only plain DNS");
	check_bad_key("https://.:443", "https:// is not supported");
	check_bad_key("grpc://.", "not supported");
	check_bad_key("QUIC://.", "not supported");
	check_bad_key("foo://.", "foo:// is not supported");
	check_bad_key("x:99999", "out of range");
	check_bad_key("x:0", "out of range");
	check_bad_key("x:99999999999999999999", "out of range");
	check_bad_key("x:", "the port is not a number");
	check_bad_key("x:5a", "the port is not a number");
	check_bad_key("x:-5", "the port is not a number");
	check_bad_key("[::1]:53", "more than one ':'");
	check_bad_key("10.0.0.0/8", "CIDR");
	check_bad_key("a..b", "empty label");
	check_bad_key(".example.org", "empty label");
	check_bad_key("bad!zone", "only letters");
	check_bad_key("a b", "only letters");
	check_bad_key("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.org",
		"label longer than 63");
	check_bad_key("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
		"aaaaaaaaaa", "longer than 253");
	assert_int_equal(corefile_parse_key("example.org", 53, z, sizeof(z), &p,
		err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not fit"));
}

static void check_duration(const char *s, int rc, long want)
{
	long ms = -42;

	if (cf_parse_duration_ms(s, &ms) != rc)
		fail_msg("\"%s\": want rc %d", s ? s : "(null)", rc);
	if (rc == 0 && ms != want)
		fail_msg("\"%s\": got %ld ms, want %ld", s ? s : "(null)", ms, want);
}

static void test_duration(void **state)
{
	(void)state;
	check_duration("500ms", 0, 500);
	check_duration("30s", 0, 30000);
	check_duration("1m30s", 0, 90000);
	check_duration("1h30m", 0, 5400000);
	check_duration("1.5s", 0, 1500);
	check_duration(".5m", 0, 30000);
	check_duration("10", 0, 10000);
	check_duration("2.5", 0, 2500);
	check_duration("0", 0, 0);
	check_duration("+2s", 0, 2000);
	check_duration("1500us", 0, 1);
	check_duration("1500\xc2\xb5s", 0, 1);
	check_duration("999999ns", 0, 0);
	check_duration("1ms999999ns", 0, 1);
	check_duration("-1s", -1, 0);
	check_duration("abc", -1, 0);
	check_duration("", -1, 0);
	check_duration(NULL, -1, 0);
	check_duration("1m30", -1, 0);
	check_duration("s", -1, 0);
	check_duration(".s", -1, 0);
	check_duration("1x", -1, 0);
	check_duration("1 s", -1, 0);
	check_duration("+", -1, 0);
	check_duration("+-1s", -1, 0);
	check_duration("99999999999999999999h", -1, 0);
	check_duration("9999999999h", -1, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_snippets),
		cmocka_unit_test(test_braceless),
		cmocka_unit_test(test_empty_and_deep),
		cmocka_unit_test(test_errors),
		cmocka_unit_test_setup_teardown(test_import_files, tmp_setup, tmp_teardown),
		cmocka_unit_test_setup_teardown(test_import_errors, tmp_setup, tmp_teardown),
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_parse_key),
		cmocka_unit_test(test_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
