/*
 * source_file.c -- ServiceEntries from manifest files and directories,
 * re-read when they change: only the files that changed, only once they
 * are whole.
 *
 * Each file keeps its last good parse (per-file cache); a change re-reads
 * that file alone and the list handed to the registry is put together
 * from the caches (copied: no file read again).
 *
 * Change detection costs nothing while idle:
 *   - inotify on each directory (a configured file: on its parent, events
 *     filtered by name) says which file changed;
 *   - a stat() of each configured path itself, every second, catches what
 *     inotify cannot: a Kubernetes ConfigMap is updated by writing a new
 *     hidden "..2024_..." directory and renaming a "..data" symlink over
 *     the old one; the visible files are symlinks through "..data" and
 *     never change themselves, so events for their names never come (an
 *     inotify watch on the file itself follows the symlink at watch time
 *     and stays on the old, deleted inode).  Events for hidden names
 *     ("..data") re-stat every file of that path, and the periodic stat of
 *     the path (following symlinks) catches a replaced directory or file;
 *   - without inotify (no instance left, a filesystem without it) the
 *     path is polled: every file stat()ed every second, as before.
 *
 * Never a half-written or truncated file (`>` truncates, then writes; many
 * editors do the same): a changed file is read only once its stat (size,
 * mtime, ctime, inode) has stayed the same for SETTLE_MS; a file that
 * turns empty, disappears from its directory or parses to fewer entries
 * than before must stay so for SHRINK_MS.  A file that does not parse
 * keeps its previous entries (the error is logged once).
 */
#include "globaldns/source.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/manifest.h"
#include "globaldns/util.h"

#define CHECK_MS 1000                   /* stat of each configured path */
#define SETTLE_MS 250                   /* unchanged this long: read it */
#define SHRINK_MS 2000                  /* emptier: unchanged this long */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE \
	| IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

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
	struct fsig seen;               /* the last stat, unchanged since seen_ns */
	uint64_t seen_ns;
	struct fsig deferred;           /* read, fewer entries: wait for SHRINK_MS */
	int dirty;                      /* seen != loaded: to be read once settled */
	int ok;                         /* l holds a good parse */
	int bad;                        /* the last read failed */
	struct se_list l;
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

static int fs_start(struct se_source *s, struct event_base *base);
static void fs_free(struct se_source *s);

