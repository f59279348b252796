/*
 * server.h -- a running configuration: the server blocks of a Corefile with
 * their plugin chains, the dispatch table, and the listeners.
 *
 * server_new() turns a parsed Corefile into blocks (every key of a block
 * becomes a zone_key; keys sharing a port are dispatched by the longest
 * zone) and sets up each directive's plugin; nothing touches the network
 * until server_start().  Built whole, so a reload can build the next one
 * beside the running one and swap.
 */
#ifndef GLOBALDNS_SERVER_H
#define GLOBALDNS_SERVER_H

#include <stddef.h>

#include "globaldns/query.h"

struct corefile;
struct event_base;
struct server;

struct server_opts {
	int default_port;               /* for keys without a port (-dns.port) */
	int validate;                   /* set up for -validate: never started */
	int no_listeners;               /* start plugins only (tests, fuzzing) */
};

/*
 * Build from a parsed Corefile.  Every problem found is logged as an error
 * line "FILE:LINE: ..."; returns NULL if there was any, with the first in
 * err.
 */
struct server *server_new(const struct corefile *cf,
	const struct server_opts *opts, char *err, size_t errlen);

/* Bind the listeners and start every plugin.  0, or -1 with err. */
int server_start(struct server *s, struct event_base *base, char *err,
	size_t errlen);

/* 1 if every plugin is ready; else 0 with the reasons in why. */
int server_ready(const struct server *s, char *why, size_t whylen);

const struct dispatch *server_dispatch(const struct server *s);

/* Close the listeners and free everything; NULL is fine. */
void server_free(struct server *s);

#endif
