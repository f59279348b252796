/*
 * kube_watch.c -- decoding what the Kubernetes API server sends
 * (kube_watch.h): watch-stream line framing, watch events, and one-line
 * summaries of error answers.  Pure functions, no I/O; the list/watch
 * state machine in kube_scope.c calls them.
 */
#include "kube_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"

void kube_lines_init(struct kube_lines *l, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->max = max ? max : KUBE_DEFAULT_MAX_BODY;
}

/* A new stream starts small again: one huge event must not pin its
 * buffer (up to max_body) for the life of the process. */
#define KUBE_LINES_KEEP (1024 * 1024)

void kube_lines_reset(struct kube_lines *l)
{
	l->len = 0;
	if (l->cap > KUBE_LINES_KEEP) {
		free(l->buf);
		l->buf = NULL;
		l->cap = 0;
	}
}

void kube_lines_free(struct kube_lines *l)
{
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

static int emit_line(const char *s, size_t n, kube_line_fn fn, void *arg)
{
	if (n && s[n - 1] == '\r')
		n--;
	if (n == 0)
		return 0;
	return fn(arg, s, n) < 0 ? -2 : 0;
}

/* Room for need bytes; 0, or -1 (out of memory: the partial line is dropped). */
static int lines_reserve(struct kube_lines *l, size_t need)
{
	size_t cap = l->cap ? l->cap : 4096;
	char *b;

	if (need <= l->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	/* doubling must not overshoot the cap on a line by much */
	if (cap > l->max + 1)
		cap = need > l->max + 1 ? need : l->max + 1;
	if (!(b = realloc(l->buf, cap))) {
		l->len = 0;
		return -1;
	}
	l->buf = b;
	l->cap = cap;
	return 0;
}

int kube_lines_feed(struct kube_lines *l, const char *data, size_t len,
	kube_line_fn fn, void *arg)
{
	while (len) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		int rc;

		if (take > l->max - l->len) {
			l->len = 0;
			return -1;
		}
		if (!nl) {
			if (lines_reserve(l, l->len + take) < 0)
				return -1;
			memcpy(l->buf + l->len, data, take);
			l->len += take;
			return 0;
		}
		if (l->len == 0) {
			/* the whole line is in this piece: no copy */
			rc = emit_line(data, take, fn, arg);
		} else {
			if (lines_reserve(l, l->len + take) < 0)
				return -1;
			memcpy(l->buf + l->len, data, take);
			rc = emit_line(l->buf, l->len + take, fn, arg);
			l->len = 0;
		}
		if (rc < 0)
			return rc;
		data += take + 1;
		len -= take + 1;
	}
	return 0;
}

cJSON *kube_event_parse(const char *line, size_t len, enum kube_event_type *type,
	const cJSON **obj, char *err, size_t errlen)
{
	static const char *const names[] = {
		[KUBE_EV_ADDED] = "ADDED", [KUBE_EV_MODIFIED] = "MODIFIED",
		[KUBE_EV_DELETED] = "DELETED", [KUBE_EV_BOOKMARK] = "BOOKMARK",
		[KUBE_EV_ERROR] = "ERROR",
	};
	cJSON *doc = cJSON_ParseWithLength(line, len);
	const cJSON *t, *o;
	size_t i;

	if (!doc) {
		snprintf(err, errlen, "watch event is not JSON");
		return NULL;
	}
	t = cJSON_GetObjectItemCaseSensitive(doc, "type");
	o = cJSON_GetObjectItemCaseSensitive(doc, "object");
	if (!cJSON_IsObject(doc) || !cJSON_IsString(t)) {
		snprintf(err, errlen, "watch event without a \"type\" string");
		goto fail;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(t->valuestring, names[i]) == 0)
			break;
	if (i == sizeof(names) / sizeof(names[0])) {
		snprintf(err, errlen, "watch event of unknown type \"%.32s\"", t->valuestring);
		goto fail;
	}
	if (!cJSON_IsObject(o)) {
		snprintf(err, errlen, "watch event %s without an object", names[i]);
		goto fail;
	}
	*type = (enum kube_event_type)i;
	*obj = o;
	return doc;
fail:
	cJSON_Delete(doc);
	return NULL;
}

static const char *status_text(long code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 410: return "Gone";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "";
	}
}

