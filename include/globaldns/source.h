/*
 * source.h -- where a `serviceentries` block gets its entries from: the
 * source interface, and the kinds of source a block can configure.
 *
 * A source delivers whole lists: each time it has a complete, consistent
 * set of entries (a manifest file re-read, a Kubernetes list finished, a
 * batch of watch events applied) it calls `update` with a new se_list,
 * whose contents the callee takes.  A failed load never calls update, so
 * the block keeps serving the last good registry.  The source keeps the
 * generic part of its sync state in `status` (readiness, introspection,
 * the globaldns_source_* metrics); what only it knows (API counters,
 * watch restarts, the server it talks to) it exports itself through its
 * collect and introspect hooks.
 *
 * A *kind* of source is what the serviceentries directive knows of it:
 * the block properties it owns (`file` for manifests; `kubeconfig`,
 * `endpoint`, `namespaces`, ... for the Kubernetes API), how to parse
 * them, and how to make the source.  serviceentries holds a table of
 * kinds and no source's schema: a property no kind owns is an error, and
 * properties of two kinds in one block are an error.
 */
#ifndef GLOBALDNS_SOURCE_H
#define GLOBALDNS_SOURCE_H

#include <stddef.h>
#include <time.h>

#include "globaldns/seentry.h"

struct cf_directive;
struct cJSON;
struct event_base;
struct metrics_out;
struct se_source;

typedef void (*se_update_fn)(void *arg, struct se_list *entries);

struct se_source_status {
	int synced;                     /* first complete load done */
	time_t last_success;            /* wall clock of the last good load */
	time_t last_attempt;
	unsigned long syncs_ok, syncs_failed;
	char last_error[512];           /* empty when the last load was good */
	/* when it last was in sync, while it is not (last_error set): 0 while
	 * it is; the staleness of what it delivered is now - good_until */
	time_t good_until;
};

struct se_source_ops {
	const char *kind;               /* "file", "kubernetes": the metrics' source label */
	int (*start)(struct se_source *s, struct event_base *base);
	void (*free)(struct se_source *s);
	/* Its own metrics at scrape time, labelled with zone (the block's
	 * first zone) and, when s->cluster is set, cluster; may be NULL. */
	void (*collect)(struct se_source *s, struct metrics_out *o,
		const char *zone);
	/* Add what it alone knows to the /registry "source" object; may be NULL. */
	void (*introspect)(struct se_source *s, struct cJSON *obj);
};

struct se_source {
	const struct se_source_ops *ops;
	struct se_source_status status;
	se_update_fn update;
	void *update_arg;
	/* Set by serviceentries after create: the block's name for it when
	 * the block reads several (`cluster NAME`), NULL for its only source;
	 * its own metrics carry it as the "cluster" label. */
	const char *cluster;
	/* Set by the source at create (owned by it): what it reads, stable
	 * across restarts ("kubernetes https://10.0.0.1:6443 namespaces=a,b"),
	 * for the disk snapshot to tell its own entries from another source's;
	 * NULL: the source is not snapshotted (manifest files are on disk). */
	const char *identity;
};

/* Free a source through its own free; NULL is fine. */
static inline void se_source_free(struct se_source *s)
{
	if (s)
		s->ops->free(s);
}

/* What a kind's create gets besides its configuration. */
struct se_source_args {
	const char *label;              /* for log lines: the block's first zone */
	int check;                      /* -validate and reload: check all that can
	                                 * be checked now (read the files, every
	                                 * problem reported), contact nothing; then
	                                 * freed unstarted (-validate) or started
	                                 * with what was read (reload) */
	se_update_fn update;
	void *update_arg;
};

struct se_source_kind {
	const char *name;               /* "file", "kubernetes" */
	const char *title;              /* for messages: "manifest file", "Kubernetes API" */
	const char *const *props;       /* the block properties it owns, NULL-terminated */
	int is_default;                 /* made when the block names no source property */
	/* A new, empty configuration, or NULL (out of memory). */
	void *(*conf_new)(void);
	/* Take one property; -1 with "what is wrong" (no FILE:LINE) in err. */
	int (*conf_prop)(void *conf, const struct cf_directive *c, char *err,
		size_t errlen);
	/* The source (nothing contacted until start), or NULL with what is
	 * wrong in err (no FILE:LINE).  conf stays the caller's. */
	struct se_source *(*create)(const void *conf, const struct se_source_args *a,
		char *err, size_t errlen);
	void (*conf_free)(void *conf);
};

#endif
