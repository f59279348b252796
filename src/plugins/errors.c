/*
 * errors.c -- `errors { consolidate DURATION REGEXP [LEVEL] [show_first];
 * stacktrace }`: one "[ERROR] plugin/errors: ..." line per error answer,
 * as CoreDNS writes them, through the query-log ring (qlog.h).
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/wire.h"
#include "globaldns/workers.h"

#include "qlog.h"

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
static void on_consolidate_timer_locked(evutil_socket_t fd, short what, void *arg)
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

WORKERS_LOCKED_EVENT_CB(on_consolidate_timer)

static int errors_start(void *state, const struct plugin_env *env)
{
	struct errors_plugin *ep = state;

	for (size_t i = 0; i < ep->ncons; i++)
		if (!(ep->cons[i].timer = evtimer_new(env->base, on_consolidate_timer, &ep->cons[i])))
			return -1;
	if (qlog_acquire(env->metrics) < 0)
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
	int rc = qlog_rcode(req);
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
