/*
 * source_file_cache.c -- the manifest file source's per-file cache: each
 * file's last good parse, when a changed file is whole enough to read
 * (settled: unchanged SETTLE_MS; emptier: unchanged SHRINK_MS), and the
 * list handed to the registry, put together from the caches.  When to
 * look is source_file.c's; the design is at its top.
 */
#include "source_file.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "globaldns/log.h"
#include "globaldns/manifest.h"
#include "globaldns/util.h"

uint64_t fsc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void fsc_stat(const char *path, struct fsig *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (stat(path, &st) != 0)
		return;
	s->dev = (uint64_t)st.st_dev;
	s->ino = (uint64_t)st.st_ino;
	s->size = (uint64_t)st.st_size;
	s->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	s->ctime_ns = (int64_t)st.st_ctim.tv_sec * 1000000000 + st.st_ctim.tv_nsec;
	s->exists = 1;
	s->is_dir = S_ISDIR(st.st_mode);
	s->is_reg = S_ISREG(st.st_mode);
}

int fsc_same(const struct fsig *a, const struct fsig *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino
		&& a->size == b->size && a->mtime_ns == b->mtime_ns
		&& a->ctime_ns == b->ctime_ns;
}

/* ---- the per-file cache ---- */

void fsc_file_free(struct mfile *f)
{
	if (!f)
		return;
	se_packed_free(&f->pk);
	free(f->path);
	free(f);
}

static struct mfile *mfile_new(const char *dir, const char *name)
{
	struct mfile *f = calloc(1, sizeof(*f));
	size_t n;

	if (!f)
		return NULL;
	n = dir ? strlen(dir) + 1 + strlen(name) + 1 : strlen(name) + 1;
	if (!(f->path = malloc(n))) {
		free(f);
		return NULL;
	}
	if (dir)
		snprintf(f->path, n, "%s/%s", dir, name);
	else
		snprintf(f->path, n, "%s", name);
	f->name = dir ? f->path + strlen(dir) + 1 : f->path;
	return f;
}

/* Look at f now: a stat that differs from the last restarts its settling. */
void fsc_mark(struct mfile *f, uint64_t now)
{
	struct fsig st;

	fsc_stat(f->path, &st);
	if (!fsc_same(&st, &f->seen)) {
		f->seen = st;
		f->seen_ms = now;
	}
	if (!fsc_same(&f->seen, &f->loaded) || (!f->ok && !f->bad))
		f->dirty = 1;
}

/* Read f into its cache now.  0, or -1 with the error in err (the cache
 * keeps its previous entries). */
static int mfile_read(struct file_source *fs, struct mfile *f, char *err,
	size_t errlen)
{
	struct se_list tmp;
	struct se_packed pk;

	se_list_init(&tmp);
	fs->reads++;
	f->loaded = f->seen;
	f->dirty = 0;
	if (manifest_load_file(f->path, &tmp, err, errlen) < 0) {
		f->bad = 1;
		return -1;
	}
	/* kept as long as the file is: packed, one allocation */
	if (se_list_pack(&tmp, &pk) < 0) {
		se_list_free(&tmp);
		errf(err, errlen, "%s: out of memory", f->path);
		f->bad = 1;
		return -1;
	}
	se_list_free(&tmp);
	se_packed_free(&f->pk);
	f->pk = pk;
	f->ok = 1;
	f->bad = 0;
	return 0;
}

/* The directory's entries, merged with what is cached: new files added
 * (to be read), vanished ones kept until their removal has settled. */
static int scan_dir(struct mpath *mp, uint64_t now, char *err, size_t errlen)
{
	char **names = NULL;
	size_t n = 0, i = 0, j = 0, k = 0, cap = 0;
	struct mfile **nf = NULL;
	int rc = -1;

	if (manifest_list_dir(mp->path, &names, &n, err, errlen) < 0)
		return -1;
	if (grow_array((void **)&nf, &cap, n + mp->nfiles + 1, sizeof(*nf)) < 0) {
		errf(err, errlen, "%s: out of memory", mp->path);
		goto out;
	}
	while (i < n || j < mp->nfiles) {
		int c = i >= n ? 1 : j >= mp->nfiles ? -1 : strcmp(names[i], mp->files[j]->name);
		struct mfile *f;
		if (c > 0) {            /* gone from the directory */
			f = mp->files[j++];
		} else if (c == 0) {
			f = mp->files[j++];
			i++;
		} else {                /* new */
			struct fsig st;
			char p[PATH_MAX];
			snprintf(p, sizeof(p), "%s/%s", mp->path, names[i]);
			fsc_stat(p, &st);
			if (st.exists && !st.is_reg) {
				log_debug("plugin/serviceentries: %s: not a regular file, skipped", p);
				i++;
				continue;
			}
			if (!(f = mfile_new(mp->path, names[i++]))) {
				errf(err, errlen, "%s: out of memory", mp->path);
				goto out;
			}
		}
		fsc_mark(f, now);
		nf[k++] = f;
	}
	free(mp->files);
	mp->files = nf;
	mp->nfiles = k;
	mp->cap = cap;
	nf = NULL;
	rc = 0;
out:
	for (size_t x = 0; x < n; x++)
		free(names[x]);
	free(names);
	free(nf);
	return rc;
}

