/*
 * registry_build.c -- what the Kubernetes source spends on N ServiceEntries
 * (default 10,000), step by step, as a table (median of 7 runs):
 *
 *   parse    cJSON_Parse of the list pages as the API sends them (500 items a page)
 *   decode   se_list_add_json: Istio validation into struct se_entry
 *   build    registry_build: the snapshot the query path reads
 *   srv      srv_index_build: the ports of every name (`srv`)
 *   ptr      ptr_index_build: PTR names by address (`reverse 240.0.0.0/4`)
 *
 * A benchmark, not a test: it asserts nothing.  Usage: registry_build [N]
 */
#define _GNU_SOURCE 1

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "globaldns/log.h"
#include "globaldns/registry.h"
#include "globaldns/registry_index.h"
#include "globaldns/seentry.h"

#define RUNS 7
#define PAGE 500

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One list page as the API server writes it (sorted keys, metadata). */
static char *page(size_t first, size_t n)
{
	size_t cap = n * 900 + 256, len = 0;
	char *s = malloc(cap);

	len += (size_t)snprintf(s + len, cap - len,
		"{\"apiVersion\":\"networking.istio.io/v1\",\"items\":[");
	for (size_t i = first; i < first + n; i++) {
		size_t v = i + 1;
		len += (size_t)snprintf(s + len, cap - len,
			"%s{\"apiVersion\":\"networking.istio.io/v1\",\"kind\":\"ServiceEntry\","
			"\"metadata\":{\"creationTimestamp\":\"2024-01-01T00:00:00Z\",\"generation\":1,"
			"\"name\":\"se-%05zu\",\"namespace\":\"ns%zu\",\"resourceVersion\":\"%zu\","
			"\"uid\":\"00000000-0000-0000-0000-%012zu\"},"
			"\"spec\":{\"addresses\":[\"240.%zu.%zu.%zu\"],\"hosts\":[\"svc-%05zu.ns%zu.global\"],"
			"\"location\":\"MESH_INTERNAL\",\"ports\":[{\"name\":\"http\",\"number\":80,\"protocol\":\"HTTP\"}],"
			"\"resolution\":\"STATIC\"}}",
			i == first ? "" : ",", i, i % 50, i + 10, i,
			(v >> 16) & 255, (v >> 8) & 255, v & 255, i, i % 50);
	}
	snprintf(s + len, cap - len, "],\"kind\":\"ServiceEntryList\",\"metadata\":"
		"{\"continue\":\"\",\"resourceVersion\":\"99999\"}}");
	return s;
}

/* The SRV index is built as serviceentries builds it: beside the snapshot,
 * from its entries (registry_conf.attach); its time is kept apart. */
static struct srv_index *attached;
static double srv_ms;

static int attach_srv(void *arg, const struct se_list *entries, struct registry *r)
{
	double t = now_ms();

	(void)arg;
	attached = srv_index_build(r, entries);
	srv_ms = now_ms() - t;
	return attached ? 0 : -1;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	size_t npages = (n + PAGE - 1) / PAGE, bytes = 0;
	char **pages = calloc(npages, sizeof(*pages));
	double t_parse[RUNS], t_decode[RUNS], t_build[RUNS], t_srv[RUNS], t_ptr[RUNS];
	struct rev_zone rz[16];
	size_t nrz = 0;
	char why[128];
	const char *zones[] = { "global." };
	struct registry_conf conf = { .zones = zones, .nzones = 1, .attach = attach_srv };
	size_t names = 0;

	log_set_level(LOGL_ERROR);
	if (rev_zones_from_cidr("240.0.0.0/4", rz, 16, &nrz, why, sizeof(why)) < 0)
		return 1;
	for (size_t p = 0; p < npages; p++) {
		size_t first = p * PAGE, cnt = n - first < PAGE ? n - first : PAGE;
		pages[p] = page(first, cnt);
		bytes += strlen(pages[p]);
	}
	for (int r = 0; r < RUNS; r++) {
		cJSON **docs = calloc(npages, sizeof(*docs));
		struct se_list l;
		struct registry *reg;
		struct srv_index *sx;
		struct ptr_index *px;
		double t0 = now_ms(), t1, t2, t3, t4, t5;

		for (size_t p = 0; p < npages; p++)
			docs[p] = cJSON_Parse(pages[p]);
		t1 = now_ms();
		se_list_init(&l);
		for (size_t p = 0; p < npages; p++)
			se_list_add_json(&l, docs[p], "bench", NULL);
		t2 = now_ms();
		reg = registry_build(&conf, &l, 1);   /* the SRV index inside, timed apart */
		t4 = now_ms();
		t3 = t4 - srv_ms;
		sx = attached;
		attached = NULL;
		px = ptr_index_build(reg, rz, nrz);
		t5 = now_ms();
		names = registry_names(reg);
		srv_index_free(sx);
		ptr_index_free(px);
		registry_free(reg);
		se_list_free(&l);
		for (size_t p = 0; p < npages; p++)
			cJSON_Delete(docs[p]);
		free(docs);
		t_parse[r] = t1 - t0;
		t_decode[r] = t2 - t1;
		t_build[r] = t3 - t2;
		t_srv[r] = t4 - t3;
		t_ptr[r] = t5 - t4;
	}
	qsort(t_parse, RUNS, sizeof(double), cmp);
	qsort(t_decode, RUNS, sizeof(double), cmp);
	qsort(t_build, RUNS, sizeof(double), cmp);
	qsort(t_srv, RUNS, sizeof(double), cmp);
	qsort(t_ptr, RUNS, sizeof(double), cmp);
	printf("%zu ServiceEntries, %zu pages of %d, %.1f MB of JSON, %zu names (median of %d runs)\n",
		n, npages, PAGE, (double)bytes / 1e6, names, RUNS);
	printf("%-8s %10s %10s %10s\n", "step", "median ms", "min ms", "max ms");
	printf("%-8s %10.2f %10.2f %10.2f\n", "parse", t_parse[RUNS / 2], t_parse[0], t_parse[RUNS - 1]);
	printf("%-8s %10.2f %10.2f %10.2f\n", "decode", t_decode[RUNS / 2], t_decode[0], t_decode[RUNS - 1]);
	printf("%-8s %10.2f %10.2f %10.2f\n", "build", t_build[RUNS / 2], t_build[0], t_build[RUNS - 1]);
	printf("%-8s %10.2f\n", "total", t_parse[RUNS / 2] + t_decode[RUNS / 2] + t_build[RUNS / 2]);
	printf("%-8s %10.2f %10.2f %10.2f   (only with srv)\n", "srv", t_srv[RUNS / 2], t_srv[0], t_srv[RUNS - 1]);
	printf("%-8s %10.2f %10.2f %10.2f   (only with reverse)\n", "ptr", t_ptr[RUNS / 2], t_ptr[0], t_ptr[RUNS - 1]);
	for (size_t p = 0; p < npages; p++)
		free(pages[p]);
	free(pages);
	return 0;
}
