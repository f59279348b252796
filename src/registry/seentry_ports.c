/*
 * seentry_ports.c -- spec.ports of a ServiceEntry (seentry.h) with Istio's
 * rules: a DNS-1123 label name unique in the entry, a number from 1 to
 * 65535, a protocol Istio knows (any case) or none.  The ports and their
 * names end up in one allocation (se_entry_set_ports).
 */
#define _POSIX_C_SOURCE 200809L

#include "globaldns/seentry.h"
#include "globaldns/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "seentry_int.h"

#define SE_MAX_PORTS 256
#define SE_MAX_LABEL_LEN 63
#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Istio's protocol names (pkg/config/protocol), matched ignoring case; in
 * the order of enum se_protocol, from SE_PROTO_UNSET to SE_PROTO_MYSQL. */
static const char *const se_protocol_names[] = {
	"", "TCP", "UDP", "GRPC", "GRPC-Web", "HTTP", "HTTP_PROXY", "HTTP2",
	"HTTPS", "TLS", "Mongo", "Redis", "MySQL",
};

const char *se_protocol_name(enum se_protocol p)
{
	if ((size_t)p < NELEMS(se_protocol_names))
		return se_protocol_names[p];
	return "UNKNOWN";
}

/* Case-insensitive ASCII equality. */
static int same_ignoring_case(const char *a, const char *b)
{
	for (; *a && *b; a++, b++)
		if (se_ascii_lower(*a) != se_ascii_lower(*b))
			return 0;
	return *a == *b;
}

/* One spec.ports[i] element into *pt (its name borrowed from j). */
static int parse_one_port(const cJSON *j, size_t i, struct se_port *pt,
	char *why, size_t whylen)
{
	const cJSON *num;
	const char *pname, *proto;
	char field[64], q[96];
	size_t k;

	if (!cJSON_IsObject(j)) {
		errf(why, whylen, "spec.ports[%zu]: not an object", i);
		return EINVAL;
	}
	if (se_json_item_string(j, "spec.ports", i, "name", field, sizeof(field), &pname, why, whylen))
		return EINVAL;
	if (pname == NULL || pname[0] == '\0') {
		errf(why, whylen, "%s: missing", field);
		return EINVAL;
	}
	/* Istio: a DNS-1123 label, lowercase */
	for (k = 0; pname[k]; k++)
		if (!((pname[k] >= 'a' && pname[k] <= 'z') || (pname[k] >= '0' && pname[k] <= '9') || pname[k] == '-'))
			break;
	if (pname[k] || k > SE_MAX_LABEL_LEN || pname[0] == '-' || pname[k - 1] == '-') {
		errf(why, whylen, "%s: \"%s\" is not a DNS-1123 label (lowercase letters, digits and '-', at most 63)",
			field, se_printable(q, sizeof(q), pname));
		return EINVAL;
	}
	num = cJSON_GetObjectItemCaseSensitive(j, "number");
	if (se_json_absent(num)) {
		errf(why, whylen, "spec.ports[%zu].number: missing", i);
		return EINVAL;
	}
	if (!cJSON_IsNumber(num) || num->valuedouble != (double)(long)num->valuedouble
	    || num->valuedouble < 1 || num->valuedouble > 65535) {
		errf(why, whylen, "spec.ports[%zu].number: not a port number from 1 to 65535", i);
		return EINVAL;
	}
	if (se_json_item_string(j, "spec.ports", i, "protocol", field, sizeof(field), &proto, why, whylen))
		return EINVAL;
	pt->protocol = SE_PROTO_UNSET;
	if (proto != NULL && proto[0] != '\0') {
		for (k = 1; k < NELEMS(se_protocol_names); k++)
			if (same_ignoring_case(proto, se_protocol_names[k]))
				break;
		if (k == NELEMS(se_protocol_names)) {
			errf(why, whylen, "%s: unrecognized protocol \"%s\"", field,
				se_printable(q, sizeof(q), proto));
			return EINVAL;
		}
		pt->protocol = (enum se_protocol)k;
	}
	pt->number = (uint16_t)num->valuedouble;
	pt->name = pname;
	return 0;
}

/* spec.ports: Istio's rules (names unique within the entry). */
int se_parse_ports(const cJSON *spec, struct se_entry *e, char *why,
	size_t whylen)
{
	const cJSON *ports, *j;
	struct se_port *tmp;
	size_t got = 0;
	char q[96];
	int n, err = 0;

	if (se_json_opt_array(spec, "ports", "spec.ports", &ports, why, whylen))
		return EINVAL;
	n = ports ? cJSON_GetArraySize(ports) : 0;
	if (n == 0)
		return 0;
	if (n > SE_MAX_PORTS) {
		errf(why, whylen, "spec.ports: more than %d ports", SE_MAX_PORTS);
		return EINVAL;
	}
	/* checked with names borrowed from the JSON, then kept in one block */
	if (!(tmp = calloc((size_t)n, sizeof(*tmp))))
		return ENOMEM;
	cJSON_ArrayForEach(j, ports) {
		if ((err = parse_one_port(j, got, &tmp[got], why, whylen)) != 0)
			break;
		for (size_t k = 0; k < got && !err; k++)
			if (strcmp(tmp[k].name, tmp[got].name) == 0) {
				errf(why, whylen, "spec.ports[%zu].name: \"%s\" is not unique",
					got, se_printable(q, sizeof(q), tmp[got].name));
				err = EINVAL;
			}
		if (err)
			break;
		got++;
	}
	if (!err && se_entry_set_ports(e, tmp, got) < 0)
		err = ENOMEM;
	free(tmp);
	return err;
}
