/*
 * test_forward.c -- the `forward` directive's configuration (TO forms,
 * resolv.conf files, every sub-directive and its FILE:LINE errors), which
 * names it takes, and one started instance whose upstream fails inside
 * ares_send: the query must be answered and nothing may touch the held
 * request once it has been.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <ldns/ldns.h>

#include "globaldns/corefile.h"
#include "plugins/forward_int.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/server.h"
#include "globaldns/wire.h"

/* The plugin, found as the core finds it: through the plugin table. */
static const struct plugin_ops *forward_ops(void)
{
	for (size_t i = 0; i < plugin_table_size; i++)
		if (strcmp(plugin_table[i].name, "forward") == 0)
			return plugin_table[i].ops;
	return NULL;
}

static char err[1024];

/* Set up the first directive of `.:53 { TEXT }` (file "Corefile");
 * returns the state or NULL with err. */
static struct forward *setup(const char *text, struct corefile **cfp)
{
	static char *zones[] = { "." };
	struct plugin_block block = { .file = "Corefile", .line = 1, .port = 53, .zones = zones, .nzones = 1 };
	struct plugin_process process = { 0 };
	struct plugin_ctx ctx = { .block = &block, .process = &process };
	char buf[2048];
	void *state = NULL;

	snprintf(buf, sizeof(buf), ".:53 {\n%s\n}\n", text);
	*cfp = corefile_parse("Corefile", buf, err, sizeof(err));
	assert_non_null(*cfp);
	err[0] = '\0';
	if (forward_ops()->setup(&ctx, &(*cfp)->blocks[0].dirs[0], &state, err, sizeof(err)) < 0)
		return NULL;
	return state;
}

/* The upstreams of `TEXT` as "a b c", or the error. */
static const char *ups(const char *text)
{
	static char out[1100];
	struct corefile *cf;
	struct forward *f = setup(text, &cf);
	size_t o = 0;

	if (!f) {
		snprintf(out, sizeof(out), "error: %s", err);
		corefile_free(cf);
		return out;
	}
	out[0] = '\0';
	for (size_t i = 0; i < forward_upstream_count(f); i++)
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s%s", i ? " " : "",
			forward_upstream_stats(f, i)->to);
	forward_ops()->free(f);
	corefile_free(cf);
	return out;
}

/* 1 if `TEXT` fails with an error containing want. */
static int fails_with(const char *text, const char *want)
{
	struct corefile *cf;
	struct forward *f = setup(text, &cf);

	if (f) {
		forward_ops()->free(f);
		corefile_free(cf);
		print_error("accepted: %s\n", text);
		return 0;
	}
	corefile_free(cf);
	if (!strstr(err, want)) {
		print_error("error \"%s\" lacks \"%s\"\n", err, want);
		return 0;
	}
	return 1;
}

static void test_to_forms(void **state)
{
	(void)state;
	assert_string_equal(ups("forward . 10.0.0.1"), "10.0.0.1:53");
	assert_string_equal(ups("forward . 10.0.0.1:5300"), "10.0.0.1:5300");
	assert_string_equal(ups("forward . [::1]:5300"), "[::1]:5300");
	assert_string_equal(ups("forward . [2001:db8::1]"), "[2001:db8::1]:53");
	assert_string_equal(ups("forward . ::1"), "[::1]:53");
	assert_string_equal(ups("forward . dns://10.0.0.2 dns://10.0.0.3:54"),
		"10.0.0.2:53 10.0.0.3:54");
	assert_string_equal(ups("proxy . 10.0.0.1"), "10.0.0.1:53");
	assert_string_equal(ups("forward example.org 10.0.0.1"), "10.0.0.1:53");
}

