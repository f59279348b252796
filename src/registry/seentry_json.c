/*
 * seentry_json.c -- what reading a ServiceEntry's fields (seentry.c) and
 * its spec.ports (seentry_ports.c) share: optional JSON members with their
 * type checked, and se_printable for quoting input in messages.
 */
#include <stdio.h>
#include <string.h>

#include "globaldns/seentry.h"
#include "globaldns/util.h"
#include "seentry_int.h"

/* Writes the escaped form of c into esc (at least 5 bytes); its length. */
static size_t escape_char(unsigned char c, char *esc)
{
	static const char hex[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		esc[0] = '\\';
		esc[1] = (char)c;
		return 2;
	}
	if (c < 0x20 || c >= 0x7f) {
		esc[0] = '\\';
		esc[1] = 'x';
		esc[2] = hex[c >> 4];
		esc[3] = hex[c & 0xf];
		return 4;
	}
	esc[0] = (char)c;
	return 1;
}

char *se_printable(char *dst, size_t dstlen, const char *src)
{
	const unsigned char *p;
	size_t total = 0, o = 0, n, room;
	char esc[5];

	if (dst == NULL || dstlen == 0)
		return dst;
	if (src == NULL)
		src = "?";
	for (p = (const unsigned char *)src; *p; p++)
		total += escape_char(*p, esc);
	/* Everything if it fits, else as much as fits before "...". */
	room = total < dstlen ? dstlen - 1 : (dstlen > 4 ? dstlen - 4 : dstlen - 1);
	for (p = (const unsigned char *)src; *p; p++) {
		n = escape_char(*p, esc);
		if (o + n > room)
			break;
		memcpy(dst + o, esc, n);
		o += n;
	}
	if (total >= dstlen && dstlen > 4) {
		memcpy(dst + o, "...", 3);
		o += 3;
	}
	dst[o] = '\0';
	return dst;
}

/* NULL and JSON null both mean "not given". */
int se_json_absent(const cJSON *j)
{
	return j == NULL || cJSON_IsNull(j);
}

/*
 * Optional string member: 0 with *out NULL if absent, 0 with *out set, or
 * -1 if of another type (reason written).
 */
int se_json_opt_string(const cJSON *parent, const char *key, const char *field,
	const char **out, char *why, size_t whylen)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(parent, key);

	*out = NULL;
	if (se_json_absent(j))
		return 0;
	if (!cJSON_IsString(j)) {
		errf(why, whylen, "%s: not a string", field);
		return -1;
	}
	*out = j->valuestring;
	return 0;
}

/* Optional array member: as opt_string. */
int se_json_opt_array(const cJSON *parent, const char *key, const char *field,
	const cJSON **out, char *why, size_t whylen)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(parent, key);

	*out = NULL;
	if (se_json_absent(j))
		return 0;
	if (!cJSON_IsArray(j)) {
		errf(why, whylen, "%s: not an array", field);
		return -1;
	}
	*out = j;
	return 0;
}

int se_json_item_string(const cJSON *item, const char *array, size_t i,
	const char *key, char *field, size_t fieldlen, const char **out,
	char *why, size_t whylen)
{
	snprintf(field, fieldlen, "%s[%zu].%s", array, i, key);
	return se_json_opt_string(item, key, field, out, why, whylen);
}
