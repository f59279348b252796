/*
 * corefile.h -- the Corefile (CoreDNS / Caddyfile syntax) as a syntax tree.
 *
 * The parser knows nothing about plugins: it turns text into server blocks,
 * each with its keys ("global:1053", "dns://.:53") and its directives; a
 * directive has arguments and, optionally, a sub-block of sub-directives
 * (which are directives themselves, one level deeper).  What the directives
 * mean is decided by the plugin table (plugin.h); what the keys mean by
 * corefile_parse_key().
 *
 * Syntax handled:
 *   - server blocks `KEY [KEY...] {` ... `}`; keys separated by white space
 *     or commas, possibly over several lines; a file with one block may
 *     omit the braces (as Caddy allows);
 *   - one directive per line: `name arg arg ...`; a line that ends with `{`
 *     opens a sub-block closed by a `}` token;
 *   - `#` comments to the end of the line (only at the start of a token);
 *   - "double-quoted" and `back-quoted` strings (\" and \\ escapes inside
 *     double quotes), which may span lines; a quoted "{" is an argument;
 *   - {$NAME} (and {%NAME%}) replaced by the environment variable's value
 *     (empty if unset), anywhere in a token;
 *   - snippets `(name) { ... }` and `import name` / `import FILE-GLOB`.
 *
 * The finer rules, as in Caddy v1 (CoreDNS's parser) unless noted:
 *   - keys go on to the next line only after a trailing comma (otherwise a
 *     braceless `.:53` and its first directive could not be told apart);
 *     the block's `{` may stand alone on the line after the keys;
 *   - an unquoted `{` must end its line and an unquoted `}` must stand on a
 *     line of its own (stricter than Caddy v1, as Caddy v2);
 *   - environment references are replaced in every token, quoted or not,
 *     once (a value is not searched again);
 *   - `import ARG` takes one argument and may stand wherever a directive or
 *     a server block may.  ARG names a snippet if one of that name is
 *     defined above, else a file or glob(3) pattern relative to the
 *     directory of the file holding the import.  A pattern matching nothing
 *     only logs a warning; a plain name that is no file is an error.  An
 *     imported file must close every block it opens.  Imports nest at most
 *     16 deep, which also stops an import of itself;
 *   - file names are kept as spelt ("conf.d/../x" and "x" are two files);
 *   - an empty file (or only comments) is a tree with no blocks.
 *
 * Every element remembers the file and line it came from, so that errors
 * downstream read "Corefile:12: forward: ...".
 */
#ifndef GLOBALDNS_COREFILE_H
#define GLOBALDNS_COREFILE_H

#include <stddef.h>

struct cf_directive {
	char *name;                     /* first token of the line */
	char **args;                    /* the remaining tokens */
	size_t nargs;
	struct cf_directive *children;  /* sub-block lines, if has_block */
	size_t nchildren;
	int has_block;                  /* 1 if the line opened a { } block */
	const char *file;               /* owned by the struct corefile */
	int line;
};

struct cf_block {
	char **keys;                    /* as written, e.g. "global:1053" */
	size_t nkeys;
	struct cf_directive *dirs;
	size_t ndirs;
	const char *file;
	int line;
};

struct corefile {
	struct cf_block *blocks;
	size_t nblocks;
	char **files;                   /* every file name the tree points into */
	size_t nfiles;
};

/*
 * Parse Corefile text.  `path` is used in messages and as the base for
 * relative `import` paths.  Returns a new tree (caller frees with
 * corefile_free) or NULL with "PATH:LINE: what is wrong" in err.
 */
struct corefile *corefile_parse(const char *path, const char *text,
	char *err, size_t errlen);

/* Read the file at path and parse it; as corefile_parse. */
struct corefile *corefile_load(const char *path, char *err, size_t errlen);

/* Free a tree; NULL is fine. */
void corefile_free(struct corefile *cf);

/*
 * Interpret a server block key: optional "dns://" scheme, a zone ("global",
 * "global.", ".", "Example.ORG") and an optional ":PORT".  The zone comes
 * back in presentation form, lowercased, fully qualified ("global.", ".").
 * A key without a port gets default_port.  Other schemes (tls://, https://,
 * grpc://, quic://), bad ports and bad zone names are errors: returns -1
 * with a message (without file:line) in err; 0 on success.
 */
int corefile_parse_key(const char *key, int default_port,
	char *zone, size_t zonelen, int *port, char *err, size_t errlen);

/*
 * A zone argument of a directive ("global", "Example.org.", "dns://x:53";
 * the port is ignored) into z.  0, or -1 with what is wrong in why.
 */
struct wire_zone;
int cf_parse_zone(const char *arg, struct wire_zone *z, char *why, size_t whylen);

/*
 * The zones a directive applies to, as CoreDNS's
 * OriginsFromArgsOrServerBlock: d's arguments from index `first` on, or
 * if there are none the block's zones; into out (at most max).  The
 * number of zones, or -1 with what is wrong in why ("zone \"x\": ...",
 * "more than N zones").
 */
int cf_parse_zones(const struct cf_directive *d, size_t first,
	char *const *block_zones, size_t nblock, struct wire_zone *out,
	size_t max, char *why, size_t whylen);

/*
 * A setup error: "FILE:LINE: WHO: message" (where d was written) into err.
 * Plugins use it through PLUGIN_FAIL (plugin.h).
 */
void cf_errorf(char *err, size_t errlen, const struct cf_directive *d,
	const char *who, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/*
 * Parse a Go-style duration ("500ms", "30s", "1m", "1h30m", "2.5s") into
 * milliseconds.  A bare number is seconds.  Returns 0, or -1 if invalid or
 * negative.
 */
int cf_parse_duration_ms(const char *s, long *ms);

#endif
