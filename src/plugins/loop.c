/*
 * loop.c -- `loop`: CoreDNS's detection of a simple forwarding loop.
 *
 * At start the plugin sends one query to its own server, HINFO
 * <random>.<random>.<zone> (the block's first zone), and counts how often
 * that name comes back through the chain.  Seen more than twice, the
 * query went out through a forwarder and came back to us: the process
 * logs CoreDNS's message and exits 1, as CoreDNS's plugin/loop does
 * (log.Fatalf), so that Kubernetes shows the pod crash-looping with the
 * reason in its log:
 *
 *   [FATAL] plugin/loop: Loop (127.0.0.1:55953 -> :1053) detected for zone ".",
 *   see https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO 4547991504243258144.3688648895315093531."
 *
 * As in CoreDNS: the probe goes to the block's first bind address (none:
 * the local host) and port over UDP, waits 2 s for an answer; a failed
 * try resets the count and is retried a second later, for 30 s at most;
 * once the probe has been answered (or 30 s passed) the plugin disables
 * itself, so a later HINFO query for that name cannot stop the server.
 * It detects loops present at start only.  Reusing the running state on
 * a reload, an unchanged `loop` does not probe again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/wire.h"
#include "globaldns/workers.h"

#define LOOP_TRY_MS 2000        /* miekg/dns's read timeout of dns.Exchange */
#define LOOP_RETRY_MS 1000
#define LOOP_FOR_MS 30000

struct loop {
	struct wire_zone zone;
	uint8_t qname[WIRE_MAXNAME];    /* wire form, lowercase */
	int qname_len;
	char qname_text[300];           /* "1234.5678.zone." */
	char addr[80];                  /* CoreDNS's JoinHostPort(first bind, port) */
	struct sockaddr_storage dst;
	socklen_t dstlen;
	unsigned int seen;
	int off;
	uint16_t id;
	uint64_t until_ns;              /* give up probing */
	struct event_base *base;
	struct event *timer;            /* next try, or the try's timeout */
	struct event *rd;
	int fd;
};

/* A random decimal below 2^62, as CoreDNS's secureRandIntString. */
static void rand_label(char *out, size_t len)
{
	unsigned long long n;

	if (getrandom(&n, sizeof(n), 0) != sizeof(n))
		n = query_now_ns();
	snprintf(out, len, "%llu", n & ((1ULL << 62) - 1));
}

static void probe_close(struct loop *l)
{
	if (l->rd) {
		event_free(l->rd);
		l->rd = NULL;
	}
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
}

static void loop_free(void *state)
{
	struct loop *l = state;

	if (!l)
		return;
	probe_close(l);
	if (l->timer)
		event_free(l->timer);
	free(l);
}

static void arm(struct loop *l, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(l->timer, &tv);
}

/* The probe was answered, or probing is over: never act again. */
static void disable(struct loop *l)
{
	l->off = 1;
	probe_close(l);
	evtimer_del(l->timer);
}

static void on_reply_locked(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	uint8_t buf[512];
	ssize_t n;

	(void)what;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n >= WIRE_HDR && wire_get16(buf) == l->id && (buf[2] & 0x80)) {
		disable(l);
		return;
	}
	if (n < 0 && errno != ECONNREFUSED)
		return;                 /* EAGAIN: wait on */
	/* refused (no listener yet), or not our answer: a failed try */
	probe_close(l);
	l->seen = 0;
	if (query_now_ns() < l->until_ns)
		arm(l, LOOP_RETRY_MS);
	else
		disable(l);
}

WORKERS_LOCKED_EVENT_CB(on_reply)

static void send_probe(struct loop *l)
{
	uint8_t pkt[WIRE_HDR + WIRE_MAXNAME + 4];
	size_t len = 0;

	if (getrandom(&l->id, sizeof(l->id), 0) != (ssize_t)sizeof(l->id))
		l->id = (uint16_t)(l->id ^ (uintptr_t)l ^ (uintptr_t)time(NULL));   /* no entropy yet: any ID will do */
	memset(pkt, 0, WIRE_HDR);
	wire_put16(pkt, l->id);
	pkt[2] = 0x01;                  /* RD, as miekg/dns's SetQuestion */
	wire_put16(pkt + 4, 1);
	len = WIRE_HDR;
	memcpy(pkt + len, l->qname, (size_t)l->qname_len);
	len += (size_t)l->qname_len;
	wire_put16(pkt + len, DNS_TYPE_HINFO);
	wire_put16(pkt + len + 2, DNS_CLASS_IN);
	len += 4;
	l->fd = socket(l->dst.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || connect(l->fd, (struct sockaddr *)&l->dst, l->dstlen) < 0
	    || send(l->fd, pkt, len, 0) < 0
	    || !(l->rd = event_new(l->base, l->fd, EV_READ | EV_PERSIST, on_reply, l))
	    || event_add(l->rd, NULL) < 0) {
		probe_close(l);
		l->seen = 0;
		arm(l, LOOP_RETRY_MS);
		return;
	}
	arm(l, LOOP_TRY_MS);
}