/* Printable, one line, at most n bytes of s; blanks collapsed. */
static void clip(char *dst, size_t dstlen, const char *s, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f) {
			if (o && dst[o - 1] != ' ')
				dst[o++] = ' ';
			continue;
		}
		dst[o++] = (char)c;
	}
	while (o && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
}

void kube_status_summary(long code, const char *body, size_t len,
	char *out, size_t outlen, long *retry_after)
{
	cJSON *doc = (len && body[0] == '{') ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(doc, "message");
	const cJSON *det = cJSON_GetObjectItemCaseSensitive(doc, "details");
	const cJSON *ra = cJSON_GetObjectItemCaseSensitive(det, "retryAfterSeconds");
	char text[300];

	if (cJSON_IsString(msg)) {
		clip(text, sizeof(text), msg->valuestring, strlen(msg->valuestring));
	} else {
		clip(text, sizeof(text), body, len > 200 ? 200 : len);
	}
	if (cJSON_IsNumber(ra) && ra->valuedouble >= 0 && ra->valuedouble < 86400 && retry_after)
		*retry_after = (long)ra->valuedouble;
	snprintf(out, outlen, "HTTP %ld%s%s%s%s", code, *status_text(code) ? " " : "",
		status_text(code), text[0] ? ": " : "", text);
	cJSON_Delete(doc);
}

