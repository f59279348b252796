/*
 * qlog.c -- where the `log` and `errors` lines go: a fixed ring buffer
 * drained to stdout by a writer thread, and the allocation-free line
 * formatting both directives share (see qlog.h).
 */
#include "qlog.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "globaldns/metrics.h"
#include "globaldns/query.h"
#include "globaldns/wire.h"

#define QLOG_RING (1u << 20)

/* ---- the ring and its writer thread (process-wide, refcounted) ---- */

struct qlog {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	char *buf;
	size_t head, len;
	int fd;
	int stop;
	uint64_t dropped;
	uint64_t written;
	struct metrics *metrics;        /* where its collector is */
};

static struct qlog *ring;
static int ring_refs;

static void *qlog_thread(void *arg)
{
	struct qlog *q = arg;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		size_t n;
		const char *p;
		while (q->len == 0 && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->len == 0 && q->stop)
			break;
		p = q->buf + q->head;
		n = q->len < QLOG_RING - q->head ? q->len : QLOG_RING - q->head;
		pthread_mutex_unlock(&q->mu);
		/* only this thread reads [head, head+n); producers write past it */
		while (n > 0) {
			ssize_t w = write(q->fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			pthread_mutex_lock(&q->mu);
			q->head = (q->head + (size_t)w) % QLOG_RING;
			q->len -= (size_t)w;
			pthread_mutex_unlock(&q->mu);
			p += w;
			n -= (size_t)w;
		}
		pthread_mutex_lock(&q->mu);
		if (n > 0) {
			/* stdout is gone: discard what is left */
			q->dropped += 1;
			q->head = (q->head + n) % QLOG_RING;
			q->len -= n;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static void qlog_collect(void *arg, struct metrics_out *o)
{
	struct qlog *q = arg;
	uint64_t d;

	pthread_mutex_lock(&q->mu);
	d = q->dropped;
	pthread_mutex_unlock(&q->mu);
	metrics_out_family(o, "globaldns_log_dropped_total", METRICS_COUNTER,
		"Query log and error lines dropped because the output could not keep up.");
	metrics_out_sample(o, "globaldns_log_dropped_total", "", (double)d, NULL);
}

int qlog_acquire(struct metrics *m)
{
	struct qlog *q;

	if (ring) {
		ring_refs++;
		return 0;
	}
	q = calloc(1, sizeof(*q));
	if (!q || !(q->buf = malloc(QLOG_RING))) {
		free(q);
		return -1;
	}
	q->fd = STDOUT_FILENO;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	if (pthread_create(&q->thread, NULL, qlog_thread, q) != 0) {
		pthread_mutex_destroy(&q->mu);
		pthread_cond_destroy(&q->cv);
		free(q->buf);
		free(q);
		return -1;
	}
	q->metrics = m;
	metrics_add_collector(m, qlog_collect, q);
	ring = q;
	ring_refs = 1;
	return 0;
}

void qlog_release(void)
{
	struct qlog *q = ring;

	if (!q || --ring_refs > 0)
		return;
	metrics_remove_collector(q->metrics, qlog_collect, q);
	pthread_mutex_lock(&q->mu);
	q->stop = 1;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->buf);
	free(q);
	ring = NULL;
}

/* Append one line; dropped (and counted) if the ring is full. */
void qlog_put(const char *line, size_t n)
{
	struct qlog *q = ring;
	size_t tail, first;

	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	if (q->len + n > QLOG_RING) {
		q->dropped++;
		pthread_mutex_unlock(&q->mu);
		return;
	}
	tail = (q->head + q->len) % QLOG_RING;
	first = n < QLOG_RING - tail ? n : QLOG_RING - tail;
	memcpy(q->buf + tail, line, first);
	memcpy(q->buf, line + first, n - first);
	q->len += n;
	q->written++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}


/* ---- formatting, allocation-free ---- */

void lb_add(struct lbuf *b, const char *s, size_t n)
{
	if (b->len + n >= b->cap)
		n = b->cap - 1 - b->len;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void lb_str(struct lbuf *b, const char *s)
{
	lb_add(b, s, strlen(s));
}

void lb_printf(struct lbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n < b->cap - b->len ? (size_t)n : b->cap - b->len - 1;
}

void lb_type(struct lbuf *b, uint16_t t)
{
	const char *n = dns_type_name(t);

	if (n)
		lb_str(b, n);
	else
		lb_printf(b, "TYPE%u", t);
}

void lb_class(struct lbuf *b, uint16_t c)
{
	if (c == 1)
		lb_str(b, "IN");
	else if (c == 3)
		lb_str(b, "CH");
	else if (c == 4)
		lb_str(b, "HS");
	else if (c == 255)
		lb_str(b, "ANY");
	else
		lb_printf(b, "CLASS%u", c);
}

int qlog_rcode(const struct dns_request *req)
{
	int rc = req->resp_len >= WIRE_HDR ? req->resp[3] & 0x0f : DNS_RCODE_SERVFAIL;

	if (rc == 0 && req->q.edns && req->q.edns_version > 0 && !req->plugin[0])
		rc = DNS_RCODE_BADVERS;
	return rc;
}

void lb_rcode(struct lbuf *b, int rc)
{
	const char *n = dns_rcode_name(rc);

	if (n)
		lb_str(b, n);
	else
		lb_printf(b, "RCODE%d", rc);
}

