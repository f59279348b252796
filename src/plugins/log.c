/*
 * plugin_log.c -- the `log` and `errors` directives: one line per query
 * (CoreDNS's format) and one per error answer, written without ever
 * blocking the event loop.
 *
 *   log [NAMES...] [FORMAT] { class all|denial|error|success ... }
 *   errors { consolidate DURATION REGEXP [LEVEL] [show_first] ...; stacktrace }
 *
 * Lines are formatted on the query path into a stack buffer (no
 * allocation) and appended to a fixed ring buffer; a writer thread drains
 * the ring to stdout.  The loop holds the ring's lock only for a memcpy;
 * when the ring is full (stdout slower than the queries) the line is
 * dropped and counted (globaldns_log_dropped_total), never waited for.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"

#define QLOG_RING (1u << 20)
#define QLOG_LINE 1024

#define COMMON_FORMAT "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}"
#define COMBINED_FORMAT COMMON_FORMAT " \"{>opcode}\""

/* ---- the ring and its writer thread (process-wide, refcounted) ---- */

struct qlog {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	char *buf;
	size_t head, len;
	int fd;
	int stop;
	uint64_t dropped;
	uint64_t written;
};

static struct qlog *ring;
static int ring_refs;

static void *qlog_thread(void *arg)
{
	struct qlog *q = arg;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		size_t n;
		const char *p;
		while (q->len == 0 && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->len == 0 && q->stop)
			break;
		p = q->buf + q->head;
		n = q->len < QLOG_RING - q->head ? q->len : QLOG_RING - q->head;
		pthread_mutex_unlock(&q->mu);
		/* only this thread reads [head, head+n); producers write past it */
		while (n > 0) {
			ssize_t w = write(q->fd, p, n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				break;
			pthread_mutex_lock(&q->mu);
			q->head = (q->head + (size_t)w) % QLOG_RING;
			q->len -= (size_t)w;
			pthread_mutex_unlock(&q->mu);
			p += w;
			n -= (size_t)w;
		}
		pthread_mutex_lock(&q->mu);
		if (n > 0) {
			/* stdout is gone: discard what is left */
			q->dropped += 1;
			q->head = (q->head + n) % QLOG_RING;
			q->len -= n;
		}
	}
	pthread_mutex_unlock(&q->mu);
	return NULL;
}

static void qlog_collect(void *arg, struct metrics_out *o)
{
	struct qlog *q = arg;
	uint64_t d;

	pthread_mutex_lock(&q->mu);
	d = q->dropped;
	pthread_mutex_unlock(&q->mu);
	metrics_out_family(o, "globaldns_log_dropped_total", METRICS_COUNTER,
		"Query log and error lines dropped because the output could not keep up.");
	metrics_out_sample(o, "globaldns_log_dropped_total", "", (double)d, NULL);
}

static int qlog_acquire(void)
{
	struct qlog *q;

	if (ring) {
		ring_refs++;
		return 0;
	}
	q = calloc(1, sizeof(*q));
	if (!q || !(q->buf = malloc(QLOG_RING))) {
		free(q);
		return -1;
	}
	q->fd = STDOUT_FILENO;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	if (pthread_create(&q->thread, NULL, qlog_thread, q) != 0) {
		pthread_mutex_destroy(&q->mu);
		pthread_cond_destroy(&q->cv);
		free(q->buf);
		free(q);
		return -1;
	}
	metrics_add_collector(qlog_collect, q);
	ring = q;
	ring_refs = 1;
	return 0;
}

static void qlog_release(void)
{
	struct qlog *q = ring;

	if (!q || --ring_refs > 0)
		return;
	metrics_remove_collector(qlog_collect, q);
	pthread_mutex_lock(&q->mu);
	q->stop = 1;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	pthread_join(q->thread, NULL);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->buf);
	free(q);
	ring = NULL;
}

/* Append one line; dropped (and counted) if the ring is full. */
static void qlog_put(const char *line, size_t n)
{
	struct qlog *q = ring;
	size_t tail, first;

	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	if (q->len + n > QLOG_RING) {
		q->dropped++;
		pthread_mutex_unlock(&q->mu);
		return;
	}
	tail = (q->head + q->len) % QLOG_RING;
	first = n < QLOG_RING - tail ? n : QLOG_RING - tail;
	memcpy(q->buf + tail, line, first);
	memcpy(q->buf, line + first, n - first);
	q->len += n;
	q->written++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

/* ---- formatting, allocation-free ---- */

struct lbuf {
	char *p;
	size_t len, cap;
};

static void lb_add(struct lbuf *b, const char *s, size_t n)
{
	if (b->len + n >= b->cap)
		n = b->cap - 1 - b->len;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void lb_str(struct lbuf *b, const char *s)
{
	lb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3)))
