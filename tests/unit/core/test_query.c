/*
 * test_query.c -- the query core without sockets: a Corefile and the demo
 * manifests set up a server (no listeners), and packets built with ldns go
 * through query_process(); the answers are parsed back with ldns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <ldns/ldns.h>

#include "globaldns/corefile.h"
#include "globaldns/query.h"
#include "globaldns/plugin.h"
#include "globaldns/server.h"

struct fixture {
	struct event_base *base;
	struct corefile *cf;
	struct server *srv;
	struct plugin_env env;
	uint8_t resp[QUERY_RESP_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *top = getenv("TOP_SRCDIR");
	char text[1024], err[512];
	struct server_opts so = { .default_port = 53, .no_listeners = 1,
		.table = plugin_table, .ntable = plugin_table_size };

	snprintf(text, sizeof(text),
		"global:5353 {\n serviceentries {\n  file %s/conf/demo/serviceentries.yaml\n  ttl 20\n }\n}\n",
		top ? top : ".");
	f->base = event_base_new();
	f->cf = corefile_parse("Corefile", text, err, sizeof(err));
	assert_non_null(f->cf);
	f->srv = server_new(f->cf, &so, err, sizeof(err));
	assert_non_null(f->srv);
	f->env.base = f->base;
	assert_int_equal(server_start(f->srv, &f->env, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	server_free(f->srv);
	corefile_free(f->cf);
	event_base_free(f->base);
	free(f);
	return 0;
}

/* Ask name/type on port 5353; returns the parsed answer (caller frees). */
static ldns_pkt *ask(struct fixture *f, const char *name, ldns_rr_type type,
	int port)
{
	ldns_pkt *qp = NULL, *rp = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	struct dns_request req;

	assert_int_equal(ldns_pkt_query_new_frm_str(&qp, name, type, LDNS_RR_CLASS_IN, 0), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt2wire(&wire, qp, &len), LDNS_STATUS_OK);
	memset(&req, 0, sizeof(req));
	req.pkt = wire;
	req.pktlen = len;
	req.server_port = port;
	req.resp = f->resp;
	assert_int_equal(query_process(server_dispatch(f->srv), &req), 1);
	assert_int_equal(ldns_wire2pkt(&rp, req.resp, req.resp_len), LDNS_STATUS_OK);
	LDNS_FREE(wire);
	ldns_pkt_free(qp);
	return rp;
}

static void test_answer(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p = ask(f, "httpbin.bar.global.", LDNS_RR_TYPE_A, 5353);
	char *s;

	assert_true(ldns_pkt_aa(p));
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	s = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(p), 0));
	assert_string_equal(s, "httpbin.bar.global.\t20\tIN\tA\t240.0.0.2\n");
	free(s);
	ldns_pkt_free(p);
}

static void test_negative(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p = ask(f, "nope.global.", LDNS_RR_TYPE_A, 5353);

	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	assert_int_equal(ldns_pkt_nscount(p), 1);
	assert_int_equal(ldns_rr_get_type(ldns_rr_list_rr(ldns_pkt_authority(p), 0)), LDNS_RR_TYPE_SOA);
	ldns_pkt_free(p);
	p = ask(f, "httpbin.bar.global.", LDNS_RR_TYPE_AAAA, 5353);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_int_equal(ldns_pkt_nscount(p), 1);
	ldns_pkt_free(p);
}

static void test_dispatch(void **state)
{
	struct fixture *f = *state;
	ldns_pkt *p = ask(f, "example.com.", LDNS_RR_TYPE_A, 5353);

	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
	/* right zone, other port: no block */
	p = ask(f, "httpbin.bar.global.", LDNS_RR_TYPE_A, 53);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);
}

/* Garbage never crashes and is either dropped or answered. */
static void test_garbage(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[600];
	struct dns_request req;
	unsigned int seed = 12345;

	for (int i = 0; i < 20000; i++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof(buf));
		for (size_t j = 0; j < len; j++)
			buf[j] = (uint8_t)rand_r(&seed);
		if (len > 5)
			buf[4] = 0, buf[5] = 1, buf[2] &= 0x7f;
		memset(&req, 0, sizeof(req));
		req.pkt = buf;
		req.pktlen = len;
		req.server_port = 5353;
		req.resp = f->resp;
		if (query_process(server_dispatch(f->srv), &req))
			assert_true(req.resp_len >= 12 && req.resp_len <= 512);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_negative),
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
