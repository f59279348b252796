/*
 * listen_int.h -- the inside of a listener, shared by listen.c (the
 * sockets, UDP) and listen_tcp.c (TCP connections: deadlines, per-client
 * cap, eviction).  See listen.h for the design.
 */
#ifndef GLOBALDNS_CORE_LISTEN_INT_H
#define GLOBALDNS_CORE_LISTEN_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "globaldns/listen.h"
#include "globaldns/query.h"

#include "accept_backoff.h"

#define TCP_MAX_MSG 65535
/* TCP: what one read may hold -- the part of a message left from the
 * last read, then as much again of new input */
#define TCP_RBUF (2 * (TCP_MAX_MSG + 2))
#define UDP_BATCH 32                    /* datagrams per recvmmsg/sendmmsg */

struct tcp_conn;
struct udp_batch;                       /* listen.c: per-slot buffers */
struct udp_sub;                         /* listen.c: a worker thread's socket */

struct listener {
	int refs;                       /* 1 while open + held UDP queries */
	struct event_base *base;
	const struct dispatch *d;
	char addr[64];                  /* as given; "" = every address */
	int port;
	int draining;                   /* listener_drain: close when written */
	int udp_fd;
	struct event *udp_ev;
	struct udp_batch *udp;          /* UDP_BATCH queries and answers */
	struct udp_sub **subs;          /* one more UDP socket per worker thread */
	int nsubs;
	struct evconnlistener *tcp;
	/* TCP limits (listen.h) */
	struct listener_tcp_limits tcp_limits; /* defaults filled in; max_queries 0: no limit */
	int tcp_max_conns;
	int tcp_max_per_client;
	int tcp_conns;
	struct tcp_conn *conns;         /* open connections, for shutdown */
	struct tcp_conn *idle_head;     /* idle connections, oldest first */
	struct tcp_conn *idle_tail;
	struct listener_tcp_stats stats;
	struct accept_backoff accept;   /* on EMFILE ... (accept_backoff.h) */
	int accept_watched;             /* accept is set up */
	/* TCP, one connection at a time on this loop: what it sent, read
	 * after what was left of its last read, answered in place */
	uint8_t rbuf[TCP_RBUF];
	/* TCP: the answers to one read's queries, each behind its length */
	uint8_t out[2 * (QUERY_RESP_MAX + 2)];
};

/* Start req for a query; the caller sets the query (pkt, pktlen), the
 * response buffer (QUERY_RESP_MAX bytes), the client address and the
 * transport. */
static inline void listener_request(struct listener *l, struct dns_request *req,
	int tcp)
{
	memset(req, 0, offsetof(struct dns_request, q));
	req->start_ns = 0;              /* after q: query_process stamps it */
	req->tcp = tcp;
	req->server_port = l->port;
	req->server_addr = l->addr;
}

/* listen_tcp.c: the evconnlistener callbacks, set up in listener_new. */
void tcp_on_accept(struct evconnlistener *lis, evutil_socket_t fd,
	struct sockaddr *sa, int salen, void *arg);
/* Close every connection (listener_free). */
void tcp_close_all(struct listener *l);
/* listener_drain's TCP side: close what is done; the number still open. */
int tcp_drain(struct listener *l);

#endif
