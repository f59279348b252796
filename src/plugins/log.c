/*
 * log.c -- `log [NAMES...] [FORMAT] { class all|denial|error|success }`:
 * one line per query in CoreDNS's format ({common} by default), on
 * stdout through the query-log ring (qlog.h), never blocking the loop.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"

#include "qlog.h"

#define COMMON_FORMAT "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}"
#define COMBINED_FORMAT COMMON_FORMAT " \"{>opcode}\""

/* ---- the line ---- */

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
		lb_rcode(b, qlog_rcode(req));
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
/* ---- the directive ---- */

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

static int log_start(void *state, const struct plugin_env *env)
{
	struct log_plugin *lp = state;

	if (qlog_acquire(env->metrics) < 0)
		return -1;
	lp->started = 1;
	return 0;
}

/* CoreDNS's response classes: NOERROR with an answer (or a referral) is
 * success; NXDOMAIN and NODATA denial; every other rcode an error. */
static int classify(const struct dns_request *req)
{
	int rc = qlog_rcode(req);
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
