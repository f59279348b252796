/*
 * seentry.c -- Istio ServiceEntry objects from decoded JSON, with Istio's
 * validation rules (hosts, addresses, resolution; spec.ports in
 * seentry_ports.c), and se_list_add_json that manifest files and the
 * Kubernetes client fill lists with (the lists themselves: selist.c).
 *
 * Everything here is a pure function of its input: no I/O apart from one
 * warning line per skipped entry (se_list_add_json).  Character classes are
 * ASCII-only on purpose; <ctype.h> would follow the process locale.
 */
#define _POSIX_C_SOURCE 200809L

#include "globaldns/seentry.h"
#include "globaldns/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "globaldns/log.h"
#include "seentry_int.h"

#define SE_MAX_HOSTS 256
#define SE_MAX_HOST_LEN 255
#define SE_MAX_LABEL_LEN 63

static const char *const se_api_versions[] = {
	"networking.istio.io/v1",
	"networking.istio.io/v1beta1",
	"networking.istio.io/v1alpha3",
};

static const char *const se_resolution_names[] = {
	[SE_RES_NONE] = "NONE",
	[SE_RES_STATIC] = "STATIC",
	[SE_RES_DNS] = "DNS",
	[SE_RES_DNS_ROUND_ROBIN] = "DNS_ROUND_ROBIN",
	[SE_RES_DYNAMIC_DNS] = "DYNAMIC_DNS",
};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_alnum(char c)
{
	c = se_ascii_lower(c);
	return is_digit(c) || (c >= 'a' && c <= 'z');
}

/* Checks a label other than a leading "*"; lab is the label, n its length. */
static int label_valid(const char *lab, size_t n, char *why, size_t whylen)
{
	char buf[SE_MAX_HOST_LEN + 1], q[96];
	size_t i;

	if (n == 0) {
		errf(why, whylen, "empty label");
		return 0;
	}
	memcpy(buf, lab, n);
	buf[n] = '\0';
	se_printable(q, sizeof(q), buf);
	if (n > SE_MAX_LABEL_LEN) {
		errf(why, whylen, "label \"%s\" longer than %d characters", q,
			SE_MAX_LABEL_LEN);
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (lab[i] == '*') {
			errf(why, whylen, "\"*\" is only allowed as the whole first label");
			return 0;
		}
		if (!is_alnum(lab[i]) && lab[i] != '-') {
			errf(why, whylen, "label \"%s\" has an invalid character", q);
			return 0;
		}
	}
	if (lab[0] == '-' || lab[n - 1] == '-') {
		errf(why, whylen, "label \"%s\" starts or ends with '-'", q);
		return 0;
	}
	return 1;
}

int se_host_valid(const char *host, char *why, size_t whylen)
{
	size_t len, start, end, i;
	int all_digits;

	if (host == NULL || host[0] == '\0') {
		errf(why, whylen, "empty host");
		return 0;
	}
	len = strlen(host);
	if (len > SE_MAX_HOST_LEN) {
		errf(why, whylen, "longer than %d characters", SE_MAX_HOST_LEN);
		return 0;
	}
	if (host[len - 1] == '.')
		len--;
	if (len == 1 && host[0] == '*') {
		errf(why, whylen, "\"*\" alone is not allowed");
		return 0;
	}
	for (start = 0;; start = end + 1) {
		for (end = start; end < len && host[end] != '.'; end++)
			;
		if (!(start == 0 && end == 1 && host[0] == '*') &&
		    !label_valid(host + start, end - start, why, whylen))
			return 0;
		if (end >= len)
			break;
	}
	/* An IP address is not a host name: the last label is not all digits. */
	all_digits = 1;
	for (i = start; i < len; i++)
		if (!is_digit(host[i]))
			all_digits = 0;
	if (all_digits) {
		char buf[SE_MAX_LABEL_LEN + 1];

		memcpy(buf, host + start, len - start);
		buf[len - start] = '\0';
		errf(why, whylen, "last label \"%s\" is all digits", buf);
		return 0;
	}
	return 1;
}

int se_parse_addr(const char *text, struct se_addr *a)
{
	char buf[INET6_ADDRSTRLEN];
	struct se_addr tmp;
	const char *slash, *p;
	size_t alen;
	int maxbits, bits;

	if (text == NULL)
		return -1;
	memset(&tmp, 0, sizeof(tmp));
	slash = strchr(text, '/');
	alen = slash ? (size_t)(slash - text) : strlen(text);
	if (alen == 0 || alen >= sizeof(buf))
		return -1;
	memcpy(buf, text, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, tmp.addr) == 1) {
		tmp.family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, buf, tmp.addr) == 1) {
		tmp.family = AF_INET6;
		maxbits = 128;
	} else {
		return -1;
	}
	if (slash != NULL) {
		p = slash + 1;
		if (!is_digit(p[0]) || (p[0] == '0' && p[1] != '\0'))
			return -1;
		for (bits = 0; *p; p++) {
			if (!is_digit(*p))
				return -1;
			bits = bits * 10 + (*p - '0');
			if (bits > maxbits)
				return -1;
		}
		if (bits < maxbits)
			return 0;
	}
	if (a != NULL)
		*a = tmp;
	return 1;
}

