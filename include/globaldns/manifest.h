/*
 * manifest.h -- ServiceEntry manifests on disk: YAML (several documents, as
 * for `kubectl apply -f`) or JSON (one object, or a List as printed by
 * `kubectl get serviceentries -A -o json`).
 *
 * YAML is read with libyaml and turned into a cJSON tree, so manifests and
 * API answers take one path into se_from_json().  Since JSON is YAML, a
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
/* Deepest nesting of YAML collections accepted (cJSON frees recursively). */
#define MANIFEST_YAML_MAX_DEPTH 512
/*
 * Most nodes that aliases may create in one YAML stream: the guard against
 * "billion laughs" documents.  Nodes written out in the text need no limit;
 * each costs at least a byte of input.
 */
#define MANIFEST_YAML_MAX_ALIAS_NODES 1000000

/*
 * Parse YAML text (one or more documents) into a cJSON array with one
 * element per non-empty document.  Plain scalars become numbers, booleans
 * or null where YAML 1.1 core would read them so (123, true, null, ~),
 * everything else strings; quoted scalars are always strings.  Anchors and
 * aliases are resolved; merge keys are not supported.  Returns a new array
 * (caller frees with cJSON_Delete) or NULL with "line L, column C: what" in
 * err.
 *
 * Details: null is "", "~", null/Null/NULL; booleans are true/True/TRUE and
 * false/False/FALSE only (YAML 1.2 core: "yes", "on" stay strings); numbers
 * are decimal ints and floats ("8000", "-1.5", "1e3"; not "0x1f" or
 * ".inf").  A scalar with a tag is a string unless the tag is !!int,
 * !!float, !!bool or !!null.  Mapping keys must be scalars (kept as text)
 * and unique; strings must not contain NUL.  Errors: YAML syntax, undefined
 * alias, duplicate key, "<<" merge key, nesting beyond
 * MANIFEST_YAML_MAX_DEPTH, aliases beyond MANIFEST_YAML_MAX_ALIAS_NODES,
 * out of memory.  text need not be NUL-terminated.
 */
cJSON *manifest_yaml_to_json(const char *text, size_t len, char *err,
	size_t errlen);

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

/* Line and column (from 1) of byte offset off in text, for messages. */
void manifest_text_pos(const char *text, size_t len, size_t off, size_t *line,
	size_t *col);

#endif
