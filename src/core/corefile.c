/*
 * corefile.c -- Corefile lexer and parser (CoreDNS / Caddyfile syntax).
 *
 * The text is lexed into a flat token array.  An `import` line is replaced
 * in place by the tokens of the snippet or files it names when the parser
 * reaches it, so imports work the same at top level, in server blocks and
 * in directive blocks.  The tree is built inside the struct corefile as it
 * goes, so corefile_free() also cleans up after a failed parse.
 */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/readfile.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"

#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_IMPORT_DEPTH 16
#define MAX_NESTING 32

enum tok_kind { TK_WORD, TK_OPEN, TK_CLOSE };

struct tok {
	char *text;
	int line;
	int file;               /* index into corefile.files */
	int depth;              /* import depth */
	unsigned char kind;
	unsigned char nl;       /* first token on its line */
	unsigned char quoted;
};

struct toks {
	struct tok *v;
	size_t n, cap;
};

struct snippet {
	char *name;
	struct toks body;
};

struct parser {
	const char *path;
	struct corefile *cf;
	struct toks t;
	size_t pos;
	struct snippet *snips;
	size_t nsnips;
	char *err;
	size_t errlen;
};

/* Room for one more zeroed element after the n there are; the array, or
 * NULL (v kept).  The trees are small: capacity is not remembered. */
static void *grow(void *v, size_t n, size_t size)
{
	size_t cap = n;

	return grow_array(&v, &cap, n + 1, size) < 0 ? NULL : v;
}

/* "FILE:LINE: message" (where t came from) into err; returns -1. */
static __attribute__((format(printf, 3, 4)))
int perr(struct parser *p, const struct tok *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->err || !p->errlen)
		return -1;
	n = snprintf(p->err, p->errlen, "%s:%d: ", p->cf->files[t->file], t->line);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int oom(struct parser *p)
{
	errf(p->err, p->errlen, "%s: out of memory", p->path);
	return -1;
}

static void toks_clear(struct toks *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].text);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int toks_reserve(struct toks *t, size_t n)
{
	struct tok *nv;
	size_t cap = t->cap ? t->cap : 64;

	if (n <= t->cap)
		return 0;
	while (cap < n)
		cap *= 2;
	if (!(nv = realloc(t->v, cap * sizeof(*nv))))
		return -1;
	t->v = nv;
	t->cap = cap;
	return 0;
}

static int add_file(struct corefile *cf, const char *name)
{
	char **nf;

	for (size_t i = 0; i < cf->nfiles; i++)
		if (strcmp(cf->files[i], name) == 0)
			return (int)i;
	if (!(nf = grow(cf->files, cf->nfiles, sizeof(*nf))))
		return -1;
	cf->files = nf;
	if (!(nf[cf->nfiles] = strdup(name)))
		return -1;
	return (int)cf->nfiles++;
}

/*
 * Replace {$NAME} and {%NAME%} by the variable's value.  One pass: a value
 * that itself contains {$X} is kept as it is, so nothing can loop.
 */
static char *envsubst(const char *s, size_t len)
{
	struct strbuf b = { 0 };
	size_t i = 0;

	if (strbuf_add(&b, "", 0))
		return NULL;
	while (i < len) {
		if (s[i] == '{' && i + 2 < len && (s[i + 1] == '$' || s[i + 1] == '%')) {
			const char *end = s[i + 1] == '$' ? "}" : "%}";
			size_t el = strlen(end), j = i + 2;
			char name[256];

			while (j < len && !strchr("{}%$", s[j]))
				j++;
			if (j > i + 2 && j - (i + 2) < sizeof(name) &&
			    j + el <= len && memcmp(s + j, end, el) == 0) {
				const char *v;

				memcpy(name, s + i + 2, j - (i + 2));
				name[j - (i + 2)] = '\0';
				if ((v = getenv(name)) && strbuf_add(&b, v, strlen(v)))
					goto fail;
				i = j + el;
				continue;
			}
		}
		if (strbuf_add(&b, s + i++, 1))
			goto fail;
	}
	return b.p;
fail:
	free(b.p);
	return NULL;
}

