/*
 * server_start.c -- a configuration comes to life (server.h): its
 * listeners are opened and its plugins started; on a reload the unchanged
 * plugin instances and listening addresses are handed over from the
 * running configuration, so no query meets a closed socket.
 */
#include "globaldns/server.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "globaldns/listen.h"
#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"

#include "server_int.h"

/* Match instances of s with unchanged ones of prev and swap their states. */
static void take_plugins(struct server *s, struct server *prev)
{
	for (size_t i = 0; i < s->nblocks; i++) {
		struct server_block *b = &s->blocks[i];
		for (size_t j = 0; j < b->nchain; j++) {
			struct plugin_inst *p = &b->chain[j];
			struct plugin_inst *o = NULL;
			void *tmp;
			if (!p->conf_key)
				continue;
			for (size_t pi = 0; pi < prev->nblocks && !o; pi++) {
				struct server_block *pb = &prev->blocks[pi];
				for (size_t pj = 0; pj < pb->nchain && !o; pj++) {
					struct plugin_inst *c = &pb->chain[pj];
					if (c->ops == p->ops && !c->reused && c->conf_key
					    && strcmp(c->conf_key, p->conf_key) == 0)
						o = c;
				}
			}
			if (!o)
				continue;
			tmp = p->state;
			p->state = o->state;
			o->state = tmp;
			p->reused = o->reused = 1;
		}
	}
}

/* Undo take_plugins (a failed start): the same matching, swapped back. */
static void give_back_plugins(struct server *s, struct server *prev)
{
	for (size_t i = 0; i < s->nblocks; i++) {
		struct server_block *b = &s->blocks[i];
		for (size_t j = 0; j < b->nchain; j++) {
			struct plugin_inst *p = &b->chain[j];
			int done = 0;
			if (!p->reused)
				continue;
			for (size_t pi = 0; pi < prev->nblocks && !done; pi++) {
				struct server_block *pb = &prev->blocks[pi];
				for (size_t pj = 0; pj < pb->nchain && !done; pj++) {
					struct plugin_inst *c = &pb->chain[pj];
					void *tmp;
					if (c->ops != p->ops || c->reused != 1
					    || strcmp(c->conf_key, p->conf_key) != 0)
						continue;
					tmp = p->state;
					p->state = c->state;
					c->state = tmp;
					c->reused = 0;
					done = 1;
				}
			}
			p->reused = 0;
		}
	}
}

/* How to open (or keep) the listener of la. */
static struct listener_opts laddr_opts(const struct laddr *la)
{
	struct listener_opts lo = {
		.addr = la->addr[0] ? la->addr : NULL,
		.port = la->port,
		.tcp = la->tcp,
	};

	return lo;
}

/* Index of prev's open listener for la, or -1. */
static int find_listener(const struct server *prev, const struct laddr *la)
{
	for (size_t i = 0; prev && i < prev->nladdrs && i < prev->nlisteners; i++)
		if (prev->listeners[i] && prev->laddrs[i].port == la->port
		    && strcmp(prev->laddrs[i].addr, la->addr) == 0)
			return (int)i;
	return -1;
}

/* 1 if s listens on la too (prev's listener for it is handed over). */
static int has_laddr(const struct server *s, const struct laddr *la)
{
	for (size_t i = 0; i < s->nlisteners; i++)
		if (s->laddrs[i].port == la->port && strcmp(s->laddrs[i].addr, la->addr) == 0)
			return 1;
	return 0;
}

static int wildcard(const char *addr)
{
	return !addr[0] || strcmp(addr, "::") == 0 || strcmp(addr, "0.0.0.0") == 0;
}

/* 1 if sockets bound to a and b can collide: one port, and the same
 * address or a wildcard on either side. */
static int overlap(const struct laddr *a, const struct laddr *b)
{
	return a->port == b->port
		&& (wildcard(a->addr) || wildcard(b->addr) || strcmp(a->addr, b->addr) == 0);
}

/* "127.0.0.1:53", "[::1]:53", ":53" for every address (as CoreDNS). */
static const char *laddr_str(const struct laddr *la, char *buf, size_t len)
{
	snprintf(buf, len, strchr(la->addr, ':') ? "[%s]:%d" : "%s:%d", la->addr, la->port);
	return buf;
}

/* 1 if this host can bind addr at all (on some free port): tells a port
 * taken by our own old listener from an address we do not have. */
static int addr_bindable(const char *addr)
{
	struct addrinfo hints, *res = NULL;
	int fd, ok = 0;

	if (wildcard(addr))
		return 1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(addr, "0", &hints, &res) != 0 || !res)
		return 0;
	fd = socket(res->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		ok = bind(fd, res->ai_addr, res->ai_addrlen) == 0;
		close(fd);
	}
	freeaddrinfo(res);
	return ok;
}

/*
 * A new address could not be opened: if prev has listeners on that port
 * that s drops (narrowing `.:53` to `bind 127.0.0.1`, or the reverse: a
 * wildcard and a specific address on one port collide), close them now
 * rather than at the end, marking them in early[].  Returns how many.
 */
