/*
 * fuzz_corefile.c -- fuzz target for the Corefile parser: corefile_parse,
 * then corefile_parse_key on every server block key and
 * cf_parse_duration_ms on every directive argument.
 *
 * The text is parsed as "/nonexistent/fuzz.Corefile", so a relative
 * `import` looks in a directory that does not exist and reads nothing.  An
 * input whose import argument could be an absolute path is skipped before
 * parsing (see import_unsafe), so the fuzzer never reads a real file.
 *
 * Built with --enable-fuzzer (clang -fsanitize=fuzzer) it is a libFuzzer
 * target.  Built without, main() replays every file of the corpus folder
 * given as argument (default: $TOP_SRCDIR/tests/fuzz/corpus/corefile), so
 * the corpus runs as an ordinary test in `make check`, printing TAP.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "replay.h"

#define FUZZ_PATH "/nonexistent/fuzz.Corefile"


static void init(void)
{
	static int done;
	struct stat st;

	if (done)
		return;
	done = 1;
	if (stat("/nonexistent", &st) == 0) {
		fprintf(stderr, "fuzz_corefile: /nonexistent exists; imports would read it\n");
		abort();
	}
	/* Rejected imports log warnings; keep stderr for the fuzzer. */
	log_set_level(LOGL_ERROR);
	/* Something for {$NAME} to find; none of the values holds a '/'. */
	setenv("GD_FUZZ_PORT", "1053", 1);
	setenv("GD_FUZZ_ZONE", "global", 1);
	setenv("GD_FUZZ_WORDS", "a b", 1);
	setenv("GD_FUZZ_BRACE", "{", 1);
	setenv("GD_FUZZ_EMPTY", "", 1);
}

/*
 * Could the word w..e read "import" once {$NAME} / {%NAME%} references
 * are replaced (by anything)?  Only if what is left without them is a
 * subsequence of "import".  A reference is taken from "{$" or "{%" to the
 * next '}', which covers every reference the parser replaces.
 */
static int maybe_import(const char *w, const char *e)
{
	const char *k = "import";

	while (w < e) {
		if (*w == '{' && w + 1 < e && (w[1] == '$' || w[1] == '%')) {
			while (w < e && *w != '}')
				w++;
			if (w < e)
				w++;
			continue;
		}
		while (*k && *k != *w)
			k++;
		if (!*k)
			return 0;
		k++;
		w++;
	}
	return 1;
}

/*
 * Could an `import` in text name an absolute path?  `import` is only
 * recognised as the first (unquoted) token of a line, and its argument is
 * the rest of that line (or a quoted string, which may go on over lines).
 * Conservatively: a line whose first word may read "import", followed on
 * that line by a '/' or a '{' (a variable may hold a path), or by a quote
 * with a '/' or '{' anywhere after it.
 */
static int import_unsafe(const char *s)
{
	for (const char *line = s; line; line = strchr(line, '\n')) {
		const char *w, *e, *nl;

		if (*line == '\n')
			line++;
		for (w = line; *w && *w != '\n' && isspace((unsigned char)*w); w++)
			;
		for (e = w; *e && !isspace((unsigned char)*e); e++)
			;
		if (e == w || !maybe_import(w, e))
			continue;
		nl = strchr(e, '\n');
		for (const char *c = e; *c && c != nl; c++) {
			if (*c == '/' || *c == '{')
				return 1;
			if ((*c == '"' || *c == '`') && strpbrk(c, "/{"))
				return 1;
		}
	}
	return 0;
}

/* err must read "PATH:LINE: what" (or "PATH: out of memory"). */
static void check_err(const char *err)
{
	size_t pl = strlen(FUZZ_PATH), d;

	if (strncmp(err, FUZZ_PATH ":", pl + 1) != 0)
		goto bad;
	err += pl + 1;
	if (strcmp(err, " out of memory") == 0)
		return;
	d = strspn(err, "0123456789");
	if (d == 0 || err[d] != ':' || err[d + 1] != ' ' || !err[d + 2])
		goto bad;
	return;
bad:
	fprintf(stderr, "fuzz_corefile: error message breaks the contract: \"%s\"\n", err);
	abort();
}

static void walk_dirs(const struct cf_directive *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!d[i].name || !d[i].file || d[i].line < 1
		    || (d[i].nargs && !d[i].args)
		    || (!d[i].has_block && d[i].nchildren))
			abort();
		for (size_t a = 0; a < d[i].nargs; a++) {
			long ms = -1;

			if (!d[i].args[a])
				abort();
			if (cf_parse_duration_ms(d[i].args[a], &ms) == 0 && ms < 0)
				abort();
		}
		walk_dirs(d[i].children, d[i].nchildren);
	}
}

static void walk(const struct corefile *cf)
{
	for (size_t b = 0; b < cf->nblocks; b++) {
		const struct cf_block *blk = &cf->blocks[b];

		if (!blk->file || blk->line < 1)
			abort();
		for (size_t k = 0; k < blk->nkeys; k++) {
			char zone[300], err[512];
			int port = -1;
			size_t zl;

			err[0] = '\0';
			if (corefile_parse_key(blk->keys[k], 53, zone, sizeof(zone), &port,
			    err, sizeof(err)) < 0) {
				if (!err[0])
					abort();
				continue;
			}
			zl = strlen(zone);
			if (port < 1 || port > 65535 || zl == 0 || zone[zl - 1] != '.')
				abort();
			for (size_t i = 0; i < zl; i++)
				if (isupper((unsigned char)zone[i]))
					abort();
		}
		walk_dirs(blk->dirs, blk->ndirs);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text, err[512];
	struct corefile *cf;

	init();
	if (!(text = malloc(size + 1)))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (import_unsafe(text)) {
		free(text);
		return 0;
	}
	memset(err, 'x', sizeof(err) - 1);
	err[sizeof(err) - 1] = '\0';
	cf = corefile_parse(FUZZ_PATH, text, err, sizeof(err));
	if (cf)
		walk(cf);
	else
		check_err(err);
	corefile_free(cf);
	free(text);
	return 0;
}

#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
int main(int argc, char **argv)
{
	return fuzz_replay_main(argc, argv, "corefile", NULL);
}
#endif
