/*
 * snapshot.h -- the disk snapshot of a serviceentries block: the last good
 * entries of each of its sources, so that a server started while the
 * Kubernetes API is unreachable answers from them (a cold start during an
 * outage) instead of SERVFAIL.
 *
 * One JSON file per block (cJSON), written atomically: a temporary file
 * beside it, fsync, rename over the old one, fsync of the directory.  A
 * reader sees the old file or the new one, never a part.
 *
 *   { "format": "globaldns-registry-snapshot", "version": 1,
 *     "zones": ["global."], "written": 1765000000,
 *     "checksum": "fnv1a64:<16 hex digits>",
 *     "sources": [ { "cluster": "east" | null,
 *                    "identity": "kubernetes https://10.0.0.1:6443",
 *                    "synced_at": 1765000000,
 *                    "items": [ ServiceEntry objects ],
 *                    "rejected": [ {"namespace", "name", "reason"} ] } ] }
 *
 * The checksum is FNV-1a 64 over the unformatted JSON of "sources".  A
 * file that does not parse (truncated), has another format or version,
 * other zones, or a checksum that does not match (corrupt) is rejected
 * whole; a source whose cluster or identity is not the block's is not
 * used (the caller decides, per part).  Entries go back through
 * se_list_add_json, so a snapshot entry passes Istio's rules again.
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
