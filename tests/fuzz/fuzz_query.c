/*
 * fuzz_query.c -- fuzz target for the whole query path (parse, dispatch,
 * serviceentries answer, response writing).
 *
 * Built with --enable-fuzzer (clang -fsanitize=fuzzer) it is a libFuzzer
 * target.  Built without, main() replays every file of the corpus folder
 * given as argument (default: $TOP_SRCDIR/tests/fuzz/corpus/query), so the
 * corpus runs as an ordinary test in `make check`, printing TAP.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/query.h"
#include "globaldns/server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct server *srv;
static struct event_base *base;
static struct corefile *cf;
static uint8_t resp[QUERY_RESP_MAX];

static void init(void)
{
	const char *top = getenv("TOP_SRCDIR");
	char text[1024], err[512];
	struct server_opts so = { .default_port = 53, .no_listeners = 1 };

	if (srv)
		return;
	snprintf(text, sizeof(text),
		"global:53 {\n serviceentries {\n  file %s/conf/demo/serviceentries.yaml\n }\n}\n",
		top ? top : ".");
	base = event_base_new();
	cf = corefile_parse("Corefile", text, err, sizeof(err));
	srv = cf ? server_new(cf, &so, err, sizeof(err)) : NULL;
	if (!srv || server_start(srv, base, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_query: setup failed: %s\n", err);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_request req;

	init();
	for (int tcp = 0; tcp < 2; tcp++) {
		memset(&req, 0, sizeof(req));
		req.pkt = data;
		req.pktlen = size;
		req.tcp = tcp;
		req.server_port = 53;
		req.resp = resp;
		if (query_process(server_dispatch(srv), &req)
		    && (req.resp_len < 12 || (!tcp && req.resp_len > 1232)))
			abort();
	}
	return 0;
}

#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
static int replay(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t buf[65536];
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return LLVMFuzzerTestOneInput(buf, n);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	const char *top = getenv("TOP_SRCDIR");
	char dirpath[4096], path[8192];
	char *names[4096];
	size_t n = 0;
	DIR *d;
	struct dirent *de;

	if (argc > 1)
		snprintf(dirpath, sizeof(dirpath), "%s", argv[1]);
	else
		snprintf(dirpath, sizeof(dirpath), "%s/tests/fuzz/corpus/query", top ? top : ".");
	d = opendir(dirpath);
	if (!d) {
		printf("1..0 # SKIP no corpus at %s\n", dirpath);
		return 0;
	}
	while ((de = readdir(d)) && n < 4096)
		if (de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp);
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dirpath, names[i]);
		printf("%s %zu - replay %s\n", replay(path) == 0 ? "ok" : "not ok", i + 1, names[i]);
		free(names[i]);
	}
	server_free(srv);
	corefile_free(cf);
	if (base)
		event_base_free(base);
	fflush(stdout);
	return 0;
}
#endif
