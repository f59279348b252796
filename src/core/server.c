/*
 * server.c -- a Corefile turned into server blocks, plugin chains (set up
 * in the plugin table's order), a dispatch table and the addresses to
 * listen on (see server.h); server_start.c brings it to life.
 */
#include "globaldns/server.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/listen.h"
#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/util.h"

#include "server_int.h"

/* A token, length-prefixed (so that "a b" and "a" "b" differ). */
static void kb_add(struct strbuf *b, const char *s)
{
	strbuf_printf(b, "%zu:", strlen(s));
	strbuf_str(b, s);
}

/* Tokens of a directive, its sub-block, recursively: length-prefixed. */
static void kb_directive(struct strbuf *b, const struct cf_directive *d)
{
	kb_add(b, d->name);
	for (size_t i = 0; i < d->nargs; i++)
		kb_add(b, d->args[i]);
	if (d->has_block) {
		kb_add(b, "{");
		for (size_t i = 0; i < d->nchildren; i++)
			kb_directive(b, &d->children[i]);
		kb_add(b, "}");
	}
	kb_add(b, ";");
}

/*
 * What identifies an instance across a reload: the directive's tokens
 * (every line of a repeatable one), the block's zones, port and bind
 * addresses (blocks that differ only in bind are different servers, and
 * serviceentries answers ns.dns.<zone> with its bind addresses).  NULL on
 * memory exhaustion (never reused then).
 */
static char *conf_key(const struct server_block *b,
	const struct cf_directive *const *lines, size_t nlines)
{
	struct strbuf k = { 0 };
	char port[16];

	snprintf(port, sizeof(port), "%d", b->info.port);
	kb_add(&k, port);
	for (size_t z = 0; z < b->info.nzones; z++)
		kb_add(&k, b->info.zones[z]);
	kb_add(&k, "@");
	for (size_t a = 0; a < b->info.nbinds; a++)
		kb_add(&k, b->info.binds[a]);
	kb_add(&k, "|");
	for (size_t i = 0; i < nlines; i++)
		kb_directive(&k, lines[i]);
	if (k.failed) {
		free(k.p);
		return NULL;
	}
	return k.p;
}

/* Keep the first error for the caller, log every one. */
static void problem(int *count, char *err, size_t errlen, const char *msg)
{
	log_error("%s", msg);
	if ((*count)++ == 0)
		snprintf(err, errlen, "%s", msg);
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

	b->info.zones = calloc(cb->nkeys ? cb->nkeys : 1, sizeof(*b->info.zones));
	if (!b->info.zones)
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
		if (b->info.nzones && port != b->info.port) {
			snprintf(msg, sizeof(msg), "%s:%d: server block keys must share one port (%d and %d)",
				cb->file, cb->line, b->info.port, port);
			problem(nerr, err, errlen, msg);
			continue;
		}
		zk = realloc(s->dispatch.keys, (s->dispatch.nkeys + 1) * sizeof(*zk));
		if (!zk)
			return -1;
		s->dispatch.keys = zk;
		zk = &zk[s->dispatch.nkeys];
		memset(zk, 0, sizeof(*zk));
		wire_zone_set(&zk->z, zone);
		zk->port = port;
		zk->block = b;
		s->dispatch.nkeys++;
		b->info.zones[b->info.nzones] = strdup(zone);
		if (!b->info.zones[b->info.nzones])
			return -1;
		b->info.nzones++;
		b->info.port = port;
		if (add_port(s, port) < 0)
			return -1;
	}
	return 0;
}

/* Do two blocks listen on a common address?  No bind is every address. */
static int binds_overlap(const struct server_block *a, const struct server_block *b)
{
	if (a->info.nbinds == 0 || b->info.nbinds == 0)
		return 1;
	for (size_t i = 0; i < a->info.nbinds; i++)
		for (size_t j = 0; j < b->info.nbinds; j++)
			if (strcmp(a->info.binds[i], b->info.binds[j]) == 0)
				return 1;
	return 0;
}

/* What a listening address covers: "" every address, 0.0.0.0 every IPv4
 * one, :: every IPv6 one (it is opened IPv6-only), else just itself. */
enum { LA_ALL, LA_ANY4, LA_ANY6, LA_ONE4, LA_ONE6 };

