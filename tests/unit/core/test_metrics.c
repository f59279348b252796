/*
 * test_metrics.c -- the metrics module without a server: counting a
 * request into a slot, histograms, collectors (grouping, HELP/TYPE once,
 * label escaping, removal) and the text exposition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "globaldns/metrics.h"
#include "globaldns/query.h"

static int count_lines(const char *text, const char *prefix)
{
	int n = 0;
	size_t pl = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, pl) == 0)
			n++;
	return n;
}

static void test_observe(void **st)
{
	struct metrics *m = metrics_new();
	struct metrics_slot *s = metrics_slot(m, "dns://:53", "global.");
	struct dns_request req;
	uint8_t resp[64] = { 0 };
	struct sockaddr_in *sin = (struct sockaddr_in *)&req.client;
	size_t len;
	char *text;

	(void)st;
	assert_ptr_equal(s, metrics_slot(m, "dns://:53", "global."));
	assert_null(metrics_slot(NULL, "dns://:53", "global."));
	memset(&req, 0, sizeof(req));
	sin->sin_family = AF_INET;
	req.pktlen = 40;
	req.resp = resp;
	req.resp_len = 60;
	resp[3] = 3;                        /* NXDOMAIN */
	req.q.qtype = 28;
	req.plugin = "serviceentries";
	req.start_ns = query_now_ns();
	metrics_observe(s, &req);
	req.tcp = 1;
	req.q.qtype = 99;                   /* SPF: counted as "other" */
	req.q.edns = 1;
	req.q.edns_do = 1;
	metrics_observe(s, &req);
	metrics_observe(NULL, &req);        /* ignored */
	metrics_plugin_enabled(s, "serviceentries");

	assert_int_equal(metrics_add_collector(m, metrics_process_collect, NULL), 0);
	text = metrics_render(m, &len);
	assert_non_null(text);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "coredns_dns_requests_total{server=\"dns://:53\",zone=\"global.\",view=\"\",proto=\"udp\",family=\"1\",type=\"AAAA\"} 1\n"));
	assert_non_null(strstr(text, "coredns_dns_requests_total{server=\"dns://:53\",zone=\"global.\",view=\"\",proto=\"tcp\",family=\"1\",type=\"other\"} 1\n"));
	assert_non_null(strstr(text, "coredns_dns_responses_total{server=\"dns://:53\",zone=\"global.\",view=\"\",rcode=\"NXDOMAIN\",plugin=\"serviceentries\"} 2\n"));
	/* no type label: CoreDNS dropped it in 1.9 (its README still lists it) */
	assert_non_null(strstr(text, "coredns_dns_request_duration_seconds_bucket{server=\"dns://:53\",zone=\"global.\",view=\"\",le=\"0.00025\"}"));
	assert_non_null(strstr(text, "coredns_dns_request_duration_seconds_count{server=\"dns://:53\",zone=\"global.\",view=\"\"} 2\n"));
	assert_non_null(strstr(text, "coredns_dns_do_requests_total{server=\"dns://:53\",view=\"\",zone=\"global.\"} 1\n"));
	assert_non_null(strstr(text, "coredns_panics_total 0\n"));
	/* the process collector, added as the daemon adds it */
	assert_non_null(strstr(text, "\nprocess_resident_memory_bytes "));
	assert_non_null(strstr(text, "\nprocess_open_fds "));
	assert_non_null(strstr(text, "# TYPE process_cpu_seconds_total counter\n"));
	assert_non_null(strstr(text, "coredns_dns_request_size_bytes_sum{server=\"dns://:53\",zone=\"global.\",view=\"\",proto=\"udp\"} 40\n"));
	assert_non_null(strstr(text, "coredns_plugin_enabled{server=\"dns://:53\",zone=\"global.\",view=\"\",name=\"serviceentries\"} 1\n"));
	assert_int_equal(count_lines(text, "# TYPE coredns_dns_requests_total counter"), 1);
	assert_int_equal(count_lines(text, "# TYPE coredns_dns_request_duration_seconds histogram"), 1);
	free(text);
	metrics_plugin_enabled_reset(m);
	text = metrics_render(m, &len);
	assert_null(strstr(text, "coredns_plugin_enabled{"));
	free(text);
	metrics_free(m);
}

static void collect_a(void *arg, struct metrics_out *o)
{
	int *calls = arg;

	(*calls)++;
	metrics_out_family(o, "test_things_total", METRICS_COUNTER, "Things.");
	metrics_out_sample(o, "test_things_total", "", 3, "kind", "a\"b\\c\nd", NULL);
	metrics_out_sample(o, "test_other", "", 1.5, NULL);
}

static void collect_b(void *arg, struct metrics_out *o)
{
	struct metrics_hist *h = arg;

	/* declared again, and samples after another family: grouped anyway */
	metrics_out_family(o, "test_things_total", METRICS_COUNTER, "Other help.");
	metrics_out_sample(o, "test_things_total", "", 4, "kind", "b", NULL);
	metrics_out_family(o, "test_seconds", METRICS_HISTOGRAM, "Seconds.");
	metrics_out_histogram(o, "test_seconds", h, "to", "x", NULL);
}