/* Look at every file of mp again (a directory: listed again). */
int fsc_scan(struct mpath *mp, uint64_t now, char *err, size_t errlen)
{
	mp->rescan = 0;
	fsc_stat(mp->path, &mp->sig);
	if (!mp->sig.exists) {
		errf(err, errlen, "%s: %s", mp->path, strerror(ENOENT));
		return -1;
	}
	mp->is_dir = mp->sig.is_dir;
	if (mp->is_dir)
		return scan_dir(mp, now, err, errlen);
	if (!mp->nfiles) {
		struct mfile *f = mfile_new(NULL, mp->path);
		if (!f || grow_array((void **)&mp->files, &mp->cap, 1, sizeof(*mp->files)) < 0) {
			fsc_file_free(f);
			errf(err, errlen, "%s: out of memory", mp->path);
			return -1;
		}
		mp->files[mp->nfiles++] = f;
	}
	fsc_mark(mp->files[0], now);
	return 0;
}

/* ---- the list the registry gets ---- */

/* The path's error, or the first file error, into the status. */
void fsc_note_errors(struct file_source *fs, const char *err)
{
	struct se_source_status *st = &fs->base.status;

	if (err && err[0]) {
		/* one line per state change: only when the error is new */
		if (strcmp(st->last_error, err) != 0)
			log_error("plugin/serviceentries: %s (keeping the previous entries)", err);
		snprintf(st->last_error, sizeof(st->last_error), "%s", err);
		st->syncs_failed++;
		return;
	}
	for (size_t i = 0; i < fs->npaths; i++) {
		if (fs->paths[i].err[0])
			return;
		for (size_t k = 0; k < fs->paths[i].nfiles; k++)
			if (fs->paths[i].files[k]->bad)
				return;
	}
	if (st->last_error[0])
		log_info("plugin/serviceentries: manifests readable again");
	st->last_error[0] = '\0';
}

/* Hand the registry the caches put together; before the first time,
 * only once every file has been read well. */
void fsc_publish(struct file_source *fs)
{
	struct se_source_status *st = &fs->base.status;
	struct se_list l;

	se_list_init(&l);
	for (size_t i = 0; i < fs->npaths; i++) {
		struct mpath *mp = &fs->paths[i];
		if (!st->synced && (mp->err[0] || (!mp->is_dir && !mp->nfiles)))
			return;
		for (size_t k = 0; k < mp->nfiles; k++) {
			if (!mp->files[k]->ok) {
				if (!st->synced)
					goto wait;
				continue;
			}
			if (se_packed_unpack(&mp->files[k]->pk, &l) < 0) {
				log_error("plugin/serviceentries: out of memory (keeping the previous entries)");
				goto wait;
			}
		}
	}
	st->synced = 1;
	st->last_success = time(NULL);
	st->syncs_ok++;
	fs->base.update(fs->base.update_arg, &l);
wait:
	se_list_free(&l);
}

/*
 * Read what has settled; 1 if something is still settling.  A path that
 * cannot be read (a missing configured file or directory) keeps its
 * entries; a file gone from its directory loses them once SHRINK_MS
 * have shown it gone.
 */
