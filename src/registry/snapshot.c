/*
 * snapshot.c -- the disk snapshot of a serviceentries block (snapshot.h):
 * its JSON form, the atomic write and the validated read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "globaldns/readfile.h"
#include "globaldns/snapshot.h"
#include "globaldns/util.h"

#define SNAPSHOT_MAX (1024u * 1024 * 1024)
#define SNAPSHOT_SCRATCH (64u * 1024)

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
	if (e->nports) {            /* for `srv`: read back by the same parser */
		if (!(arr = cJSON_AddArrayToObject(spec, "ports")))
			goto fail;
		for (size_t i = 0; i < e->nports; i++) {
			const struct se_port *pt = &e->ports[i];
			cJSON *po = cJSON_CreateObject();
			if (!cJSON_AddItemToArray(arr, po) ||
			    !cJSON_AddStringToObject(po, "name", pt->name) ||
			    !cJSON_AddNumberToObject(po, "number", pt->number) ||
			    (pt->protocol != SE_PROTO_UNSET &&
			     !cJSON_AddStringToObject(po, "protocol", se_protocol_name(pt->protocol))))
				goto fail;
		}
	}
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

/* One JSON document and a newline at the end of b (the scratch buffer
 * first: no allocation per line); 0 or -1 (memory). */
static int add_line(struct strbuf *b, const cJSON *j, char *scratch, size_t slen)
{
	char *text;
	int rc;

	if (!j)
		return -1;
	if (cJSON_PrintPreallocated((cJSON *)j, scratch, (int)slen, 0))
		return strbuf_str(b, scratch) < 0 || strbuf_add(b, "\n", 1) < 0 ? -1 : 0;
	if (!(text = cJSON_PrintUnformatted(j)))
		return -1;
	rc = strbuf_str(b, text) < 0 || strbuf_add(b, "\n", 1) < 0 ? -1 : 0;
	cJSON_free(text);
	return rc;
}

/* A part: its header line, then its entries and rejects one a line. */
static int part_lines(struct strbuf *b, const struct snapshot_part *pt,
	char *scratch, size_t slen)
{
	const struct se_list *l = pt->list;
	cJSON *h = cJSON_CreateObject(), *x;
	int rc = -1;

	if (!h || !(x = cJSON_AddObjectToObject(h, "source")) ||
	    !(pt->cluster ? cJSON_AddStringToObject(x, "cluster", pt->cluster)
			  : cJSON_AddNullToObject(x, "cluster")) ||
	    !cJSON_AddStringToObject(x, "identity", pt->identity) ||
	    !cJSON_AddNumberToObject(x, "synced_at", (double)pt->synced_at) ||
	    !cJSON_AddNumberToObject(x, "items", (double)l->n) ||
	    !cJSON_AddNumberToObject(x, "rejected", (double)l->nrejects) ||
	    add_line(b, h, scratch, slen) < 0)
		goto out;
	for (size_t i = 0; i < l->n; i++) {
		cJSON *e = entry_json(&l->items[i]);
		int bad = add_line(b, e, scratch, slen);
		cJSON_Delete(e);
		if (bad)
			goto out;
	}
	for (size_t i = 0; i < l->nrejects; i++) {
		const struct se_reject *r = &l->rejects[i];
		cJSON *j = cJSON_CreateObject();
		int bad = !j ||
			!(r->ns ? cJSON_AddStringToObject(j, "namespace", r->ns) : cJSON_AddNullToObject(j, "namespace")) ||
			!(r->name ? cJSON_AddStringToObject(j, "name", r->name) : cJSON_AddNullToObject(j, "name")) ||
			!cJSON_AddStringToObject(j, "reason", r->reason ? r->reason : "") ||
			add_line(b, j, scratch, slen) < 0;
		cJSON_Delete(j);
		if (bad)
			goto out;
	}
	rc = 0;
out:
	cJSON_Delete(h);
	return rc;
}

