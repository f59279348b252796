/*
 * server_int.h -- the inside of a running configuration, shared by
 * server.c (built from a Corefile: blocks, zone keys, plugin chains) and
 * server_start.c (its listeners, and the handover on a reload).
 */
#ifndef GLOBALDNS_CORE_SERVER_INT_H
#define GLOBALDNS_CORE_SERVER_INT_H

#include <stddef.h>

#include "globaldns/plugin.h"
#include "globaldns/query.h"

struct listener;
struct metrics;
struct metrics_slot;

/* One DNS listening address: "" = every address (dual stack). */
struct laddr {
	char addr[64];
	int port;
	/* the TCP limits of the blocks on it: for each, the last block's that
	 * sets it (as CoreDNS); 0: the default */
	struct listener_tcp_limits tcp;
};

struct server {
	struct server_block *blocks;
	size_t nblocks;
	struct dispatch dispatch;
	int *ports;
	size_t nports;
	struct metrics_slot **dropped;  /* per port: queries no block took */
	struct laddr *laddrs;           /* what to listen on; listeners[i] serves laddrs[i] */
	size_t nladdrs;
	struct listener **listeners;
	size_t nlisteners;
	int no_listeners;
	unsigned long pending;          /* held requests (query.h) */
	struct plugin_process process;  /* what the plugins set for the process */
	struct metrics *metrics;
};

#endif
