/*
 * fuzz_manifest.c -- fuzz target for ServiceEntry manifests and what is
 * built from them: YAML (yaml_json_parse) or JSON (cJSON), then
 * se_list_add_json, registry_build and a lookup of every served name; the
 * same document as a Kubernetes watch event into a kube_store.
 *
 * The first byte of the input selects the mode, the rest is the text:
 *   bit 0   0: YAML, 1: JSON
 *   bit 1   registry zones: 0: global. and example.org., 1: the root zone
 *   bit 2   1: the registry has default addresses (240.0.0.1, 2001:db8::1)
 *
 * Built with --enable-fuzzer (clang -fsanitize=fuzzer) it is a libFuzzer
 * target.  Built without, main() replays every file of the corpus folder
 * given as argument (default: $TOP_SRCDIR/tests/fuzz/corpus/manifest), so
 * the corpus runs as an ordinary test in `make check`, printing TAP.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <cjson/cJSON.h>

#include "kube/kube_store.h"
#include "kube/kube_watch.h"
#include "globaldns/log.h"
#include "globaldns/manifest.h"
#include "globaldns/yaml_json.h"
#include "globaldns/registry.h"
#include "globaldns/seentry.h"
#include "globaldns/wire.h"
#include "replay.h"

#define ORIGIN "fuzz"


/* Every entry in a list passed se_from_json's checks. */
static void check_list(const struct se_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct se_entry *e = &l->items[i];

		if (!e->ns || !e->name || (e->nhosts && !e->hosts)
		    || e->resolution > SE_RES_DYNAMIC_DNS)
			abort();
		for (size_t h = 0; h < e->nhosts; h++)
			if (!e->hosts[h] || se_host_valid(e->hosts[h], NULL, 0) != 1)
				abort();
		for (size_t a = 0; a < e->naddrs; a++)
			if (e->addrs[a].family != AF_INET && e->addrs[a].family != AF_INET6)
				abort();
	}
	for (size_t i = 0; i < l->nrejects; i++)
		if (!l->rejects[i].reason)
			abort();
}

/* A query for name (presentation) of type qtype, parsed as the server would. */
static void make_query(const char *name, uint16_t qtype, struct dns_query *q)
{
	uint8_t pkt[WIRE_HDR + WIRE_MAXNAME + 4] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0
	};
	int len = wire_name_from_str(name, pkt + WIRE_HDR);
	size_t n;

	if (len <= 0)
		abort();
	n = WIRE_HDR + (size_t)len;
	pkt[n++] = (uint8_t)(qtype >> 8);
	pkt[n++] = (uint8_t)qtype;
	pkt[n++] = 0;
	pkt[n++] = DNS_CLASS_IN;
	if (wire_parse_query(pkt, n, q) != WIRE_OK)
		abort();
}

/* Every served name: found with its own addresses, whatever the case. */
static void visit(void *arg, const char *name, const uint8_t (*v4)[4],
	size_t nv4, const uint8_t (*v6)[16], size_t nv6,
	const char *const *sources, size_t nsources)
{
	const struct registry *r = arg;
	static const uint16_t types[] = { DNS_TYPE_A, DNS_TYPE_AAAA };
	char upper[WIRE_MAXNAME * 4 + 1], child[WIRE_MAXNAME * 4 + 8];
	struct dns_query q;
	struct registry_answer a;
	size_t i;

	(void)v4;
	(void)v6;
	(void)sources;
	(void)nsources;
	for (i = 0; name[i] && i < sizeof(upper) - 1; i++)
		upper[i] = (char)toupper((unsigned char)name[i]);
	upper[i] = '\0';
	for (size_t t = 0; t < 2; t++) {
		make_query(name, types[t], &q);
		memset(&a, 0, sizeof(a));
		if (registry_lookup(r, &q, &a) != REG_NAME || a.nv4 != nv4 || a.nv6 != nv6)
			abort();
		make_query(upper, types[t], &q);
		memset(&a, 0, sizeof(a));
		if (registry_lookup(r, &q, &a) != REG_NAME || a.nv4 != nv4 || a.nv6 != nv6)
			abort();
		/* a name below it: NXDOMAIN, a name, or a wildcard's answer */
		snprintf(child, sizeof(child), "fuzz.%s", name);
		if (strlen(child) < WIRE_MAXNAME - 1) {
			make_query(child, types[t], &q);
			registry_lookup(r, &q, &a);
		}
	}
}