static int laddr_kind(const char *a)
{
	if (!a[0])
		return LA_ALL;
	if (strcmp(a, "0.0.0.0") == 0)
		return LA_ANY4;
	if (strcmp(a, "::") == 0)
		return LA_ANY6;
	return strchr(a, ':') ? LA_ONE6 : LA_ONE4;
}

/* Can sockets on x and y share a port?  Not when one is a wildcard that
 * covers the other (the kernel refuses the second bind). */
static int laddr_clash(const char *x, const char *y)
{
	int kx = laddr_kind(x), ky = laddr_kind(y);

	if (strcmp(x, y) == 0)
		return 0;               /* one listener, shared */
	return kx == LA_ALL || ky == LA_ALL
		|| (kx == LA_ANY4 && ky == LA_ONE4) || (ky == LA_ANY4 && kx == LA_ONE4)
		|| (kx == LA_ANY6 && ky == LA_ONE6) || (ky == LA_ANY6 && kx == LA_ONE6);
}

/*
 * Blocks on one port must not ask for a wildcard and an address it covers
 * (no bind and bind 127.0.0.1, say): that cannot be opened, so it is a
 * configuration error, not a failed start.
 */
static void check_listen_clashes(const struct server *s, int *nerr, char *err,
	size_t errlen)
{
	static const char *const every[] = { "" };
	char msg[1024];

	for (size_t j = 1; j < s->nblocks; j++) {
		const struct server_block *bj = &s->blocks[j];
		const char *const *aj = bj->info.nbinds ? (const char *const *)bj->info.binds : every;
		size_t nj = bj->info.nbinds ? bj->info.nbinds : 1;
		for (size_t i = 0; i < j; i++) {
			const struct server_block *bi = &s->blocks[i];
			const char *const *ai = bi->info.nbinds ? (const char *const *)bi->info.binds : every;
			size_t ni = bi->info.nbinds ? bi->info.nbinds : 1;
			if (bi->info.port != bj->info.port)
				continue;
			for (size_t x = 0; x < ni; x++)
				for (size_t y = 0; y < nj; y++) {
					if (!laddr_clash(ai[x], aj[y]))
						continue;
					snprintf(msg, sizeof(msg), "%s:%d: port %d: this block listens on %s and the block at %s:%d on %s;"
						" one port cannot have both: bind every block on it to addresses a wildcard does not cover",
						bj->info.file, bj->info.line, bj->info.port, aj[y][0] ? aj[y] : "every address (no bind)",
						bi->info.file, bi->info.line, ai[x][0] ? ai[x] : "every address (no bind)");
					problem(nerr, err, errlen, msg);
					goto next;
				}
		}
next:		;
	}
}

/*
 * One zone on one port may be served by several blocks only if they bind
 * different addresses (CoreDNS: each address is a server of its own).
 */
static void check_duplicate_keys(const struct server *s, int *nerr, char *err,
	size_t errlen)
{
	char msg[1024];

	for (size_t j = 1; j < s->dispatch.nkeys; j++) {
		const struct zone_key *kj = &s->dispatch.keys[j];
		for (size_t i = 0; i < j; i++) {
			const struct zone_key *ki = &s->dispatch.keys[i];
			if (ki->port != kj->port || strcmp(ki->z.name, kj->z.name) != 0
			    || !binds_overlap(ki->block, kj->block))
				continue;
			snprintf(msg, sizeof(msg), "%s:%d: zone %s on port %d is already served by the block at %s:%d%s",
				kj->block->info.file, kj->block->info.line, kj->z.name, kj->port, ki->block->info.file, ki->block->info.line,
				ki->block == kj->block ? "" : " on the same addresses (use bind to tell them apart)");
			problem(nerr, err, errlen, msg);
			break;
		}
	}
}

int plugin_block_add_bind(struct plugin_block *b, const char *addr)
{
	char **nb = realloc(b->binds, (b->nbinds + 1) * sizeof(*nb));

	if (!nb)
		return -1;
	b->binds = nb;
	if (!(nb[b->nbinds] = strdup(addr)))
		return -1;
	b->nbinds++;
	return 0;
}