/*
 * Append the tokens of text to out.  Enforces the line rules that need
 * raw tokens: `{` ends its line, `}` stands on a line of its own.
 */
static int lex(struct parser *p, const char *s, int file, int depth,
	struct toks *out)
{
	struct strbuf b = { 0 };
	struct tok prev = { .kind = TK_WORD, .file = file };
	int line = 1, nl = 1, rc = -1;

	if (strbuf_add(&b, "", 0))
		return oom(p);
	while (*s) {
		struct tok t = { .line = line, .file = file, .depth = depth };

		if (isspace((unsigned char)*s)) {
			if (*s++ == '\n') {
				line++;
				nl = 1;
			}
			continue;
		}
		if (*s == '#') {
			while (*s && *s != '\n')
				s++;
			continue;
		}
		t.nl = (unsigned char)nl;
		b.len = 0;
		b.p[0] = '\0';
		if (*s == '"' || *s == '`') {
			char q = *s++;

			for (t.quoted = 1; *s != q; s++) {
				if (!*s) {
					perr(p, &t, "unterminated quoted string");
					goto out;
				}
				if (q == '"' && *s == '\\' && (s[1] == '"' || s[1] == '\\'))
					s++;
				if (*s == '\n')
					line++;
				if (strbuf_add(&b, s, 1))
					goto nomem;
			}
			s++;
		} else {
			const char *start = s;

			while (*s && !isspace((unsigned char)*s))
				s++;
			if (strbuf_add(&b, start, (size_t)(s - start)))
				goto nomem;
			if (b.len == 1 && (b.p[0] == '{' || b.p[0] == '}'))
				t.kind = b.p[0] == '{' ? TK_OPEN : TK_CLOSE;
		}
		if (!nl && prev.kind == TK_OPEN) {
			perr(p, &prev, "'{' must be the last token on its line (quote it to use it as an argument)");
			goto out;
		}
		if (!nl && (prev.kind == TK_CLOSE || t.kind == TK_CLOSE)) {
			perr(p, prev.kind == TK_CLOSE ? &prev : &t,
				"'}' must be on a line of its own (quote it to use it as an argument)");
			goto out;
		}
		if (toks_reserve(out, out->n + 1) || !(t.text = envsubst(b.p, b.len)))
			goto nomem;
		out->v[out->n++] = t;
		prev = t;
		nl = 0;
	}
	rc = 0;
	goto out;
nomem:
	oom(p);
out:
	free(b.p);
	return rc;
}

/* Read a whole file; NULL with a reason in why. */
static char *slurp(const char *path, char *why, size_t whylen)
{
	char *buf;
	size_t n;

	if (read_whole_file(path, SIZE_MAX / 2, &buf, &n) < 0) {
		errf(why, whylen, "%s", strerror(errno));
		return NULL;
	}
	if (strlen(buf) != n) {         /* a NUL byte has no business in a text file */
		errf(why, whylen, "contains a NUL byte");
		free(buf);
		return NULL;
	}
	return buf;
}

/* An imported file must close every block it opens. */
static int balanced(struct parser *p, const struct toks *t, size_t from)
{
	size_t open = from;
	int depth = 0;

	for (size_t i = from; i < t->n; i++) {
		if (t->v[i].kind == TK_OPEN && depth++ == 0)
			open = i;
		else if (t->v[i].kind == TK_CLOSE && --depth < 0)
			return perr(p, &t->v[i], "unexpected '}': no block is open");
	}
	if (depth)
		return perr(p, &t->v[open], "unterminated block: no '}' closes the '{' on this line");
	return 0;
}

