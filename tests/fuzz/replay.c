/*
 * replay.c -- see replay.h.  Not linked into libFuzzer builds (libFuzzer
 * brings its own main).
 */
#include "replay.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INPUTS 4096

static int replay(const char *path)
{
	static uint8_t buf[65536];
	FILE *f = fopen(path, "rb");
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

int fuzz_replay_main(int argc, char **argv, const char *corpus, void (*cleanup)(void))
{
	const char *top = getenv("TOP_SRCDIR");
	char dirpath[4096], path[8192];
	char *names[MAX_INPUTS];
	size_t n = 0;
	DIR *d;
	struct dirent *de;

	if (argc > 1)
		snprintf(dirpath, sizeof(dirpath), "%s", argv[1]);
	else
		snprintf(dirpath, sizeof(dirpath), "%s/tests/fuzz/corpus/%s", top ? top : ".", corpus);
	d = opendir(dirpath);
	if (!d) {
		printf("1..0 # SKIP no corpus at %s\n", dirpath);
		return 0;
	}
	while ((de = readdir(d)) && n < MAX_INPUTS)
		if (de->d_name[0] != '.' && (names[n] = strdup(de->d_name)))
			n++;
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp);
	printf("1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dirpath, names[i]);
		printf("%s %zu - replay %s\n", replay(path) == 0 ? "ok" : "not ok", i + 1, names[i]);
		fflush(stdout);
		free(names[i]);
	}
	if (cleanup)
		cleanup();
	fflush(stdout);
	return 0;
}
