/*
 * listen.h -- DNS over UDP and TCP on the libevent loop.
 *
 * UDP: one non-blocking socket per address.  A readiness event reads up
 * to 32 datagrams with one recvmmsg, answers each into its own
 * preallocated slot (nothing is allocated per query), and sends the
 * answers with one sendmmsg -- two system calls for a batch instead of
 * two per query; a query a plugin drops (resp_len 0) sends nothing, and
 * an answer that cannot be sent (full socket buffer) is dropped alone.
 * At most four batches per event, so TCP and timers keep their turn.
 *
 * TCP (RFC 7766): 2-byte length framing, several queries per connection
 * (pipelined, answered in the order they complete).  A read goes into
 * one buffer the listener shares among its connections and is answered
 * in place, the answers to one read leaving in one send: a connection
 * keeps bytes of its own only for a message split across reads or an
 * answer the socket did not take.  A connection that
 * closes while a query is held by an asynchronous plugin stays in memory
 * until that query completes.  Against clients that hold connections
 * open (slowloris) every connection is in one of three states:
 *   idle     nothing buffered, nothing held, nothing to write: closed
 *            `tcp_idle_ms` after its last answer (or after it was
 *            accepted);
 *   reading  part of a message has arrived: the whole message must be
 *            in within `tcp_read_ms` of its first byte, however the rest
 *            trickles in (bytes never restart either timer);
 *   busy     queries held by a plugin (the forwarder's own deadline
 *            bounds them) or answers being written (a write that makes no
 *            progress for `tcp_write_ms` closes it).
 * One client -- an IPv4 address, or an IPv6 /64 (a host gets a whole /64
 * as easily as one address) -- holds at most `tcp_max_per_client`
 * connections: one more closes that client's oldest idle connection, or
 * is refused.  When all `tcp_max_conns` slots are taken the oldest idle
 * connection is closed for the new one; with none idle the new one is
 * refused.  When accept() fails for want of descriptors (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM) the listener stops accepting for 100 ms, doubling to
 * 1 s while it keeps failing, instead of spinning; it logs once when that
 * starts, once a minute while it lasts, and once when it is over.
 */
#ifndef GLOBALDNS_LISTEN_H
#define GLOBALDNS_LISTEN_H

#include <stddef.h>
#include <stdint.h>

struct dispatch;
struct event_base;
struct listener;

#define LISTEN_TCP_IDLE_MS 10000
#define LISTEN_TCP_READ_MS 2000
#define LISTEN_TCP_WRITE_MS 10000
#define LISTEN_TCP_MAX_CONNS 1000
#define LISTEN_TCP_MAX_PER_CLIENT 100

/* A TCP connection's deadlines and query limit; 0: the default */
struct listener_tcp_limits {
	int idle_ms;                    /* LISTEN_TCP_IDLE_MS */
	int read_ms;                    /* LISTEN_TCP_READ_MS */
	int write_ms;                   /* a write without progress this long closes */
	int max_queries;                /* close after this many queries (0: no limit) */
};

struct listener_opts {
	const char *addr;               /* "127.0.0.1", "::", NULL = all (dual stack) */
	int port;
	struct listener_tcp_limits tcp; /* a block's, as its plugins set them */
	/* 0: the LISTEN_TCP_* defaults */
	int tcp_max_conns;
	int tcp_max_per_client;
};

/* What the TCP side did, since the listener opened. */
struct listener_tcp_stats {
	uint64_t accepted;
	uint64_t closed_idle;           /* idle past tcp_idle_ms */
	uint64_t closed_read;           /* a message not in within tcp_read_ms */
	uint64_t evicted;               /* oldest idle, for a new connection */
	uint64_t refused_client;        /* the client at its cap, none idle */
	uint64_t refused_full;          /* every slot busy or reading */
	uint64_t accept_errors;         /* accept() failed (EMFILE ...) */
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
 * The TCP limits t (0: the default) from now on -- a reload's new
 * limits for a listener it keeps open: deadlines armed from now on,
 * and the query count of connections already open, use them.
 */
void listener_set_tcp_limits(struct listener *l, const struct listener_tcp_limits *t);

/*
 * Stop accepting TCP connections and close each connection as soon as it
 * has nothing left to read or write (UDP keeps answering).  Returns the
 * number of connections still open; call again until 0 (bounded by the
 * caller), then listener_free.
 */
int listener_drain(struct listener *l);

/* Open TCP connections, and the counters above. */
int listener_tcp_conns(const struct listener *l);
void listener_tcp_stats(const struct listener *l, struct listener_tcp_stats *out);

#endif