static void test_to_errors(void **state)
{
	(void)state;
	assert_true(fails_with("forward .", "Corefile:2: forward: needs FROM and at least one TO"));
	assert_true(fails_with("forward . 10.0.0.1:99999", "Corefile:2: forward: \"10.0.0.1:99999\": port \"99999\" out of range"));
	assert_true(fails_with("forward . 10.0.0.1:0", "port \"0\" out of range"));
	assert_true(fails_with("forward . [::1", "Corefile:2: forward: \"[::1\": unterminated ["));
	assert_true(fails_with("forward . [::1]x", "junk after ]"));
	assert_true(fails_with("forward . tls://10.0.0.1", "Corefile:2: forward: \"tls://10.0.0.1\": only plain DNS upstreams"));
	assert_true(fails_with("forward . /nonexistent/resolv.conf",
		"Corefile:2: forward: \"/nonexistent/resolv.conf\": not an IP address or a readable file"));
	assert_true(fails_with("proxy . /nonexistent", "Corefile:2: proxy: "));
	assert_true(fails_with("forward . 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
		"more than 15 upstreams"));
}

static void test_resolv_conf(void **state)
{
	char path[] = "/tmp/test_forward.XXXXXX", text[256], want[512];
	int fd = mkstemp(path);
	FILE *fp;

	(void)state;
	assert_true(fd >= 0);
	fp = fdopen(fd, "w");
	assert_non_null(fp);
	fputs("# a comment\nsearch svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
		"nameserver 2001:db8::53\nnameserver\n", fp);
	fclose(fp);
	snprintf(text, sizeof(text), "forward . %s 10.0.0.1", path);
	assert_string_equal(ups(text), "10.96.0.10:53 [2001:db8::53]:53 10.0.0.1:53");

	/* a bad nameserver line: that file's line, and where it was used */
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("nameserver 10.0.0.1\nnameserver not-an-ip\n", fp);
	fclose(fp);
	snprintf(text, sizeof(text), "forward . %s", path);
	snprintf(want, sizeof(want), "%s:2: nameserver \"not-an-ip\": not an IP address (used by forward at Corefile:2)", path);
	assert_true(fails_with(text, want));

	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("search example.org\n", fp);
	fclose(fp);
	snprintf(want, sizeof(want), "Corefile:2: forward: \"%s\": no nameserver lines", path);
	assert_true(fails_with(text, want));
	unlink(path);
}

static void test_subdirectives(void **state)
{
	struct corefile *cf;
	struct forward *f;

	(void)state;
	f = setup("forward . 10.0.0.1 {\n except global example.org\n force_tcp\n max_fails 3\n"
		" health_check 1s no_rec domain example.org\n policy round_robin\n max_concurrent 100\n"
		" expire 10s\n failfast_all_unhealthy_upstreams\n timeout 500ms\n deadline 3s\n}", &cf);
	assert_non_null(f);
	assert_int_equal(forward_deadline_ms(f), 3000);
	forward_ops()->free(f);
	corefile_free(cf);

	f = setup("forward . 10.0.0.1 {\n prefer_udp\n policy sequential\n max_fails 0\n}", &cf);
	assert_non_null(f);
	assert_int_equal(forward_deadline_ms(f), 5000);        /* the default */
	forward_ops()->free(f);
	corefile_free(cf);
	f = setup("forward . 10.0.0.1 {\n policy random\n}", &cf);
	assert_non_null(f);
	forward_ops()->free(f);
	corefile_free(cf);
}

