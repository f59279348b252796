/*
 * seentry_int.h -- what seentry.c and seentry_ports.c share, from
 * seentry_json.c: reading optional members of a ServiceEntry's JSON.
 * Internal to src/registry.
 */
#ifndef GLOBALDNS_SEENTRY_INT_H
#define GLOBALDNS_SEENTRY_INT_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "globaldns/seentry.h"

/* ASCII lowercase (<ctype.h> would follow the process locale). */
static inline char se_ascii_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* NULL and JSON null both mean "not given". */
int se_json_absent(const cJSON *j);
/*
 * Optional string (array) member: 0 with *out NULL if absent, 0 with *out
 * set, or -1 if of another type ("FIELD: not a string" in why).
 */
int se_json_opt_string(const cJSON *parent, const char *key,
	const char *field, const char **out, char *why, size_t whylen);
int se_json_opt_array(const cJSON *parent, const char *key,
	const char *field, const cJSON **out, char *why, size_t whylen);
/* se_json_opt_string of member KEY of ARRAY's element i, the field named
 * "ARRAY[i].KEY" (also written to field, for the caller's messages). */
int se_json_item_string(const cJSON *item, const char *array, size_t i,
	const char *key, char *field, size_t fieldlen, const char **out,
	char *why, size_t whylen);

/* spec.ports into e->ports: 0, EINVAL (reason in why) or ENOMEM. */
int se_parse_ports(const cJSON *spec, struct se_entry *e, char *why,
	size_t whylen);

#endif
