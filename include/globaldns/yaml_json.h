/*
 * yaml_json.h -- YAML to cJSON, through libyaml's event parser: manifests
 * (manifest.h) and kubeconfig files (src/kube) are YAML, and everything
 * downstream reads cJSON.
 */
#ifndef GLOBALDNS_YAML_JSON_H
#define GLOBALDNS_YAML_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* Deepest nesting of YAML collections accepted (cJSON frees recursively). */
#define YAML_JSON_MAX_DEPTH 512
/*
 * Most nodes that aliases may create in one YAML stream: the guard against
 * "billion laughs" documents.  Nodes written out in the text need no limit;
 * each costs at least a byte of input.
 */
#define YAML_JSON_MAX_ALIAS_NODES 1000000

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
 * YAML_JSON_MAX_DEPTH, aliases beyond YAML_JSON_MAX_ALIAS_NODES,
 * out of memory.  text need not be NUL-terminated.
 */
cJSON *yaml_json_parse(const char *text, size_t len, char *err,
	size_t errlen);

/* Line and column (from 1) of byte offset off in text, for messages. */
void yaml_json_position(const char *text, size_t len, size_t off, size_t *line,
	size_t *col);

#endif
