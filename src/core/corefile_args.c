/*
 * corefile_args.c -- what the words of a Corefile mean, for everyone who
 * reads the tree (corefile.h): server block keys, zone arguments,
 * Go-style durations, and the "FILE:LINE: WHO: ..." form of a setup error.
 */
#include "globaldns/corefile.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "globaldns/util.h"
#include "globaldns/wire.h"

/* Letters, digits, '-' and '_'; labels 1-63; at most 253 without the dot. */
static const char *zone_problem(const char *z, size_t len)
{
	size_t label = 0;

	if (len > 253)
		return "name longer than 253 characters";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)z[i];

		if (c == '.') {
			if (!label)
				return "empty label";
			label = 0;
		} else if (isalnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return "label longer than 63 characters";
		} else {
			return "only letters, digits, '-', '_' and '.' are allowed";
		}
	}
	return label ? NULL : "empty label";
}

int corefile_parse_key(const char *key, int default_port,
	char *zone, size_t zonelen, int *port, char *err, size_t errlen)
{
	const char *s = key, *sep = strstr(key, "://"), *colon, *why = NULL;
	char host[256];
	size_t hl;
	int pn = default_port;

	if (sep && (sep - key != 3 || strncasecmp(key, "dns", 3) != 0)) {
		errf(err, errlen, "\"%s\": %.*s:// is not supported; only plain DNS (dns:// or no scheme) is",
			key, (int)(sep - key), key);
		return -1;
	}
	s = sep ? sep + 3 : key;
	colon = strchr(s, ':');
	hl = colon ? (size_t)(colon - s) : strlen(s);
	if (strchr(s, '/'))
		why = "CIDR keys are not supported; write the reverse zone instead (e.g. 10.in-addr.arpa)";
	else if (colon && strchr(colon + 1, ':'))
		why = "more than one ':' (IPv6 addresses are not supported in keys)";
	else if (colon && (!colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1)))
		why = "the port is not a number";
	else if (colon && parse_port(colon + 1, &pn) < 0)
		why = "port out of range (1-65535)";
	else if (hl >= sizeof(host))
		why = "bad zone name: name longer than 253 characters";
	if (why) {
		errf(err, errlen, "\"%s\": %s", key, why);
		return -1;
	}
	for (size_t i = 0; i < hl; i++)
		host[i] = (char)tolower((unsigned char)s[i]);
	host[hl] = '\0';
	/* ":53" is the root zone, as in CoreDNS. */
	if (strcmp(host, ".") == 0)
		hl = 0;
	else if (hl && host[hl - 1] == '.')
		host[--hl] = '\0';
	if (hl && (why = zone_problem(host, hl))) {
		errf(err, errlen, "\"%s\": bad zone name: %s", key, why);
		return -1;
	}
	if (hl + 2 > zonelen) {
		errf(err, errlen, "\"%s\": zone name does not fit the buffer", key);
		return -1;
	}
	memcpy(zone, host, hl);
	strcpy(zone + hl, ".");
	*port = pn;
	return 0;
}

int cf_parse_zone(const char *arg, struct wire_zone *z, char *why, size_t whylen)
{
	char zone[256];
	int port;

	if (corefile_parse_key(arg, 0, zone, sizeof(zone), &port, why, whylen) < 0)
		return -1;
	if (wire_zone_set(z, zone) < 0) {
		errf(why, whylen, "invalid name");
		return -1;
	}
	return 0;
}

int cf_parse_zones(const struct cf_directive *d, size_t first,
	char *const *block_zones, size_t nblock, struct wire_zone *out,
	size_t max, char *why, size_t whylen)
{
	int from_args = d->nargs > first;
	size_t n = from_args ? d->nargs - first : nblock;
	char w[256];

	if (n > max) {
		errf(why, whylen, "more than %zu zones", max);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *z = from_args ? d->args[first + i] : block_zones[i];
		if (cf_parse_zone(z, &out[i], w, sizeof(w)) < 0) {
			errf(why, whylen, "zone \"%s\": %s", z, w);
			return -1;
		}
	}
	return (int)n;
}

void cf_errorf(char *err, size_t errlen, const struct cf_directive *d,
	const char *who, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err || !errlen)
		return;
	n = snprintf(err, errlen, "%s:%d: %s: ", d->file, d->line, who);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

int cf_parse_duration_ms(const char *s, long *ms)
{
	static const struct {
		const char *name;
		uint64_t ns;
	} units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 },
		{ "\xce\xbcs", 1000 }, { "ms", 1000000 }, { "s", 1000000000 },
		{ "m", 60000000000ULL }, { "h", 3600000000000ULL },
	};
	uint64_t total = 0;
	int bare = 1;

	if (s && *s == '+')
		s++;
	if (!s || !*s)
		return -1;
	while (*s) {
		uint64_t whole = 0, frac = 0, scale = 1, unit = 0;
		int digits = 0;
		size_t ul = 0;

		for (; isdigit((unsigned char)*s); s++, digits++) {
			if (whole > (UINT64_MAX - 9) / 10)
				return -1;
			whole = whole * 10 + (uint64_t)(*s - '0');
		}
		if (*s == '.')
			for (s++; isdigit((unsigned char)*s); s++, digits++)
				if (scale < 1000000000000000000ULL) {
					frac = frac * 10 + (uint64_t)(*s - '0');
					scale *= 10;
				}
		if (!digits)
			return -1;
		for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++) {
			size_t l = strlen(units[i].name);

			/* Longest match, so "ms" is not read as "m" + "s". */
			if (l > ul && strncmp(s, units[i].name, l) == 0) {
				unit = units[i].ns;
				ul = l;
			}
		}
		if (!ul) {
			if (*s || !bare)
				return -1;
			unit = 1000000000;
		}
		bare = 0;
		s += ul;
		frac = (uint64_t)((long double)frac * unit / scale);
		if (whole > (UINT64_MAX - frac) / unit)
			return -1;
		whole = whole * unit + frac;
		if (total > UINT64_MAX - whole)
			return -1;
		total += whole;
	}
	if (total / 1000000 > (uint64_t)LONG_MAX)
		return -1;
	*ms = (long)(total / 1000000);
	return 0;
}