static size_t close_colliding(struct server *prev, const struct server *s,
	const struct laddr *la, unsigned char *early)
{
	size_t n = 0;
	char a[96], b[96];

	if (!addr_bindable(la->addr))
		return 0;
	for (size_t k = 0; k < prev->nlisteners; k++) {
		const struct laddr *old = &prev->laddrs[k];
		if (!prev->listeners[k] || has_laddr(s, old) || !overlap(old, la))
			continue;
		log_info("plugin/reload: closing %s before opening %s on the same port;"
			" queries in between are not answered",
			laddr_str(old, a, sizeof(a)), laddr_str(la, b, sizeof(b)));
		listener_free(prev->listeners[k]);
		prev->listeners[k] = NULL;
		early[k] = 1;
		n++;
	}
	return n;
}

/* A failed start: s's new listeners go, prev's closed early come back. */
static void reopen_early(struct server *s, struct server *prev,
	struct event_base *base, const unsigned char *early)
{
	char why[512], a[96];

	for (size_t i = 0; i < s->nlisteners; i++) {
		listener_free(s->listeners[i]);
		s->listeners[i] = NULL;
	}
	for (size_t k = 0; k < prev->nlisteners; k++) {
		struct listener_opts lo = laddr_opts(&prev->laddrs[k]);
		if (!early[k])
			continue;
		prev->listeners[k] = listener_new(base, &prev->dispatch, &lo, why, sizeof(why));
		if (!prev->listeners[k])
			log_error("plugin/reload: cannot reopen %s: %s; not served until the next reload",
				laddr_str(&prev->laddrs[k], a, sizeof(a)), why);
	}
}

int server_start(struct server *s, const struct plugin_env *env, char *err,
	size_t errlen)
{
	return server_start_after(s, NULL, env, err, errlen);
}

int server_start_after(struct server *s, struct server *prev,
	const struct plugin_env *env, char *err, size_t errlen)
{
	struct event_base *base = env->base;
	unsigned char *early = NULL;    /* prev's listeners closed before the end */

	s->listeners = calloc(s->nladdrs ? s->nladdrs : 1, sizeof(*s->listeners));
	if (!s->listeners) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	s->nlisteners = s->no_listeners ? 0 : s->nladdrs;
	if (prev && prev->nlisteners && !(early = calloc(prev->nlisteners, 1))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (prev)
		take_plugins(s, prev);
	/* new addresses now; unchanged ones are handed over at the end */
	for (size_t i = 0; i < s->nlisteners; i++) {
		struct listener_opts lo = laddr_opts(&s->laddrs[i]);
		if (find_listener(prev, &s->laddrs[i]) >= 0)
			continue;
		s->listeners[i] = listener_new(base, &s->dispatch, &lo, err, errlen);
		if (!s->listeners[i] && early && close_colliding(prev, s, &s->laddrs[i], early))
			s->listeners[i] = listener_new(base, &s->dispatch, &lo, err, errlen);
		if (!s->listeners[i])
			goto fail;
	}
	for (size_t i = 0; i < s->nblocks; i++) {
		const struct server_block *b = &s->blocks[i];
		for (size_t j = 0; j < b->nchain; j++) {
			const struct plugin_inst *p = &b->chain[j];
			if (p->reused || !p->ops->start)
				continue;
			if (p->ops->start(p->state, env) < 0) {
				snprintf(err, errlen, "%s:%d: %s: cannot start", b->info.file, b->info.line, p->ops->name);
				goto fail;
			}
		}
	}
	for (size_t i = 0; i < s->nlisteners; i++) {
		int k = find_listener(prev, &s->laddrs[i]);
		if (k < 0)
			continue;
		s->listeners[i] = prev->listeners[k];
		prev->listeners[k] = NULL;
		listener_set_dispatch(s->listeners[i], &s->dispatch);
		listener_set_tcp_limits(s->listeners[i], &s->laddrs[i].tcp);
	}
	/* addresses the new configuration dropped close now */
	for (size_t i = 0; prev && i < prev->nlisteners; i++) {
		listener_free(prev->listeners[i]);
		prev->listeners[i] = NULL;
	}
	for (size_t i = 0; i < s->nblocks; i++)
		for (size_t j = 0; j < s->blocks[i].nchain; j++)
			s->blocks[i].chain[j].reused = 0;
	metrics_plugin_enabled_reset(s->metrics);
	for (size_t k = 0; k < s->dispatch.nkeys; k++) {
		const struct zone_key *zk = &s->dispatch.keys[k];
		for (size_t j = 0; j < zk->block->nchain; j++)
			metrics_plugin_enabled(zk->metrics, zk->block->chain[j].ops->name);
	}
	free(early);
	return 0;
fail:
	if (early)
		reopen_early(s, prev, base, early);
	if (prev)
		give_back_plugins(s, prev);
	free(early);
	return -1;
}

int server_drain(struct server *s)
{
	int open = 0;

	for (size_t i = 0; i < s->nlisteners; i++)
		if (s->listeners[i])
			open += listener_drain(s->listeners[i]);
	return open;
}