static void lb_printf(struct lbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n < b->cap - b->len ? (size_t)n : b->cap - b->len - 1;
}

static const struct { uint16_t t; const char *n; } type_names[] = {
	{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" },
	{ 13, "HINFO" }, { 15, "MX" }, { 16, "TXT" }, { 28, "AAAA" },
	{ 33, "SRV" }, { 35, "NAPTR" }, { 41, "OPT" }, { 43, "DS" },
	{ 46, "RRSIG" }, { 47, "NSEC" }, { 48, "DNSKEY" }, { 50, "NSEC3" },
	{ 64, "SVCB" }, { 65, "HTTPS" }, { 99, "SPF" }, { 257, "CAA" },
	{ 251, "IXFR" }, { 252, "AXFR" }, { 255, "ANY" },
};

static void lb_type(struct lbuf *b, uint16_t t)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].t == t) {
			lb_str(b, type_names[i].n);
			return;
		}
	lb_printf(b, "TYPE%u", t);
}

static void lb_class(struct lbuf *b, uint16_t c)
{
	if (c == 1)
		lb_str(b, "IN");
	else if (c == 3)
		lb_str(b, "CH");
	else if (c == 4)
		lb_str(b, "HS");
	else if (c == 255)
		lb_str(b, "ANY");
	else
		lb_printf(b, "CLASS%u", c);
}

static int resp_rcode(const struct dns_request *req)
{
	int rc = req->resp_len >= WIRE_HDR ? req->resp[3] & 0x0f : DNS_RCODE_SERVFAIL;

	if (rc == 0 && req->q.edns && req->q.edns_version > 0 && !req->plugin[0])
		rc = DNS_RCODE_BADVERS;
	return rc;
}

static void lb_rcode(struct lbuf *b, int rc)
{
	const char *n = dns_rcode_name(rc);

	if (n)
		lb_str(b, n);
	else
		lb_printf(b, "RCODE%d", rc);
}

static void lb_remote(struct lbuf *b, const struct dns_request *req, int port)
{
	char a[INET6_ADDRSTRLEN] = "";

	if (req->client.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&req->client;
		if (port)
			lb_printf(b, "%u", ntohs(s4->sin_port));
		else
			lb_str(b, inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a)) ? a : "?");
	} else if (req->client.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&req->client;
		if (port) {
			lb_printf(b, "%u", ntohs(s6->sin6_port));
		} else if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			lb_str(b, inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], a, sizeof(a)) ? a : "?");
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
			lb_printf(b, "[%s]", a);
		}
	} else {
		lb_str(b, port ? "0" : "-");
	}
}

static void lb_flags(struct lbuf *b, const struct dns_request *req)
{
	static const struct { uint16_t bit; const char *n; } f[] = {
		{ DNS_FLAG_QR, "qr" }, { DNS_FLAG_AA, "aa" }, { DNS_FLAG_TC, "tc" },
		{ DNS_FLAG_RD, "rd" }, { DNS_FLAG_RA, "ra" }, { 0x0040, "z" },
		{ DNS_FLAG_AD, "ad" }, { DNS_FLAG_CD, "cd" },
	};
	uint16_t flags;
	int first = 1;

	if (req->resp_len < WIRE_HDR)
		return;
	flags = (uint16_t)(req->resp[2] << 8 | req->resp[3]);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (!(flags & f[i].bit))
			continue;
		if (!first)
			lb_str(b, ",");
		lb_str(b, f[i].n);
		first = 0;
	}
}

/* Seconds as Go's strconv.FormatFloat(s, 'f', -1, 64) + "s" prints them (to ns). */
static void lb_duration(struct lbuf *b, uint64_t ns)
{
	char t[40];
	int n = snprintf(t, sizeof(t), "%llu.%09llu", (unsigned long long)(ns / 1000000000u),
		(unsigned long long)(ns % 1000000000u));

	while (n > 0 && t[n - 1] == '0')
		t[--n] = '\0';
	if (n > 0 && t[n - 1] == '.')
		t[--n] = '\0';
	lb_str(b, t);
	lb_str(b, "s");
}

