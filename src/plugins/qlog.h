/*
 * qlog.h -- the output of the query log (`log`) and of `errors`, written
 * without ever blocking the event loop.
 *
 * Lines are formatted on the query path into a stack buffer (struct lbuf,
 * no allocation) and appended to a fixed ring buffer of 1 MiB; a writer
 * thread drains the ring to stdout.  The loop holds the ring's lock only
 * for a memcpy; when the ring is full (stdout slower than the queries)
 * the line is dropped and counted (globaldns_log_dropped_total), never
 * waited for.  The ring exists while any instance holds it.
 */
#ifndef GLOBALDNS_PLUGINS_QLOG_H
#define GLOBALDNS_PLUGINS_QLOG_H

#include <stddef.h>
#include <stdint.h>

struct dns_request;
struct metrics;

#define QLOG_LINE 1024

/* Hold the ring (made, with its thread, by the first holder; its drop
 * counter exported through m).  0, or -1 if it cannot be made. */
int qlog_acquire(struct metrics *m);
/* Let go of it; the last holder stops the thread (lines are written). */
void qlog_release(void);
/* Append one line (n bytes, with its newline); dropped if the ring is full. */
void qlog_put(const char *line, size_t n);

/* A line under construction in a caller buffer; always NUL-terminated. */
struct lbuf {
	char *p;
	size_t len, cap;
};

void lb_add(struct lbuf *b, const char *s, size_t n);
void lb_str(struct lbuf *b, const char *s);
void lb_printf(struct lbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "A", "TYPE65280"; "IN", "CLASS9"; "NOERROR", "RCODE42" */
void lb_type(struct lbuf *b, uint16_t t);
void lb_class(struct lbuf *b, uint16_t c);
void lb_rcode(struct lbuf *b, int rc);

/* The rcode the client got (BADVERS, an extended one, included). */
int qlog_rcode(const struct dns_request *req);

#endif
