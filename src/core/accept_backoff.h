/*
 * accept_backoff.h -- what a listening socket does when accept() fails
 * for want of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).
 *
 * The pending connection stays in the kernel's queue and the socket stays
 * readable, so accepting again at once spins: thousands of failed calls
 * (and, with libevent's default, log lines) a second.  Instead the
 * listener is disabled for 100 ms, doubling to 1 s while it keeps
 * failing, then enabled again.  One log line when the failures start, one
 * a minute while they last, one when an accept succeeds again.  Used by
 * the DNS listeners (listen_tcp.c) and the HTTP endpoints (httpd.c).
 */
#ifndef GLOBALDNS_CORE_ACCEPT_BACKOFF_H
#define GLOBALDNS_CORE_ACCEPT_BACKOFF_H

#include <stdint.h>

struct event;
struct event_base;
struct evconnlistener;

struct accept_backoff {
	struct evconnlistener *lis;
	struct event *timer;
	struct event *quiet;            /* a recovery is logged once it lasts */
	char what[96];                  /* "listen tcp 127.0.0.1:53" */
	int stopped;                    /* the owner disabled it for good */
	int failing;                    /* since the last successful accept */
	int delay_ms;
	uint64_t since_ms, logged_ms;
	uint64_t fails;                 /* failed calls in this episode */
	uint64_t errors;                /* failed calls, ever */
	struct accept_backoff *next;    /* every one watched */
};

/* Watch lis (its error callback is set to ours); what names it in logs.
 * ab must stay where it is until accept_backoff_free.  0, or -1 out of
 * memory (then nothing to free). */
int accept_backoff_init(struct accept_backoff *ab, struct event_base *base,
	struct evconnlistener *lis, const char *what);
void accept_backoff_free(struct accept_backoff *ab);

/* An accept succeeded: if it had been failing, log that it is over. */
void accept_backoff_ok(struct accept_backoff *ab);

/* The owner stops accepting for good (lameduck): never enable again. */
void accept_backoff_stop(struct accept_backoff *ab);

#endif