int fsc_settle(struct file_source *fs, uint64_t now)
{
	int changed = 0, waiting = 0;
	char err[512];

	fs->base.status.last_attempt = time(NULL);
	for (size_t i = 0; i < fs->npaths; i++) {
		struct mpath *mp = &fs->paths[i];
		for (size_t k = 0; k < mp->nfiles; k++) {
			struct mfile *f = mp->files[k];
			struct fsig st;
			size_t before = f->pk.n;
			int shrink_wait;
			if (!f->dirty)
				continue;
			fsc_stat(f->path, &st);
			if (!fsc_same(&st, &f->seen)) {
				f->seen = st;
				f->seen_ms = now;
			}
			if (now - f->seen_ms < SETTLE_MS) {
				waiting = 1;
				continue;
			}
			if (fsc_same(&f->seen, &f->loaded) && (f->ok || f->bad)) {
				f->dirty = 0;
				continue;
			}
			shrink_wait = f->ok && before > 0 && now - f->seen_ms < SHRINK_MS;
			if (!st.exists && mp->is_dir) {
				if (shrink_wait) {
					waiting = 1;
					continue;
				}
				fsc_file_free(f);
				memmove(mp->files + k, mp->files + k + 1, (mp->nfiles - k - 1) * sizeof(*mp->files));
				mp->nfiles--;
				k--;
				changed = 1;
				continue;
			}
			if (st.exists && st.size == 0 && shrink_wait) {
				waiting = 1;
				continue;
			}
			if (shrink_wait && fsc_same(&f->seen, &f->deferred)) {
				waiting = 1;
				continue;
			}
			if (shrink_wait) {
				/* read it, but take fewer entries only once settled long */
				struct se_packed keep = f->pk;
				memset(&f->pk, 0, sizeof(f->pk));
				if (mfile_read(fs, f, err, sizeof(err)) == 0 && f->pk.n < before) {
					se_packed_free(&f->pk);
					f->pk = keep;
					f->deferred = f->seen;
					f->loaded.exists = 0;   /* read again then */
					f->dirty = 1;
					waiting = 1;
					continue;
				}
				if (f->bad) {
					f->pk = keep;
					fsc_note_errors(fs, err);
					continue;
				}
				se_packed_free(&keep);
				changed = 1;
				continue;
			}
			if (mfile_read(fs, f, err, sizeof(err)) < 0) {
				fsc_note_errors(fs, err);
				continue;
			}
			changed = 1;
		}
	}
	if (changed) {
		fsc_note_errors(fs, NULL);
		fsc_publish(fs);
	}
	return waiting;
}

int fsc_any_dirty(const struct file_source *fs)
{
	for (size_t i = 0; i < fs->npaths; i++)
		for (size_t k = 0; k < fs->paths[i].nfiles; k++)
			if (fs->paths[i].files[k]->dirty)
				return 1;
	return 0;
}

/* A problem found by load_all: the first goes back to the caller, who
 * logs it with FILE:LINE; under check every other one is logged here. */
static void problem(int *bad, int check, const char *e, char *err, size_t errlen)
{
	if (!(*bad)++)
		snprintf(err, errlen, "%s", e);
	else if (check)
		log_error("plugin/serviceentries: %s", e);
}

/*
 * Read every file now (at create under check, or at start): every problem
 * is found, the first returned in err.  0 if every file was read well.
 */
/*
 * A reload reads the files at once, and a file being rewritten in place
 * must not be taken half written (nor refuse the reload): wait until f's
 * stat has not changed for SETTLE_MS -- by its ctime, so an untouched
 * file costs one stat -- polling every 20 ms until *deadline_ms.
 */
static void wait_settled(struct mfile *f, uint64_t deadline_ms)
{
	const struct timespec pause = { 0, 20 * 1000000L };

	for (;;) {
		struct timespec now;
		struct fsig before = f->seen;
		int64_t age_ms;
		clock_gettime(CLOCK_REALTIME, &now);
		age_ms = ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - f->seen.ctime_ns) / 1000000;
		if (!f->seen.exists || age_ms >= SETTLE_MS || fsc_now_ms() >= deadline_ms)
			return;
		nanosleep(&pause, NULL);
		fsc_stat(f->path, &f->seen);
		if (!fsc_same(&before, &f->seen))
			f->seen_ms = fsc_now_ms();
	}
}

int fsc_load_all(struct file_source *fs, int check, char *err, size_t errlen)
{
	uint64_t now = fsc_now_ms(), deadline = now + 4 * SETTLE_MS;
	char e[512];
	size_t nrejects = 0;
	int bad = 0;

	err[0] = '\0';
	for (size_t i = 0; i < fs->npaths; i++) {
		struct mpath *mp = &fs->paths[i];
		if (fsc_scan(mp, now, e, sizeof(e)) < 0) {
			snprintf(mp->err, sizeof(mp->err), "%s", e);
			problem(&bad, check, e, err, errlen);
			continue;
		}
		for (size_t k = 0; k < mp->nfiles; k++) {
			struct mfile *f = mp->files[k];
			if (check)
				wait_settled(f, deadline);
			if (!f->seen.exists) {
				errf(e, sizeof(e), "%s: %s", f->path, strerror(ENOENT));
				f->bad = 1;
				problem(&bad, check, e, err, errlen);
			} else if (mfile_read(fs, f, e, sizeof(e)) < 0) {
				problem(&bad, check, e, err, errlen);
			} else {
				nrejects += f->pk.nrejects;
			}
		}
	}
	fs->loaded = 1;
	if (!bad && check && nrejects) {
		errf(err, errlen, "%zu invalid ServiceEntr%s (listed above)", nrejects,
			nrejects == 1 ? "y" : "ies");
		bad = 1;
	}
	return bad ? -1 : 0;
}

struct mfile *fsc_find(struct mpath *mp, const char *name)
{
	size_t lo = 0, hi = mp->nfiles;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, mp->files[mid]->name);
		if (c == 0)
			return mp->files[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