static const struct se_source_ops file_source_ops = {
	.kind = "file",
	.start = fs_start,
	.free = fs_free,
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void fsig_of(const char *path, struct fsig *s)
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

static int fsig_eq(const struct fsig *a, const struct fsig *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino
		&& a->size == b->size && a->mtime_ns == b->mtime_ns
		&& a->ctime_ns == b->ctime_ns;
}

/* ---- the per-file cache ---- */

static void mfile_free(struct mfile *f)
{
	if (!f)
		return;
	se_list_free(&f->l);
	free(f->path);
	free(f);
}

static struct mfile *mfile_new(const char *dir, const char *name)
{
	struct mfile *f = calloc(1, sizeof(*f));
	size_t n;

	if (!f)
		return NULL;
	se_list_init(&f->l);
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
static void mark(struct mfile *f, uint64_t now)
{
	struct fsig st;

	fsig_of(f->path, &st);
	if (!fsig_eq(&st, &f->seen)) {
		f->seen = st;
		f->seen_ns = now;
	}
	if (!fsig_eq(&f->seen, &f->loaded) || (!f->ok && !f->bad))
		f->dirty = 1;
}

/* Read f into its cache now.  0, or -1 with the error in err (the cache
 * keeps its previous entries). */
static int mfile_read(struct file_source *fs, struct mfile *f, char *err,
	size_t errlen)
{
	struct se_list tmp;

	se_list_init(&tmp);
	fs->reads++;
	f->loaded = f->seen;
	f->dirty = 0;
	if (manifest_load_file(f->path, &tmp, err, errlen) < 0) {
		f->bad = 1;
		return -1;
	}
	/* kept as long as the file is: no spare capacity (most hold one) */
	if (tmp.cap > tmp.n && tmp.n) {
		struct se_entry *it = realloc(tmp.items, tmp.n * sizeof(*it));
		if (it) {
			tmp.items = it;
			tmp.cap = tmp.n;
		}
	}
	se_list_free(&f->l);
	f->l = tmp;
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
			fsig_of(p, &st);
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
		mark(f, now);
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
static int scan_path(struct mpath *mp, uint64_t now, char *err, size_t errlen)
{
	mp->rescan = 0;
	fsig_of(mp->path, &mp->sig);
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
			mfile_free(f);
			errf(err, errlen, "%s: out of memory", mp->path);
			return -1;
		}
		mp->files[mp->nfiles++] = f;
	}
	mark(mp->files[0], now);
	return 0;
}

/* ---- the list the registry gets ---- */

/* The path's error, or the first file error, into the status. */
static void note_errors(struct file_source *fs, const char *err)
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
static void publish(struct file_source *fs)
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
			if (se_list_copy(&l, &mp->files[k]->l) < 0) {
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
static int settle(struct file_source *fs, uint64_t now)
{
	int changed = 0, waiting = 0;
	char err[512];

	fs->base.status.last_attempt = time(NULL);
	for (size_t i = 0; i < fs->npaths; i++) {
		struct mpath *mp = &fs->paths[i];
		for (size_t k = 0; k < mp->nfiles; k++) {
			struct mfile *f = mp->files[k];
			struct fsig st;
			size_t before = f->l.n;
			int shrink_wait;
			if (!f->dirty)
				continue;
			fsig_of(f->path, &st);
			if (!fsig_eq(&st, &f->seen)) {
				f->seen = st;
				f->seen_ns = now;
			}
			if (now - f->seen_ns < SETTLE_MS) {
				waiting = 1;
				continue;
			}
			if (fsig_eq(&f->seen, &f->loaded) && (f->ok || f->bad)) {
				f->dirty = 0;
				continue;
			}
			shrink_wait = f->ok && before > 0 && now - f->seen_ns < SHRINK_MS;
			if (!st.exists && mp->is_dir) {
				if (shrink_wait) {
					waiting = 1;
					continue;
				}
				mfile_free(f);
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
			if (shrink_wait && fsig_eq(&f->seen, &f->deferred)) {
				waiting = 1;
				continue;
			}
			if (shrink_wait) {
				/* read it, but take fewer entries only once settled long */
				struct se_list keep = f->l;
				se_list_init(&f->l);
				if (mfile_read(fs, f, err, sizeof(err)) == 0 && f->l.n < before) {
					se_list_free(&f->l);
					f->l = keep;
					f->deferred = f->seen;
					f->loaded.exists = 0;   /* read again then */
					f->dirty = 1;
					waiting = 1;
					continue;
				}
				if (f->bad) {
					f->l = keep;
					note_errors(fs, err);
					continue;
				}
				se_list_free(&keep);
				changed = 1;
				continue;
			}
			if (mfile_read(fs, f, err, sizeof(err)) < 0) {
				note_errors(fs, err);
				continue;
			}
			changed = 1;
		}
	}
	if (changed) {
		note_errors(fs, NULL);
		publish(fs);
	}
	return waiting;
}

static void arm_settle(struct file_source *fs)
{
	struct timeval tv = { 0, SETTLE_MS * 1000 };

	if (fs->settle && !evtimer_pending(fs->settle, NULL))
		evtimer_add(fs->settle, &tv);
}

static int any_dirty(const struct file_source *fs)
{
	for (size_t i = 0; i < fs->npaths; i++)
		for (size_t k = 0; k < fs->paths[i].nfiles; k++)
			if (fs->paths[i].files[k]->dirty)
				return 1;
	return 0;
}

/* Rescan the paths that asked for it; arm the settle timer if needed. */
static void rescan(struct file_source *fs, uint64_t now)
{
	char err[512];

	for (size_t i = 0; i < fs->npaths; i++) {
		struct mpath *mp = &fs->paths[i];
		if (!mp->rescan)
			continue;
		if (scan_path(mp, now, err, sizeof(err)) < 0) {
			snprintf(mp->err, sizeof(mp->err), "%s", err);
			note_errors(fs, err);
		} else if (mp->err[0]) {
			mp->err[0] = '\0';
			note_errors(fs, NULL);
		}
	}
	if (any_dirty(fs))
		arm_settle(fs);
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
static int load_all(struct file_source *fs, int check, char *err, size_t errlen)
{
	uint64_t now = mono_ms();
	char e[512];
	size_t nrejects = 0;
	int bad = 0;

	err[0] = '\0';
	for (size_t i = 0; i < fs->npaths; i++) {
		struct mpath *mp = &fs->paths[i];
		if (scan_path(mp, now, e, sizeof(e)) < 0) {
			snprintf(mp->err, sizeof(mp->err), "%s", e);
			problem(&bad, check, e, err, errlen);
			continue;
		}
		for (size_t k = 0; k < mp->nfiles; k++) {
			struct mfile *f = mp->files[k];
			if (!f->seen.exists) {
				errf(e, sizeof(e), "%s: %s", f->path, strerror(ENOENT));
				f->bad = 1;
				problem(&bad, check, e, err, errlen);
			} else if (mfile_read(fs, f, e, sizeof(e)) < 0) {
				problem(&bad, check, e, err, errlen);
			} else {
				nrejects += f->l.nrejects;
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

/* ---- change detection ---- */

static struct mfile *find_file(struct mpath *mp, const char *name)
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

static void watch(struct file_source *fs, struct mpath *mp)
{
	char dir[PATH_MAX];
	const char *target = mp->path;

	if (fs->ifd < 0)
		return;
	if (mp->wd >= 0)
		inotify_rm_watch(fs->ifd, mp->wd);
	if (!mp->is_dir) {
		const char *slash = strrchr(mp->path, '/');
		if (!slash)
			target = ".";
		else if (slash == mp->path)
			target = "/";
		else {
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - mp->path), mp->path);
			target = dir;
		}
	}
	mp->wd = inotify_add_watch(fs->ifd, target, WATCH_MASK);
	if (mp->wd < 0 && !mp->unwatchable)
		log_warning("plugin/serviceentries: %s: cannot watch (%s): checking every file every %d s",
			target, strerror(errno), CHECK_MS / 1000);
	mp->unwatchable = mp->wd < 0;
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct file_source *fs = arg;
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	uint64_t now = mono_ms();
	ssize_t n;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				for (size_t i = 0; i < fs->npaths; i++)
					fs->paths[i].rescan = 1;
				continue;
			}
			for (size_t i = 0; i < fs->npaths; i++) {
				struct mpath *mp = &fs->paths[i];
				struct mfile *f;
				if (mp->wd != ev->wd)
					continue;
				if (ev->mask & IN_IGNORED) {
					mp->wd = -1;    /* watched again at the next check */
					mp->rescan = 1;
				} else if (!ev->len || ev->name[0] == '.') {
					mp->rescan = 1; /* a ConfigMap "..data" swap */
				} else if (mp->is_dir) {
					if ((f = find_file(mp, ev->name)))
						mark(f, now);
					else if (manifest_name(ev->name))
						mp->rescan = 1;
				} else if (strcmp(ev->name, mp->base) == 0 && mp->nfiles) {
					mark(mp->files[0], now);
				}
			}
		}
	}
	rescan(fs, now);
}

/* Every CHECK_MS: a stat of each configured path; polled paths rescanned. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct file_source *fs = arg;
	uint64_t now = mono_ms();

	(void)fd;
	(void)what;
	for (size_t i = 0; i < fs->npaths; i++) {
		struct mpath *mp = &fs->paths[i];
		struct fsig sig;
		fsig_of(mp->path, &sig);
		if (fsig_eq(&sig, &mp->sig) && mp->wd >= 0)
			continue;
		/* replaced (a symlink now elsewhere), back, or never watched */
		if (sig.dev != mp->sig.dev || sig.ino != mp->sig.ino
		    || (mp->wd < 0 && !mp->unwatchable)) {
			mp->is_dir = sig.is_dir;
			watch(fs, mp);
		}
		mp->rescan = 1;
	}
	rescan(fs, now);
}

static void on_settle(evutil_socket_t fd, short what, void *arg)
{
	struct file_source *fs = arg;

	(void)fd;
	(void)what;
	if (settle(fs, mono_ms()))
		arm_settle(fs);
}

static int fs_start(struct se_source *s, struct event_base *base)
{
	struct file_source *fs = (struct file_source *)s;
	struct timeval tv = { CHECK_MS / 1000, (CHECK_MS % 1000) * 1000 };
	char err[512];

	fs->ev_base = base;
	fs->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fs->ifd < 0)
		log_warning("plugin/serviceentries: inotify: %s: checking every file every %d s",
			strerror(errno), CHECK_MS / 1000);
	fs->tick = event_new(base, -1, EV_PERSIST, on_tick, fs);
	fs->settle = evtimer_new(base, on_settle, fs);
	if (!fs->tick || !fs->settle || event_add(fs->tick, &tv) < 0)
		return -1;
	if (fs->ifd >= 0) {
		fs->iev = event_new(base, fs->ifd, EV_READ | EV_PERSIST, on_inotify, fs);
		if (!fs->iev || event_add(fs->iev, NULL) < 0)
			return -1;
	}
	if (!fs->loaded) {
		/* first read at start; a problem is logged, and retried as the
		 * files change */
		if (load_all(fs, 0, err, sizeof(err)) < 0)
			note_errors(fs, err);
	}
	for (size_t i = 0; i < fs->npaths; i++) {
		fs->paths[i].wd = -1;
		watch(fs, &fs->paths[i]);
		fs->paths[i].rescan = 1;        /* changed since read at create? */
	}
	fs->base.status.last_attempt = time(NULL);
	publish(fs);
	rescan(fs, mono_ms());
	return 0;
}