static const char *const opcodes[] = {
	"QUERY", "IQUERY", "STATUS", "OPCODE3", "NOTIFY", "UPDATE",
};

/* Expand one placeholder ("{type}" without braces); 0 if unknown. */
static int placeholder(struct lbuf *b, const char *ph, size_t n,
	const struct dns_request *req)
{
	const struct dns_query *q = &req->q;
	char name[WIRE_MAXNAME * 4 + 2];

#define IS(s) (n == sizeof(s) - 1 && memcmp(ph, s, n) == 0)
	if (IS("type"))
		lb_type(b, q->qtype);
	else if (IS("name"))
		lb_str(b, wire_name_to_str(q->qname_lc, name, sizeof(name)));
	else if (IS("class"))
		lb_class(b, q->qclass);
	else if (IS("proto"))
		lb_str(b, req->tcp ? "tcp" : "udp");
	else if (IS("remote"))
		lb_remote(b, req, 0);
	else if (IS("port"))
		lb_remote(b, req, 1);
	else if (IS("size"))
		lb_printf(b, "%zu", req->pktlen);
	else if (IS(">id"))
		lb_printf(b, "%u", q->id);
	else if (IS(">opcode"))
		lb_str(b, opcodes[((q->flags >> 11) & 0xf) < 6 ? (q->flags >> 11) & 0xf : 3]);
	else if (IS(">do"))
		lb_str(b, q->edns_do ? "true" : "false");
	else if (IS(">bufsize"))
		lb_printf(b, "%u", q->edns ? (q->edns_udp < 512 ? 512u : q->edns_udp) : 512u);
	else if (IS("rcode"))
		lb_rcode(b, resp_rcode(req));
	else if (IS(">rflags"))
		lb_flags(b, req);
	else if (IS("rsize"))
		lb_printf(b, "%zu", req->resp_len);
	else if (IS("duration"))
		lb_duration(b, query_now_ns() - req->start_ns);
	else
		return 0;
#undef IS
	return 1;
}

static void format_line(struct lbuf *b, const char *fmt,
	const struct dns_request *req)
{
	const char *p = fmt;

	while (*p && b->len + 1 < b->cap) {
		const char *close;
		if (*p == '{' && (close = strchr(p, '}'))) {
			if (placeholder(b, p + 1, (size_t)(close - p - 1), req)) {
				p = close + 1;
				continue;
			}
			lb_add(b, p, (size_t)(close - p + 1));
			p = close + 1;
			continue;
		}
		lb_add(b, p, 1);
		p++;
	}
}

/* ---- log ---- */

enum { CLASS_SUCCESS = 1, CLASS_DENIAL = 2, CLASS_ERROR = 4, CLASS_ALL = 7 };

struct log_plugin {
	struct wire_zone *names;
	size_t nnames, names_cap;
	char *format;
	int classes;
	int started;
};

static void log_free(void *state)
{
	struct log_plugin *lp = state;

	if (!lp)
		return;
	if (lp->started)
		qlog_release();
	free(lp->names);
	free(lp->format);
	free(lp);
}

/* Replace {common} and {combined} in a user format; new string or NULL. */
static char *expand_format(const char *f)
{
	size_t cap = strlen(f) * 4 + sizeof(COMBINED_FORMAT) * 4 + 1;
	char *out = malloc(cap);
	size_t o = 0;

	if (!out)
		return NULL;
	while (*f) {
		const char *rep = NULL;
		size_t skip = 0;
		if (strncmp(f, "{common}", 8) == 0)
			rep = COMMON_FORMAT, skip = 8;
		else if (strncmp(f, "{combined}", 10) == 0)
			rep = COMBINED_FORMAT, skip = 10;
		if (rep && o + strlen(rep) < cap) {
			memcpy(out + o, rep, strlen(rep));
			o += strlen(rep);
			f += skip;
		} else if (o + 1 < cap) {
			out[o++] = *f++;
		} else {
			break;
		}
	}
	out[o] = '\0';
	return out;
}

