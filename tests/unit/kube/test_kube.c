/*
 * test_kube.c -- the pure parts of the Kubernetes source: newline framing
 * of a watch stream fed in arbitrary pieces (events split across chunks,
 * several in one chunk, CRLF, a line over the cap), watch event decoding,
 * and the one-line summaries of error answers.
 */
#define _GNU_SOURCE 1

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube_watch.h"

#define assert_contains(hay, needle) do { \
	const char *h_ = (hay), *n_ = (needle); \
	if (h_ == NULL || strstr(h_, n_) == NULL) \
		fail_msg("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); \
} while (0)

struct got {
	char lines[16][128];
	size_t n;
	size_t stop_at;                 /* return -1 on this line (1-based), 0: never */
};

static int collect(void *arg, const char *line, size_t len)
{
	struct got *g = arg;

	assert_true(len < sizeof(g->lines[0]));
	assert_true(g->n < 16);
	memcpy(g->lines[g->n], line, len);
	g->lines[g->n][len] = '\0';
	g->n++;
	return g->stop_at && g->n == g->stop_at ? -1 : 0;
}

static const char STREAM[] =
	"{\"type\":\"ADDED\",\"object\":{\"a\":1}}\n"
	"{\"type\":\"MODIFIED\",\"object\":{\"b\":\"x\\ny\"}}\r\n"
	"\n"
	"{\"type\":\"BOOKMARK\",\"object\":{}}\n";

static void check_stream(const struct got *g)
{
	assert_int_equal(g->n, 3);
	assert_string_equal(g->lines[0], "{\"type\":\"ADDED\",\"object\":{\"a\":1}}");
	assert_string_equal(g->lines[1], "{\"type\":\"MODIFIED\",\"object\":{\"b\":\"x\\ny\"}}");
	assert_string_equal(g->lines[2], "{\"type\":\"BOOKMARK\",\"object\":{}}");
}

/* Every way of cutting the stream into two and three pieces gives the same lines. */
static void test_lines_any_split(void **state)
{
	size_t n = sizeof(STREAM) - 1;

	(void)state;
	for (size_t i = 0; i <= n; i++) {
		for (size_t j = i; j <= n; j += 7) {
			struct kube_lines l;
			struct got g = { .n = 0 };
			kube_lines_init(&l, 1024);
			assert_int_equal(kube_lines_feed(&l, STREAM, i, collect, &g), 0);
			assert_int_equal(kube_lines_feed(&l, STREAM + i, j - i, collect, &g), 0);
			assert_int_equal(kube_lines_feed(&l, STREAM + j, n - j, collect, &g), 0);
			check_stream(&g);
			assert_int_equal(l.len, 0);
			kube_lines_free(&l);
		}
	}
}

static void test_lines_byte_by_byte(void **state)
{
	struct kube_lines l;
	struct got g = { .n = 0 };

	(void)state;
	kube_lines_init(&l, 1024);
	for (size_t i = 0; i < sizeof(STREAM) - 1; i++)
		assert_int_equal(kube_lines_feed(&l, STREAM + i, 1, collect, &g), 0);
	check_stream(&g);
	kube_lines_free(&l);
}

static void test_lines_partial_kept(void **state)
{
	struct kube_lines l;
	struct got g = { .n = 0 };

	(void)state;
	kube_lines_init(&l, 1024);
	assert_int_equal(kube_lines_feed(&l, "{\"type\":", 8, collect, &g), 0);
	assert_int_equal(g.n, 0);
	assert_int_equal(l.len, 8);
	/* a stream cut here: the partial event is dropped, never applied */
	kube_lines_reset(&l);
	assert_int_equal(kube_lines_feed(&l, "x\n", 2, collect, &g), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.lines[0], "x");
	kube_lines_free(&l);
}

/* One huge event does not pin its buffer past the stream, and the buffer
 * never grows past the cap on a line. */
static void test_lines_buffer_released(void **state)
{
	struct kube_lines l;
	struct got g = { .n = 0 };
	size_t big = 3 * 1024 * 1024;
	char *line = malloc(big);

	(void)state;
	assert_non_null(line);
	memset(line, 'a', big);
	kube_lines_init(&l, 3 * 1024 * 1024 + 100);
	assert_int_equal(kube_lines_feed(&l, line, big, collect, &g), 0);
	assert_true(l.cap >= big && l.cap <= l.max + 1);
	kube_lines_reset(&l);
	assert_int_equal(l.cap, 0);
	assert_int_equal(kube_lines_feed(&l, "y\n", 2, collect, &g), 0);
	assert_true(l.cap <= 4096);
	kube_lines_free(&l);
	free(line);
}

static void test_lines_cap(void **state)
{
	struct kube_lines l;
	struct got g = { .n = 0 };
	char big[300];

	(void)state;
	memset(big, 'a', sizeof(big));
	kube_lines_init(&l, 256);
	/* a whole line over the cap, in one piece or accumulated */
	assert_int_equal(kube_lines_feed(&l, big, sizeof(big), collect, &g), -1);
	assert_int_equal(l.len, 0);
	assert_int_equal(kube_lines_feed(&l, big, 200, collect, &g), 0);
	assert_int_equal(kube_lines_feed(&l, big, 100, collect, &g), -1);
	assert_int_equal(g.n, 0);
	kube_lines_free(&l);
}

static int count_only(void *arg, const char *line, size_t len)
{
	(void)line;
	(void)len;
	(*(size_t *)arg)++;
	return 0;
}

static void test_lines_cap_exact(void **state)
{
	struct kube_lines l;
	size_t n = 0;
	char big[257];

	(void)state;
	memset(big, 'a', 256);
	big[256] = '\n';
	kube_lines_init(&l, 256);
	assert_int_equal(kube_lines_feed(&l, big, 100, count_only, &n), 0);
	assert_int_equal(kube_lines_feed(&l, big + 100, 157, count_only, &n), 0);
	assert_int_equal(n, 1);
	kube_lines_free(&l);
}

static void test_lines_stop(void **state)
{
	struct kube_lines l;
	struct got g = { .n = 0, .stop_at = 1 };

	(void)state;
	kube_lines_init(&l, 1024);
	assert_int_equal(kube_lines_feed(&l, STREAM, sizeof(STREAM) - 1, collect, &g), -2);
	assert_int_equal(g.n, 1);               /* nothing after the refusal */
	kube_lines_free(&l);
}

static void test_event_parse(void **state)
{
	static const struct { const char *line; int type; const char *err; } cases[] = {
		{ "{\"type\":\"ADDED\",\"object\":{\"kind\":\"ServiceEntry\"}}", KUBE_EV_ADDED, NULL },
		{ "{\"type\":\"MODIFIED\",\"object\":{}}", KUBE_EV_MODIFIED, NULL },
		{ "{\"type\":\"DELETED\",\"object\":{}}", KUBE_EV_DELETED, NULL },
		{ "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{\"resourceVersion\":\"9\"}}}", KUBE_EV_BOOKMARK, NULL },
		{ "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410}}", KUBE_EV_ERROR, NULL },
		{ "{\"type\":\"ADDED\",\"object\":{\"kind\":", -1, "not JSON" },
		{ "[1,2]", -1, "without a \"type\"" },
		{ "{\"type\":3,\"object\":{}}", -1, "without a \"type\"" },
		{ "{\"type\":\"RENAMED\",\"object\":{}}", -1, "unknown type \"RENAMED\"" },
		{ "{\"type\":\"ADDED\"}", -1, "without an object" },
		{ "{\"type\":\"ADDED\",\"object\":\"x\"}", -1, "without an object" },
	};
	char err[200];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum kube_event_type t;
		const cJSON *obj = NULL;
		cJSON *doc = kube_event_parse(cases[i].line, strlen(cases[i].line), &t, &obj, err, sizeof(err));
		if (cases[i].type < 0) {
			assert_null(doc);
			assert_contains(err, cases[i].err);
		} else {
			assert_non_null(doc);
			assert_int_equal(t, cases[i].type);
			assert_true(cJSON_IsObject(obj));
			cJSON_Delete(doc);
		}
	}
}