/* Lex every file matching pat (relative to the importing file's dir). */
static int import_files(struct parser *p, const char *pat,
	const struct tok *from, struct toks *out)
{
	const char *importer = p->cf->files[from->file];
	const char *slash = strrchr(importer, '/');
	size_t len = strlen(pat) + strlen(importer) + 2;
	char *full = malloc(len);
	glob_t g;
	int rc, ret = -1;

	if (!full)
		return oom(p);
	if (pat[0] == '/' || !slash)
		snprintf(full, len, "%s", pat);
	else
		snprintf(full, len, "%.*s/%s", (int)(slash - importer), importer, pat);
	if ((rc = glob(full, 0, NULL, &g)) == GLOB_NOMATCH && strpbrk(pat, "*?[")) {
		/* As in Caddy, a glob that matches nothing is not an error. */
		log_warning("%s:%d: import %s: no files match", importer, from->line, full);
		ret = 0;
	} else if (rc == GLOB_NOMATCH) {
		perr(p, from, "import %s: no snippet by that name and no file %s", pat, full);
	} else if (rc != 0) {
		perr(p, from, "import %s: cannot expand %s", pat, full);
	}
	free(full);
	if (rc) {
		globfree(&g);
		return ret;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		char why[128], *text = slurp(g.gl_pathv[i], why, sizeof(why));
		size_t first = out->n;
		int idx;

		if (!text) {
			perr(p, from, "import %s: %s: %s", pat, g.gl_pathv[i], why);
			goto out;
		}
		idx = add_file(p->cf, g.gl_pathv[i]);
		rc = idx < 0 ? oom(p) : lex(p, text, idx, from->depth + 1, out);
		free(text);
		if (rc || balanced(p, out, first))
			goto out;
	}
	ret = 0;
out:
	globfree(&g);
	return ret;
}

static struct tok *peek(struct parser *p)
{
	return p->pos < p->t.n ? &p->t.v[p->pos] : NULL;
}

static int is_import(const struct tok *t)
{
	return t && t->kind == TK_WORD && !t->quoted && t->nl &&
		strcmp(t->text, "import") == 0;
}

/* Replace the `import ARG` line at p->pos by the tokens it names. */
static int do_import(struct parser *p)
{
	struct tok *t = &p->t.v[p->pos], *arg = t + 1;
	struct toks ins = { 0 };
	size_t i;

	if (p->pos + 1 >= p->t.n || arg->nl || arg->kind != TK_WORD ||
	    (p->pos + 2 < p->t.n && !arg[1].nl))
		return perr(p, t, "import needs exactly one argument: a snippet name or a file (glob)");
	if (t->depth >= MAX_IMPORT_DEPTH)
		return perr(p, t, "import %s: imports nested more than %d deep (does it import itself?)",
			arg->text, MAX_IMPORT_DEPTH);
	for (i = 0; i < p->nsnips && strcmp(p->snips[i].name, arg->text); i++)
		;
	if (i < p->nsnips) {
		const struct toks *body = &p->snips[i].body;

		if (toks_reserve(&ins, body->n))
			return oom(p);
		for (; ins.n < body->n; ins.n++) {
			ins.v[ins.n] = body->v[ins.n];
			ins.v[ins.n].depth = t->depth + 1;
			if (!(ins.v[ins.n].text = strdup(body->v[ins.n].text)))
				goto nomem;
		}
	} else if (import_files(p, arg->text, t, &ins)) {
		toks_clear(&ins);
		return -1;
	}
	if (ins.n)
		ins.v[0].nl = 1;
	if (toks_reserve(&p->t, p->t.n + ins.n))
		goto nomem;
	t = &p->t.v[p->pos];
	free(t[0].text);
	free(t[1].text);
	memmove(t + ins.n, t + 2, (p->t.n - p->pos - 2) * sizeof(*t));
	if (ins.n)
		memcpy(t, ins.v, ins.n * sizeof(*t));
	p->t.n = p->t.n - 2 + ins.n;
	free(ins.v);
	return 0;
nomem:
	toks_clear(&ins);
	return oom(p);
}

static int parse_directive(struct parser *p, struct cf_directive *d, int nest);

/*
 * Directives up to the `}` closing the block opened by token index open
 * (tokens before p->pos never move), or to EOF when open is SIZE_MAX.
 */
