/*
 * manifest.c -- ServiceEntry manifests on disk, as `kubectl apply -f` and
 * `kubectl get -o json|yaml` write them.
 *
 * YAML goes through libyaml's event parser into a cJSON tree (one element
 * per document, manifest_yaml.c), so that files and API answers share
 * se_list_add_json().
 * Loading is all or nothing: a file, or a directory of files, is parsed
 * into a private se_list that is moved into the caller's list only when
 * everything was read; a syntax error leaves the caller's state alone, so a
 * reload can keep serving the previous set.
 */
#define _POSIX_C_SOURCE 200809L

#include "globaldns/manifest.h"
#include "globaldns/yaml_json.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "globaldns/log.h"
#include "globaldns/readfile.h"
#include "globaldns/util.h"

/* ---- Files ------------------------------------------------------------ */

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* Read all of path into a new NUL-terminated buffer; -1 with err. */
static int read_file(const char *path, char **out, size_t *outlen, char *err,
	size_t errlen)
{
	if (read_whole_file(path, MANIFEST_MAX_FILE_SIZE, out, outlen) == 0)
		return 0;
	if (errno == EISDIR)
		errf(err, errlen, "%s: is a directory", path);
	else if (errno == EFBIG)
		errf(err, errlen, "%s: larger than %u MiB, refusing to read it", path,
			MANIFEST_MAX_FILE_SIZE >> 20);
	else if (errno == ENOMEM)
		errf(err, errlen, "%s: out of memory", path);
	else
		errf(err, errlen, "%s: %s", path, strerror(errno));
	return -1;
}

static cJSON *parse_json_file(const char *path, const char *buf, size_t len,
	char *err, size_t errlen)
{
	const char *end = NULL;
	size_t line, col;
	cJSON *doc, *docs;

	if (memchr(buf, '\0', len) != NULL) {
		yaml_json_position(buf, len, (size_t)((const char *)memchr(buf, '\0', len) - buf),
			&line, &col);
		errf(err, errlen, "%s: line %zu, column %zu: NUL byte in JSON",
			path, line, col);
		return NULL;
	}
	/*
	 * The length includes the NUL: cJSON wants to see it after the value.
	 * cJSON skips a UTF-8 byte order mark itself.
	 */
	doc = cJSON_ParseWithLengthOpts(buf, len + 1, &end, 1);
	if (doc == NULL) {
		/* cJSON reports where it stopped: near, not always at, the error. */
		yaml_json_position(buf, len, end ? (size_t)(end - buf) : 0, &line, &col);
		errf(err, errlen, "%s: line %zu, column %zu: invalid JSON", path,
			line, col);
		return NULL;
	}
	docs = cJSON_CreateArray();
	if (docs == NULL || !cJSON_AddItemToArray(docs, doc)) {
		cJSON_Delete(doc);
		cJSON_Delete(docs);
		errf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	return docs;
}

int manifest_load_file(const char *path, struct se_list *out, char *err,
	size_t errlen)
{
	struct se_list tmp;
	char *buf = NULL, perr[384];
	size_t len, ignored, nignored = 0;
	cJSON *docs = NULL, *doc;
	int rc = -1;

	se_list_init(&tmp);
	if (read_file(path, &buf, &len, err, errlen) != 0)
		goto out;
	if (has_suffix(path, ".json")) {
		docs = parse_json_file(path, buf, len, err, errlen);
		if (docs == NULL)
			goto out;
	} else {
		docs = yaml_json_parse(buf, len, perr, sizeof(perr));
		if (docs == NULL) {
			errf(err, errlen, "%s: %s", path, perr);
			goto out;
		}
	}
	cJSON_ArrayForEach(doc, docs) {
		if (se_list_add_json(&tmp, doc, path, &ignored) != 0) {
			errf(err, errlen, "%s: out of memory", path);
			goto out;
		}
		nignored += ignored;
	}
	log_debug("plugin/serviceentries: %s: %zu entries, %zu skipped, "
		"%zu other objects", path, tmp.n, tmp.nrejects, nignored);
	if (se_list_take(out, &tmp) != 0) {
		errf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(docs);
	free(buf);
	se_list_free(&tmp);
	return rc;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int manifest_name(const char *name)
{
	return name[0] != '.' && (has_suffix(name, ".yaml") ||
		has_suffix(name, ".yml") || has_suffix(name, ".json"));
}

int manifest_list_dir(const char *dir, char ***out, size_t *outn, char *err,
	size_t errlen)
{
	char **names = NULL, **p;
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d;

	d = opendir(dir);
	if (d == NULL) {
		errf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno != 0) {
				errf(err, errlen, "%s: %s", dir, strerror(errno));
				goto fail;
			}
			break;
		}
		if (!manifest_name(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			p = realloc(names, cap * sizeof(*p));
			if (p == NULL)
				goto oom;
			names = p;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL)
			goto oom;
		n++;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	*outn = n;
	return 0;
oom:
	errf(err, errlen, "%s: out of memory", dir);
fail:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return -1;
}

int manifest_load_path(const char *path, struct se_list *out, char *err,
	size_t errlen)
{
	struct se_list tmp;
	struct stat st;
	char **names = NULL, *full = NULL;
	size_t n = 0, i, plen;
	int rc = -1;

	if (stat(path, &st) != 0) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return manifest_load_file(path, out, err, errlen);
	if (manifest_list_dir(path, &names, &n, err, errlen) != 0)
		return -1;
	se_list_init(&tmp);
	plen = strlen(path);
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	for (i = 0; i < n; i++) {
		size_t flen = plen + 1 + strlen(names[i]) + 1;

		free(full);
		full = malloc(flen);
		if (full == NULL) {
			errf(err, errlen, "%s: out of memory", path);
			goto out;
		}
		snprintf(full, flen, "%.*s/%s", (int)plen, path, names[i]);
		if (stat(full, &st) != 0) {
			errf(err, errlen, "%s: %s", full, strerror(errno));
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			log_debug("plugin/serviceentries: %s: not a regular file, "
				"skipped", full);
			continue;
		}
		if (manifest_load_file(full, &tmp, err, errlen) != 0)
			goto out;
	}
	if (se_list_take(out, &tmp) != 0) {
		errf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	rc = 0;
out:
	free(full);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	se_list_free(&tmp);
	return rc;
}