static void test_status_summary(void **state)
{
	char out[400];
	long ra = -1;
	const char *st503 = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
		"\"message\":\"the server is currently unable to handle the request\",\"reason\":\"ServiceUnavailable\","
		"\"details\":{\"retryAfterSeconds\":7},\"code\":503}";
	const char *plain = "Too many requests, please try again later.\n";
	const char *notfound = "404 page not found\n";

	(void)state;
	kube_status_summary(503, st503, strlen(st503), out, sizeof(out), &ra);
	assert_string_equal(out, "HTTP 503 Service Unavailable: the server is currently unable to handle the request");
	assert_int_equal(ra, 7);
	ra = -1;
	kube_status_summary(429, plain, strlen(plain), out, sizeof(out), &ra);
	assert_string_equal(out, "HTTP 429 Too Many Requests: Too many requests, please try again later.");
	assert_int_equal(ra, -1);
	kube_status_summary(404, notfound, strlen(notfound), out, sizeof(out), NULL);
	assert_string_equal(out, "HTTP 404 Not Found: 404 page not found");
	kube_status_summary(502, "", 0, out, sizeof(out), NULL);
	assert_string_equal(out, "HTTP 502 Bad Gateway");
	kube_status_summary(418, "\x01\x02 <html>", 9, out, sizeof(out), NULL);
	assert_string_equal(out, "HTTP 418: <html>");           /* control bytes blanked */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_any_split),
		cmocka_unit_test(test_lines_byte_by_byte),
		cmocka_unit_test(test_lines_partial_kept),
		cmocka_unit_test(test_lines_buffer_released),
		cmocka_unit_test(test_lines_cap),
		cmocka_unit_test(test_lines_cap_exact),
		cmocka_unit_test(test_lines_stop),
		cmocka_unit_test(test_event_parse),
		cmocka_unit_test(test_status_summary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
