/*
 * manifest_yaml.c -- YAML to cJSON through libyaml's event parser (see
 * yaml_json_parse in manifest.h): every document of a stream
 * becomes one element, scalars are typed as Kubernetes reads them,
 * anchors and aliases are resolved (and bounded), duplicate keys refused.
 */
#define _POSIX_C_SOURCE 200809L

#include "globaldns/seentry.h"
#include "globaldns/yaml_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "globaldns/util.h"

/* ---- YAML to cJSON ---------------------------------------------------- */

struct anchor {
	char *name;
	cJSON *node;                    /* in the document, unless owned */
	char *text;                     /* a scalar's text (for alias keys) */
	size_t size, height;            /* nodes in the subtree, its depth */
	int owned;                      /* node is not in the tree: free it */
};

struct yconv {
	yaml_parser_t parser;
	const char *text;
	size_t len;
	struct anchor *anchors;
	size_t nanchors, anchors_cap;
	size_t alias_nodes;             /* nodes made by aliases so far */
	char *err;
	size_t errlen;
};

struct nodeinfo {
	size_t size, height;
};

static void yerr(struct yconv *y, const yaml_mark_t *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void yerr(struct yconv *y, const yaml_mark_t *m, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	errf(y->err, y->errlen, "line %zu, column %zu: %s", m->line + 1,
		m->column + 1, what);
}

/* 1-based line and column of a byte offset into text. */
void yaml_json_position(const char *text, size_t len, size_t off, size_t *line,
	size_t *col)
{
	size_t i, bol = 0;

	*line = 1;
	if (off > len)
		off = len;
	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			(*line)++;
			bol = i + 1;
		}
	}
	*col = off - bol + 1;
}

static void parser_error(struct yconv *y)
{
	const yaml_parser_t *p = &y->parser;
	const char *problem = p->problem ? p->problem : "syntax error";
	size_t line, col;

	switch (p->error) {
	case YAML_MEMORY_ERROR:
		errf(y->err, y->errlen, "out of memory");
		break;
	case YAML_READER_ERROR:
		/* The reader knows only a byte offset. */
		yaml_json_position(y->text, y->len, p->problem_offset, &line, &col);
		errf(y->err, y->errlen, "line %zu, column %zu: %s", line, col,
			problem);
		break;
	default:
		if (p->context != NULL)
			errf(y->err, y->errlen,
				"line %zu, column %zu: %s (%s at line %zu, column %zu)",
				p->problem_mark.line + 1, p->problem_mark.column + 1,
				problem, p->context, p->context_mark.line + 1,
				p->context_mark.column + 1);
		else
			errf(y->err, y->errlen, "line %zu, column %zu: %s",
				p->problem_mark.line + 1, p->problem_mark.column + 1,
				problem);
		break;
	}
}

static int next_event(struct yconv *y, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&y->parser, ev)) {
		parser_error(y);
		return -1;
	}
	return 0;
}

static void clear_anchors(struct yconv *y)
{
	size_t i;

	for (i = 0; i < y->nanchors; i++) {
		free(y->anchors[i].name);
		free(y->anchors[i].text);
		if (y->anchors[i].owned)
			cJSON_Delete(y->anchors[i].node);
	}
	y->nanchors = 0;
}

static const struct anchor *find_anchor(const struct yconv *y,
	const char *name)
{
	size_t i;

	/* The latest definition of a name wins. */
	for (i = y->nanchors; i-- > 0;)
		if (strcmp(y->anchors[i].name, name) == 0)
			return &y->anchors[i];
	return NULL;
}

/*
 * Remember node under name.  If owned, the table takes node (and frees it
 * on failure too).  text is copied when not NULL.  0, or -1 (ENOMEM).
 */
