/*
 * test_rrl.c -- the `rrl` directive without sockets: answers written into
 * requests that passed its serve function, run through the hook it adds
 * (as query.c does), in a burst far shorter than a second: one second's
 * credit passes, the rest is dropped or slips out truncated; accounts by
 * prefix, name, type and response type as BIND keys them; TCP and other
 * zones untouched; report-only; requests-per-second; configuration errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "plugin_test.h"

static char err[1024];
static struct corefile *cf;
static void *st;

static void rrl(const char *zone, const char *body)
{
	char text[1024];

	snprintf(text, sizeof(text), "rrl {\n%s\n}", body);
	st = pt_setup(zone, text, &cf, err, sizeof(err));
	if (!st)
		print_error("setup: %s\n", err);
	assert_non_null(st);
}

static void done(void)
{
	pt_ops("rrl")->free(st);
	corefile_free(cf);
}

struct tally {
	int sent, dropped, slipped, full;
};

/* N answers (rcode, ANCOUNT an, an NS referral if ns) to NAME TYPE from
 * SRC, counted by what rrl did to them. */
static struct tally burst(int n, const char *name, uint16_t type, const char *src,
	int tcp, int rcode, int an, int soa_zone)
{
	static struct pt_query t;
	struct tally r = { 0, 0, 0, 0 };

	for (int i = 0; i < n; i++) {
		struct wire_resp w;
		pt_query(&t, name, type, src, tcp, 0);
		if (pt_ops("rrl")->serve(st, &t.req) == PLUGIN_DONE) {
			r.dropped++;            /* a request over the limit */
			continue;
		}
		query_begin(&t.req, &w, rcode, DNS_FLAG_AA);
		if (an) {
			uint8_t a[4] = { 192, 0, 2, 1 };
			wire_resp_rr(&w, WIRE_SEC_ANSWER, WIRE_HDR, DNS_TYPE_A, DNS_CLASS_IN, 30, a, 4);
		}
		if (soa_zone >= 0)
			wire_resp_soa(&w, WIRE_SEC_AUTHORITY, wire_qname_suffix_off(&t.req.q,
				(unsigned int)soa_zone), 30, 1, 30);
		query_finish(&t.req, &w, "test");
		r.sent++;
		pt_hooks(&t.req);
		if (t.req.resp_len == 0)
			r.dropped++;
		else if (t.resp[2] & 0x02)
			r.slipped++;
		else
			r.full++;
	}
	return r;
}

static void test_answers(void **s)
{
	struct tally t;

	(void)s;
	rrl(".", "responses-per-second 10\nslip-ratio 2");
	t = burst(100, "a.example.", DNS_TYPE_A, "192.0.2.1", 0, 0, 1, -1);
	/* a new account has a second's credit: 10 (one more may be earned) */
	assert_in_range(t.full, 10, 12);
	assert_int_equal(t.full + t.dropped + t.slipped, 100);
	/* every second answer over the limit slips */
	assert_in_range(t.slipped, (100 - t.full) / 2 - 1, (100 - t.full) / 2 + 1);
	/* the same prefix (/24), same name and type: same account */
	t = burst(5, "a.example.", DNS_TYPE_A, "192.0.2.77", 0, 0, 1, -1);
	assert_int_equal(t.full, 0);
	/* another name, another type, another prefix: their own accounts */
	assert_in_range(burst(10, "b.example.", DNS_TYPE_A, "192.0.2.1", 0, 0, 1, -1).full, 10, 10);
	assert_in_range(burst(10, "a.example.", DNS_TYPE_AAAA, "192.0.2.1", 0, 0, 1, -1).full, 10, 10);
	assert_in_range(burst(10, "a.example.", DNS_TYPE_A, "192.0.3.1", 0, 0, 1, -1).full, 10, 10);
	/* TCP is never limited */
	assert_int_equal(burst(50, "a.example.", DNS_TYPE_A, "192.0.2.1", 1, 0, 1, -1).full, 50);
	done();
}