static int log_add_name(struct log_plugin *lp, const char *arg, char *why,
	size_t whylen)
{
	if (grow_array((void **)&lp->names, &lp->names_cap, lp->nnames + 1,
		sizeof(*lp->names)) < 0) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	if (cf_parse_zone(arg, &lp->names[lp->nnames], why, whylen) < 0)
		return -1;
	lp->nnames++;
	return 0;
}

static int log_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "log";
	struct log_plugin *lp = calloc(1, sizeof(*lp));
	size_t nargs = d->nargs;
	char zerr[256];

	(void)ctx;
	if (!lp)
		return -1;
	if (nargs > 1 && strchr(d->args[nargs - 1], '{')) {
		lp->format = expand_format(d->args[nargs - 1]);
		nargs--;
	} else {
		lp->format = strdup(COMMON_FORMAT);
	}
	if (!lp->format)
		PLUGIN_FAIL(d, "out of memory");
	for (size_t a = 0; a < nargs; a++)
		if (log_add_name(lp, d->args[a], zerr, sizeof(zerr)) < 0)
			PLUGIN_FAIL(d, "name \"%s\": %s", d->args[a], zerr);
	if (lp->nnames == 0 && log_add_name(lp, ".", zerr, sizeof(zerr)) < 0)
		PLUGIN_FAIL(d, "%s", zerr);
	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		if (strcmp(c->name, "class") != 0)
			PLUGIN_FAIL(c, "unknown property \"%s\"; supported: class", c->name);
		if (c->nargs == 0)
			PLUGIN_FAIL(c, "class: needs all, denial, error or success");
		for (size_t a = 0; a < c->nargs; a++) {
			if (strcmp(c->args[a], "all") == 0)
				lp->classes |= CLASS_ALL;
			else if (strcmp(c->args[a], "denial") == 0)
				lp->classes |= CLASS_DENIAL;
			else if (strcmp(c->args[a], "error") == 0)
				lp->classes |= CLASS_ERROR;
			else if (strcmp(c->args[a], "success") == 0)
				lp->classes |= CLASS_SUCCESS;
			else
				PLUGIN_FAIL(c, "class: \"%s\": not all, denial, error or success", c->args[a]);
		}
	}
	if (!lp->classes)
		lp->classes = CLASS_ALL;
	*state = lp;
	return 0;
fail:
	log_free(lp);
	return -1;
}

static int log_start(void *state, struct event_base *base)
{
	struct log_plugin *lp = state;

	(void)base;
	if (qlog_acquire() < 0)
		return -1;
	lp->started = 1;
	return 0;
}

/* CoreDNS's response classes: NOERROR with an answer (or a referral) is
 * success; NXDOMAIN and NODATA denial; every other rcode an error. */
static int classify(const struct dns_request *req)
{
	int rc = resp_rcode(req);
	unsigned int ancount, nscount;

	if (rc == DNS_RCODE_NXDOMAIN)
		return CLASS_DENIAL;
	if (rc != DNS_RCODE_NOERROR)
		return CLASS_ERROR;
	ancount = (unsigned int)(req->resp[6] << 8 | req->resp[7]);
	nscount = (unsigned int)(req->resp[8] << 8 | req->resp[9]);
	if (ancount == 0 && !(nscount > 0 && (req->resp[2] & 0x04) == 0))
		return CLASS_DENIAL;
	return CLASS_SUCCESS;
}

static void log_observe(void *state, const struct dns_request *req)
{
	struct log_plugin *lp = state;
	char line[QLOG_LINE];
	struct lbuf b = { line, 0, sizeof(line) };
	int match = 0;

	if (req->resp_len < WIRE_HDR)
		return;
	for (size_t i = 0; i < lp->nnames && !match; i++)
		match = wire_zone_match(&req->q, &lp->names[i]) >= 0;
	if (!match || !(classify(req) & lp->classes))
		return;
	lb_str(&b, "[INFO] ");
	format_line(&b, lp->format, req);
	if (b.len + 1 >= b.cap)
		b.len = b.cap - 2;
	line[b.len++] = '\n';
	qlog_put(line, b.len);
}

const struct plugin_ops log_plugin = {
	.name = "log",
	.setup = log_setup,
	.start = log_start,
	.free = log_free,
	.observe = log_observe,
};

/* ---- errors ---- */