static int add_anchor(struct yconv *y, const yaml_mark_t *m, const char *name,
	cJSON *node, int owned, const char *text, const struct nodeinfo *info)
{
	struct anchor a;

	if (y->nanchors == y->anchors_cap) {
		size_t ncap = y->anchors_cap ? 2 * y->anchors_cap : 16;
		struct anchor *p = realloc(y->anchors, ncap * sizeof(*p));

		if (p == NULL)
			goto oom;
		y->anchors = p;
		y->anchors_cap = ncap;
	}
	a.name = strdup(name);
	a.text = text ? strdup(text) : NULL;
	if (a.name == NULL || (text && a.text == NULL)) {
		free(a.name);
		free(a.text);
		goto oom;
	}
	a.node = node;
	a.owned = owned;
	a.size = info->size;
	a.height = info->height;
	y->anchors[y->nanchors++] = a;
	return 0;
oom:
	if (owned)
		cJSON_Delete(node);
	yerr(y, m, "out of memory");
	return -1;
}

/* YAML 1.2 core schema numbers: [-+]? (.D+ | D+(.D*)?) ([eE][-+]?D+)? */
static int is_number(const char *s, size_t n)
{
	size_t i = 0, d = 0, f = 0, e = 0;

	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		d++;
	if (i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			f++;
	}
	if (d == 0 && f == 0)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			e++;
		if (e == 0)
			return 0;
	}
	return i == n;
}

static int resolves(const yaml_event_t *ev)
{
	const char *tag = (const char *)ev->data.scalar.tag;

	if (tag == NULL)
		return ev->data.scalar.plain_implicit;
	return strcmp(tag, YAML_INT_TAG) == 0 || strcmp(tag, YAML_FLOAT_TAG) == 0 ||
	       strcmp(tag, YAML_BOOL_TAG) == 0 || strcmp(tag, YAML_NULL_TAG) == 0;
}

static cJSON *scalar_node(struct yconv *y, const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	size_t n = ev->data.scalar.length;
	cJSON *node;
	double d;

	if (memchr(v, '\0', n) != NULL) {
		yerr(y, &ev->start_mark, "string contains a NUL character");
		return NULL;
	}
	if (!resolves(ev)) {
		node = cJSON_CreateString(v);
	} else if (n == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
		   strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0) {
		node = cJSON_CreateNull();
	} else if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 ||
		   strcmp(v, "TRUE") == 0) {
		node = cJSON_CreateTrue();
	} else if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 ||
		   strcmp(v, "FALSE") == 0) {
		node = cJSON_CreateFalse();
	} else if (is_number(v, n) && isfinite(d = strtod(v, NULL))) {
		node = cJSON_CreateNumber(d);
	} else {
		node = cJSON_CreateString(v);
	}
	if (node == NULL)
		yerr(y, &ev->start_mark, "out of memory");
	return node;
}

static cJSON *parse_node(struct yconv *y, yaml_event_t *ev, size_t depth,
	struct nodeinfo *info);

static cJSON *alias_node(struct yconv *y, const yaml_event_t *ev,
	size_t depth, struct nodeinfo *info)
{
	const char *name = (const char *)ev->data.alias.anchor;
	const struct anchor *a = find_anchor(y, name);
	cJSON *dup;

	if (a == NULL) {
		yerr(y, &ev->start_mark, "undefined alias \"%s\"", name);
		return NULL;
	}
	if (depth + a->height > YAML_JSON_MAX_DEPTH) {
		yerr(y, &ev->start_mark, "nesting deeper than %d levels",
			YAML_JSON_MAX_DEPTH);
		return NULL;
	}
	if (a->size > YAML_JSON_MAX_ALIAS_NODES - y->alias_nodes) {
		yerr(y, &ev->start_mark, "aliases expand to more than %d nodes",
			YAML_JSON_MAX_ALIAS_NODES);
		return NULL;
	}
	y->alias_nodes += a->size;
	dup = cJSON_Duplicate(a->node, 1);
	if (dup == NULL) {
		yerr(y, &ev->start_mark, "out of memory");
		return NULL;
	}
	/* The copy keeps the anchored node's key; it gets its own later. */
	if (dup->string != NULL) {
		cJSON_free(dup->string);
		dup->string = NULL;
	}
	info->size = a->size;
	info->height = a->height;
	return dup;
}

static cJSON *seq_node(struct yconv *y, const yaml_mark_t *m, size_t depth,
	struct nodeinfo *info)
{
	cJSON *arr = cJSON_CreateArray(), *child;
	struct nodeinfo ci;
	yaml_event_t ev;

