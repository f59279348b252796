/*
 * kube_mem.c -- where the memory of N ServiceEntries from the Kubernetes
 * API goes (default 100,000), measured with glibc's mallinfo2 (bytes
 * handed out by malloc, chunk overhead included): the informer's store
 * (kube_store.h: compact objects and their table), the se_list a rebuild
 * copies out of it (freed by the build), and the registry snapshot built
 * from that list (one allocation: registry_bytes).  Bytes per name, as a
 * table.
 *
 * A benchmark, not a test: it asserts nothing.  Usage: kube_mem [N]
 */
#define _GNU_SOURCE 1

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "globaldns/log.h"
#include "globaldns/registry.h"
#include "globaldns/seentry.h"
#include "kube/kube_store.h"

static size_t in_use(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
}

/* One ServiceEntry as the API server (and the fake's /bulk) sends it. */
static cJSON *entry(size_t i)
{
	char buf[1024];
	size_t v = i + 1;

	snprintf(buf, sizeof(buf),
		"{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
		"\"metadata\":{\"creationTimestamp\":\"2024-01-01T00:00:00Z\",\"generation\":1,"
		"\"name\":\"se-%05zu\",\"namespace\":\"default\",\"resourceVersion\":\"%zu\","
		"\"uid\":\"00000000-0000-0000-0000-%012zu\"},"
		"\"spec\":{\"addresses\":[\"240.%zu.%zu.%zu\"],\"hosts\":[\"svc-%05zu.default.global\"],"
		"\"location\":\"MESH_INTERNAL\",\"ports\":[{\"name\":\"http\",\"number\":80,\"protocol\":\"HTTP\"}],"
		"\"resolution\":\"STATIC\"}}",
		i, i + 10, i, (v >> 16) & 255, (v >> 8) & 255, v & 255, i);
	return cJSON_Parse(buf);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	const char *zones[] = { "global." };
	struct registry_conf conf = { .zones = zones, .nzones = 1 };
	struct kube_store store = { 0 };
	struct registry *reg;
	struct se_list l;
	size_t m0, m_store, m_list, m_reg, names;

	log_set_level(LOGL_ERROR);
	malloc_trim(0);
	m0 = in_use();
	for (size_t i = 0; i < n; i++) {
		cJSON *o = entry(i);
		if (!o || kube_store_put_json(&store, o, NULL, "bench") != 1) {
			fprintf(stderr, "kube_mem: entry %zu not stored\n", i);
			return 1;
		}
		cJSON_Delete(o);
	}
	m_store = in_use() - m0;
	se_list_init(&l);
	/* sized once, as kube_source.c's rebuild does */
	l.items = malloc(n * sizeof(*l.items));
	l.cap = n;
	if (!l.items || kube_store_to_list(&store, &l) < 0)
		return 1;
	m_list = in_use() - m0 - m_store;
	reg = registry_build(&conf, &l, 1);
	if (!reg)
		return 1;
	malloc_trim(0);
	m_reg = in_use() - m0 - m_store;        /* the build freed the list */
	names = registry_names(reg);
	printf("%-44s %12s %10s\n", "memory of the ServiceEntries", "bytes", "per name");
	printf("%-44s %12zu %10.0f\n", "kube store (objects + table)", m_store, (double)m_store / (double)names);
	printf("%-44s %12zu %10.0f\n", "  se_list copied out of it for a rebuild", m_list, (double)m_list / (double)names);
	printf("%-44s %12zu %10.0f\n", "registry snapshot (malloc)", m_reg, (double)m_reg / (double)names);
	printf("%-44s %12zu %10.0f\n", "  registry_bytes", registry_bytes(reg), (double)registry_bytes(reg) / (double)names);
	printf("%-44s %12zu %10.0f\n", "store + snapshot", m_store + m_reg, (double)(m_store + m_reg) / (double)names);
	printf("(%zu names; during a rebuild a second snapshot exists until the first is freed)\n", names);
	registry_free(reg);
	kube_store_clear(&store);
	return 0;
}