/*
 * consolidate DURATION REGEXP [LEVEL] [show_first]: error lines whose
 * error -- "plugin/NAME: reason", what CoreDNS matches, after the rcode,
 * name and type -- matches REGEXP (POSIX extended) are not written one by
 * one; DURATION after the first of them one line says how many there were,
 * as CoreDNS does.
 */
struct consolidate {
	regex_t re;
	int compiled;
	char *pattern;
	long period_ms;
	char period_text[96];           /* Go's time.Duration format: "30s", "5m0s" */
	const char *level;              /* "ERROR", "WARNING", "INFO", "DEBUG" */
	int show_first;
	unsigned long count;            /* in the current period */
	struct event *timer;
	struct errors_plugin *ep;
};

struct errors_plugin {
	int started;
	struct consolidate *cons;
	size_t ncons;
};

/* A duration as Go prints a time.Duration (whole milliseconds). */
static void go_duration(long ms, char *out, size_t len)
{
	long h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, f = ms % 1000;
	char sec[48];

	if (ms < 1000) {
		snprintf(out, len, "%ldms", ms);
		return;
	}
	if (f == 0)
		snprintf(sec, sizeof(sec), "%lds", s);
	else if (f % 100 == 0)
		snprintf(sec, sizeof(sec), "%ld.%lds", s, f / 100);
	else if (f % 10 == 0)
		snprintf(sec, sizeof(sec), "%ld.%02lds", s, f / 10);
	else
		snprintf(sec, sizeof(sec), "%ld.%03lds", s, f);
	if (h)
		snprintf(out, len, "%ldh%ldm%s", h, m, sec);
	else if (m)
		snprintf(out, len, "%ldm%s", m, sec);
	else
		snprintf(out, len, "%s", sec);
}

static void errors_free(void *state)
{
	struct errors_plugin *ep = state;

	if (!ep)
		return;
	for (size_t i = 0; i < ep->ncons; i++) {
		struct consolidate *c = &ep->cons[i];
		if (c->compiled)
			regfree(&c->re);
		if (c->timer)
			event_free(c->timer);
		free(c->pattern);
	}
	free(ep->cons);
	if (ep->started)
		qlog_release();
	free(ep);
}

static int errors_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	static const char name[] = "errors";
	static const char *const levels[][2] = {
		{ "error", "ERROR" }, { "warning", "WARNING" }, { "info", "INFO" }, { "debug", "DEBUG" },
	};
	struct errors_plugin *ep = calloc(1, sizeof(*ep));

	(void)ctx;
	if (!ep)
		return -1;
	if (d->nargs > 1 || (d->nargs == 1 && strcmp(d->args[0], "stdout") != 0))
		PLUGIN_FAIL(d, "takes no arguments (or \"stdout\")");
	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		struct consolidate *k;
		int rc;
		if (strcmp(c->name, "stacktrace") == 0) {
			if (c->nargs)
				PLUGIN_FAIL(c, "stacktrace: takes no arguments");
			continue;       /* Go panics; nothing to do here */
		}
		if (strcmp(c->name, "consolidate") != 0)
			PLUGIN_FAIL(c, "unknown property \"%s\"; supported: consolidate, stacktrace", c->name);
		if (c->nargs < 2 || c->nargs > 4)
			PLUGIN_FAIL(c, "consolidate: needs DURATION REGEXP [LEVEL] [show_first]");
		if (!(k = realloc(ep->cons, (ep->ncons + 1) * sizeof(*k))))
			PLUGIN_FAIL(c, "out of memory");
		ep->cons = k;
		k = &ep->cons[ep->ncons++];
		memset(k, 0, sizeof(*k));
		k->level = "ERROR";
		if (cf_parse_duration_ms(c->args[0], &k->period_ms) < 0 || k->period_ms <= 0)
			PLUGIN_FAIL(c, "consolidate: \"%s\": not a positive duration", c->args[0]);
		go_duration(k->period_ms, k->period_text, sizeof(k->period_text));
		if (strlen(c->args[1]) > 10000)
			PLUGIN_FAIL(c, "consolidate: the regular expression is longer than 10000 characters");
		if (!(k->pattern = strdup(c->args[1])))
			PLUGIN_FAIL(c, "out of memory");
		if ((rc = regcomp(&k->re, k->pattern, REG_EXTENDED | REG_NOSUB)) != 0) {
			char why[256];
			regerror(rc, &k->re, why, sizeof(why));
			PLUGIN_FAIL(c, "consolidate: \"%s\": %s", k->pattern, why);
		}
		k->compiled = 1;
		for (size_t a = 2; a < c->nargs; a++) {
			size_t l;
			if (strcmp(c->args[a], "show_first") == 0) {
				k->show_first = 1;
				continue;
			}
			for (l = 0; l < sizeof(levels) / sizeof(levels[0]); l++)
				if (a == 2 && strcmp(c->args[a], levels[l][0]) == 0)
					break;
			if (l == sizeof(levels) / sizeof(levels[0]))
				PLUGIN_FAIL(c, "consolidate: \"%s\": not a level (error, warning, info, debug) or show_first",
					c->args[a]);
			k->level = levels[l][1];
		}
	}
	*state = ep;
	return 0;
