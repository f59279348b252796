/*
 * snapshot.h -- the disk snapshot of a serviceentries block: the last good
 * entries of each of its sources, so that a server started while the
 * Kubernetes API is unreachable answers from them (a cold start during an
 * outage) instead of SERVFAIL.
 *
 * One file per block, written atomically: a temporary file beside it,
 * fsync, rename over the old one, fsync of the directory.  A reader sees
 * the old file or the new one, never a part.
 *
 * JSON lines, each a document printed by cJSON (one small tree at a time:
 * 100,000 entries are written in about 0.3 s, not a 100,000-node tree):
 *
 *   {"format":"globaldns-registry-snapshot","version":1,"zones":["global."],
 *    "written":1765000000,"sources":2,"bytes":N,"checksum":"fnv1a64:<hex>"}
 *   {"source":{"cluster":"east"|null,"identity":"kubernetes https://...",
 *              "synced_at":1765000000,"items":I,"rejected":R}}
 *   I lines, a ServiceEntry object each
 *   R lines, {"namespace","name","reason"} each
 *   ... the next source
 *
 * bytes and checksum (FNV-1a 64) cover everything after the header line,
 * as bytes: checked before anything is parsed.  A file whose header does
 * not parse, has another format or version, other zones, another length
 * (truncated) or checksum (corrupt), or whose lines are not what the
 * header and source lines announce, is rejected whole; a source whose
 * cluster or identity is not the block's is not used (the caller decides,
 * per part).  Entries go back through se_list_add_json, so a snapshot
 * entry passes Istio's rules again.
 */
#ifndef GLOBALDNS_SNAPSHOT_H
#define GLOBALDNS_SNAPSHOT_H

#include <stddef.h>
#include <time.h>

#include "globaldns/seentry.h"

#define SNAPSHOT_FORMAT "globaldns-registry-snapshot"
#define SNAPSHOT_VERSION 1

struct snapshot_part {
	const char *cluster;            /* NULL: the block's only source */
	const char *identity;
	time_t synced_at;               /* when these entries were last known good */
	const struct se_list *list;
};

/*
 * At setup: can path be written and read back?  Its directory must exist
 * and be writable; the file, if there, must be a readable regular file.
 * 0, or -1 with what is wrong in err.
 */
int snapshot_check_path(const char *path, char *err, size_t errlen);

/* Write the parts atomically.  0, or -1 with what failed in err (the old
 * file, if any, is left as it was). */
int snapshot_write(const char *path, const char *const *zones, size_t nzones,
	const struct snapshot_part *parts, size_t nparts, time_t now, char *err,
	size_t errlen);

/*
 * The same off the event loop: the parts are copied (about 85 ms for
 * 100,000 entries, against 0.5 s for the whole write) and written by a
 * thread of its own.  Returns the job, or NULL with err (memory, or no
 * thread).  Poll it until it is done.
 */
struct snapshot_job;
struct snapshot_job *snapshot_write_start(const char *path,
	const char *const *zones, size_t nzones, const struct snapshot_part *parts,
	size_t nparts, time_t now, char *err, size_t errlen);
/* 0: still writing (wait 0); else 1 and the job is freed, with its result
 * (*rc 0, or -1 and err) and how long it took. */
int snapshot_write_poll(struct snapshot_job *j, int wait, int *rc, char *err,
	size_t errlen, double *took_ms);

/* One part of a snapshot read back; the callee may take entries' contents. */
typedef void (*snapshot_part_fn)(void *arg, const char *cluster,
	const char *identity, time_t synced_at, struct se_list *entries);

/*
 * Read and validate path for a block serving zones, calling fn for each
 * part.  0 (*written set), 1 when there is no file, or -1 with why the
 * file is rejected in err (nothing was passed to fn).
 */
int snapshot_read(const char *path, const char *const *zones, size_t nzones,
	snapshot_part_fn fn, void *arg, time_t *written, char *err, size_t errlen);

#endif