/* The timer: time for a try, or the try in flight timed out. */
static void on_timer_locked(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;

	(void)fd;
	(void)what;
	if (l->off)
		return;
	if (l->fd >= 0) {               /* no answer in time */
		probe_close(l);
		l->seen = 0;
		if (query_now_ns() < l->until_ns)
			arm(l, LOOP_RETRY_MS);
		else
			disable(l);
		return;
	}
	if (query_now_ns() >= l->until_ns) {
		disable(l);
		return;
	}
	send_probe(l);
}

WORKERS_LOCKED_EVENT_CB(on_timer)

static enum plugin_result loop_serve(void *state, struct dns_request *req)
{
	struct loop *l = state;
	const struct dns_query *q = &req->q;
	char from[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN];

	if (q->qtype != DNS_TYPE_HINFO || l->off || wire_zone_match(q, &l->zone) < 0)
		return PLUGIN_NEXT;
	if (q->qname_len == l->qname_len && memcmp(q->qname_lc, l->qname, (size_t)l->qname_len) == 0)
		l->seen++;
	if (l->seen <= 2)
		return PLUGIN_NEXT;
	if (req->client.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&req->client;
		/* Go prints an IPv4-mapped client as IPv4 */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], host, sizeof(host));
			snprintf(from, sizeof(from), "%s:%u", host, ntohs(s6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			snprintf(from, sizeof(from), "[%s]:%u", host, ntohs(s6->sin6_port));
		}
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&req->client;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(from, sizeof(from), "%s:%u", host, ntohs(s4->sin_port));
	}
	log_fatal("plugin/loop: Loop (%s -> %s) detected for zone \"%s\", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO %s\"",
		from, l->addr, l->zone.name, l->qname_text);
	/* CoreDNS's log.Fatalf: the process stops here, with status 1 */
	exit(1);
}

/* Where the probe goes: the first bind address, else the local host. */
static int probe_target(struct loop *l, const struct plugin_block *b)
{
	const char *bind = b->nbinds ? b->binds[0] : "";
	struct sockaddr_in *s4 = (struct sockaddr_in *)&l->dst;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&l->dst;

	snprintf(l->addr, sizeof(l->addr), strchr(bind, ':') ? "[%s]:%d" : "%s:%d",
		bind, b->port);
	memset(&l->dst, 0, sizeof(l->dst));
	if (strchr(bind, ':')) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)b->port);
		l->dstlen = sizeof(*s6);
		return inet_pton(AF_INET6, bind, &s6->sin6_addr) == 1 ? 0 : -1;
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)b->port);
	l->dstlen = sizeof(*s4);
	return inet_pton(AF_INET, bind[0] ? bind : "127.0.0.1", &s4->sin_addr) == 1 ? 0 : -1;
}

static int loop_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "loop";
	struct loop *l = calloc(1, sizeof(*l));
	char a[24], b[24], text[300];
	uint8_t wire[WIRE_MAXNAME];
	int n;

	if (!l)
		return -1;
	l->fd = -1;
	if (d->nargs)
		PLUGIN_FAIL(d, "takes no arguments");
	if (d->nchildren)
		PLUGIN_FAIL(&d->children[0], "takes no properties");
	/* the first zone of the block, as CoreDNS's ServerBlockKeys[0] */
	if (wire_zone_set(&l->zone, ctx->block->nzones ? ctx->block->zones[0] : ".") < 0)
		PLUGIN_FAIL(d, "zone \"%s\": invalid", ctx->block->zones[0]);
	rand_label(a, sizeof(a));
	rand_label(b, sizeof(b));
	snprintf(text, sizeof(text), "%s.%s.%s", a, b,
		strcmp(l->zone.name, ".") == 0 ? "" : l->zone.name);
	n = wire_name_from_str(text, wire);
	if (n < 0)
		PLUGIN_FAIL(d, "zone \"%s\" too long for the probe name", l->zone.name);
	memcpy(l->qname, wire, (size_t)n);
	l->qname_len = n;
	snprintf(l->qname_text, sizeof(l->qname_text), "%s", text);
	if (probe_target(l, ctx->block) < 0)
		PLUGIN_FAIL(d, "cannot probe address \"%s\"", ctx->block->binds[0]);
	*state = l;
	return 0;
fail:
	loop_free(l);
	return -1;
}

static int loop_start(void *state, const struct plugin_env *env)
{
	struct loop *l = state;

	l->base = env->base;
	l->until_ns = query_now_ns() + (uint64_t)LOOP_FOR_MS * 1000000u;
	if (!(l->timer = evtimer_new(env->base, on_timer, l)))
		return -1;
	arm(l, 0);
	return 0;
}

const struct plugin_ops loop_plugin = {
	.name = "loop",
	.setup = loop_setup,
	.start = loop_start,
	.serve = loop_serve,
	.free = loop_free,
};
