/*
 * kube_watch.h -- what the Kubernetes API server sends, decoded without
 * any I/O: the newline framing of a watch stream, watch events, list
 * pages, and one-line summaries of error answers (a Status object, or
 * text).
 *
 * kube_scope.c feeds each piece of a watch body to kube_lines_feed and
 * decodes each line with kube_event_parse, each list page with
 * kube_list_parse; kube_status_summary turns a non-200 answer (of a list
 * or a watch) or an ERROR event into a log line.
 * Everything here is pure and unit-tested (tests/unit/test_kube.c).
 */
#ifndef GLOBALDNS_KUBE_WATCH_H
#define GLOBALDNS_KUBE_WATCH_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Newline framing of a watch stream.  Bytes are appended as they come;
 * each complete line (without its '\n', a trailing '\r' removed, empty
 * lines skipped) goes to fn.  A line longer than max without its newline
 * is an error: feed returns -1 (and the buffer is emptied).  fn returning
 * -1 stops feeding and makes feed return -2.  The struct is the caller's
 * (embed it); its buffer is owned by it until kube_lines_free.
 */
struct kube_lines {
	char *buf;
	size_t len, cap, max;
};
typedef int (*kube_line_fn)(void *arg, const char *line, size_t len);

/* Empty framer with a line cap of max bytes (0: KUBE_DEFAULT_MAX_BODY). */
void kube_lines_init(struct kube_lines *l, size_t max);

/* Feed len bytes; 0, -1 (line over the cap, or out of memory) or -2 (fn stopped). */
int kube_lines_feed(struct kube_lines *l, const char *data, size_t len,
	kube_line_fn fn, void *arg);

/* Drop a partial line (a new stream starts); the buffer is kept. */
void kube_lines_reset(struct kube_lines *l);

/* Free the buffer; l may be initialised again. */
void kube_lines_free(struct kube_lines *l);

enum kube_event_type {
	KUBE_EV_ADDED,
	KUBE_EV_MODIFIED,
	KUBE_EV_DELETED,
	KUBE_EV_BOOKMARK,
	KUBE_EV_ERROR
};

/*
 * Decode one watch event line: its type and object (*obj points into the
 * returned document; caller frees the document with cJSON_Delete).
 * Returns the document, or NULL with err (not JSON, not an object,
 * unknown type, object missing or not an object).
 */
cJSON *kube_event_parse(const char *line, size_t len, enum kube_event_type *type,
	const cJSON **obj, char *err, size_t errlen);

/*
 * Decode one page of a list: a ServiceEntryList (or List) with an items
 * array and metadata.resourceVersion (and continue, a string or null).
 * Returns the document (*items, *cont, *rv point into it; cont may be
 * NULL; caller frees it), or NULL with what is wrong in err -- an answer
 * that is not such a list must never empty the registry.
 */
cJSON *kube_list_parse(const char *body, size_t len, const cJSON **items,
	const cJSON **cont, const cJSON **rv, char *err, size_t errlen);

/*
 * A list body parsed as it arrives, so that a page of any size costs its
 * largest item, not the page: each element of the top-level "items"
 * array goes to fn as soon as it is whole (its JSON text, to be parsed on
 * its own); everything else (apiVersion, kind, metadata with continue and
 * resourceVersion) is kept, with the items array left empty, for
 * kube_listscan_finish.  Only the JSON lexical structure is tracked here
 * (strings, escapes, nesting): cJSON parses every piece.  An item or the
 * rest over max bytes is an error.  The struct is the caller's (embed it).
 */
struct kube_listscan {
	size_t max;
	char *rest, *item;
	size_t rlen, rcap, ilen, icap;
	unsigned long items;            /* elements handed to fn */
	int depth, in_str, esc;
	int in_items;                   /* inside the top-level items array */
	int item_kind;                  /* the element being read: '{', '[', '"', 's' (scalar), 0 none */
	int want_key, in_key, in_value; /* key tracking at depth 1 */
	char key[16];
	size_t keylen;
};
typedef int (*kube_item_fn)(void *arg, const char *item, size_t len);

/* Empty scanner; max as kube_lines_init. */
void kube_listscan_init(struct kube_listscan *s, size_t max);

/* Feed len bytes; 0, -1 (an item or the rest over the cap, out of
 * memory) or -2 (fn returned -1). */
int kube_listscan_feed(struct kube_listscan *s, const char *data, size_t len,
	kube_item_fn fn, void *arg);

/*
 * The end of the body: the rest as a list (kube_list_parse: *items is the
 * empty array, *cont and *rv point into the document; caller frees it),
 * or NULL with what is wrong in err.
 */
cJSON *kube_listscan_finish(struct kube_listscan *s, const cJSON **cont,
	const cJSON **rv, char *err, size_t errlen);

/* Free the buffers; s may be initialised again. */
void kube_listscan_free(struct kube_listscan *s);

/*
 * Summarise an error answer: the Status' message (and reason), or the
 * start of a text body.  *retry_after is set from details.retryAfterSeconds
 * if present (else left; retry_after may be NULL).  Writes
 * "HTTP 403 Forbidden: message" to out.
 */
void kube_status_summary(long code, const char *body, size_t len,
	char *out, size_t outlen, long *retry_after);

#endif