static void fs_free(struct se_source *s)
{
	struct file_source *fs = (struct file_source *)s;

	if (fs->iev)
		event_free(fs->iev);
	if (fs->tick)
		event_free(fs->tick);
	if (fs->settle)
		event_free(fs->settle);
	if (fs->ifd >= 0)
		close(fs->ifd);
	for (size_t i = 0; i < fs->npaths; i++) {
		for (size_t k = 0; k < fs->paths[i].nfiles; k++)
			mfile_free(fs->paths[i].files[k]);
		free(fs->paths[i].files);
		free(fs->paths[i].path);
	}
	free(fs->paths);
	free(fs);
}

static struct se_source *file_source_new(const char *const *paths,
	size_t npaths, se_update_fn update, void *arg)
{
	struct file_source *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->ifd = -1;
	fs->base.ops = &file_source_ops;
	fs->base.update = update;
	fs->base.update_arg = arg;
	fs->paths = calloc(npaths ? npaths : 1, sizeof(*fs->paths));
	if (!fs->paths)
		goto fail;
	for (size_t i = 0; i < npaths; i++) {
		struct mpath *mp = &fs->paths[i];
		const char *slash;
		mp->wd = -1;
		if (!(mp->path = strdup(paths[i])))
			goto fail;
		slash = strrchr(mp->path, '/');
		mp->base = slash ? slash + 1 : mp->path;
		fs->npaths++;
	}
	return &fs->base;
fail:
	fs_free(&fs->base);
	return NULL;
}

