/*
 * accept_backoff.c -- pause a listener whose accept() fails for want of
 * descriptors, instead of spinning (see accept_backoff.h).
 */
#include "accept_backoff.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "globaldns/log.h"
#include "globaldns/query.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define LOG_EVERY_MS 60000
/* Accepting again counts as recovered once no accept() has failed for
 * this long: a listener that flaps at the edge of the limit (every
 * descriptor freed is taken again at once) is one episode, one warning. */
#define QUIET_MS 2000

/* Every watched listener: libevent hands the error callback the
 * listener's own user data (the DNS listener, the evhttp), not ours. */
static struct accept_backoff *watched;

static uint64_t now_ms(void)
{
	return query_now_ns() / 1000000u;
}

static void on_quiet(evutil_socket_t fd, short what, void *arg)
{
	struct accept_backoff *ab = arg;

	(void)fd;
	(void)what;
	if (!ab->failing)
		return;
	log_info("%s: accepting connections again after %.1f s (%llu accept() calls failed)",
		ab->what, (double)(now_ms() - ab->since_ms) / 1000.0,
		(unsigned long long)ab->fails);
	ab->failing = 0;
	ab->fails = 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct accept_backoff *ab = arg;

	(void)fd;
	(void)what;
	if (!ab->stopped)
		evconnlistener_enable(ab->lis);
}

/*
 * libevent calls this when accept() failed with anything but EAGAIN,
 * EINTR or ECONNABORTED (which it retries itself).
 */
static void on_error(struct evconnlistener *lis, void *arg)
{
	struct accept_backoff *ab = watched;
	int e = EVUTIL_SOCKET_ERROR();
	uint64_t now = now_ms();
	struct timeval tv;
	struct rlimit rl;

	(void)arg;
	while (ab && ab->lis != lis)
		ab = ab->next;
	if (!ab)
		return;
	ab->errors++;
	ab->fails++;
	event_del(ab->quiet);
	if (!ab->failing) {
		ab->failing = 1;
		ab->since_ms = ab->logged_ms = now;
		ab->delay_ms = BACKOFF_MIN_MS;
		if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
			rl.rlim_cur = 0;
		log_warning("%s: accept: %s (open files limit %llu); not accepting for %d ms to %d ms at a time until it succeeds",
			ab->what, strerror(e), (unsigned long long)rl.rlim_cur,
			BACKOFF_MIN_MS, BACKOFF_MAX_MS);
	} else {
		if (now - ab->logged_ms >= LOG_EVERY_MS) {
			ab->logged_ms = now;
			log_warning("%s: accept still failing after %.0f s: %s (%llu failed calls)",
				ab->what, (double)(now - ab->since_ms) / 1000.0, strerror(e),
				(unsigned long long)ab->fails);
		}
		ab->delay_ms = ab->delay_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : ab->delay_ms * 2;
	}
	evconnlistener_disable(lis);
	tv.tv_sec = ab->delay_ms / 1000;
	tv.tv_usec = (ab->delay_ms % 1000) * 1000;
	event_add(ab->timer, &tv);
}

int accept_backoff_init(struct accept_backoff *ab, struct event_base *base,
	struct evconnlistener *lis, const char *what)
{
	memset(ab, 0, sizeof(*ab));
	ab->lis = lis;
	snprintf(ab->what, sizeof(ab->what), "%s", what);
	ab->timer = evtimer_new(base, on_timer, ab);
	ab->quiet = evtimer_new(base, on_quiet, ab);
	if (!ab->timer || !ab->quiet) {
		if (ab->timer)
			event_free(ab->timer);
		if (ab->quiet)
			event_free(ab->quiet);
		ab->timer = ab->quiet = NULL;
		return -1;
	}
	evconnlistener_set_error_cb(lis, on_error);
	ab->next = watched;
	watched = ab;
	return 0;
}

void accept_backoff_free(struct accept_backoff *ab)
{
	for (struct accept_backoff **p = &watched; *p; p = &(*p)->next)
		if (*p == ab) {
			*p = ab->next;
			break;
		}
	if (ab->timer)
		event_free(ab->timer);
	if (ab->quiet)
		event_free(ab->quiet);
	ab->timer = ab->quiet = NULL;
}

void accept_backoff_ok(struct accept_backoff *ab)
{
	struct timeval tv = { QUIET_MS / 1000, (QUIET_MS % 1000) * 1000 };

	if (ab->failing && !event_pending(ab->quiet, EV_TIMEOUT, NULL))
		event_add(ab->quiet, &tv);
}

void accept_backoff_stop(struct accept_backoff *ab)
{
	ab->stopped = 1;
	if (ab->timer)
		event_del(ab->timer);
	if (ab->quiet)
		event_del(ab->quiet);
	evconnlistener_disable(ab->lis);
}
