/*
 * plugin_test.h -- what the plugin unit tests share: a plugin set up from
 * Corefile text, found through the plugin table as the core finds it, and
 * queries built by hand with a client address, run through its serve
 * function and the answer hooks it adds, as query.c runs them.
 */
#ifndef TESTS_UNIT_PLUGINS_PLUGIN_TEST_H
#define TESTS_UNIT_PLUGINS_PLUGIN_TEST_H

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/wire.h"

static inline const struct plugin_ops *pt_ops(const char *name)
{
	for (size_t i = 0; i < plugin_table_size; i++)
		if (strcmp(plugin_table[i].name, name) == 0)
			return plugin_table[i].ops;
	return NULL;
}

/* Set up the first directive of `ZONE:53 { TEXT }` (file "Corefile");
 * the state, or NULL with err.  *cfp is the caller's to free. */
static inline void *pt_setup(const char *zone, const char *text,
	struct corefile **cfp, char *err, size_t errlen)
{
	static char zbuf[256];
	static char *zones[1];
	struct plugin_block block = { .file = "Corefile", .line = 1, .port = 53, .zones = zones, .nzones = 1 };
	struct plugin_process process = { 0 };
	struct plugin_ctx ctx = { .block = &block, .process = &process };
	char buf[4096];
	void *state = NULL;

	snprintf(zbuf, sizeof(zbuf), "%s", zone);
	zones[0] = zbuf;
	snprintf(buf, sizeof(buf), "%s:53 {\n%s\n}\n", zone, text);
	*cfp = corefile_parse("Corefile", buf, err, errlen);
	if (!*cfp)
		return NULL;
	err[0] = '\0';
	if (pt_ops((*cfp)->blocks[0].dirs[0].name)->setup(&ctx, &(*cfp)->blocks[0].dirs[0],
		&state, err, errlen) < 0)
		return NULL;
	return state;
}

struct pt_query {
	uint8_t pkt[300];
	uint8_t resp[QUERY_RESP_MAX];
	struct dns_request req;
};

/* A query for NAME TYPE (with EDNS if edns) from address SRC. */
static inline void pt_query(struct pt_query *t, const char *name, uint16_t type,
	const char *src, int tcp, int edns)
{
	size_t o = WIRE_HDR;
	int n;

	memset(t->pkt, 0, WIRE_HDR);
	t->pkt[0] = 0x12;
	t->pkt[1] = 0x34;
	t->pkt[2] = 0x01;
	t->pkt[5] = 1;
	n = wire_name_from_str(name, t->pkt + o);
	o += (size_t)n;
	wire_put16(t->pkt + o, type);
	wire_put16(t->pkt + o + 2, DNS_CLASS_IN);
	o += 4;
	if (edns) {
		uint8_t opt[11] = { 0, 0, 41, 0x04, 0xD0, 0, 0, 0, 0, 0, 0 };
		memcpy(t->pkt + o, opt, sizeof(opt));
		o += sizeof(opt);
		t->pkt[11] = 1;
	}
	memset(&t->req, 0, sizeof(t->req));
	t->req.pkt = t->pkt;
	t->req.pktlen = o;
	t->req.tcp = tcp;
	t->req.resp = t->resp;
	if (strchr(src, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&t->req.client;
		a->sin6_family = AF_INET6;
		inet_pton(AF_INET6, src, &a->sin6_addr);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&t->req.client;
		a->sin_family = AF_INET;
		inet_pton(AF_INET, src, &a->sin_addr);
	}
	wire_parse_query(t->pkt, o, &t->req.q);
	t->req.limit = tcp ? QUERY_RESP_MAX : 1232;
}

/* Run the answer watchers on the answer now in req (last added first), as query.c. */
static inline void pt_hooks(struct dns_request *req)
{
	while (req->nanswer_watch) {
		const struct query_watch *w = &req->answer_watch[--req->nanswer_watch];
		w->fn(w->arg, req);
	}
}

#endif
