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
#include "source_file.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/manifest.h"
#include "globaldns/util.h"

static int fs_start(struct se_source *s, struct event_base *base);
static void fs_free(struct se_source *s);

static const struct se_source_ops file_source_ops = {
	.kind = "file",
	.start = fs_start,
	.free = fs_free,
};

/* ---- change detection ---- */

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE \
	| IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

static void arm_settle(struct file_source *fs)
{
	struct timeval tv = { 0, SETTLE_MS * 1000 };

	if (fs->settle && !evtimer_pending(fs->settle, NULL))
		evtimer_add(fs->settle, &tv);
}

/* Rescan the paths that asked for it; arm the settle timer if needed. */
static void rescan(struct file_source *fs, uint64_t now)
{
	char err[512];

	for (size_t i = 0; i < fs->npaths; i++) {
		struct mpath *mp = &fs->paths[i];
		if (!mp->rescan)
			continue;
		if (fsc_scan(mp, now, err, sizeof(err)) < 0) {
			snprintf(mp->err, sizeof(mp->err), "%s", err);
			fsc_note_errors(fs, err);
		} else if (mp->err[0]) {
			mp->err[0] = '\0';
			fsc_note_errors(fs, NULL);
		}
	}
	if (fsc_any_dirty(fs))
		arm_settle(fs);
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
	uint64_t now = fsc_now_ms();
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
					if ((f = fsc_find(mp, ev->name)))
						fsc_mark(f, now);
					else if (manifest_name(ev->name))
						mp->rescan = 1;
				} else if (strcmp(ev->name, mp->base) == 0 && mp->nfiles) {
					fsc_mark(mp->files[0], now);
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
	uint64_t now = fsc_now_ms();

	(void)fd;
	(void)what;
	for (size_t i = 0; i < fs->npaths; i++) {
		struct mpath *mp = &fs->paths[i];
		struct fsig sig;
		fsc_stat(mp->path, &sig);
		if (fsc_same(&sig, &mp->sig) && mp->wd >= 0)
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
	if (fsc_settle(fs, fsc_now_ms()))
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
		if (fsc_load_all(fs, 0, err, sizeof(err)) < 0)
			fsc_note_errors(fs, err);
	}
	for (size_t i = 0; i < fs->npaths; i++) {
		fs->paths[i].wd = -1;
		watch(fs, &fs->paths[i]);
		fs->paths[i].rescan = 1;        /* changed since read at create? */
	}
	fs->base.status.last_attempt = time(NULL);
	fsc_publish(fs);
	rescan(fs, fsc_now_ms());
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
			fsc_file_free(fs->paths[i].files[k]);
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
	if (a->check && fsc_load_all((struct file_source *)s, 1, err, errlen) < 0) {
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