static void test_subdirective_errors(void **state)
{
	(void)state;
	assert_true(fails_with("forward . 10.0.0.1 {\n except\n}", "Corefile:3: forward: except: needs at least one zone"));
	assert_true(fails_with("forward . 10.0.0.1 {\n except tls://x\n}", "Corefile:3: forward: except: \"tls://x\""));
	assert_true(fails_with("forward . 10.0.0.1 {\n force_tcp yes\n}", "Corefile:3: forward: force_tcp: takes no arguments"));
	assert_true(fails_with("forward . 10.0.0.1 {\n prefer_udp 1\n}", "Corefile:3: forward: prefer_udp: takes no arguments"));
	assert_true(fails_with("forward . 10.0.0.1 {\n force_tcp\n prefer_udp\n}",
		"Corefile:2: forward: force_tcp and prefer_udp are mutually exclusive"));
	assert_true(fails_with("forward . 10.0.0.1 {\n max_fails -1\n}", "Corefile:3: forward: max_fails: needs one number"));
	assert_true(fails_with("forward . 10.0.0.1 {\n max_fails\n}", "Corefile:3: forward: max_fails: needs one number"));
	assert_true(fails_with("forward . 10.0.0.1 {\n max_concurrent lots\n}", "Corefile:3: forward: max_concurrent: needs one number"));
	assert_true(fails_with("forward . 10.0.0.1 {\n health_check\n}", "Corefile:3: forward: health_check: needs a duration"));
	assert_true(fails_with("forward . 10.0.0.1 {\n health_check soon\n}", "Corefile:3: forward: health_check: needs a duration"));
	assert_true(fails_with("forward . 10.0.0.1 {\n health_check 1s often\n}",
		"Corefile:3: forward: health_check: unknown option \"often\""));
	assert_true(fails_with("forward . 10.0.0.1 {\n policy\n}", "Corefile:3: forward: policy: needs one of random"));
	assert_true(fails_with("forward . 10.0.0.1 {\n policy fastest\n}", "Corefile:3: forward: policy: \"fastest\": unknown"));
	assert_true(fails_with("forward . 10.0.0.1 {\n expire\n}", "Corefile:3: forward: expire: needs a duration"));
	assert_true(fails_with("forward . 10.0.0.1 {\n timeout 5ms\n}", "Corefile:3: forward: timeout: needs a duration from 10ms to 60s"));
	assert_true(fails_with("forward . 10.0.0.1 {\n deadline 2m\n}", "Corefile:3: forward: deadline: needs a duration from 10ms to 60s"));
	assert_true(fails_with("forward . 10.0.0.1 {\n tls\n}", "Corefile:3: forward: tls: DNS over TLS upstreams are not supported"));
	assert_true(fails_with("forward . 10.0.0.1 {\n\n bogus 1\n}", "Corefile:4: forward: unknown property \"bogus\""));
	assert_true(fails_with("proxy . 10.0.0.1 {\n bogus\n}", "Corefile:3: proxy: unknown property"));
}

/* A query through the plugin's serve, not started (no event loop). */
static enum plugin_result serve_name(struct forward *f, const char *name,
	struct dns_request *req, uint8_t *resp)
{
	static uint8_t pkt[512];
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, name, LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	memcpy(pkt, wire, len);
	LDNS_FREE(wire);
	ldns_pkt_free(p);
	memset(req, 0, sizeof(*req));
	req->pkt = pkt;
	req->pktlen = len;
	req->resp = resp;
	req->limit = 512;
	assert_int_equal(wire_parse_query(pkt, len, &req->q), WIRE_OK);
	return forward_ops()->serve(f, req);
}

/* FROM and except decide which names are forwarded. */
static void test_from_except(void **state)
{
	static uint8_t resp[QUERY_RESP_MAX];
	struct dns_request req;
	struct corefile *cf;
	struct forward *f;

	(void)state;
	f = setup("forward example.org 10.0.0.1 {\n except skip.example.org\n}", &cf);
	assert_non_null(f);
	assert_int_equal(serve_name(f, "www.example.org.", &req, resp), PLUGIN_DONE);
	/* not started: SERVFAIL, marked as the forwarder's own (never cached) */
	assert_int_equal(resp[3] & 0xF, DNS_RCODE_SERVFAIL);
	assert_int_equal(req.synthesized, 1);
	assert_int_equal(resp[2] & 0x04, 0);       /* no AA */
	assert_int_equal(serve_name(f, "example.org.", &req, resp), PLUGIN_DONE);
	assert_int_equal(serve_name(f, "a.skip.example.org.", &req, resp), PLUGIN_NEXT);
	assert_int_equal(serve_name(f, "skip.example.org.", &req, resp), PLUGIN_NEXT);
	assert_int_equal(serve_name(f, "example.com.", &req, resp), PLUGIN_NEXT);
	forward_ops()->free(f);
	corefile_free(cf);
}