static void test_response_types(void **s)
{
	struct tally t;

	(void)s;
	rrl(".", "responses-per-second 100\nnxdomains-per-second 5\nerrors-per-second 3\nnodata-per-second 4");
	/* NXDOMAIN: one account per zone (the SOA owner), whatever the name */
	t = burst(1, "x1.example.", DNS_TYPE_A, "10.0.0.1", 0, DNS_RCODE_NXDOMAIN, 0, 1);
	for (int i = 2; i < 30; i++) {
		char n[64];
		snprintf(n, sizeof(n), "x%d.example.", i);
		struct tally u = burst(1, n, i % 2 ? DNS_TYPE_A : DNS_TYPE_AAAA, "10.0.0.1", 0,
			DNS_RCODE_NXDOMAIN, 0, 1);
		t.full += u.full;
	}
	assert_in_range(t.full, 5, 6);
	/* errors: one account per client, whatever the name */
	t.full = 0;
	for (int i = 0; i < 20; i++) {
		char n[64];
		snprintf(n, sizeof(n), "e%d.other.", i);
		t.full += burst(1, n, DNS_TYPE_A, "10.0.0.1", 0, DNS_RCODE_SERVFAIL, 0, -1).full;
	}
	assert_in_range(t.full, 3, 4);
	/* NODATA: by name, any type */
	t = burst(3, "n.example.", DNS_TYPE_A, "10.0.0.1", 0, 0, 0, 1);
	t.full += burst(20, "n.example.", DNS_TYPE_AAAA, "10.0.0.1", 0, 0, 0, 1).full;
	assert_in_range(t.full, 4, 5);
	/* slip-ratio 0 (default): nothing slips */
	assert_int_equal(t.slipped, 0);
	done();
}

static void test_report_only_zones_requests(void **s)
{
	struct tally t;

	(void)s;
	rrl(".", "responses-per-second 5\nreport-only");
	assert_int_equal(burst(50, "a.example.", DNS_TYPE_A, "10.0.0.1", 0, 0, 1, -1).full, 50);
	done();
	rrl("example.", "responses-per-second 5");
	assert_int_equal(burst(50, "a.example.org.", DNS_TYPE_A, "10.0.0.1", 0, 0, 1, -1).full, 50);
	assert_in_range(burst(50, "a.example.", DNS_TYPE_A, "10.0.0.1", 0, 0, 1, -1).full, 5, 6);
	done();
	/* responses not limited; requests dropped before any answer, TCP too */
	rrl(".", "requests-per-second 20");
	t = burst(60, "a.example.", DNS_TYPE_A, "10.0.0.1", 1, 0, 1, -1);
	assert_in_range(t.sent, 20, 21);
	assert_int_equal(t.full, t.sent);
	/* ipv6 by /56 */
	assert_in_range(burst(60, "a.example.", DNS_TYPE_A, "2001:db8:0:1::1", 0, 0, 1, -1).sent, 20, 21);
	assert_int_equal(burst(5, "a.example.", DNS_TYPE_A, "2001:db8:0:2::1", 0, 0, 1, -1).sent, 0);
	assert_int_equal(burst(5, "a.example.", DNS_TYPE_A, "2001:db8:0:100::1", 0, 0, 1, -1).sent, 5);
	done();
}

static void test_small_table(void **s)
{
	(void)s;
	/* far more accounts than slots: never a crash, the flooder still limited */
	rrl(".", "responses-per-second 10\nmax-table-size 16");
	for (int i = 0; i < 2000; i++) {
		char src[32];
		snprintf(src, sizeof(src), "10.%d.%d.1", i / 256, i % 256);
		burst(1, "a.example.", DNS_TYPE_A, src, 0, 0, 1, -1);
	}
	assert_in_range(burst(100, "a.example.", DNS_TYPE_A, "192.0.2.1", 0, 0, 1, -1).full, 10, 12);
	done();
}

static void errors_like(const char *body, const char *want)
{
	char text[512];
	void *x;

	snprintf(text, sizeof(text), "rrl {\n%s\n}", body);
	x = pt_setup(".", text, &cf, err, sizeof(err));
	assert_null(x);
	if (!strstr(err, want))
		print_error("error \"%s\" lacks \"%s\"\n", err, want);
	assert_non_null(strstr(err, want));
	corefile_free(cf);
}

static void test_errors(void **s)
{
	(void)s;
	errors_like("responses-per-second -1", "Corefile:3: rrl: responses-per-second: needs one number");
	errors_like("window 0", "Corefile:3: rrl: window: needs a number of seconds greater than zero");
	errors_like("ipv4-prefix-length 33", "ipv4-prefix-length: must be between 1 and 32");
	errors_like("ipv6-prefix-length 0", "ipv6-prefix-length: must be between 1 and 128");
	errors_like("slip-ratio 11", "slip-ratio: must be between 0 and 10");
	errors_like("report-only yes", "report-only: takes no arguments");
	errors_like("bogus 1", "Corefile:3: rrl: unknown property \"bogus\"");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answers),
		cmocka_unit_test(test_response_types),
		cmocka_unit_test(test_report_only_zones_requests),
		cmocka_unit_test(test_small_table),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