fail:
	errors_free(ep);
	return -1;
}

/* The period of a consolidate rule is over: how many, if not shown already. */
static void on_consolidate_timer(evutil_socket_t fd, short what, void *arg)
{
	struct consolidate *c = arg;
	char line[QLOG_LINE];
	int n;

	(void)fd;
	(void)what;
	if (c->count > (c->show_first ? 1u : 0u)) {
		n = snprintf(line, sizeof(line), "[%s] plugin/errors: %lu errors like '%s' occurred in last %s\n",
			c->level, c->count, c->pattern, c->period_text);
		if (n > 0)
			qlog_put(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
	c->count = 0;
}

static int errors_start(void *state, struct event_base *base)
{
	struct errors_plugin *ep = state;

	for (size_t i = 0; i < ep->ncons; i++)
		if (!(ep->cons[i].timer = evtimer_new(base, on_consolidate_timer, &ep->cons[i])))
			return -1;
	if (qlog_acquire() < 0)
		return -1;
	ep->started = 1;
	return 0;
}

/* "[ERROR] plugin/errors: 2 NAME. TYPE: plugin/PLUGIN: REASON" */
static void errors_observe(void *state, const struct dns_request *req)
{
	struct errors_plugin *ep = state;
	char line[QLOG_LINE], name[WIRE_MAXNAME * 4 + 2];
	struct lbuf b = { line, 0, sizeof(line) };
	int rc = resp_rcode(req);
	size_t msg;
	const char *level = "ERROR";

	if (rc != DNS_RCODE_SERVFAIL && !req->error)
		return;
	lb_str(&b, "[ERROR] plugin/errors: ");
	lb_printf(&b, "%d %s ", rc, wire_name_to_str(req->q.qname_lc, name, sizeof(name)));
	lb_type(&b, req->q.qtype);
	lb_str(&b, ": ");
	msg = b.len;            /* the error itself, as CoreDNS's err.Error() */
	if (req->plugin && req->plugin[0])
		lb_printf(&b, "plugin/%s: ", req->plugin);
	lb_str(&b, req->error ? req->error
		: req->plugin && req->plugin[0] ? "SERVFAIL" : "no next plugin found");
	if (b.len + 1 >= b.cap)
		b.len = b.cap - 2;
	line[b.len] = '\0';
	/* the first consolidate rule whose pattern matches takes the line */
	for (size_t i = 0; i < ep->ncons; i++) {
		struct consolidate *c = &ep->cons[i];
		if (regexec(&c->re, line + msg, 0, NULL, 0) != 0)
			continue;
		if (c->count++ == 0 && c->timer) {
			struct timeval tv = { c->period_ms / 1000, (c->period_ms % 1000) * 1000 };
			evtimer_add(c->timer, &tv);
		}
		if (!(c->show_first && c->count == 1))
			return;
		level = c->level;
		break;
	}
	if (strcmp(level, "ERROR") != 0) {
		/* shown first at the rule's level: "[ERROR] " becomes "[LEVEL] " */
		char shown[QLOG_LINE];
		int n = snprintf(shown, sizeof(shown), "[%s] %s\n", level, line + 8);
		if (n > 0)
			qlog_put(shown, (size_t)n < sizeof(shown) ? (size_t)n : sizeof(shown) - 1);
		return;
	}
	line[b.len++] = '\n';
	qlog_put(line, b.len);
}

const struct plugin_ops errors_plugin = {
	.name = "errors",
	.setup = errors_setup,
	.start = errors_start,
	.free = errors_free,
	.observe = errors_observe,
};
