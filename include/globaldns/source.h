/*
 * source.h -- where a `serviceentries` block gets its entries from.
 *
 * A source delivers whole lists: each time it has a complete, consistent
 * set of entries (a manifest file re-read, a Kubernetes list finished, a
 * batch of watch events applied) it calls `update` with a new se_list,
 * whose contents the callee takes.  A failed load never calls update, so
 * the block keeps serving the last good registry.  The source also keeps
 * its sync state for readiness and introspection.
 */
#ifndef GLOBALDNS_SOURCE_H
#define GLOBALDNS_SOURCE_H

#include <stddef.h>
#include <time.h>

#include "globaldns/seentry.h"

struct event_base;

#define SE_API_ERROR_CODES 8

typedef void (*se_update_fn)(void *arg, struct se_list *entries);

struct se_source_status {
	int synced;                     /* first complete load done */
	time_t last_success;            /* wall clock of the last good load */
	time_t last_attempt;
	unsigned long syncs_ok, syncs_failed;
	char last_error[512];           /* empty when the last load was good */
	/* Kubernetes API sources: watches restarted (expired, closed, errors)
	 * and API answers by HTTP status (code 0 = no answer: connection
	 * errors, timeouts); exported as globaldns_source_* metrics. */
	unsigned long watch_restarts;
	struct {
		int code;
		unsigned long count;
	} api_errors[SE_API_ERROR_CODES];
};

/* Count an API error by HTTP status into st (the last slot takes the rest). */
void se_source_api_error(struct se_source_status *st, int code);

struct se_source {
	const char *kind;               /* "file", "kubernetes" */
	int (*start)(struct se_source *s, struct event_base *base);
	void (*free)(struct se_source *s);
	struct se_source_status status;
	se_update_fn update;
	void *update_arg;
};

/* Free a source through its own free; NULL is fine. */
void se_source_free(struct se_source *s);

/*
 * A source of manifest files and directories (manifest.h).  Everything is
 * read at start and again whenever a file's identity, size or mtime (or a
 * directory's listing) changes, checked every `check_ms` milliseconds.
 * paths are copied.  Returns NULL on memory exhaustion.
 */
struct se_source *file_source_new(const char *const *paths, size_t npaths,
	long check_ms, se_update_fn update, void *arg);

/*
 * Read the files once, now, without a loop (for -validate): 0, or -1 with
 * the first error in err.  The entries read are appended to out.
 */
int file_source_load_once(struct se_source *s, struct se_list *out,
	char *err, size_t errlen);

#endif