/* ---- the kind: `file PATH...` in a serviceentries block ---- */

struct file_conf {
	char **paths;
	size_t npaths, cap;
};

static const char *const file_props[] = { "file", NULL };

static void *fc_new(void)
{
	return calloc(1, sizeof(struct file_conf));
}

static void fc_free(void *conf)
{
	struct file_conf *fc = conf;

	if (!fc)
		return;
	for (size_t i = 0; i < fc->npaths; i++)
		free(fc->paths[i]);
	free(fc->paths);
	free(fc);
}

static int fc_prop(void *conf, const struct cf_directive *c, char *err,
	size_t errlen)
{
	struct file_conf *fc = conf;

	if (c->nargs == 0) {
		errf(err, errlen, "file: needs at least one path");
		return -1;
	}
	for (size_t a = 0; a < c->nargs; a++) {
		if (grow_array((void **)&fc->paths, &fc->cap, fc->npaths + 1, sizeof(*fc->paths)) < 0
		    || !(fc->paths[fc->npaths] = strdup(c->args[a]))) {
			errf(err, errlen, "out of memory");
			return -1;
		}
		fc->npaths++;
	}
	return 0;
}

/*
 * Under -validate and on a reload (a->check) the files are read now, once:
 * a missing file, a file that does not parse or an invalid entry is
 * reported (every one logged) and refuses the configuration; a reloaded
 * source starts with what was read here.
 */
static struct se_source *fc_create(const void *conf,
	const struct se_source_args *a, char *err, size_t errlen)
{
	const struct file_conf *fc = conf;
	struct se_source *s = file_source_new((const char *const *)fc->paths, fc->npaths,
		a->update, a->update_arg);

	if (!s) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	if (a->check && load_all((struct file_source *)s, 1, err, errlen) < 0) {
		se_source_free(s);
		return NULL;
	}
	return s;
}

const struct se_source_kind file_source_kind = {
	.name = "file",
	.title = "manifest file",
	.props = file_props,
	.conf_new = fc_new,
	.conf_prop = fc_prop,
	.create = fc_create,
	.conf_free = fc_free,
};