static void test_collectors(void **st)
{
	static const double bounds[] = { 0.1, 1 };
	struct metrics *m = metrics_new();
	struct metrics_hist h;
	int calls = 0;
	size_t len;
	char *text, *a, *b, *other;

	(void)st;
	metrics_hist_init(&h, bounds, 2);
	metrics_hist_observe(&h, 0.05);
	metrics_hist_observe(&h, 0.5);
	metrics_hist_observe(&h, 7);
	assert_int_equal(metrics_add_collector(m, collect_a, &calls), 0);
	assert_int_equal(metrics_add_collector(m, collect_b, &h), 0);
	text = metrics_render(m, &len);
	assert_int_equal(calls, 1);
	assert_int_equal(count_lines(text, "# HELP test_things_total Things."), 1);
	assert_int_equal(count_lines(text, "# TYPE test_things_total"), 1);
	a = strstr(text, "test_things_total{kind=\"a\\\"b\\\\c\\nd\"} 3\n");
	b = strstr(text, "test_things_total{kind=\"b\"} 4\n");
	other = strstr(text, "test_other 1.5\n");
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(other);
	assert_true(a < b && b < other);    /* one group per family */
	assert_non_null(strstr(text, "test_seconds_bucket{to=\"x\",le=\"0.1\"} 1\n"));
	assert_non_null(strstr(text, "test_seconds_bucket{to=\"x\",le=\"1\"} 2\n"));
	assert_non_null(strstr(text, "test_seconds_bucket{to=\"x\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(text, "test_seconds_sum{to=\"x\"} 7.55\n"));
	assert_non_null(strstr(text, "test_seconds_count{to=\"x\"} 3\n"));
	assert_null(strstr(text, "# TYPE test_other"));   /* undeclared: untyped */
	free(text);

	metrics_remove_collector(m, collect_a, &calls);
	metrics_remove_collector(m, collect_a, &calls);    /* unknown now: ignored */
	text = metrics_render(m, &len);
	assert_int_equal(calls, 1);
	assert_null(strstr(text, "kind=\"a"));
	free(text);
	metrics_remove_collector(m, collect_b, &h);
	metrics_free(m);
}

/* Two instances reporting one series (one upstream in two forward
 * blocks): one line, the values summed; histograms bucket by bucket. */
static void collect_twice(void *arg, struct metrics_out *o)
{
	struct metrics_hist *h = arg;

	metrics_out_family(o, "test_sum_total", METRICS_COUNTER, "Sum.");
	metrics_out_sample(o, "test_sum_total", "", 2, "to", "x", NULL);
	metrics_out_sample(o, "test_sum_total", "", 5, "to", "y", NULL);
	metrics_out_sample(o, "test_sum_total", "", 3, "to", "x", NULL);
	metrics_out_histogram(o, "test_h_seconds", h, "to", "x", NULL);
	metrics_out_histogram(o, "test_h_seconds", h, "to", "x", NULL);
	/* enough series to make the table grow */
	for (int i = 0; i < 300; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%d", i % 150);
		metrics_out_sample(o, "test_many", "", 1, "i", v, NULL);
	}
}

static void test_merge(void **st)
{
	static const double bounds[] = { 0.1 };
	struct metrics *m = metrics_new();
	struct metrics_hist h;
	size_t len;
	char *text;

	(void)st;
	metrics_hist_init(&h, bounds, 1);
	metrics_hist_observe(&h, 0.05);
	metrics_hist_observe(&h, 0.5);
	assert_int_equal(metrics_add_collector(m, collect_twice, &h), 0);
	text = metrics_render(m, &len);
	assert_non_null(text);
	assert_int_equal(count_lines(text, "test_sum_total{to=\"x\"} 5"), 1);
	assert_int_equal(count_lines(text, "test_sum_total{to=\"y\"} 5"), 1);
	assert_int_equal(count_lines(text, "test_h_seconds_bucket{to=\"x\",le=\"0.1\"} 2"), 1);
	assert_int_equal(count_lines(text, "test_h_seconds_bucket{to=\"x\",le=\"+Inf\"} 4"), 1);
	assert_int_equal(count_lines(text, "test_h_seconds_count{to=\"x\"} 4"), 1);
	assert_int_equal(count_lines(text, "test_many{i=\"149\"} 2"), 1);
	assert_int_equal(count_lines(text, "test_many{i=\"0\"} 2"), 1);
	free(text);
	metrics_remove_collector(m, collect_twice, &h);
	metrics_free(m);
}

static void test_counters(void **st)
{
	struct metrics *m = metrics_new();
	size_t len;
	char *text;

	(void)st;
	(*metrics_counter(m, "coredns_reload_failed_total", "Failed reloads."))++;
	/* found again by name: one family, one cell */
	(*metrics_counter(m, "coredns_reload_failed_total", "Failed reloads."))++;
	metrics_hist_observe(metrics_histogram(m, "coredns_health_request_duration_seconds",
		"Health.", metrics_slim_buckets, 5), 0.001);
	/* without a registry: a scratch cell, never NULL */
	(*metrics_counter(NULL, "x_total", "X."))++;
	text = metrics_render(m, &len);
	assert_non_null(strstr(text, "coredns_reload_failed_total 2\n"));
	assert_int_equal(count_lines(text, "# TYPE coredns_reload_failed_total counter"), 1);
	assert_non_null(strstr(text, "coredns_health_request_duration_seconds_bucket{le=\"0.0025\"} 1\n"));
	assert_non_null(strstr(text, "coredns_build_info{version=\""));
	assert_null(strstr(text, "x_total"));
	free(text);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_observe),
		cmocka_unit_test(test_collectors),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_counters),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