static int parse_dirs(struct parser *p, struct cf_directive **dirs, size_t *n,
	size_t open, int nest)
{
	for (;;) {
		struct tok *t = peek(p);
		struct cf_directive *nd;

		if (is_import(t)) {
			if (do_import(p))
				return -1;
			continue;
		}
		if (!t && open == SIZE_MAX)
			return 0;
		if (!t)
			return perr(p, &p->t.v[open], "unterminated block: no '}' closes the '{' on this line");
		if (t->kind == TK_CLOSE && open == SIZE_MAX)
			return perr(p, t, "unexpected '}': no block is open");
		if (t->kind == TK_CLOSE) {
			p->pos++;
			return 0;
		}
		if (t->kind == TK_OPEN)
			return perr(p, t, "'{' must end the line of the directive it opens");
		if (!(nd = grow(*dirs, *n, sizeof(*nd))))
			return oom(p);
		*dirs = nd;
		if (parse_directive(p, &nd[(*n)++], nest))
			return -1;
	}
}

static int parse_directive(struct parser *p, struct cf_directive *d, int nest)
{
	struct tok *t = &p->t.v[p->pos++];
	char **na;

	d->file = p->cf->files[t->file];
	d->line = t->line;
	if (!t->text[0])
		return perr(p, t, "empty directive name");
	d->name = t->text;
	t->text = NULL;
	for (; (t = peek(p)) && !t->nl; p->pos++) {
		if (t->kind == TK_OPEN) {
			if (nest >= MAX_NESTING)
				return perr(p, t, "blocks nested more than %d deep", MAX_NESTING);
			d->has_block = 1;
			return parse_dirs(p, &d->children, &d->nchildren, p->pos++, nest + 1);
		}
		if (!(na = grow(d->args, d->nargs, sizeof(*na))))
			return oom(p);
		d->args = na;
		na[d->nargs++] = t->text;
		t->text = NULL;
	}
	return 0;
}

/* Add the comma-separated keys in s to b. */
static int add_keys(struct cf_block *b, const char *s)
{
	for (size_t len; *s; s += len + (s[len] == ',')) {
		char **nk;

		if (!(len = strcspn(s, ",")))
			continue;
		if (!(nk = grow(b->keys, b->nkeys, sizeof(*nk))))
			return -1;
		b->keys = nk;
		if (!(nk[b->nkeys] = strndup(s, len)))
			return -1;
		b->nkeys++;
	}
	return 0;
}

/*
 * Keys continue onto the next line only after a trailing comma, as in
 * Caddy: otherwise a braceless `.:53` followed by `forward . 1.1.1.1 {`
 * could not be told apart from two lines of keys.
 */
static int parse_block(struct parser *p)
{
	struct cf_block *b;
	size_t first = p->pos;
	struct tok *t, *n;

	if (!(b = grow(p->cf->blocks, p->cf->nblocks, sizeof(*b))))
		return oom(p);
	p->cf->blocks = b;
	b = &b[p->cf->nblocks++];
	b->file = p->cf->files[p->t.v[first].file];
	b->line = p->t.v[first].line;
	for (;;) {
		size_t len;

		t = &p->t.v[p->pos++];
		if (add_keys(b, t->text))
			return oom(p);
		n = peek(p);
		if (n && !n->nl && n->kind == TK_WORD)
			continue;
		len = strlen(t->text);
		if (!len || t->text[len - 1] != ',' || (n && n->kind == TK_OPEN))
			break;
		if (!n || n->kind != TK_WORD)
			return perr(p, t, "expected another key after ','");
	}
	if (!b->nkeys)
		return perr(p, &p->t.v[first], "server block with no keys");
	if (n && n->kind == TK_OPEN)
		return parse_dirs(p, &b->dirs, &b->ndirs, p->pos++, 1);
	if (p->cf->nblocks > 1)
		return perr(p, &p->t.v[first], "\"%s\" is outside any server block (only a file with a single server block may leave out its braces)",
			b->keys[0]);
	return parse_dirs(p, &b->dirs, &b->ndirs, SIZE_MAX, 0);
}

static int is_snippet_def(const struct tok *t)
{
	size_t n = strlen(t->text);

	return !t->quoted && n > 2 && t->text[0] == '(' && t->text[n - 1] == ')';
}

