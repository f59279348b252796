/*
 * fuzz_query.c -- fuzz target for the whole query path (parse, dispatch,
 * serviceentries answer -- and chaos for the names outside global --,
 * response writing).
 *
 * Built with --enable-fuzzer (clang -fsanitize=fuzzer) it is a libFuzzer
 * target.  Built without, main() replays every file of the corpus folder
 * given as argument (default: $TOP_SRCDIR/tests/fuzz/corpus/query), so the
 * corpus runs as an ordinary test in `make check`, printing TAP.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/query.h"
#include "globaldns/plugin.h"
#include "globaldns/server.h"
#include "replay.h"


static struct server *srv;
static struct event_base *base;
static struct corefile *cf;
static uint8_t resp[QUERY_RESP_MAX];
static struct plugin_env env;

static void init(void)
{
	const char *top = getenv("TOP_SRCDIR");
	char text[1024], err[512];
	struct server_opts so = { .default_port = 53, .no_listeners = 1,
		.table = plugin_table, .ntable = plugin_table_size };

	if (srv)
		return;
	snprintf(text, sizeof(text),
		"global:53 {\n serviceentries {\n  file %s/conf/demo/serviceentries.yaml\n  ns_address 192.0.2.53\n }\n}\n"
		".:53 {\n chaos 1.0-fuzz alice bob\n}\n",
		top ? top : ".");
	base = event_base_new();
	cf = corefile_parse("Corefile", text, err, sizeof(err));
	srv = cf ? server_new(cf, &so, err, sizeof(err)) : NULL;
	env.base = base;
	if (!srv || server_start(srv, &env, err, sizeof(err)) < 0) {
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
static void cleanup(void)
{
	server_free(srv);
	corefile_free(cf);
	if (base)
		event_base_free(base);
}

int main(int argc, char **argv)
{
	return fuzz_replay_main(argc, argv, "query", cleanup);
}
#endif