cJSON *kube_list_parse(const char *body, size_t len, const cJSON **items,
	const cJSON **cont, const cJSON **rv, char *err, size_t errlen)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *kind, *meta;

	if (!doc) {
		snprintf(err, errlen, "the answer is not JSON");
		return NULL;
	}
	*items = cJSON_GetObjectItemCaseSensitive(doc, "items");
	kind = cJSON_GetObjectItemCaseSensitive(doc, "kind");
	meta = cJSON_GetObjectItemCaseSensitive(doc, "metadata");
	*cont = cJSON_GetObjectItemCaseSensitive(meta, "continue");
	*rv = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
	/*
	 * A ServiceEntryList (or List) with an items array: a 200 without one
	 * (items null or missing, some other kind) must not empty the registry.
	 */
	if (!cJSON_IsObject(doc) || !cJSON_IsArray(*items) ||
	    !cJSON_IsString(kind) || (strcmp(kind->valuestring, "ServiceEntryList") != 0 &&
	        strcmp(kind->valuestring, "List") != 0) ||
	    !cJSON_IsObject(meta) || (*cont && !cJSON_IsString(*cont) && !cJSON_IsNull(*cont)) ||
	    !cJSON_IsString(*rv)) {
		snprintf(err, errlen, "the answer is not a ServiceEntryList (%s)",
			!cJSON_IsObject(doc) ? "not an object" :
			!cJSON_IsString(kind) ? "kind is not a string" :
			(strcmp(kind->valuestring, "ServiceEntryList") != 0 &&
			 strcmp(kind->valuestring, "List") != 0) ? "kind is not ServiceEntryList" :
			!*items ? "no items" : cJSON_IsNull(*items) ? "items is null" :
			!cJSON_IsObject(meta) ? "metadata is not an object" :
			!cJSON_IsString(*rv) ? "metadata.resourceVersion is not a string" :
			(*cont && !cJSON_IsString(*cont) && !cJSON_IsNull(*cont)) ? "metadata.continue is not a string" :
			"items is not a list");
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

/* ---- list bodies parsed as they arrive ---- */

void kube_listscan_init(struct kube_listscan *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max ? max : KUBE_DEFAULT_MAX_BODY;
}

void kube_listscan_free(struct kube_listscan *s)
{
	free(s->rest);
	free(s->item);
	memset(s, 0, sizeof(*s));
}

/* Append one byte to a capped buffer; 0 or -1. */
static int buf_put(char **b, size_t *len, size_t *cap, size_t max, char c)
{
	if (*len + 1 >= *cap) {
		size_t n = *cap ? *cap * 2 : 4096;
		char *nb;
		if (*len + 1 > max)
			return -1;
		if (n > max + 1)
			n = max + 1;
		if (!(nb = realloc(*b, n)))
			return -1;
		*b = nb;
		*cap = n;
	}
	(*b)[(*len)++] = c;
	return 0;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Strings, escapes and nesting after c. */
static void lex(struct kube_listscan *s, char c)
{
	if (s->in_str) {
		if (s->esc)
			s->esc = 0;
		else if (c == '\\')
			s->esc = 1;
		else if (c == '"')
			s->in_str = 0;
		return;
	}
	if (c == '"')
		s->in_str = 1;
	else if (c == '{' || c == '[')
		s->depth++;
	else if (c == '}' || c == ']')
		s->depth--;
}

/* An element of items is whole: hand it over. */
static int emit_item(struct kube_listscan *s, kube_item_fn fn, void *arg)
{
	int rc;

	s->items++;
	rc = fn(arg, s->item, s->ilen);
	s->ilen = 0;
	s->item_kind = 0;
	return rc < 0 ? -2 : 0;
}

/* One byte inside the items array. */
static int scan_item(struct kube_listscan *s, char c, kube_item_fn fn, void *arg)
{
	int rc;

	if (s->item_kind == 's' && (c == ',' || c == ']' || is_ws(c))) {
		if ((rc = emit_item(s, fn, arg)) < 0)
			return rc;
	}
	if (!s->item_kind) {                    /* between elements, at depth 2 */
		if (is_ws(c) || c == ',')
			return 0;
		if (c == ']') {
			s->depth = 1;
			s->in_items = 0;
			return buf_put(&s->rest, &s->rlen, &s->rcap, s->max, c);
		}
		s->item_kind = c == '{' || c == '[' || c == '"' ? c : 's';
	}
	if (buf_put(&s->item, &s->ilen, &s->icap, s->max, c) < 0)
		return -1;
	if (s->item_kind == 's')
		return 0;
	lex(s, c);
	if (!s->in_str && s->depth == 2 && !(s->item_kind == '"' && s->ilen == 1))
		return emit_item(s, fn, arg);
	return 0;
}

/* One byte outside the items: kept, and the keys of the top level followed. */
static int scan_rest(struct kube_listscan *s, char c)
{
	int was_str = s->in_str, depth = s->depth;

	if (buf_put(&s->rest, &s->rlen, &s->rcap, s->max, c) < 0)
		return -1;
	lex(s, c);
	if (depth == 0 && c == '{') {
		s->want_key = 1;
		return 0;
	}
	if (depth != 1)
		return 0;
	if (was_str) {
		if (s->in_key) {
			if (!s->in_str)
				s->in_key = 0;
			else if (s->keylen < sizeof(s->key) - 1)
				s->key[s->keylen++] = c;
			else
				s->keylen = sizeof(s->key);     /* too long: not "items" */
		}
		return 0;
	}
	if (c == '"' && s->want_key) {
		s->want_key = 0;
		s->in_key = 1;
		s->keylen = 0;
	} else if (c == ':') {
		s->in_value = 1;
	} else if (c == ',') {
		s->want_key = 1;
		s->in_value = 0;
	} else if (s->in_value && !is_ws(c)) {
		s->in_value = 0;
		if (c == '[' && s->keylen == 5 && memcmp(s->key, "items", 5) == 0)
			s->in_items = 1;        /* depth is 2 now */
	}
	return 0;
}

int kube_listscan_feed(struct kube_listscan *s, const char *data, size_t len,
	kube_item_fn fn, void *arg)
{
	for (size_t i = 0; i < len; i++) {
		int rc = s->in_items ? scan_item(s, data[i], fn, arg) : scan_rest(s, data[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

cJSON *kube_listscan_finish(struct kube_listscan *s, const cJSON **cont,
	const cJSON **rv, char *err, size_t errlen)
{
	const cJSON *items;

	if (s->in_items || s->depth != 0 || s->in_str) {
		snprintf(err, errlen, "the answer is not JSON (cut short)");
		return NULL;
	}
	return kube_list_parse(s->rest ? s->rest : "", s->rlen, &items, cont, rv, err, errlen);
}
