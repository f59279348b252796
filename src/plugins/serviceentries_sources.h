/*
 * serviceentries_sources.h -- where a serviceentries block's entries come
 * from (serviceentries_sources.c): its source, or several clusters merged
 * into one list, how stale each is, and the disk snapshot of their last
 * good entries.  serviceentries.c owns the registry; it hands its block
 * properties here first, and gets whole entry lists back through build.
 */
#ifndef GLOBALDNS_SERVICEENTRIES_SOURCES_H
#define GLOBALDNS_SERVICEENTRIES_SOURCES_H

#include <stddef.h>
#include <time.h>

#include "globaldns/seentry.h"
#include "globaldns/source.h"

struct cf_directive;
struct cJSON;
struct event;
struct event_base;
struct metrics_out;
struct registry;
struct se_sources;
struct snapshot_job;

/* One source of a block: its own, or one `cluster NAME { ... }` of several. */
struct se_slot {
	struct se_sources *set;
	char *cluster;                  /* NULL: the block's only source */
	char *label;                    /* for log lines: "ZONE (cluster NAME)" */
	const struct se_source_kind *kind;
	void *kind_conf;
	const struct cf_directive *kind_prop;   /* its first property: setup only */
	struct se_source *source;
	struct se_list last;            /* several sources: its last good entries */
	int have;                       /* it delivered entries (live or the snapshot's) */
	int from_snapshot;              /* what it serves came from the disk snapshot */
	time_t snap_time;               /* then: when they were last known good */
	struct se_list snap;            /* read at start, until used or not needed */
	int snap_have;
};

struct se_sources {
	/* set by serviceentries.c before se_sources_create */
	const char *zone;               /* the block's first zone: labels, logs */
	const char *const *zones;       /* all of them: the snapshot's header */
	size_t nzones;
	struct registry *const *reg;    /* the block's current registry (NULL: none) */
	void (*build)(void *arg, struct se_list *entries); /* a new registry, entries moved */
	void *build_arg;
	/* the sources */
	struct se_slot *slots;
	size_t nslots, slots_cap;
	/* snapshot PATH */
	char *snap_path;
	const struct cf_directive *snap_prop;   /* setup only */
	long snap_interval_ms, snap_wait_ms;
	int snap_ready_live;            /* ready only once every source synced live */
	struct event *snap_write_timer, *snap_apply_timer, *snap_poll_timer;
	struct snapshot_job *snap_job;  /* a write on its thread */
	time_t snap_job_now;            /* when it began */
	double started_ms;              /* monotonic, at start */
	int snap_dirty;                 /* live entries not written yet */
	double snap_last_write_ms;      /* monotonic, 0: never */
	double snap_write_took_ms;      /* how long the last write took */
	time_t snap_written;            /* wall clock of the last write */
	time_t snap_loaded;             /* "written" of the snapshot read at start, 0: none */
	unsigned long snap_writes_ok, snap_writes_failed;
	char snap_error[600];           /* why the last write or the read failed */
};

/*
 * A block property, if it is about sources: a source kind's (`file`,
 * `kubeconfig`, ...), `cluster NAME { ... }` or `snapshot PATH`.  1 taken,
 * 0 not one of these, -1 with "FILE:LINE: serviceentries: ..." in err.
 */
int se_sources_prop(struct se_sources *s, const struct cf_directive *c,
	char *err, size_t errlen);
/* "file, ttl, ..., token_file": the first kind's properties, own, the rest. */
void se_sources_supported(char *out, size_t len, const char *const *own,
	size_t nown);
/* After the block's properties (d: the directive): the default source if
 * none was named, and each source made.  0, or -1 with err. */
int se_sources_create(struct se_sources *s, const struct cf_directive *d,
	int check, char *err, size_t errlen);
int se_sources_start(struct se_sources *s, struct event_base *base);
/* 1 ready; 0 with why. */
int se_sources_ready(const struct se_sources *s, char *why, size_t whylen);
/* Write the snapshot if it has news (shutdown, reload), stop, free. */
void se_sources_free(struct se_sources *s);
void se_sources_collect(const struct se_sources *s, struct metrics_out *o);
void se_sources_introspect(const struct se_sources *s, struct cJSON *obj);

#endif