/* ---- a started instance whose upstream fails inside ares_send ---- */

struct sync_fixture {
	int replies;
	int rcode;
	int aa;
	uint8_t *held_pkt;              /* the held copy's packet */
};

static struct sync_fixture sf;

static void on_reply(struct dns_request *req, const uint8_t *resp, size_t len)
{
	assert_true(len >= WIRE_HDR);
	sf.replies++;
	sf.rcode = resp[3] & 0xF;
	sf.aa = (resp[2] & 0x04) != 0;
	/* Still ours until this returns: mark the packet.  Whatever the
	 * forwarder writes into it after the answer (a released request)
	 * shows when the test looks again. */
	sf.held_pkt = (uint8_t *)(uintptr_t)req->pkt;
	sf.held_pkt[0] = 0xAB;
	sf.held_pkt[1] = 0xCD;
}

static void test_sync_failure(void **state)
{
	struct event_base *base = event_base_new();
	struct plugin_env env = { .base = base };
	struct corefile *cf;
	struct server *srv;
	struct server_opts so = { .default_port = 53, .no_listeners = 1,
		.table = plugin_table, .ntable = plugin_table_size };
	static uint8_t resp[QUERY_RESP_MAX];
	uint8_t pkt[512];
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	struct dns_request req;
	int sync;

	(void)state;
	memset(&sf, 0, sizeof(sf));
	assert_non_null(base);
	/* [fe80::1] without a scope: connect() fails at once */
	cf = corefile_parse("Corefile", ".:53 {\n forward . [fe80::1]:53 {\n  deadline 2s\n }\n}\n",
		err, sizeof(err));
	assert_non_null(cf);
	srv = server_new(cf, &so, err, sizeof(err));
	assert_non_null(srv);
	assert_int_equal(server_start(srv, &env, err, sizeof(err)), 0);

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, "www.example.test.", LDNS_RR_TYPE_A,
		LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
	ldns_pkt_set_id(p, 0x1234);
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	memcpy(pkt, wire, len);
	LDNS_FREE(wire);
	ldns_pkt_free(p);
	memset(&req, 0, sizeof(req));
	req.pkt = pkt;
	req.pktlen = len;
	req.server_port = 53;
	req.resp = resp;
	req.transport.reply = on_reply;

	assert_int_equal(query_process(server_dispatch(srv), &req), 0);   /* held */
	sync = sf.replies == 1;
	if (!sync) {
		/* the upstream failed later after all: wait for the answer */
		struct timeval tv = { 3, 0 };
		event_base_loopexit(base, &tv);
		while (sf.replies == 0 && event_base_loop(base, EVLOOP_ONCE) == 0)
			;
	}
	assert_int_equal(sf.replies, 1);
	assert_int_equal(sf.rcode, DNS_RCODE_SERVFAIL);
	assert_int_equal(sf.aa, 0);
	assert_int_equal(server_pending(srv), 0);
	if (sync) {
		/* nothing wrote into the request after it was answered */
		assert_int_equal(sf.held_pkt[0], 0xAB);
		assert_int_equal(sf.held_pkt[1], 0xCD);
	}
	/* the client's packet is never written either */
	assert_int_equal(pkt[0], 0x12);
	assert_int_equal(pkt[1], 0x34);
	server_free(srv);
	corefile_free(cf);
	event_base_free(base);
	if (!sync)
		skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_to_forms),
		cmocka_unit_test(test_to_errors),
		cmocka_unit_test(test_resolv_conf),
		cmocka_unit_test(test_subdirectives),
		cmocka_unit_test(test_subdirective_errors),
		cmocka_unit_test(test_from_except),
		cmocka_unit_test(test_sync_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