const char *se_resolution_name(enum se_resolution r)
{
	if ((size_t)r < NELEMS(se_resolution_names))
		return se_resolution_names[r];
	return "UNKNOWN";
}

/* A lowercased copy without one trailing dot, or NULL (ENOMEM). */
static char *host_dup(const char *s)
{
	size_t n = strlen(s), i;
	char *h;

	if (n > 0 && s[n - 1] == '.')
		n--;
	h = malloc(n + 1);
	if (h == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		h[i] = se_ascii_lower(s[i]);
	h[n] = '\0';
	return h;
}

static int parse_metadata(const cJSON *obj, struct se_entry *e, char *why,
	size_t whylen)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *name, *ns, *uid, *rv;

	if (se_json_absent(meta)) {
		errf(why, whylen, "metadata.name: missing");
		return EINVAL;
	}
	if (!cJSON_IsObject(meta)) {
		errf(why, whylen, "metadata: not an object");
		return EINVAL;
	}
	if (se_json_opt_string(meta, "name", "metadata.name", &name, why, whylen) ||
	    se_json_opt_string(meta, "namespace", "metadata.namespace", &ns, why, whylen) ||
	    se_json_opt_string(meta, "uid", "metadata.uid", &uid, why, whylen) ||
	    se_json_opt_string(meta, "resourceVersion", "metadata.resourceVersion", &rv,
		why, whylen))
		return EINVAL;
	if (name == NULL) {
		errf(why, whylen, "metadata.name: missing");
		return EINVAL;
	}
	if (name[0] == '\0') {
		errf(why, whylen, "metadata.name: empty");
		return EINVAL;
	}
	if (ns == NULL || ns[0] == '\0')
		ns = "default";
	e->name = strdup(name);
	e->ns = strdup(ns);
	if (uid != NULL)
		e->uid = strdup(uid);
	if (rv != NULL)
		e->resource_version = strdup(rv);
	if (e->name == NULL || e->ns == NULL || (uid && e->uid == NULL) ||
	    (rv && e->resource_version == NULL))
		return ENOMEM;
	return 0;
}

static int parse_hosts(const cJSON *spec, struct se_entry *e, char *why,
	size_t whylen)
{
	const cJSON *hosts, *h;
	char hwhy[160], q[96];
	int n;

	if (se_json_opt_array(spec, "hosts", "spec.hosts", &hosts, why, whylen))
		return EINVAL;
	if (hosts == NULL) {
		errf(why, whylen, "spec.hosts: missing");
		return EINVAL;
	}
	n = cJSON_GetArraySize(hosts);
	if (n == 0) {
		errf(why, whylen, "spec.hosts: empty");
		return EINVAL;
	}
	if (n > SE_MAX_HOSTS) {
		errf(why, whylen, "spec.hosts: more than %d hosts", SE_MAX_HOSTS);
		return EINVAL;
	}
	e->hosts = calloc((size_t)n, sizeof(*e->hosts));
	if (e->hosts == NULL)
		return ENOMEM;
	cJSON_ArrayForEach(h, hosts) {
		if (!cJSON_IsString(h)) {
			errf(why, whylen, "spec.hosts[%zu]: not a string", e->nhosts);
			return EINVAL;
		}
		if (!se_host_valid(h->valuestring, hwhy, sizeof(hwhy))) {
			errf(why, whylen, "spec.hosts[%zu]: \"%s\": %s", e->nhosts,
				se_printable(q, sizeof(q), h->valuestring), hwhy);
			return EINVAL;
		}
		e->hosts[e->nhosts] = host_dup(h->valuestring);
		if (e->hosts[e->nhosts] == NULL)
			return ENOMEM;
		e->nhosts++;
	}
	return 0;
}