	if (arr == NULL) {
		yerr(y, m, "out of memory");
		return NULL;
	}
	info->size = 1;
	info->height = 1;
	for (;;) {
		if (next_event(y, &ev) != 0)
			goto fail;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return arr;
		}
		child = parse_node(y, &ev, depth + 1, &ci);
		if (child == NULL)
			goto fail;
		cJSON_AddItemToArray(arr, child);
		info->size += ci.size;
		if (ci.height + 1 > info->height)
			info->height = ci.height + 1;
	}
fail:
	cJSON_Delete(arr);
	return NULL;
}

/*
 * The text of a mapping key; consumes ev.  Keys are always strings, so
 * "8000:" gives "8000".  NULL on error.
 */
static char *key_text(struct yconv *y, yaml_event_t *ev)
{
	const char *v, *anchor;
	char *k = NULL;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		v = (const char *)ev->data.scalar.value;
		anchor = (const char *)ev->data.scalar.anchor;
		if (memchr(v, '\0', ev->data.scalar.length) != NULL) {
			yerr(y, &ev->start_mark, "string contains a NUL character");
			break;
		}
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    strcmp(v, "<<") == 0) {
			yerr(y, &ev->start_mark, "merge keys (<<) are not supported");
			break;
		}
		if (anchor != NULL) {
			struct nodeinfo one = { 1, 1 };
			cJSON *node = scalar_node(y, ev);

			if (node == NULL ||
			    add_anchor(y, &ev->start_mark, anchor, node, 1, v, &one))
				break;
		}
		k = strdup(v);
		if (k == NULL)
			yerr(y, &ev->start_mark, "out of memory");
		break;
	case YAML_ALIAS_EVENT: {
		const struct anchor *a = find_anchor(y,
			(const char *)ev->data.alias.anchor);

		if (a == NULL) {
			yerr(y, &ev->start_mark, "undefined alias \"%s\"",
				(const char *)ev->data.alias.anchor);
			break;
		}
		if (a->text == NULL) {
			yerr(y, &ev->start_mark,
				"alias \"%s\" used as a key is not a scalar", a->name);
			break;
		}
		k = strdup(a->text);
		if (k == NULL)
			yerr(y, &ev->start_mark, "out of memory");
		break;
	}
	default:
		yerr(y, &ev->start_mark, "mapping keys must be scalars");
		break;
	}
	yaml_event_delete(ev);
	return k;
}

struct keypos {
	const char *key;                /* the object member's name */
	yaml_mark_t mark;
	size_t idx;
};

