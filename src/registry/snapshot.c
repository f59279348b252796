/*
 * snapshot.c -- the disk snapshot of a serviceentries block (snapshot.h):
 * its JSON form, the atomic write and the validated read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "globaldns/readfile.h"
#include "globaldns/snapshot.h"
#include "globaldns/util.h"

#define SNAPSHOT_MAX (1024u * 1024 * 1024)

/* The directory of path (a copy for dirname, which may write into it). */
static void dir_of(const char *path, char *out, size_t outlen)
{
	char tmp[4096];

	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(out, outlen, "%s", dirname(tmp));
}

int snapshot_check_path(const char *path, char *err, size_t errlen)
{
	char dir[4096];
	struct stat st;

	dir_of(path, dir, sizeof(dir));
	if (stat(dir, &st) < 0) {
		errf(err, errlen, "directory \"%s\": %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		errf(err, errlen, "directory \"%s\": %s", dir, strerror(ENOTDIR));
		return -1;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		errf(err, errlen, "directory \"%s\" is not writable: %s", dir, strerror(errno));
		return -1;
	}
	if (stat(path, &st) == 0) {
		if (!S_ISREG(st.st_mode)) {
			errf(err, errlen, "\"%s\" is not a regular file", path);
			return -1;
		}
		if (access(path, R_OK) < 0) {
			errf(err, errlen, "\"%s\" cannot be read: %s", path, strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* ---- entries as ServiceEntry objects ---- */

static cJSON *addr_json(const struct se_addr *a)
{
	char text[INET6_ADDRSTRLEN];

	if (!inet_ntop(a->family, a->addr, text, sizeof(text)))
		return NULL;
	return cJSON_CreateString(text);
}

static cJSON *entry_json(const struct se_entry *e)
{
	cJSON *o = cJSON_CreateObject(), *md, *spec, *arr;
	const char *ns = e->ns;

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "apiVersion", "networking.istio.io/v1");
	cJSON_AddStringToObject(o, "kind", "ServiceEntry");
	md = cJSON_AddObjectToObject(o, "metadata");
	spec = cJSON_AddObjectToObject(o, "spec");
	if (!md || !spec)
		goto fail;
	if ((ns && !cJSON_AddStringToObject(md, "namespace", ns)) ||
	    (e->name && !cJSON_AddStringToObject(md, "name", e->name)) ||
	    (e->uid && !cJSON_AddStringToObject(md, "uid", e->uid)) ||
	    (e->resource_version && !cJSON_AddStringToObject(md, "resourceVersion", e->resource_version)))
		goto fail;
	if (!(arr = cJSON_AddArrayToObject(spec, "hosts")))
		goto fail;
	for (size_t i = 0; i < e->nhosts; i++)
		if (!cJSON_AddItemToArray(arr, cJSON_CreateString(e->hosts[i])))
			goto fail;
	if (e->naddrs) {
		if (!(arr = cJSON_AddArrayToObject(spec, "addresses")))
			goto fail;
		for (size_t i = 0; i < e->naddrs; i++)
			if (!cJSON_AddItemToArray(arr, addr_json(&e->addrs[i])))
				goto fail;
	}
	if (!cJSON_AddStringToObject(spec, "resolution", se_resolution_name(e->resolution)))
		goto fail;
	if (e->nstatus_addrs) {
		cJSON *status = cJSON_AddObjectToObject(o, "status");
		if (!status || !(arr = cJSON_AddArrayToObject(status, "addresses")))
			goto fail;
		for (size_t i = 0; i < e->nstatus_addrs; i++) {
			cJSON *sa = cJSON_CreateObject();
			if (!cJSON_AddItemToArray(arr, sa) ||
			    !cJSON_AddItemToObject(sa, "value", addr_json(&e->status_addrs[i].addr)) ||
			    (e->status_addrs[i].host &&
			     !cJSON_AddStringToObject(sa, "host", e->status_addrs[i].host)))
				goto fail;
		}
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

static cJSON *part_json(const struct snapshot_part *pt)
{
	cJSON *o = cJSON_CreateObject(), *items, *rej;
	const struct se_list *l = pt->list;

	if (!o)
		return NULL;
	if (!(pt->cluster ? cJSON_AddStringToObject(o, "cluster", pt->cluster)
			  : cJSON_AddNullToObject(o, "cluster")) ||
	    !cJSON_AddStringToObject(o, "identity", pt->identity) ||
	    !cJSON_AddNumberToObject(o, "synced_at", (double)pt->synced_at) ||
	    !(items = cJSON_AddArrayToObject(o, "items")) ||
	    !(rej = cJSON_AddArrayToObject(o, "rejected")))
		goto fail;
	for (size_t i = 0; i < l->n; i++)
		if (!cJSON_AddItemToArray(items, entry_json(&l->items[i])))
			goto fail;
	for (size_t i = 0; i < l->nrejects; i++) {
		const struct se_reject *r = &l->rejects[i];
		const char *ns = r->ns;
		cJSON *x = cJSON_CreateObject();
		if (!cJSON_AddItemToArray(rej, x) ||
		    !(ns ? cJSON_AddStringToObject(x, "namespace", ns) : cJSON_AddNullToObject(x, "namespace")) ||
		    !(r->name ? cJSON_AddStringToObject(x, "name", r->name) : cJSON_AddNullToObject(x, "name")) ||
		    !cJSON_AddStringToObject(x, "reason", r->reason ? r->reason : ""))
			goto fail;
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

/* "fnv1a64:<hex>" of the unformatted JSON of sources; 0 or -1 (memory). */
static int checksum(const cJSON *sources, char *out, size_t outlen)
{
	char *text = cJSON_PrintUnformatted(sources);

	if (!text)
		return -1;
	snprintf(out, outlen, "fnv1a64:%016" PRIx64,
		hash_fnv1a(HASH_FNV1A_INIT, text, strlen(text)));
	cJSON_free(text);
	return 0;
}

/* ---- the atomic write ---- */

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int replace_file(const char *path, const char *text, char *err, size_t errlen)
{
	char tmp[4200], dir[4096];
	int fd, dfd;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		errf(err, errlen, "create %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (write_all(fd, text, strlen(text)) < 0 || fsync(fd) < 0) {
		errf(err, errlen, "write %s: %s", tmp, strerror(errno ? errno : EIO));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		errf(err, errlen, "rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* the rename itself must reach the disk */
	dir_of(path, dir, sizeof(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		errf(err, errlen, "fsync directory %s: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

int snapshot_write(const char *path, const char *const *zones, size_t nzones,
	const struct snapshot_part *parts, size_t nparts, time_t now, char *err,
	size_t errlen)
{
	cJSON *doc = cJSON_CreateObject(), *z, *src;
	char sum[64], *text = NULL;
	int rc = -1;

	if (!doc || !cJSON_AddStringToObject(doc, "format", SNAPSHOT_FORMAT) ||
	    !cJSON_AddNumberToObject(doc, "version", SNAPSHOT_VERSION) ||
	    !(z = cJSON_AddArrayToObject(doc, "zones")) ||
	    !cJSON_AddNumberToObject(doc, "written", (double)now))
		goto nomem;
	for (size_t i = 0; i < nzones; i++)
		if (!cJSON_AddItemToArray(z, cJSON_CreateString(zones[i])))
			goto nomem;
	if (!(src = cJSON_CreateArray()))
		goto nomem;
	for (size_t i = 0; i < nparts; i++)
		if (!cJSON_AddItemToArray(src, part_json(&parts[i]))) {
			cJSON_Delete(src);
			goto nomem;
		}
	if (checksum(src, sum, sizeof(sum)) < 0 || !cJSON_AddStringToObject(doc, "checksum", sum)) {
		cJSON_Delete(src);
		goto nomem;
	}
	cJSON_AddItemToObject(doc, "sources", src);
	if (!(text = cJSON_PrintUnformatted(doc)))
		goto nomem;
	rc = replace_file(path, text, err, errlen);
	goto out;
nomem:
	errf(err, errlen, "out of memory");
out:
	cJSON_free(text);
	cJSON_Delete(doc);
	return rc;
}

/* ---- the validated read ---- */

static int zones_match(const cJSON *z, const char *const *zones, size_t nzones)
{
	size_t n = 0;
	const cJSON *x;

	if (!cJSON_IsArray(z))
		return 0;
	cJSON_ArrayForEach(x, z) {
		if (!cJSON_IsString(x) || n >= nzones || strcmp(x->valuestring, zones[n]) != 0)
			return 0;
		n++;
	}
	return n == nzones;
}

/* One part into *out (se_list_init'ed by the caller). */
static int part_read(const cJSON *pt, const char *path, struct se_list *out,
	char *err, size_t errlen)
{
	const cJSON *cl = cJSON_GetObjectItemCaseSensitive(pt, "cluster");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(pt, "identity");
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(pt, "synced_at");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(pt, "items");
	const cJSON *rej = cJSON_GetObjectItemCaseSensitive(pt, "rejected");
	cJSON *list = NULL;
	struct se_list *lp = out;
	const cJSON *r;
	size_t ignored = 0;

	if (!(cJSON_IsString(cl) || cJSON_IsNull(cl)) || !cJSON_IsString(id) ||
	    !cJSON_IsNumber(at) || !cJSON_IsArray(items) || !cJSON_IsArray(rej)) {
		errf(err, errlen, "a source without cluster, identity, synced_at, items or rejected");
		return -1;
	}
	/* a List referencing the items: se_list_add_json checks each again */
	if (!(list = cJSON_CreateObject()) || !cJSON_AddStringToObject(list, "kind", "List") ||
	    !cJSON_AddStringToObject(list, "apiVersion", "v1") ||
	    !cJSON_AddItemReferenceToObject(list, "items", (cJSON *)items) ||
	    se_list_add_json(lp, list, path, &ignored) < 0)
		goto nomem;
	if (ignored || lp->nrejects) {
		errf(err, errlen, "%zu of its entries are not valid ServiceEntries", ignored + lp->nrejects);
		goto fail;
	}
	cJSON_ArrayForEach(r, rej) {
		const cJSON *ns = cJSON_GetObjectItemCaseSensitive(r, "namespace");
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(r, "name");
		const cJSON *why = cJSON_GetObjectItemCaseSensitive(r, "reason");
		if (se_list_reject(lp, cJSON_IsString(ns) ? ns->valuestring : NULL,
				cJSON_IsString(nm) ? nm->valuestring : NULL,
				cJSON_IsString(why) ? why->valuestring : "") < 0)
			goto nomem;
	}
	cJSON_Delete(list);
	return 0;
nomem:
	errf(err, errlen, "out of memory");
fail:
	cJSON_Delete(list);
	return -1;
}

int snapshot_read(const char *path, const char *const *zones, size_t nzones,
	snapshot_part_fn fn, void *arg, time_t *written, char *err, size_t errlen)
{
	char *text = NULL, sum[64];
	size_t len;
	cJSON *doc = NULL;
	const cJSON *fmt, *ver, *z, *wr, *cs, *src, *pt;
	struct se_list *lists = NULL;
	size_t n = 0, i = 0;
	int rc = -1;

	if (read_whole_file(path, SNAPSHOT_MAX, &text, &len) < 0) {
		if (errno == ENOENT)
			return 1;
		errf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (strlen(text) != len || !(doc = cJSON_ParseWithLength(text, len))) {
		errf(err, errlen, "not JSON (truncated or corrupt)");
		goto out;
	}
	fmt = cJSON_GetObjectItemCaseSensitive(doc, "format");
	ver = cJSON_GetObjectItemCaseSensitive(doc, "version");
	z = cJSON_GetObjectItemCaseSensitive(doc, "zones");
	wr = cJSON_GetObjectItemCaseSensitive(doc, "written");
	cs = cJSON_GetObjectItemCaseSensitive(doc, "checksum");
	src = cJSON_GetObjectItemCaseSensitive(doc, "sources");
	if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, SNAPSHOT_FORMAT) != 0) {
		errf(err, errlen, "not a globaldns registry snapshot (no \"format\": \"%s\")", SNAPSHOT_FORMAT);
		goto out;
	}
	if (!cJSON_IsNumber(ver) || ver->valuedouble != SNAPSHOT_VERSION) {
		errf(err, errlen, "format version %g, this server reads version %d",
			cJSON_IsNumber(ver) ? ver->valuedouble : -1.0, SNAPSHOT_VERSION);
		goto out;
	}
	if (!zones_match(z, zones, nzones)) {
		errf(err, errlen, "written for other zones (another serviceentries block)");
		goto out;
	}
	if (!cJSON_IsNumber(wr) || !cJSON_IsString(cs) || !cJSON_IsArray(src)) {
		errf(err, errlen, "no written time, checksum or sources");
		goto out;
	}
	if (checksum(src, sum, sizeof(sum)) < 0) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	if (strcmp(sum, cs->valuestring) != 0) {
		errf(err, errlen, "checksum mismatch (file says %s, content is %s): corrupt", cs->valuestring, sum);
		goto out;
	}
	/* every part is read before any is passed on */
	n = (size_t)cJSON_GetArraySize(src);
	if (n && !(lists = calloc(n, sizeof(*lists)))) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	cJSON_ArrayForEach(pt, src) {
		if (!cJSON_IsObject(pt)) {
			errf(err, errlen, "a source that is not an object");
			goto out;
		}
		if (part_read(pt, path, &lists[i++], err, errlen) < 0)
			goto out;
	}
	i = 0;
	cJSON_ArrayForEach(pt, src) {
		const cJSON *cl = cJSON_GetObjectItemCaseSensitive(pt, "cluster");
		fn(arg, cJSON_IsString(cl) ? cl->valuestring : NULL,
			cJSON_GetObjectItemCaseSensitive(pt, "identity")->valuestring,
			(time_t)cJSON_GetObjectItemCaseSensitive(pt, "synced_at")->valuedouble,
			&lists[i++]);
	}
	*written = (time_t)wr->valuedouble;
	rc = 0;
out:
	for (size_t k = 0; k < n && lists; k++)
		se_list_free(&lists[k]);
	free(lists);
	cJSON_Delete(doc);
	free(text);
	return rc;
}