static int parse_addresses(const cJSON *spec, struct se_entry *e, char *why,
	size_t whylen)
{
	const cJSON *addrs, *a;
	char q[96];
	size_t i = 0;
	int n;

	if (se_json_opt_array(spec, "addresses", "spec.addresses", &addrs, why, whylen))
		return EINVAL;
	n = addrs ? cJSON_GetArraySize(addrs) : 0;
	if (n == 0)
		return 0;
	e->addrs = calloc((size_t)n, sizeof(*e->addrs));
	if (e->addrs == NULL)
		return ENOMEM;
	cJSON_ArrayForEach(a, addrs) {
		if (!cJSON_IsString(a)) {
			errf(why, whylen, "spec.addresses[%zu]: not a string", i);
			return EINVAL;
		}
		switch (se_parse_addr(a->valuestring, &e->addrs[e->naddrs])) {
		case 1:
			e->naddrs++;
			break;
		case 0:
			break;  /* a wider CIDR: nothing to answer with */
		default:
			errf(why, whylen, "spec.addresses[%zu]: invalid address \"%s\"",
				i, se_printable(q, sizeof(q), a->valuestring));
			return EINVAL;
		}
		i++;
	}
	return 0;
}

static int parse_resolution(const cJSON *spec, struct se_entry *e, char *why,
	size_t whylen)
{
	const char *res;
	char q[96];
	size_t i;

	if (se_json_opt_string(spec, "resolution", "spec.resolution", &res, why, whylen))
		return EINVAL;
	if (res == NULL) {
		e->resolution = SE_RES_NONE;
		return 0;
	}
	for (i = 0; i < NELEMS(se_resolution_names); i++) {
		if (strcmp(res, se_resolution_names[i]) == 0) {
			e->resolution = (enum se_resolution)i;
			return 0;
		}
	}
	errf(why, whylen, "spec.resolution: unknown value \"%s\"",
		se_printable(q, sizeof(q), res));
	return EINVAL;
}

static int parse_status(const cJSON *obj, struct se_entry *e, char *why,
	size_t whylen)
{
	const cJSON *status = cJSON_GetObjectItemCaseSensitive(obj, "status");
	const cJSON *addrs, *a;
	char field[64];
	size_t i = 0;
	int n;

	if (se_json_absent(status))
		return 0;
	if (!cJSON_IsObject(status)) {
		errf(why, whylen, "status: not an object");
		return EINVAL;
	}
	if (se_json_opt_array(status, "addresses", "status.addresses", &addrs, why, whylen))
		return EINVAL;
	n = addrs ? cJSON_GetArraySize(addrs) : 0;
	if (n == 0)
		return 0;
	e->status_addrs = calloc((size_t)n, sizeof(*e->status_addrs));
	if (e->status_addrs == NULL)
		return ENOMEM;
	cJSON_ArrayForEach(a, addrs) {
		struct se_status_addr *sa = &e->status_addrs[e->nstatus_addrs];
		const char *value, *host;

		if (!cJSON_IsObject(a)) {
			errf(why, whylen, "status.addresses[%zu]: not an object", i);
			return EINVAL;
		}
		if (se_json_item_string(a, "status.addresses", i, "value", field, sizeof(field),
			&value, why, whylen)
		    || se_json_item_string(a, "status.addresses", i, "host", field, sizeof(field),
			&host, why, whylen))
			return EINVAL;
		i++;
		/* Istio writes status; a value we cannot use is not the user's error. */
		if (value == NULL || se_parse_addr(value, &sa->addr) != 1)
			continue;
		if (host != NULL && host[0] != '\0') {
			sa->host = host_dup(host);
			if (sa->host == NULL)
				return ENOMEM;
		}
		e->nstatus_addrs++;
	}
	return 0;
}

int se_from_json(const cJSON *obj, struct se_entry *e, char *why, size_t whylen)
{
	const cJSON *spec;
	int err;

	memset(e, 0, sizeof(*e));
	errf(why, whylen, "invalid");
	if (!cJSON_IsObject(obj)) {
		errf(why, whylen, "not an object");
		err = EINVAL;
		goto fail;
	}
	err = parse_metadata(obj, e, why, whylen);
	if (err)
		goto fail;
	spec = cJSON_GetObjectItemCaseSensitive(obj, "spec");
	if (se_json_absent(spec)) {
		errf(why, whylen, "spec: missing");
		err = EINVAL;
		goto fail;
	}
	if (!cJSON_IsObject(spec)) {
		errf(why, whylen, "spec: not an object");
		err = EINVAL;
		goto fail;
	}
	if ((err = parse_hosts(spec, e, why, whylen)) != 0 ||
	    (err = parse_addresses(spec, e, why, whylen)) != 0 ||
	    (err = parse_resolution(spec, e, why, whylen)) != 0 ||
	    (err = se_parse_ports(spec, e, why, whylen)) != 0 ||
	    (err = parse_status(obj, e, why, whylen)) != 0)
		goto fail;
	return 0;

fail:
	if (err == ENOMEM)
		errf(why, whylen, "out of memory");
	se_entry_clear(e);
	errno = err;
	return -1;
}

