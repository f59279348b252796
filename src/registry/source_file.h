/*
 * source_file.h -- the manifest file source's insides, shared by
 * source_file.c (the source: its life, when to look -- inotify, the
 * periodic stat -- and the `file` kind) and source_file_cache.c (what to
 * read and when it is whole: the per-file cache, settling, the list the
 * registry gets).  The design is at the top of source_file.c.
 */
#ifndef GLOBALDNS_REGISTRY_SOURCE_FILE_H
#define GLOBALDNS_REGISTRY_SOURCE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "globaldns/source.h"

struct event;
struct event_base;

#define CHECK_MS 1000                   /* stat of each configured path */
#define SETTLE_MS 250                   /* unchanged this long: read it */
#define SHRINK_MS 2000                  /* emptier: unchanged this long */

/* What stat() says of a path (following symlinks); all zero: missing. */
struct fsig {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	int exists, is_dir, is_reg;
};

struct mfile {
	char *path;
	const char *name;               /* last component, within path */
	struct fsig loaded;             /* what the cache (or the error) is of */
	struct fsig seen;               /* the last stat, unchanged since seen_ms */
	uint64_t seen_ms;
	struct fsig deferred;           /* read, fewer entries: wait for SHRINK_MS */
	int dirty;                      /* seen != loaded: to be read once settled */
	int ok;                         /* pk holds a good parse */
	int bad;                        /* the last read failed */
	struct se_packed pk;            /* its entries and rejects, packed */
};

struct mpath {
	char *path;                     /* as configured */
	const char *base;               /* a file: its last component */
	struct fsig sig;
	int is_dir;
	int wd;                         /* inotify watch; -1: polled */
	int unwatchable;                /* inotify_add_watch failed (said once) */
	int rescan;
	struct mfile **files;           /* by name (a file path: one) */
	size_t nfiles, cap;
	char err[512];                  /* the path itself cannot be read */
};

struct file_source {
	struct se_source base;          /* first: the generic part */
	struct mpath *paths;
	size_t npaths;
	struct event_base *ev_base;
	int ifd;                        /* inotify, or -1 */
	struct event *iev, *tick, *settle;
	int loaded;                     /* every file read once (create or start) */
	unsigned long reads;            /* files parsed (introspection, tests) */
};

/* ---- source_file_cache.c ---- */

uint64_t fsc_now_ms(void);              /* monotonic */
void fsc_stat(const char *path, struct fsig *s);
int fsc_same(const struct fsig *a, const struct fsig *b);
void fsc_file_free(struct mfile *f);
/* Look at f now: a stat that differs from the last restarts its settling;
 * marks it dirty if it is not what the cache holds. */
void fsc_mark(struct mfile *f, uint64_t now);
/* Look at every file of mp again (a directory: listed again, new files
 * added, vanished ones kept until their removal settles).  0, or -1 with
 * err (the path itself cannot be read). */
int fsc_scan(struct mpath *mp, uint64_t now, char *err, size_t errlen);
/* Read what has settled and publish if anything changed; 1 if something
 * is still settling. */
int fsc_settle(struct file_source *fs, uint64_t now);
int fsc_any_dirty(const struct file_source *fs);
/* Read every file now (create under check, or start): every problem
 * found, the first in err (the caller logs it), the others logged (check).
 * Under check a file changed in the last SETTLE_MS is first waited for
 * (1 s at most in all): a reload never takes a file half written.
 * 0 if every file was read well. */
int fsc_load_all(struct file_source *fs, int check, char *err, size_t errlen);
/* An error into the status (logged once per new text), or with err NULL:
 * cleared once no path and no file has one. */
void fsc_note_errors(struct file_source *fs, const char *err);
/* Hand the registry the caches put together; before the first time, only
 * once every file has been read well. */
void fsc_publish(struct file_source *fs);
/* The file of that name in a directory path, or NULL. */
struct mfile *fsc_find(struct mpath *mp, const char *name);

#endif
