/*
 * server.c -- a Corefile turned into server blocks, plugin chains, a
 * dispatch table and listeners (see server.h).
 */
#include "globaldns/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/listen.h"
#include "globaldns/log.h"
#include "globaldns/plugin.h"

struct server {
	struct server_block *blocks;
	size_t nblocks;
	struct dispatch dispatch;
	int *ports;
	size_t nports;
	struct listener **listeners;
	size_t nlisteners;
	int no_listeners;
};

/* Keep the first error for the caller, log every one. */
static void problem(int *count, char *err, size_t errlen, const char *msg)
{
	log_error("%s", msg);
	if ((*count)++ == 0)
		snprintf(err, errlen, "%s", msg);
}

static int cmp_inst(const void *a, const void *b)
{
	const struct plugin_inst *x = a, *y = b;

	return x->order - y->order;
}

static int add_port(struct server *s, int port)
{
	int *p;

	for (size_t i = 0; i < s->nports; i++)
		if (s->ports[i] == port)
			return 0;
	p = realloc(s->ports, (s->nports + 1) * sizeof(*p));
	if (!p)
		return -1;
	s->ports = p;
	p[s->nports++] = port;
	return 0;
}

/* Zones and port of one block from its keys. */
static int block_keys(struct server *s, struct server_block *b,
	const struct cf_block *cb, const struct server_opts *o, int *nerr,
	char *err, size_t errlen)
{
	char msg[1024], kerr[256];

	b->zones = calloc(cb->nkeys ? cb->nkeys : 1, sizeof(*b->zones));
	if (!b->zones)
		return -1;
	for (size_t k = 0; k < cb->nkeys; k++) {
		char zone[256];
		int port;
		struct zone_key *zk;

		if (corefile_parse_key(cb->keys[k], o->default_port, zone, sizeof(zone),
			&port, kerr, sizeof(kerr)) < 0) {
			snprintf(msg, sizeof(msg), "%s:%d: server block key \"%s\": %s",
				cb->file, cb->line, cb->keys[k], kerr);
			problem(nerr, err, errlen, msg);
			continue;
		}
		if (b->nzones && port != b->port) {
			snprintf(msg, sizeof(msg), "%s:%d: server block keys must share one port (%d and %d)",
				cb->file, cb->line, b->port, port);
			problem(nerr, err, errlen, msg);
			continue;
		}
		for (size_t i = 0; i < s->dispatch.nkeys; i++) {
			if (s->dispatch.keys[i].port == port && strcmp(s->dispatch.keys[i].zone, zone) == 0) {
				snprintf(msg, sizeof(msg), "%s:%d: zone %s on port %d is already served by the block at line %d",
					cb->file, cb->line, zone, port, s->dispatch.keys[i].block->line);
				problem(nerr, err, errlen, msg);
				goto next;
			}
		}
		zk = realloc(s->dispatch.keys, (s->dispatch.nkeys + 1) * sizeof(*zk));
		if (!zk)
			return -1;
		s->dispatch.keys = zk;
		zk = &zk[s->dispatch.nkeys];
		memset(zk, 0, sizeof(*zk));
		snprintf(zk->zone, sizeof(zk->zone), "%s", zone);
		zk->wire_len = wire_name_from_str(zone, zk->wire);
		zk->nlabels = wire_name_labels(zk->wire);
		zk->port = port;
		zk->block = b;
		s->dispatch.nkeys++;
		b->zones[b->nzones] = strdup(zone);
		if (!b->zones[b->nzones])
			return -1;
		b->nzones++;
		b->port = port;
		if (add_port(s, port) < 0)
			return -1;
next:		;
	}
	return 0;
}