static int keypos_cmp(const void *a, const void *b)
{
	const struct keypos *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static cJSON *map_node(struct yconv *y, const yaml_mark_t *m, size_t depth,
	struct nodeinfo *info)
{
	cJSON *obj = cJSON_CreateObject(), *child;
	struct keypos *keys = NULL;
	size_t nkeys = 0, cap = 0, i;
	struct nodeinfo ci;
	yaml_event_t ev;
	yaml_mark_t km;
	char *k;

	if (obj == NULL) {
		yerr(y, m, "out of memory");
		return NULL;
	}
	info->size = 1;
	info->height = 1;
	for (;;) {
		if (next_event(y, &ev) != 0)
			goto fail;
		if (ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		km = ev.start_mark;
		k = key_text(y, &ev);
		if (k == NULL)
			goto fail;
		if (next_event(y, &ev) != 0) {
			free(k);
			goto fail;
		}
		child = parse_node(y, &ev, depth + 1, &ci);
		if (child == NULL) {
			free(k);
			goto fail;
		}
		if (nkeys == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct keypos *p = realloc(keys, ncap * sizeof(*p));

			if (p == NULL) {
				free(k);
				cJSON_Delete(child);
				yerr(y, &km, "out of memory");
				goto fail;
			}
			keys = p;
			cap = ncap;
		}
		if (!cJSON_AddItemToObject(obj, k, child)) {
			free(k);
			cJSON_Delete(child);
			yerr(y, &km, "out of memory");
			goto fail;
		}
		free(k);
		keys[nkeys].key = child->string;
		keys[nkeys].mark = km;
		keys[nkeys].idx = nkeys;
		nkeys++;
		info->size += ci.size;
		if (ci.height + 1 > info->height)
			info->height = ci.height + 1;
	}
	/* Sorting keeps large mappings (10,000s of keys) from going quadratic. */
	if (nkeys > 1)
		qsort(keys, nkeys, sizeof(*keys), keypos_cmp);
	for (i = 1; i < nkeys; i++) {
		if (strcmp(keys[i - 1].key, keys[i].key) == 0) {
			char q[96];

			yerr(y, &keys[i].mark, "duplicate key \"%s\"",
				se_printable(q, sizeof(q), keys[i].key));
			goto fail;
		}
	}
	free(keys);
	return obj;
fail:
	free(keys);
	cJSON_Delete(obj);
	return NULL;
}

/* Convert the node that starts with ev (consumed); NULL on error. */
static cJSON *parse_node(struct yconv *y, yaml_event_t *ev, size_t depth,
	struct nodeinfo *info)
{
	const char *anchor = NULL, *text = NULL;
	cJSON *node = NULL;

	if (ev->type != YAML_ALIAS_EVENT && depth >= YAML_JSON_MAX_DEPTH) {
		yerr(y, &ev->start_mark, "nesting deeper than %d levels",
			YAML_JSON_MAX_DEPTH);
		goto out;
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		node = alias_node(y, ev, depth, info);
		break;
	case YAML_SCALAR_EVENT:
		node = scalar_node(y, ev);
		info->size = 1;
		info->height = 1;
		anchor = (const char *)ev->data.scalar.anchor;
		text = (const char *)ev->data.scalar.value;
		break;
	case YAML_SEQUENCE_START_EVENT:
		node = seq_node(y, &ev->start_mark, depth, info);
		anchor = (const char *)ev->data.sequence_start.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		node = map_node(y, &ev->start_mark, depth, info);
		anchor = (const char *)ev->data.mapping_start.anchor;
		break;
	default:
		yerr(y, &ev->start_mark, "unexpected YAML event %d", (int)ev->type);
		break;
	}
	if (node != NULL && anchor != NULL &&
	    add_anchor(y, &ev->start_mark, anchor, node, 0, text, info) != 0) {
		cJSON_Delete(node);
		node = NULL;
	}
out:
	yaml_event_delete(ev);
	return node;
}

cJSON *yaml_json_parse(const char *text, size_t len, char *err,
	size_t errlen)
{
	struct yconv y;
	struct nodeinfo info;
	yaml_event_t ev;
	cJSON *docs = NULL, *doc;

	memset(&y, 0, sizeof(y));
	y.text = text ? text : "";
	y.len = text ? len : 0;
	y.err = err;
	y.errlen = errlen;
	errf(err, errlen, "%s", "");
	if (!yaml_parser_initialize(&y.parser)) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&y.parser, (const unsigned char *)y.text,
		y.len);
	docs = cJSON_CreateArray();
	if (docs == NULL) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	for (;;) {
		if (next_event(&y, &ev) != 0)
			goto fail;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		if (ev.type != YAML_DOCUMENT_START_EVENT) {
			yaml_event_delete(&ev);  /* STREAM-START, DOCUMENT-END */
			continue;
		}
		yaml_event_delete(&ev);
		/* Anchors are local to their document. */
		clear_anchors(&y);
		if (next_event(&y, &ev) != 0)
			goto fail;
		doc = parse_node(&y, &ev, 0, &info);
		if (doc == NULL)
			goto fail;
		/* An empty document ("---" alone) reads as null: skip it. */
		if (cJSON_IsNull(doc))
			cJSON_Delete(doc);
		else
			cJSON_AddItemToArray(docs, doc);
	}
	clear_anchors(&y);
	free(y.anchors);
	yaml_parser_delete(&y.parser);
	return docs;
fail:
	clear_anchors(&y);
	free(y.anchors);
	yaml_parser_delete(&y.parser);
	cJSON_Delete(docs);
	return NULL;
}

