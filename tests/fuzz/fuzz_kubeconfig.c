/*
 * fuzz_kubeconfig.c -- fuzz target for the kubeconfig reader
 * (src/kube/kubeconfig.c: YAML through libyaml, the kubectl merge rules,
 * base64 -data fields, relative paths, exec and auth-provider users).
 * kubeconfig_load reads files, so each input is written to a file in a
 * directory of its own first (a second file beside it, "other", holds a
 * fixed valid kubeconfig, for path lists).
 *
 * Byte 0: bits 0-1 pick the context (current-context, "ctx", "missing",
 * "a"); bit 2 loads the path list "config:other" instead of "config";
 * bit 3 "other:config".  The rest is the file.
 * Checks: a success has a server "http(s):..." without a trailing slash
 * and an origin; a failure says why.
 *
 * Built with --enable-fuzzer it is a libFuzzer target; built without,
 * main() replays tests/fuzz/corpus/kubeconfig as an ordinary test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kube/kubeconfig.h"
#include "globaldns/log.h"
#include "replay.h"

static char dir[256], config[300], other[300], list1[620], list2[620];

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		abort();
	}
}

static void init(void)
{
	static const char valid[] =
		"apiVersion: v1\nkind: Config\ncurrent-context: a\n"
		"clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443/\n"
		"users:\n- name: u\n  user:\n    token: abc\n"
		"contexts:\n- name: a\n  context: {cluster: c, user: u, namespace: ns}\n";
	const char *tmp = getenv("TMPDIR");

	if (dir[0])
		return;
	log_set_level(LOGL_ERROR);
	snprintf(dir, sizeof(dir), "%s/fuzz_kubeconfig.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		abort();
	}
	snprintf(config, sizeof(config), "%s/config", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	snprintf(list1, sizeof(list1), "%s:%s", config, other);
	snprintf(list2, sizeof(list2), "%s:%s", other, config);
	write_file(other, valid, sizeof(valid) - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const contexts[] = { NULL, "ctx", "missing", "a" };
	struct kube_conn k;
	char err[1024];
	const char *paths;
	int rc;

	init();
	if (size < 1)
		return 0;
	write_file(config, data + 1, size - 1);
	paths = data[0] & 4 ? list1 : data[0] & 8 ? list2 : config;
	memset(&k, 0, sizeof(k));
	err[0] = '\0';
	rc = kubeconfig_load(paths, contexts[data[0] & 3], &k, err, sizeof(err));
	if (rc == 0) {
		size_t n = k.server ? strlen(k.server) : 0;
		const char *host = k.server ? strstr(k.server, "://") : NULL;
		/* a loaded server is http(s)://HOST..., its trailing slash
		 * cut; "https://" or "https://:6443" (no host) is refused at
		 * load (corpus: f19ea2ee..., the finding) */
		if (!k.server || !k.origin || (strncmp(k.server, "https://", 8) != 0
		    && strncmp(k.server, "http://", 7) != 0) || k.server[n - 1] == '/'
		    || !host || host[3] == '\0' || host[3] == ':' || host[3] == '/')
			abort();
	} else if (rc != -1 || !err[0]) {
		abort();
	}
	kube_conn_clear(&k);
	return 0;
}

#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
static void cleanup(void)
{
	if (!dir[0])
		return;
	unlink(config);
	unlink(other);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	return fuzz_replay_main(argc, argv, "kubeconfig", cleanup);
}
#endif