/* A string member, or NULL if absent or of another type. */
static const char *str_member(const cJSON *obj, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* Record and log a skipped ServiceEntry; ns and name as far as readable. */
static int reject(struct se_list *l, const cJSON *obj, const char *origin,
	const char *reason)
{
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = NULL, *name = NULL;
	char pns[96], pname[96], porigin[256];

	if (cJSON_IsObject(meta)) {
		ns = str_member(meta, "namespace");
		name = str_member(meta, "name");
	}
	if (ns == NULL || ns[0] == '\0')
		ns = "default";
	if (name != NULL && name[0] == '\0')
		name = NULL;
	log_warning("plugin/serviceentries: %s: skipping %s/%s: %s",
		se_printable(porigin, sizeof(porigin), origin),
		se_printable(pns, sizeof(pns), ns),
		se_printable(pname, sizeof(pname), name), reason);
	return se_list_reject(l, ns, name, reason);
}

/* obj is a ServiceEntry; list_api is the apiVersion of a ServiceEntryList. */
static int add_entry(struct se_list *l, const cJSON *obj, const char *origin,
	const char *list_api)
{
	const cJSON *api = cJSON_GetObjectItemCaseSensitive(obj, "apiVersion");
	const char *ver = list_api;
	struct se_entry e;
	char why[320], q[96];
	size_t i;

	if (!se_json_absent(api) && !cJSON_IsString(api))
		return reject(l, obj, origin, "apiVersion: not a string");
	if (cJSON_IsString(api))
		ver = api->valuestring;
	if (ver == NULL || ver[0] == '\0')
		return reject(l, obj, origin, "apiVersion: missing");
	for (i = 0; i < NELEMS(se_api_versions); i++)
		if (strcmp(ver, se_api_versions[i]) == 0)
			break;
	if (i == NELEMS(se_api_versions)) {
		snprintf(why, sizeof(why), "unsupported apiVersion \"%s\"",
			se_printable(q, sizeof(q), ver));
		return reject(l, obj, origin, why);
	}
	if (se_from_json(obj, &e, why, sizeof(why)) != 0) {
		if (errno == ENOMEM)
			return -1;
		return reject(l, obj, origin, why);
	}
	if (se_list_push(l, &e) != 0) {
		se_entry_clear(&e);
		return -1;
	}
	return 0;
}

int se_list_add_json(struct se_list *l, const cJSON *doc, const char *origin,
	size_t *ignored)
{
	const cJSON *items, *it;
	const char *kind, *list_api = NULL;
	char porigin[256], q[96];
	size_t ign = 0, idx = 0;
	int rc = 0, typed_list;

	se_printable(porigin, sizeof(porigin), origin);
	if (!cJSON_IsObject(doc)) {
		log_warning("plugin/serviceentries: %s: ignoring a document that is "
			"not an object", porigin);
		ign++;
		goto out;
	}
	kind = str_member(doc, "kind");
	if (kind == NULL) {
		log_warning("plugin/serviceentries: %s: ignoring an object without "
			"\"kind\"", porigin);
		ign++;
		goto out;
	}
	if (strcmp(kind, "ServiceEntry") == 0) {
		rc = add_entry(l, doc, origin, NULL);
		goto out;
	}
	if (strcmp(kind, "List") != 0 && strcmp(kind, "ServiceEntryList") != 0) {
		log_debug("plugin/serviceentries: %s: ignoring kind %s", porigin,
			se_printable(q, sizeof(q), kind));
		ign++;
		goto out;
	}
	typed_list = strcmp(kind, "ServiceEntryList") == 0;
	if (typed_list)
		list_api = str_member(doc, "apiVersion");
	items = cJSON_GetObjectItemCaseSensitive(doc, "items");
	if (se_json_absent(items))
		goto out;
	if (!cJSON_IsArray(items)) {
		log_warning("plugin/serviceentries: %s: ignoring a %s whose "
			"\"items\" is not an array", porigin, kind);
		ign++;
		goto out;
	}
	cJSON_ArrayForEach(it, items) {
		const char *ikind = cJSON_IsObject(it) ? str_member(it, "kind") : NULL;

		if (!cJSON_IsObject(it)) {
			log_warning("plugin/serviceentries: %s: ignoring items[%zu]: "
				"not an object", porigin, idx);
			ign++;
		} else if ((ikind == NULL && typed_list) ||
			   (ikind != NULL && strcmp(ikind, "ServiceEntry") == 0)) {
			rc = add_entry(l, it, origin, typed_list ? list_api : NULL);
			if (rc != 0)
				goto out;
		} else {
			ign++;
		}
		idx++;
	}
out:
	if (ignored != NULL)
		*ignored = ign;
	return rc;
}