/* `(name) {` ... `}`: keep the raw tokens; imports in them expand on use. */
static int def_snippet(struct parser *p)
{
	struct tok *t = &p->t.v[p->pos];
	struct snippet *s;
	size_t open = p->pos + 1;
	int depth = 0;

	if (open >= p->t.n || p->t.v[open].kind != TK_OPEN)
		return perr(p, t, "snippet %s: expected '{' after the name", t->text);
	if (!(s = grow(p->snips, p->nsnips, sizeof(*s))))
		return oom(p);
	p->snips = s;
	s = &s[p->nsnips];
	if (!(s->name = strndup(t->text + 1, strlen(t->text) - 2)))
		return oom(p);
	for (size_t i = 0; i < p->nsnips; i++)
		if (strcmp(p->snips[i].name, s->name) == 0) {
			free(s->name);
			return perr(p, t, "snippet %s is defined twice", t->text);
		}
	p->nsnips++;
	for (p->pos = open + 1; p->pos < p->t.n; p->pos++) {
		t = &p->t.v[p->pos];
		if (t->kind == TK_CLOSE && depth-- == 0)
			break;
		depth += t->kind == TK_OPEN;
		if (toks_reserve(&s->body, s->body.n + 1))
			return oom(p);
		s->body.v[s->body.n++] = *t;
		t->text = NULL;
	}
	if (p->pos++ >= p->t.n)
		return perr(p, &p->t.v[open], "unterminated block: no '}' closes the '{' on this line");
	return 0;
}

static int parse_top(struct parser *p)
{
	struct tok *t;
	int rc = 0;

	while (!rc && (t = peek(p))) {
		if (is_import(t))
			rc = do_import(p);
		else if (t->kind == TK_CLOSE)
			rc = perr(p, t, "unexpected '}': no block is open");
		else if (t->kind == TK_OPEN)
			rc = perr(p, t, "server block with no keys");
		else if (is_snippet_def(t))
			rc = def_snippet(p);
		else
			rc = parse_block(p);
	}
	return rc;
}

struct corefile *corefile_parse(const char *path, const char *text,
	char *err, size_t errlen)
{
	struct parser p = { 0 };
	int rc = -1, idx;

	errf(err, errlen, "%s", "");
	p.path = path ? path : "Corefile";
	p.err = err;
	p.errlen = errlen;
	if (!(p.cf = calloc(1, sizeof(*p.cf)))) {
		oom(&p);
		return NULL;
	}
	if ((idx = add_file(p.cf, p.path)) < 0)
		oom(&p);
	else if (lex(&p, text ? text : "", idx, 0, &p.t) == 0)
		rc = parse_top(&p);
	toks_clear(&p.t);
	for (size_t i = 0; i < p.nsnips; i++) {
		free(p.snips[i].name);
		toks_clear(&p.snips[i].body);
	}
	free(p.snips);
	if (rc) {
		corefile_free(p.cf);
		return NULL;
	}
	return p.cf;
}

struct corefile *corefile_load(const char *path, char *err, size_t errlen)
{
	char why[128];
	char *text = slurp(path, why, sizeof(why));
	struct corefile *cf;

	if (!text) {
		errf(err, errlen, "%s: %s", path, why);
		return NULL;
	}
	cf = corefile_parse(path, text, err, errlen);
	free(text);
	return cf;
}

static void free_dirs(struct cf_directive *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(d[i].name);
		for (size_t j = 0; j < d[i].nargs; j++)
			free(d[i].args[j]);
		free(d[i].args);
		free_dirs(d[i].children, d[i].nchildren);
	}
	free(d);
}

void corefile_free(struct corefile *cf)
{
	if (!cf)
		return;
	for (size_t i = 0; i < cf->nblocks; i++) {
		for (size_t j = 0; j < cf->blocks[i].nkeys; j++)
			free(cf->blocks[i].keys[j]);
		free(cf->blocks[i].keys);
		free_dirs(cf->blocks[i].dirs, cf->blocks[i].ndirs);
	}
	free(cf->blocks);
	for (size_t i = 0; i < cf->nfiles; i++)
		free(cf->files[i]);
	free(cf->files);
	free(cf);
}
