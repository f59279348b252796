/*
 * kube_execcred.c -- credential bytes (kubeconfig.h): the base64 of a
 * kubeconfig's -data fields, and the ExecCredential an exec credential
 * plugin prints (its token, client certificate and expiry).
 */
#define _GNU_SOURCE 1

#include "kubeconfig.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <ldns/ldns.h>

#include "globaldns/util.h"

/* ldns decodes (white space allowed); kubeconfigs written by hand may
 * leave the '=' padding out, so it is added first. */
char *kube_base64_decode(const char *text, size_t *outlen)
{
	size_t n = strlen(text), chars = 0;
	char *padded = malloc(n + 4), *out = NULL;
	ldns_rdf *rd = NULL;

	if (!padded)
		return NULL;
	for (size_t i = 0; i < n; i++)
		chars += !isspace((unsigned char)text[i]);
	memcpy(padded, text, n);
	while (chars % 4 && text[0]) {
		padded[n++] = '=';
		chars++;
	}
	padded[n] = '\0';
	if (ldns_str2rdf_b64(&rd, padded) == LDNS_STATUS_OK && (out = malloc(ldns_rdf_size(rd) + 1))) {
		*outlen = ldns_rdf_size(rd);
		memcpy(out, ldns_rdf_data(rd), *outlen);
		out[*outlen] = '\0';
	}
	ldns_rdf_deep_free(rd);
	free(padded);
	return out;
}

int kube_json_str(const cJSON *o, const char *key, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return -1;
	*out = v->valuestring;
	return 1;
}

/* RFC 3339 "2006-01-02T15:04:05Z", fractions and offsets allowed. */
static int parse_rfc3339(const char *s, long long *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0;
	long long t;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || !n)
		return -1;
	s += n;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = (long long)timegm(&tm);
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		int oh, om;
		int sign = *s == '-' ? -1 : 1;
		if (sscanf(s + 1, "%2d:%2d", &oh, &om) != 2)
			return -1;
		t -= sign * (oh * 3600LL + om * 60LL);
		s += 6;
	} else {
		return -1;
	}
	if (*s)
		return -1;
	*out = t;
	return 0;
}

int kube_exec_credential_parse(const char *json, size_t len, char **token,
	long long *expires, char **cert, char **key, char *err, size_t errlen)
{
	cJSON *doc = cJSON_ParseWithLength(json, len);
	const cJSON *st;
	const char *kind, *tok, *exp, *cd, *kd;

	*token = *cert = *key = NULL;
	*expires = 0;
	if (!cJSON_IsObject(doc)) {
		errf(err, errlen, "exec plugin output is not a JSON object");
		goto fail;
	}
	if (kube_json_str(doc, "kind", &kind) <= 0 || strcmp(kind, "ExecCredential") != 0) {
		errf(err, errlen, "exec plugin output is not an ExecCredential");
		goto fail;
	}
	st = cJSON_GetObjectItemCaseSensitive(doc, "status");
	if (!cJSON_IsObject(st) || kube_json_str(st, "token", &tok) < 0 ||
	    kube_json_str(st, "expirationTimestamp", &exp) < 0 ||
	    kube_json_str(st, "clientCertificateData", &cd) < 0 ||
	    kube_json_str(st, "clientKeyData", &kd) < 0) {
		errf(err, errlen, "exec plugin output: \"status\" missing or malformed");
		goto fail;
	}
	if ((!tok || !*tok) && (!cd || !kd)) {
		errf(err, errlen, "exec plugin output: no status.token (nor a client certificate and key)");
		goto fail;
	}
	if (tok && strpbrk(tok, "\r\n")) {
		errf(err, errlen, "exec plugin output: status.token holds a line break (CR or LF)");
		goto fail;
	}
	if (exp && *exp && parse_rfc3339(exp, expires) < 0) {
		errf(err, errlen, "exec plugin output: expirationTimestamp \"%.40s\" is not RFC 3339", exp);
		goto fail;
	}
	if ((tok && *tok && !(*token = strdup(tok))) || (cd && !(*cert = strdup(cd))) ||
	    (kd && !(*key = strdup(kd)))) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	cJSON_Delete(doc);
	return 0;
fail:
	free(*token);
	free(*cert);
	free(*key);
	*token = *cert = *key = NULL;
	cJSON_Delete(doc);
	return -1;
}
