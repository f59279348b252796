/*
 * source_file.c -- ServiceEntries from manifest files and directories,
 * re-read when they change.
 *
 * Change detection is a cheap stat() of every path (and of every file in a
 * directory) on a timer: inotify misses Kubernetes ConfigMap updates, which
 * arrive as a swap of the "..data" symlink, while a stat of the path as
 * the user wrote it follows the swap.
 */
#include "globaldns/source.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

struct file_source {
	struct se_source base;          /* first: the generic part */
	char **paths;
	size_t npaths;
	long check_ms;
	uint64_t fingerprint;
	int have_fingerprint;
	struct event *timer;
};

static uint64_t mix_stat(uint64_t h, const struct stat *st)
{
	uint64_t v[5] = {
		(uint64_t)st->st_dev, (uint64_t)st->st_ino, (uint64_t)st->st_size,
		(uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec,
	};

	return hash_fnv1a(h, v, sizeof(v));
}

/* A digest of what the paths look like now; changes when any file does. */
static uint64_t fingerprint(const struct file_source *fs)
{
	uint64_t h = HASH_FNV1A_INIT;

	for (size_t i = 0; i < fs->npaths; i++) {
		struct stat st;
		DIR *dir;
		struct dirent *de;
		if (stat(fs->paths[i], &st) < 0) {
			h = hash_fnv1a(h, "-", 1);
			continue;
		}
		h = mix_stat(h, &st);
		if (!S_ISDIR(st.st_mode) || !(dir = opendir(fs->paths[i])))
			continue;
		while ((de = readdir(dir))) {
			char p[4096];
			if (de->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", fs->paths[i], de->d_name);
			h = hash_fnv1a(h, de->d_name, strlen(de->d_name) + 1);
			if (stat(p, &st) == 0)
				h = mix_stat(h, &st);
		}
		closedir(dir);
	}
	return h;
}

static int load_all(struct file_source *fs, struct se_list *out, char *err,
	size_t errlen)
{
	struct se_list tmp;

	se_list_init(&tmp);
	for (size_t i = 0; i < fs->npaths; i++) {
		if (manifest_load_path(fs->paths[i], &tmp, err, errlen) < 0) {
			se_list_free(&tmp);
			return -1;
		}
	}
	if (se_list_take(out, &tmp) < 0) {
		se_list_free(&tmp);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static void reload(struct file_source *fs)
{
	struct se_source_status *st = &fs->base.status;
	struct se_list l;
	char err[512];

	se_list_init(&l);
	st->last_attempt = time(NULL);
	if (load_all(fs, &l, err, sizeof(err)) < 0) {
		/* one line per state change: only when the error is new */
		if (strcmp(st->last_error, err) != 0)
			log_error("plugin/serviceentries: %s (keeping the previous entries)", err);
		snprintf(st->last_error, sizeof(st->last_error), "%s", err);
		st->syncs_failed++;
		return;
	}
	if (st->last_error[0])
		log_info("plugin/serviceentries: manifests readable again");
	st->last_error[0] = '\0';
	st->synced = 1;
	st->last_success = st->last_attempt;
	st->syncs_ok++;
	fs->base.update(fs->base.update_arg, &l);
	se_list_free(&l);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct file_source *fs = arg;
	uint64_t fp = fingerprint(fs);

	(void)fd;
	(void)what;
	if (fs->have_fingerprint && fp == fs->fingerprint)
		return;
	fs->fingerprint = fp;
	fs->have_fingerprint = 1;
	reload(fs);
}

static int fs_start(struct se_source *s, struct event_base *base)
{
	struct file_source *fs = (struct file_source *)s;
	struct timeval tv = { fs->check_ms / 1000, (fs->check_ms % 1000) * 1000 };

	fs->timer = event_new(base, -1, EV_PERSIST, on_timer, fs);
	if (!fs->timer || event_add(fs->timer, &tv) < 0)
		return -1;
	on_timer(-1, 0, fs);
	return 0;
}

static void fs_free(struct se_source *s)
{
	struct file_source *fs = (struct file_source *)s;

	if (fs->timer)
		event_free(fs->timer);
	for (size_t i = 0; i < fs->npaths; i++)
		free(fs->paths[i]);
	free(fs->paths);
	free(fs);
}

static struct se_source *file_source_new(const char *const *paths,
	size_t npaths, long check_ms, se_update_fn update, void *arg)
{
	struct file_source *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->base.ops = &file_source_ops;
	fs->base.update = update;
	fs->base.update_arg = arg;
	fs->check_ms = check_ms > 0 ? check_ms : 1000;
	fs->paths = calloc(npaths ? npaths : 1, sizeof(*fs->paths));
	if (!fs->paths)
		goto fail;
	for (size_t i = 0; i < npaths; i++) {
		fs->paths[i] = strdup(paths[i]);
		if (!fs->paths[i])
			goto fail;
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

/* Under -validate the files are read once, now: a missing file or an
 * invalid entry is reported (the entries are logged as they are read). */
static struct se_source *fc_create(const void *conf,
	const struct se_source_args *a, char *err, size_t errlen)
{
	const struct file_conf *fc = conf;
	struct se_source *s = file_source_new((const char *const *)fc->paths, fc->npaths,
		1000, a->update, a->update_arg);
	struct se_list l;
	int bad = 0;

	if (!s) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	if (!a->validate)
		return s;
	se_list_init(&l);
	if (load_all((struct file_source *)s, &l, err, errlen) < 0) {
		bad = 1;
	} else if (l.nrejects) {
		errf(err, errlen, "%zu invalid ServiceEntr%s (listed above)", l.nrejects,
			l.nrejects == 1 ? "y" : "ies");
		bad = 1;
	}
	se_list_free(&l);
	if (bad) {
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
