/*
 * listen.h -- DNS over UDP and TCP on the libevent loop.
 *
 * UDP: one non-blocking socket per address, drained in batches per
 * readiness event; every query is answered from one preallocated buffer.
 * TCP (RFC 7766): 2-byte length framing, several queries per connection
 * (pipelined, answered in the order they complete), an idle timeout, a cap
 * on connections; a connection that closes while a query is held by an
 * asynchronous plugin stays in memory until that query completes.
 */
#ifndef GLOBALDNS_LISTEN_H
#define GLOBALDNS_LISTEN_H

#include <stddef.h>

struct dispatch;
struct event_base;
struct listener;

struct listener_opts {
	const char *addr;               /* "127.0.0.1", "::", NULL = all (dual stack) */
	int port;
	int tcp_idle_ms;                /* default 10000 */
	int tcp_max_conns;              /* default 1000 */
};

/*
 * Open UDP and TCP sockets for one address and port, answering through d
 * (which must outlive the listener).  Returns NULL with err on failure.
 */
struct listener *listener_new(struct event_base *base,
	const struct dispatch *d, const struct listener_opts *o, char *err,
	size_t errlen);

void listener_free(struct listener *l);

/* The address ("" for every address) and port it was opened with. */
const char *listener_addr(const struct listener *l);
int listener_port(const struct listener *l);

/*
 * Answer through d from now on: a reload hands an open listener to the new
 * configuration, so no query meets a closed socket.
 */
void listener_set_dispatch(struct listener *l, const struct dispatch *d);

/*
 * Stop accepting TCP connections and close each connection as soon as it
 * has nothing left to read or write (UDP keeps answering).  Returns the
 * number of connections still open; call again until 0 (bounded by the
 * caller), then listener_free.
 */
int listener_drain(struct listener *l);

#endif