static void build_and_look(struct se_list *l, unsigned int mode)
{
	static const char *const zones2[] = { "global.", "example.org." };
	static const char *const root[] = { "." };
	struct se_addr defs[2];
	struct registry_conf conf = { .zones = zones2, .nzones = 2 };
	struct registry *r;

	if (mode & 2) {
		conf.zones = root;
		conf.nzones = 1;
	}
	if (mode & 4) {
		if (se_parse_addr("240.0.0.1", &defs[0]) != 1
		    || se_parse_addr("2001:db8::1", &defs[1]) != 1)
			abort();
		conf.defaults = defs;
		conf.ndefaults = 2;
	}
	r = registry_build(&conf, l, 1);
	if (!r)
		return;
	if (l->n || l->nrejects)
		abort();
	registry_foreach(r, visit, r);
	registry_free(r);
}

/* As source_kube.c's apply_event, on one store. */
static void apply_event(struct kube_store *s, const char *line, size_t len)
{
	enum kube_event_type type;
	const cJSON *obj = NULL;
	char err[200];
	cJSON *doc;

	err[0] = '\0';
	doc = kube_event_parse(line, len, &type, &obj, err, sizeof(err));
	if (!doc) {
		if (!err[0])
			abort();
		return;
	}
	if (!obj)
		abort();
	switch (type) {
	case KUBE_EV_DELETED:
		kube_store_del_json(s, obj);
		break;
	case KUBE_EV_ADDED:
	case KUBE_EV_MODIFIED:
		if (kube_store_put_json(s, obj, s, ORIGIN) == 0)
			kube_store_del_json(s, obj);
		break;
	default:
		break;
	}
	cJSON_Delete(doc);
}

static int line_cb(void *arg, const char *line, size_t len)
{
	apply_event(arg, line, len);
	return 0;
}

/* Feed the documents to a kube_store, as a list and as watch events. */
static void kube(const cJSON *docs, const char *text, size_t size, unsigned int mode)
{
	struct kube_store s = { 0 };
	struct se_list l;
	const cJSON *doc, *it;

	cJSON_ArrayForEach(doc, docs) {
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");

		if (cJSON_IsArray(items)) {
			cJSON_ArrayForEach(it, items)
				if (kube_store_put_json(&s, it, &s, ORIGIN) < 0)
					abort();
		} else if (cJSON_IsObject(doc) && kube_store_put_json(&s, doc, NULL, ORIGIN) < 0) {
			abort();
		}
		if (!(mode & 1)) {
			char *line = cJSON_PrintUnformatted(doc);

			if (line)
				apply_event(&s, line, strlen(line));
			free(line);
		}
	}
	if (mode & 1) {
		struct kube_lines kl;

		apply_event(&s, text, size);
		kube_lines_init(&kl, 4096);
		kube_lines_feed(&kl, text, size, line_cb, &s);
		kube_lines_free(&kl);
	}
	se_list_init(&l);
	if (kube_store_to_list(&s, &l) < 0 || l.n + l.nrejects != s.n)
		abort();
	check_list(&l);
	se_list_free(&l);
	kube_store_clear(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	unsigned int mode;
	char *text, err[512];
	cJSON *docs, *doc;
	struct se_list l;
	size_t ignored;

	if (!quiet) {
		/* Rejected entries log warnings; keep stderr for the fuzzer. */
		log_set_level(LOGL_ERROR);
		quiet = 1;
	}
	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	if (!(text = malloc(size + 1)))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (mode & 1) {
		docs = NULL;
		if ((doc = cJSON_ParseWithLength(text, size))) {
			if (!(docs = cJSON_CreateArray()) || !cJSON_AddItemToArray(docs, doc))
				abort();
		}
	} else {
		err[0] = '\0';
		docs = yaml_json_parse(text, size, err, sizeof(err));
		if (!docs && !err[0])
			abort();
		if (docs && !cJSON_IsArray(docs))
			abort();
	}
	if (!docs) {
		free(text);
		return 0;
	}
	se_list_init(&l);
	cJSON_ArrayForEach(doc, docs)
		if (se_list_add_json(&l, doc, ORIGIN, &ignored) < 0)
			abort();
	check_list(&l);
	build_and_look(&l, mode);
	se_list_free(&l);
	kube(docs, text, size, mode);
	cJSON_Delete(docs);
	free(text);
	return 0;
}

#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
int main(int argc, char **argv)
{
	return fuzz_replay_main(argc, argv, "manifest", NULL);
}
#endif
