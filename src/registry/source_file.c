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

#include "globaldns/log.h"
#include "globaldns/manifest.h"
#include "globaldns/util.h"

struct file_source {
	struct se_source base;          /* first: the generic part */
	char **paths;
	size_t npaths;
	long check_ms;
	uint64_t fingerprint;
	int have_fingerprint;
	struct event *timer;
};

void se_source_free(struct se_source *s)
{
	if (s && s->free)
		s->free(s);
}

void se_source_api_error(struct se_source_status *st, int code)
{
	for (size_t i = 0; i < SE_API_ERROR_CODES; i++) {
		if (st->api_errors[i].count && st->api_errors[i].code != code
		    && i + 1 < SE_API_ERROR_CODES)
			continue;
		if (!st->api_errors[i].count)
			st->api_errors[i].code = code;
		st->api_errors[i].count++;
		return;
	}
}

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

struct se_source *file_source_new(const char *const *paths, size_t npaths,
	long check_ms, se_update_fn update, void *arg)
{
	struct file_source *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	fs->base.kind = "file";
	fs->base.start = fs_start;
	fs->base.free = fs_free;
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

int file_source_load_once(struct se_source *s, struct se_list *out,
	char *err, size_t errlen)
{
	return load_all((struct file_source *)s, out, err, errlen);
}