/* The labels the block's plugins export metrics with (plugin.h). */
static int block_labels(struct plugin_block *b)
{
	const char *addr = b->nbinds ? b->binds[0] : "";
	size_t len = 1, o = 0;

	snprintf(b->server_label, sizeof(b->server_label),
		strchr(addr, ':') ? "dns://[%s]:%d" : "dns://%s:%d", addr, b->port);
	for (size_t z = 0; z < b->nzones; z++)
		len += strlen(b->zones[z]) + 1;
	if (!(b->zones_label = malloc(len)))
		return -1;
	b->zones_label[0] = '\0';
	for (size_t z = 0; z < b->nzones; z++)
		o += (size_t)snprintf(b->zones_label + o, len - o, "%s%s", z ? "," : "", b->zones[z]);
	return 0;
}

/* The table index of a directive, or -1 if CoreDNS has no such plugin. */
static int table_find(const struct server_opts *o, const char *name)
{
	for (size_t i = 0; i < o->ntable; i++)
		if (strcmp(o->table[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* "a, b, c": the directives implemented, for error messages. */
static const char *supported_list(const struct server_opts *o, char *list,
	size_t len)
{
	size_t n = 0;

	list[0] = '\0';
	for (size_t i = 0; i < o->ntable && n < len; i++)
		if (o->table[i].ops)
			n += (size_t)snprintf(list + n, len - n, "%s%s", n ? ", " : "", o->table[i].name);
	return list;
}

/*
 * The block's plugins: every directive must be one globaldns implements,
 * once per block (unless the plugin is repeatable); then each is set up in
 * the plugin table's order (so `bind` has added the block's addresses
 * before the plugins that read them), which is also the chain's order.
 */
static int block_plugins(struct server *s, struct server_block *b,
	const struct cf_block *cb, const struct server_opts *o, int *nerr,
	char *err, size_t errlen)
{
	struct plugin_ctx ctx = {
		.block = &b->info, .process = &s->process, .validate = o->validate,
		.check = o->validate || o->check,
	};
	size_t n = cb->ndirs ? cb->ndirs : 1;
	int *order = calloc(n, sizeof(*order));
	const struct cf_directive **lines = calloc(n, sizeof(*lines));
	char msg[1024], list[512];

	b->chain = calloc(n, sizeof(*b->chain));
	if (!b->chain || !order || !lines) {
		free(order);
		free(lines);
		return -1;
	}
	for (size_t i = 0; i < cb->ndirs; i++) {
		const struct cf_directive *d = &cb->dirs[i];
		order[i] = table_find(o, d->name);
		if (order[i] >= 0 && !o->table[order[i]].ops && o->table[order[i]].instead) {
			snprintf(msg, sizeof(msg), "%s:%d: %s: not supported: %s",
				d->file, d->line, d->name, o->table[order[i]].instead);
			problem(nerr, err, errlen, msg);
			order[i] = -1;
			continue;
		}
		if (order[i] < 0 || !o->table[order[i]].ops) {
			snprintf(msg, sizeof(msg), "%s:%d: %s directive \"%s\"; globaldns supports: %s",
				d->file, d->line, order[i] >= 0 ? "unsupported CoreDNS" : "unknown",
				d->name, supported_list(o, list, sizeof(list)));
			problem(nerr, err, errlen, msg);
			order[i] = -1;
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (order[j] < 0 || o->table[order[j]].ops != o->table[order[i]].ops)
				continue;
			if (order[j] == order[i] && o->table[order[i]].ops->repeatable)
				continue;
			snprintf(msg, sizeof(msg), "%s:%d: %s: used twice in one server block",
				d->file, d->line, d->name);
			problem(nerr, err, errlen, msg);
			order[i] = -1;
			break;
		}
	}
	for (size_t t = 0; t < o->ntable; t++) {
		const struct plugin_ops *ops = o->table[t].ops;
		struct plugin_inst *pi = &b->chain[b->nchain];
		size_t nlines = 0;

		for (size_t i = 0; i < cb->ndirs; i++)
			if (order[i] == (int)t)
				lines[nlines++] = &cb->dirs[i];
		if (!nlines)
			continue;
		ctx.lines = lines;
		ctx.nlines = nlines;
		if (ops->setup(&ctx, lines[0], &pi->state, msg, sizeof(msg)) < 0) {
			problem(nerr, err, errlen, msg);
			continue;
		}
		pi->ops = ops;
		pi->order = (int)t;
		b->nchain++;
	}
	/* what identifies each instance on reload, now that binds are known */
	for (size_t k = 0; k < b->nchain; k++) {
		size_t nlines = 0;
		for (size_t i = 0; i < cb->ndirs; i++)
			if (order[i] == b->chain[k].order)
				lines[nlines++] = &cb->dirs[i];
		b->chain[k].conf_key = conf_key(b, lines, nlines);
	}
	free(order);
	free(lines);
	return block_labels(&b->info);
}

/* The TCP limits block b sets (its plugins set them) onto la. */
static void laddr_limits(struct laddr *la, const struct plugin_block *b)
{
	const struct listener_tcp_limits *t = &b->tcp;

	if (t->read_ms)
		la->tcp.read_ms = t->read_ms;
	if (t->write_ms)
		la->tcp.write_ms = t->write_ms;
	if (t->idle_ms)
		la->tcp.idle_ms = t->idle_ms;
	if (t->max_queries)
		la->tcp.max_queries = t->max_queries;
}

static int add_laddr(struct server *s, const char *addr, const struct plugin_block *b)
{
	struct laddr *la;

	for (size_t i = 0; i < s->nladdrs; i++)
		if (s->laddrs[i].port == b->port && strcmp(s->laddrs[i].addr, addr) == 0) {
			laddr_limits(&s->laddrs[i], b);
			return 0;
		}
	la = realloc(s->laddrs, (s->nladdrs + 1) * sizeof(*la));
	if (!la)
		return -1;
	s->laddrs = la;
	la += s->nladdrs;
	memset(la, 0, sizeof(*la));
	snprintf(la->addr, sizeof(la->addr), "%s", addr);
	la->port = b->port;
	laddr_limits(la, b);
	s->nladdrs++;
	return 0;
}

/*
 * The listening addresses (every block's bind addresses, or every address)
 * and the metrics slots: server label "dns://ADDR:PORT" as CoreDNS prints
 * it, one slot per zone key, one "dropped" slot per port.
 */
static int server_addresses(struct server *s, struct metrics *m)
{
	char label[128];

	for (size_t i = 0; i < s->nblocks; i++) {
		const struct plugin_block *b = &s->blocks[i].info;
		if (b->nbinds == 0 && add_laddr(s, "", b) < 0)
			return -1;
		for (size_t a = 0; a < b->nbinds; a++)
			if (add_laddr(s, b->binds[a], b) < 0)
				return -1;
	}
	for (size_t k = 0; k < s->dispatch.nkeys; k++) {
		struct zone_key *zk = &s->dispatch.keys[k];
		zk->metrics = metrics_slot(m, zk->block->info.server_label, zk->z.name);
	}
	s->dropped = calloc(s->nports ? s->nports : 1, sizeof(*s->dropped));
	if (!s->dropped)
		return -1;
	for (size_t p = 0; p < s->nports; p++) {
		snprintf(label, sizeof(label), "dns://:%d", s->ports[p]);
		s->dropped[p] = metrics_slot(m, label, "dropped");
	}
	return 0;
}

/* The dispatch's observe hook: metrics, then the block's observers. */
static void server_observe(void *arg, const struct dns_request *req)
{
	const struct server *s = arg;
	const struct server_block *b = req->block;

	if (req->key) {
		metrics_observe(req->key->metrics, req);
	} else {
		for (size_t p = 0; p < s->nports; p++)
			if (s->ports[p] == req->server_port)
				metrics_observe(s->dropped[p], req);
	}
	/* a dropped query (acl drop, rrl) counts as a request without a
	 * response; the query log and errors see only what was answered */
	if (req->resp_len < WIRE_HDR)
		return;
	for (size_t j = 0; b && j < b->nchain; j++)
		if (b->chain[j].ops->observe)
			b->chain[j].ops->observe(b->chain[j].state, req);
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
		b->info.file = cf->blocks[i].file;
		b->info.line = cf->blocks[i].line;
		if (block_keys(s, b, &cf->blocks[i], o, &nerr, err, errlen) < 0
		    || block_plugins(s, b, &cf->blocks[i], o, &nerr, err, errlen) < 0)
			goto oom;
	}
	{
		int before = nerr;
		check_duplicate_keys(s, &nerr, err, errlen);
		if (nerr == before)     /* one message per pair of blocks */
			check_listen_clashes(s, &nerr, err, errlen);
	}
	if (nerr)
		goto fail;
	s->no_listeners = o->no_listeners;
	s->metrics = o->metrics;
	if (server_addresses(s, o->metrics) < 0)
		goto oom;
	s->dispatch.observe = server_observe;
	s->dispatch.observe_arg = s;
	s->dispatch.pending = &s->pending;
	return s;
oom:
	problem(&nerr, err, errlen, "out of memory");
fail:
	server_free(s);
	return NULL;
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

unsigned long server_pending(const struct server *s)
{
	return s->pending;
}

void server_foreach_plugin(const struct server *s, plugin_visit_fn fn,
	void *arg)
{
	for (size_t i = 0; s && i < s->nblocks; i++)
		for (size_t j = 0; j < s->blocks[i].nchain; j++)
			fn(arg, &s->blocks[i].info, s->blocks[i].chain[j].ops,
				s->blocks[i].chain[j].state);
}

/* The DNS-over-TCP counters of each listener (listen.h). */
static void collect_tcp(const struct server *s, struct metrics_out *o)
{
	static const struct { const char *reason; size_t off; } closed[] = {
		{ "idle", offsetof(struct listener_tcp_stats, closed_idle) },
		{ "read_timeout", offsetof(struct listener_tcp_stats, closed_read) },
		{ "evicted", offsetof(struct listener_tcp_stats, evicted) },
		{ "client_limit", offsetof(struct listener_tcp_stats, refused_client) },
		{ "full", offsetof(struct listener_tcp_stats, refused_full) },
	};

	metrics_out_family(o, "globaldns_tcp_connections", METRICS_GAUGE,
		"Open DNS-over-TCP connections.");
	metrics_out_family(o, "globaldns_tcp_accepted_total", METRICS_COUNTER,
		"DNS-over-TCP connections accepted.");
	metrics_out_family(o, "globaldns_tcp_closed_total", METRICS_COUNTER,
		"DNS-over-TCP connections the server closed or refused, by reason.");
	metrics_out_family(o, "globaldns_tcp_accept_errors_total", METRICS_COUNTER,
		"accept() calls that failed (out of descriptors, memory).");
	for (size_t i = 0; i < s->nlisteners; i++) {
		const struct listener *l = s->listeners[i];
		struct listener_tcp_stats stats, *st = &stats;
		char label[128];
		if (!l)
			continue;
		listener_tcp_stats(l, st);
		snprintf(label, sizeof(label), strchr(s->laddrs[i].addr, ':') ? "dns://[%s]:%d" : "dns://%s:%d",
			s->laddrs[i].addr, s->laddrs[i].port);
		metrics_out_sample(o, "globaldns_tcp_connections", "",
			(double)listener_tcp_conns(l), "server", label, NULL);
		metrics_out_sample(o, "globaldns_tcp_accepted_total", "",
			(double)st->accepted, "server", label, NULL);
		for (size_t r = 0; r < sizeof(closed) / sizeof(closed[0]); r++)
			metrics_out_sample(o, "globaldns_tcp_closed_total", "",
				(double)*(const uint64_t *)(const void *)((const char *)st + closed[r].off),
				"server", label, "reason", closed[r].reason, NULL);
		metrics_out_sample(o, "globaldns_tcp_accept_errors_total", "",
			(double)st->accept_errors, "server", label, NULL);
	}
}

void server_collect(const struct server *s, struct metrics_out *o)
{
	if (s)
		collect_tcp(s, o);
	for (size_t i = 0; s && i < s->nblocks; i++)
		for (size_t j = 0; j < s->blocks[i].nchain; j++) {
			const struct plugin_inst *p = &s->blocks[i].chain[j];
			if (p->ops->collect)
				p->ops->collect(p->state, &s->blocks[i].info, o);
		}
}

const struct plugin_process *server_process(const struct server *s)
{
	return &s->process;
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
		for (size_t j = 0; j < b->nchain; j++) {
			b->chain[j].ops->free(b->chain[j].state);
			free(b->chain[j].conf_key);
		}
		free(b->chain);
		for (size_t z = 0; z < b->info.nzones; z++)
			free(b->info.zones[z]);
		free(b->info.zones);
		for (size_t a = 0; a < b->info.nbinds; a++)
			free(b->info.binds[a]);
		free(b->info.binds);
		free(b->info.zones_label);
	}
	free(s->blocks);
	free(s->dispatch.keys);
	free(s->ports);
	free(s->dropped);
	free(s->laddrs);
	free(s);
}