static void checksum(const char *body, size_t len, char *out, size_t outlen)
{
	snprintf(out, outlen, "fnv1a64:%016" PRIx64, hash_fnv1a(HASH_FNV1A_INIT, body, len));
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

static int replace_file(const char *path, const char *text, size_t len, char *err,
	size_t errlen)
{
	char tmp[4200], dir[4096];
	int fd, dfd;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		errf(err, errlen, "create %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (write_all(fd, text, len) < 0 || fsync(fd) < 0) {
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
	struct strbuf body = { 0 }, all = { 0 };
	cJSON *h = cJSON_CreateObject(), *z;
	char sum[64], *scratch = malloc(SNAPSHOT_SCRATCH);
	int rc = -1;

	if (!scratch || !h)
		goto nomem;
	for (size_t i = 0; i < nparts; i++)
		if (part_lines(&body, &parts[i], scratch, SNAPSHOT_SCRATCH) < 0)
			goto nomem;
	checksum(body.p ? body.p : "", body.len, sum, sizeof(sum));
	if (!cJSON_AddStringToObject(h, "format", SNAPSHOT_FORMAT) ||
	    !cJSON_AddNumberToObject(h, "version", SNAPSHOT_VERSION) ||
	    !(z = cJSON_AddArrayToObject(h, "zones")) ||
	    !cJSON_AddNumberToObject(h, "written", (double)now) ||
	    !cJSON_AddNumberToObject(h, "sources", (double)nparts) ||
	    !cJSON_AddNumberToObject(h, "bytes", (double)body.len) ||
	    !cJSON_AddStringToObject(h, "checksum", sum))
		goto nomem;
	for (size_t i = 0; i < nzones; i++)
		if (!cJSON_AddItemToArray(z, cJSON_CreateString(zones[i])))
			goto nomem;
	if (add_line(&all, h, scratch, SNAPSHOT_SCRATCH) < 0 ||
	    (body.len && strbuf_add(&all, body.p, body.len) < 0))
		goto nomem;
	free(body.p);
	body.p = NULL;
	rc = replace_file(path, all.p, all.len, err, errlen);
	goto out;
nomem:
	errf(err, errlen, "out of memory");
out:
	free(all.p);
	free(body.p);
	free(scratch);
	cJSON_Delete(h);
	return rc;
}

/* ---- the same on a thread ---- */

struct snapshot_job {
	pthread_t thread;
	atomic_int done;
	char *path;
	char **zones;
	size_t nzones;
	struct snapshot_part *parts;    /* strings and lists: copies */
	size_t nparts;
	time_t now;
	int rc;
	double took_ms;
	char err[512];
};

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void job_free(struct snapshot_job *j)
{
	if (!j)
		return;
	for (size_t i = 0; j->zones && i < j->nzones; i++)
		free(j->zones[i]);
	for (size_t i = 0; j->parts && i < j->nparts; i++) {
		free((char *)j->parts[i].cluster);
		free((char *)j->parts[i].identity);
		if (j->parts[i].list) {
			se_list_free((struct se_list *)j->parts[i].list);
			free((struct se_list *)j->parts[i].list);
		}
	}
	free(j->zones);
	free(j->parts);
	free(j->path);
	free(j);
}

static void *job_run(void *arg)
{
	struct snapshot_job *j = arg;
	double t0 = mono_ms();

	j->rc = snapshot_write(j->path, (const char *const *)j->zones, j->nzones,
		j->parts, j->nparts, j->now, j->err, sizeof(j->err));
	j->took_ms = mono_ms() - t0;
	atomic_store(&j->done, 1);
	return NULL;
}

struct snapshot_job *snapshot_write_start(const char *path,
	const char *const *zones, size_t nzones, const struct snapshot_part *parts,
	size_t nparts, time_t now, char *err, size_t errlen)
{
	struct snapshot_job *j = calloc(1, sizeof(*j));

	if (!j || !(j->path = strdup(path)) ||
	    !(j->zones = calloc(nzones ? nzones : 1, sizeof(*j->zones))) ||
	    !(j->parts = calloc(nparts ? nparts : 1, sizeof(*j->parts))))
		goto nomem;
	j->now = now;
	for (; j->nzones < nzones; j->nzones++)
		if (!(j->zones[j->nzones] = strdup(zones[j->nzones])))
			goto nomem;
	for (; j->nparts < nparts; j->nparts++) {
		const struct snapshot_part *p = &parts[j->nparts];
		struct snapshot_part *q = &j->parts[j->nparts];
		struct se_list *l = calloc(1, sizeof(*l));
		q->list = l;
		q->synced_at = p->synced_at;
		if (!l || (p->cluster && !(q->cluster = strdup(p->cluster))) ||
		    !(q->identity = strdup(p->identity)) || se_list_copy(l, p->list) < 0) {
			j->nparts++;
			goto nomem;
		}
	}
	atomic_init(&j->done, 0);
	if (pthread_create(&j->thread, NULL, job_run, j) != 0) {
		errf(err, errlen, "cannot start a thread to write it: %s", strerror(errno ? errno : EAGAIN));
		job_free(j);
		return NULL;
	}
	return j;
nomem:
	errf(err, errlen, "out of memory");
	job_free(j);
	return NULL;
}

int snapshot_write_poll(struct snapshot_job *j, int wait, int *rc, char *err,
	size_t errlen, double *took_ms)
{
	if (!wait && !atomic_load(&j->done))
		return 0;
	pthread_join(j->thread, NULL);
	*rc = j->rc;
	*took_ms = j->took_ms;
	if (j->rc < 0)
		errf(err, errlen, "%s", j->err);
	job_free(j);
	return 1;
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

/* The next line of [*p, end) as a JSON document (NULL: not JSON, or none). */
static cJSON *next_line(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	cJSON *j;

	if (!nl)
		return NULL;
	j = cJSON_ParseWithLength(*p, (size_t)(nl - *p));
	*p = nl + 1;
	return j;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(j) ? j->valuedouble : -1;
}

/* One source's lines into *pr; -1 with err. */
struct part_read {
	char *cluster, *identity;
	time_t synced_at;
	struct se_list l;
};

static int part_read(const char **p, const char *end, const char *path,
	struct part_read *pr, char *err, size_t errlen)
{
	cJSON *h = next_line(p, end);
	const cJSON *x = cJSON_GetObjectItemCaseSensitive(h, "source");
	const cJSON *cl = cJSON_GetObjectItemCaseSensitive(x, "cluster");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "identity");
	double items = num(x, "items"), rejected = num(x, "rejected"), at = num(x, "synced_at");
	size_t ignored = 0;
	int rc = -1;

	if (!cJSON_IsObject(x) || !(cJSON_IsString(cl) || cJSON_IsNull(cl)) ||
	    !cJSON_IsString(id) || items < 0 || rejected < 0 || at < 0) {
		errf(err, errlen, "a source line without cluster, identity, synced_at, items or rejected");
		goto out;
	}
	if ((cJSON_IsString(cl) && !(pr->cluster = strdup(cl->valuestring))) ||
	    !(pr->identity = strdup(id->valuestring)))
		goto nomem;
	pr->synced_at = (time_t)at;
	for (double i = 0; i < items; i++) {
		cJSON *e = next_line(p, end);
		size_t ign = 0;
		int bad = !e || se_list_add_json(&pr->l, e, path, &ign) < 0;
		cJSON_Delete(e);
		if (bad) {
			errf(err, errlen, "an entry line that is not JSON");
			goto out;
		}
		ignored += ign;
	}
	if (ignored || pr->l.nrejects) {
		errf(err, errlen, "%zu of its entries are not valid ServiceEntries", ignored + pr->l.nrejects);
		goto out;
	}
	for (double i = 0; i < rejected; i++) {
		cJSON *r = next_line(p, end);
		const cJSON *ns = cJSON_GetObjectItemCaseSensitive(r, "namespace");
		const cJSON *nm = cJSON_GetObjectItemCaseSensitive(r, "name");
		const cJSON *why = cJSON_GetObjectItemCaseSensitive(r, "reason");
		int bad = !cJSON_IsObject(r) ||
			se_list_reject(&pr->l, cJSON_IsString(ns) ? ns->valuestring : NULL,
				cJSON_IsString(nm) ? nm->valuestring : NULL,
				cJSON_IsString(why) ? why->valuestring : "") < 0;
		cJSON_Delete(r);
		if (bad) {
			errf(err, errlen, "a rejected-entry line that is not what was expected");
			goto out;
		}
	}
	rc = 0;
	goto out;
nomem:
	errf(err, errlen, "out of memory");
out:
	cJSON_Delete(h);
	return rc;
}

int snapshot_read(const char *path, const char *const *zones, size_t nzones,
	snapshot_part_fn fn, void *arg, time_t *written, char *err, size_t errlen)
{
	char *text = NULL, sum[64];
	size_t len;
	cJSON *h = NULL;
	const cJSON *fmt, *ver, *cs;
	const char *p, *end;
	struct part_read *parts = NULL;
	double n = 0, bytes;
	size_t i;
	int rc = -1;

	if (read_whole_file(path, SNAPSHOT_MAX, &text, &len) < 0) {
		if (errno == ENOENT)
			return 1;
		errf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	p = text;
	end = text + len;
	if (!(h = next_line(&p, end))) {
		errf(err, errlen, "not JSON (truncated or corrupt)");
		goto out;
	}
	fmt = cJSON_GetObjectItemCaseSensitive(h, "format");
	ver = cJSON_GetObjectItemCaseSensitive(h, "version");
	cs = cJSON_GetObjectItemCaseSensitive(h, "checksum");
	if (!cJSON_IsString(fmt) || strcmp(fmt->valuestring, SNAPSHOT_FORMAT) != 0) {
		errf(err, errlen, "not a globaldns registry snapshot (no \"format\": \"%s\")", SNAPSHOT_FORMAT);
		goto out;
	}
	if (num(h, "version") != SNAPSHOT_VERSION) {
		errf(err, errlen, "format version %g, this server reads version %d",
			cJSON_IsNumber(ver) ? ver->valuedouble : -1.0, SNAPSHOT_VERSION);
		goto out;
	}
	if (!zones_match(cJSON_GetObjectItemCaseSensitive(h, "zones"), zones, nzones)) {
		errf(err, errlen, "written for other zones (another serviceentries block)");
		goto out;
	}
	n = num(h, "sources");
	bytes = num(h, "bytes");
	if (num(h, "written") < 0 || !cJSON_IsString(cs) || n < 0 || n > 1024 || bytes < 0) {
		errf(err, errlen, "no written time, checksum, sources or bytes");
		goto out;
	}
	if ((double)(end - p) != bytes) {
		errf(err, errlen, "%zu bytes after the header, it says %.0f: truncated or corrupt",
			(size_t)(end - p), bytes);
		goto out;
	}
	checksum(p, (size_t)(end - p), sum, sizeof(sum));
	if (strcmp(sum, cs->valuestring) != 0) {
		errf(err, errlen, "checksum mismatch (file says %s, content is %s): corrupt", cs->valuestring, sum);
		goto out;
	}
	/* every part is read before any is passed on */
	if (n > 0 && !(parts = calloc((size_t)n, sizeof(*parts)))) {
		errf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < (size_t)n; i++)
		if (part_read(&p, end, path, &parts[i], err, errlen) < 0)
			goto out;
	if (p != end) {
		errf(err, errlen, "lines after the last source");
		goto out;
	}
	for (i = 0; i < (size_t)n; i++)
		fn(arg, parts[i].cluster, parts[i].identity, parts[i].synced_at, &parts[i].l);
	*written = (time_t)num(h, "written");
	rc = 0;
out:
	for (i = 0; parts && i < (size_t)n; i++) {
		free(parts[i].cluster);
		free(parts[i].identity);
		se_list_free(&parts[i].l);
	}
	free(parts);
	cJSON_Delete(h);
	free(text);
	return rc;
}
