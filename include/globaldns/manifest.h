/*
 * manifest.h -- ServiceEntry manifests on disk: YAML (several documents, as
 * for `kubectl apply -f`) or JSON (one object, or a List as printed by
 * `kubectl get serviceentries -A -o json`).
 *
 * YAML is read with libyaml and turned into a cJSON tree (yaml_json.h), so
 * manifests and API answers take one path into se_from_json().  Since JSON is YAML, a
 * single reader serves both; .json files are parsed with cJSON directly for
 * exact error positions.
 */
#ifndef GLOBALDNS_MANIFEST_H
#define GLOBALDNS_MANIFEST_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "globaldns/seentry.h"

/* Larger files are refused rather than read. */
#define MANIFEST_MAX_FILE_SIZE (64u * 1024 * 1024)
/*
 * Load every ServiceEntry of one file into out (appending, invalid entries
 * recorded as rejects and logged with the file name).  Returns 0; or -1 if
 * the file cannot be read or parsed, with "PATH: what" (and line where
 * known) in err, and then out is unchanged.
 *
 * A name ending in ".json" (any case) is one JSON value read with cJSON
 * (errors give the line and column where cJSON stopped); anything else is
 * YAML.  Files over MANIFEST_MAX_FILE_SIZE are refused.  Invalid entries do
 * not make the file fail.
 */
int manifest_load_file(const char *path, struct se_list *out, char *err,
	size_t errlen);

/*
 * As manifest_load_file, for a file or a directory.  A directory is read
 * one level deep: its *.yaml, *.yml and *.json files in name order, hidden
 * files and Kubernetes ConfigMap "..data" links skipped.  All or nothing:
 * if any file fails, out is unchanged and -1 returned.
 *
 * Names starting with '.' are skipped (a ConfigMap volume holds "..data"
 * and "..2024_01_01_00_00_00.123" entries); the visible names are symlinks
 * into ..data and are followed.  Entries that are not regular files after
 * following symlinks (subdirectories) are skipped; one that cannot be
 * stat()ed (a dangling link) fails the load.  Name order is strcmp() order.
 */
int manifest_load_path(const char *path, struct se_list *out, char *err,
	size_t errlen);

/* 1 if a directory entry of this name is read as a manifest: *.yaml,
 * *.yml, *.json (any case), not starting with '.'. */
int manifest_name(const char *name);

/*
 * The manifest names (manifest_name) in dir, sorted by strcmp(), in a new
 * array of new strings (*n of them; the caller frees each and the array).
 * 0, or -1 with "DIR: what" in err.
 */
int manifest_list_dir(const char *dir, char ***names, size_t *n, char *err,
	size_t errlen);

#endif
