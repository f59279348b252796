/*
 * util.h -- the small helpers every folder shares: error strings, array
 * growth, strict number parsing, hashing.
 *
 * One of each, so that two modules never disagree on what "a number" is
 * (a leading '+', white space) or on a hash constant.
 */
#ifndef GLOBALDNS_UTIL_H
#define GLOBALDNS_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Write a message into err (errlen bytes, always terminated); err NULL or
 * errlen 0 is fine (nothing is written). */
void errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Make *arr hold at least `need` elements of `elem` bytes: the capacity
 * doubles (from 8), the new elements are zeroed.  0, or -1 on overflow or
 * memory exhaustion (then *arr and *cap are unchanged).
 */
int grow_array(void **arr, size_t *cap, size_t need, size_t elem);

/*
 * A growable NUL-terminated byte string: zeroed is empty (p NULL until the
 * first append).  With max set, the text never grows past max bytes.  An
 * append that fails (memory, or max) returns -1, sets `failed` and makes
 * every later append fail too, so a series of appends is checked once.
 * The caller frees p.
 */
struct strbuf {
	char *p;
	size_t len, cap, max;
	int failed;
};

int strbuf_add(struct strbuf *b, const void *data, size_t n);
int strbuf_str(struct strbuf *b, const char *s);
int strbuf_printf(struct strbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * A decimal number of digits only (no sign, no space, no suffix) up to
 * max.  0, or -1 (and *out untouched).
 */
int parse_uint(const char *s, unsigned long max, unsigned long *out);

/* A port: 1 to 65535, digits only.  0 or -1. */
int parse_port(const char *s, int *port);

/* The SHA-512 of data in lowercase hex, NUL-terminated (ldns's SHA-512):
 * the Corefile's hash in the reload log and coredns_reload_version_info. */
#define SHA512_HEX_LEN 129
void sha512_hex(const void *data, size_t len, char hex[SHA512_HEX_LEN]);

/* FNV-1a, 64 bits: feed bytes into h (start from HASH_FNV1A_INIT).
 * Inline: the registry and the cache hash every query name. */
#define HASH_FNV1A_INIT 14695981039346656037ull
static inline uint64_t hash_fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h;
}

#endif