static int block_plugins(struct server_block *b, const struct cf_block *cb,
	const struct server_opts *o, int *nerr, char *err, size_t errlen)
{
	struct plugin_ctx ctx = {
		.zones = (const char *const *)b->zones, .nzones = b->nzones,
		.port = b->port, .validate = o->validate,
	};
	char msg[1024];

	b->chain = calloc(cb->ndirs ? cb->ndirs : 1, sizeof(*b->chain));
	if (!b->chain)
		return -1;
	for (size_t i = 0; i < cb->ndirs; i++) {
		const struct cf_directive *d = &cb->dirs[i];
		int known, order;
		const struct plugin_ops *ops = plugin_find(d->name, &known, &order);
		struct plugin_inst *pi;

		if (!ops) {
			snprintf(msg, sizeof(msg), "%s:%d: %s directive \"%s\"; globaldns supports: %s",
				d->file, d->line, known ? "unsupported CoreDNS" : "unknown",
				d->name, plugin_supported_list());
			problem(nerr, err, errlen, msg);
			continue;
		}
		for (size_t j = 0; j < b->nchain; j++) {
			if (b->chain[j].ops == ops) {
				snprintf(msg, sizeof(msg), "%s:%d: %s: used twice in one server block",
					d->file, d->line, d->name);
				problem(nerr, err, errlen, msg);
				goto next;
			}
		}
		pi = &b->chain[b->nchain];
		if (ops->setup(&ctx, d, &pi->state, msg, sizeof(msg)) < 0) {
			problem(nerr, err, errlen, msg);
			continue;
		}
		pi->ops = ops;
		pi->order = order;
		b->nchain++;
next:		;
	}
	qsort(b->chain, b->nchain, sizeof(*b->chain), cmp_inst);
	return 0;
}

struct server *server_new(const struct corefile *cf,
	const struct server_opts *o, char *err, size_t errlen)
{
	struct server *s = calloc(1, sizeof(*s));
	int nerr = 0;

	if (!s)
		goto oom;
	if (cf->nblocks == 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s: no server blocks",
			cf->nfiles ? cf->files[0] : "Corefile");
		problem(&nerr, err, errlen, msg);
		goto fail;
	}
	s->blocks = calloc(cf->nblocks, sizeof(*s->blocks));
	if (!s->blocks)
		goto oom;
	for (size_t i = 0; i < cf->nblocks; i++) {
		struct server_block *b = &s->blocks[i];
		s->nblocks++;
		b->file = cf->blocks[i].file;
		b->line = cf->blocks[i].line;
		if (block_keys(s, b, &cf->blocks[i], o, &nerr, err, errlen) < 0
		    || block_plugins(b, &cf->blocks[i], o, &nerr, err, errlen) < 0)
			goto oom;
	}
	if (nerr)
		goto fail;
	s->no_listeners = o->no_listeners;
	return s;
oom:
	problem(&nerr, err, errlen, "out of memory");
fail:
	server_free(s);
	return NULL;
}

int server_start(struct server *s, struct event_base *base, char *err,
	size_t errlen)
{
	s->listeners = calloc(s->nports ? s->nports : 1, sizeof(*s->listeners));
	if (!s->listeners) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < s->nports && !s->no_listeners; i++) {
		struct listener_opts lo = { .addr = NULL, .port = s->ports[i] };
		s->listeners[i] = listener_new(base, &s->dispatch, &lo, err, errlen);
		if (!s->listeners[i])
			return -1;
		s->nlisteners++;
	}
	for (size_t i = 0; i < s->nblocks; i++) {
		const struct server_block *b = &s->blocks[i];
		for (size_t j = 0; j < b->nchain; j++) {
			const struct plugin_inst *p = &b->chain[j];
			if (p->ops->start && p->ops->start(p->state, base) < 0) {
				snprintf(err, errlen, "%s:%d: %s: cannot start", b->file, b->line, p->ops->name);
				return -1;
			}
		}
	}
	return 0;
}

int server_ready(const struct server *s, char *why, size_t whylen)
{
	int ready = 1;
	size_t o = 0;

	if (whylen)
		why[0] = '\0';
	for (size_t i = 0; i < s->nblocks; i++) {
		const struct server_block *b = &s->blocks[i];
		for (size_t j = 0; j < b->nchain; j++) {
			const struct plugin_inst *p = &b->chain[j];
			char one[512];
			if (!p->ops->ready || p->ops->ready(p->state, one, sizeof(one)))
				continue;
			ready = 0;
			if (o < whylen)
				o += (size_t)snprintf(why + o, whylen - o, "%s%s", o ? "; " : "", one);
		}
	}
	return ready;
}

const struct dispatch *server_dispatch(const struct server *s)
{
	return &s->dispatch;
}

void server_free(struct server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nlisteners; i++)
		listener_free(s->listeners[i]);
	free(s->listeners);
	for (size_t i = 0; i < s->nblocks; i++) {
		struct server_block *b = &s->blocks[i];
		for (size_t j = 0; j < b->nchain; j++)
			b->chain[j].ops->free(b->chain[j].state);
		free(b->chain);
		for (size_t z = 0; z < b->nzones; z++)
			free(b->zones[z]);
		free(b->zones);
	}
	free(s->blocks);
	free(s->dispatch.keys);
	free(s->ports);
	free(s);
}
