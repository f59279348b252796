/*
 * forward_conf.c -- the `forward` directive's configuration (and its old
 * name `proxy`); the query path is forward.c, the design forward_int.h.
 *
 *   forward FROM TO... {
 *       except ZONE...           names below these are not forwarded
 *       force_tcp | prefer_udp   transport to the upstreams
 *       max_fails N              failures before an upstream is down (2; 0 never)
 *       health_check DURATION [no_rec] [domain NAME]   probe interval (0.5s)
 *       policy random|round_robin|sequential           (random)
 *       max_concurrent N         queries in flight; over it REFUSED (0: no limit;
 *                                not written: 1000, and SERVFAIL over it)
 *       expire DURATION          replace sockets this old (10s): new source ports
 *       failfast_all_unhealthy_upstreams   SERVFAIL at once when all are down
 *       timeout DURATION         one try (2s)           globaldns extension
 *       deadline DURATION        the whole query (5s)   globaldns extension
 *   }
 *
 * TO is an address ("10.0.0.1", "10.0.0.1:53", "[::1]:53", "dns://...")
 * or a resolv.conf-style file whose nameserver lines are taken.
 */
#include "forward_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"

/* "1.2.3.4", "1.2.3.4:53", "[::1]:53", "::1", with an optional dns://. */
static int parse_hostport(const char *s, struct fwd_upstream *u, char *why,
	size_t whylen)
{
	char host[128];
	const char *port = NULL;
	struct addrinfo hints, *res = NULL;
	int p = 53;

	if (strncmp(s, "dns://", 6) == 0)
		s += 6;
	if (s[0] == '[') {
		const char *e = strchr(s, ']');
		if (!e || (size_t)(e - s - 1) >= sizeof(host)) {
			snprintf(why, whylen, "unterminated [");
			return -1;
		}
		memcpy(host, s + 1, (size_t)(e - s - 1));
		host[e - s - 1] = '\0';
		if (e[1] == ':')
			port = e + 2;
		else if (e[1]) {
			snprintf(why, whylen, "junk after ]");
			return -1;
		}
	} else {
		const char *colon = strchr(s, ':');
		if (strlen(s) >= sizeof(host)) {
			snprintf(why, whylen, "too long");
			return -1;
		}
		snprintf(host, sizeof(host), "%s", s);
		if (colon && !strchr(colon + 1, ':')) {   /* one colon: IPv4:port */
			host[colon - s] = '\0';
			port = colon + 1;
		}
	}
	if (port) {
		if (parse_port(port, &p) < 0) {
			snprintf(why, whylen, "port \"%s\" out of range (1-65535)", port);
			return -1;
		}
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST;
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res) {
		snprintf(why, whylen, "not an IP address");
		return 1;               /* maybe a file */
	}
	u->family = res->ai_family;
	if (res->ai_family == AF_INET)
		memcpy(u->addr, &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr, 4);
	else
		memcpy(u->addr, &((struct sockaddr_in6 *)(void *)res->ai_addr)->sin6_addr, 16);
	freeaddrinfo(res);
	u->port = (uint16_t)p;
	if (u->family == AF_INET) {
		char a[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, u->addr, a, sizeof(a));
		snprintf(u->name, sizeof(u->name), "%s:%u", a, u->port);
	} else {
		char a[INET6_ADDRSTRLEN];
		inet_ntop(AF_INET6, u->addr, a, sizeof(a));
		snprintf(u->name, sizeof(u->name), "[%s]:%u", a, u->port);
	}
	u->stats.to = u->name;
	return 0;
}

static int add_upstream(struct forward *f, const char *to, const char *file,
	int line, char *err, size_t errlen)
{
	struct fwd_upstream *u;
	char why[128];
	int r;

	if (f->nup >= FWD_MAX_UPSTREAMS) {
		snprintf(err, errlen, "%s:%d: %s: more than %d upstreams",
			file, line, f->plugin_name, FWD_MAX_UPSTREAMS);
		return -1;
	}
	u = &f->up[f->nup];
	memset(u, 0, sizeof(*u));
	u->f = f;
	r = parse_hostport(to, u, why, sizeof(why));
	if (r < 0) {
		snprintf(err, errlen, "%s:%d: %s: \"%s\": %s", file, line,
			f->plugin_name, to, why);
		return -1;
	}
	if (r > 0)
		return 1;
	f->nup++;
	return 0;
}

/* A resolv.conf-style file: its `nameserver` lines. */
static int add_file(struct forward *f, const char *path, const char *file,
	int line, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "re");
	char buf[512];
	size_t before = f->nup;
	int ln = 0;

	if (!fp) {
		snprintf(err, errlen, "%s:%d: %s: \"%s\": not an IP address or a readable file (%s)",
			file, line, f->plugin_name, path, strerror(errno));
		return -1;
	}
	while (fgets(buf, sizeof(buf), fp)) {
		char *tok, *save = NULL;
		ln++;
		tok = strtok_r(buf, " \t\r\n", &save);
		if (!tok || strcmp(tok, "nameserver") != 0)
			continue;
		tok = strtok_r(NULL, " \t\r\n", &save);
		if (!tok)
			continue;
		if (add_upstream(f, tok, path, ln, err, errlen) != 0) {
			if (!strstr(err, path) || strstr(err, "more than") == NULL)
				snprintf(err, errlen, "%s:%d: nameserver \"%s\": not an IP address (used by %s at %s:%d)",
					path, ln, tok, f->plugin_name, file, line);
			fclose(fp);
			return -1;
		}
	}
	fclose(fp);
	if (f->nup == before) {
		snprintf(err, errlen, "%s:%d: %s: \"%s\": no nameserver lines",
			file, line, f->plugin_name, path);
		return -1;
	}
	return 0;
}

static int parse_block(struct forward *f, const struct cf_directive *d,
	char *err, size_t errlen)
{
	const char *name = f->plugin_name;
	char why[256];

	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		unsigned long v;
		long ms;

		if (strcmp(c->name, "except") == 0) {
			if (c->nargs == 0)
				PLUGIN_FAIL(c, "except: needs at least one zone");
			for (size_t a = 0; a < c->nargs; a++) {
				if (f->nexcept >= FWD_MAX_EXCEPT)
					PLUGIN_FAIL(c, "except: more than %d zones", FWD_MAX_EXCEPT);
				if (cf_parse_zone(c->args[a], &f->except[f->nexcept], why, sizeof(why)) < 0)
					PLUGIN_FAIL(c, "except: \"%s\": %s", c->args[a], why);
				f->nexcept++;
			}
		} else if (strcmp(c->name, "force_tcp") == 0 || strcmp(c->name, "prefer_udp") == 0
			   || strcmp(c->name, "failfast_all_unhealthy_upstreams") == 0) {
			if (c->nargs)
				PLUGIN_FAIL(c, "%s: takes no arguments", c->name);
			if (c->name[0] == 'f' && c->name[1] == 'o')
				f->force_tcp = 1;
			else if (c->name[0] == 'p')
				f->prefer_udp = 1;
			else
				f->failfast = 1;
		} else if (strcmp(c->name, "max_fails") == 0) {
			if (c->nargs != 1 || parse_uint(c->args[0], 1000000, &v) < 0)
				PLUGIN_FAIL(c, "max_fails: needs one number (0 = never mark an upstream down)");
			f->max_fails = (unsigned int)v;
		} else if (strcmp(c->name, "max_concurrent") == 0) {
			if (c->nargs != 1 || parse_uint(c->args[0], 100000000, &v) < 0)
				PLUGIN_FAIL(c, "max_concurrent: needs one number (0 = no limit)");
			/* as CoreDNS: written, it answers REFUSED past the limit */
			f->max_concurrent = v;
			f->reject_rcode = DNS_RCODE_REFUSED;
		} else if (strcmp(c->name, "health_check") == 0) {
			if (c->nargs < 1 || cf_parse_duration_ms(c->args[0], &ms) < 0)
				PLUGIN_FAIL(c, "health_check: needs a duration such as 0.5s");
			f->hc_ms = ms;
			for (size_t a = 1; a < c->nargs; a++) {
				if (strcmp(c->args[a], "no_rec") == 0) {
					f->hc_rd = 0;
				} else if (strcmp(c->args[a], "domain") == 0 && a + 1 < c->nargs) {
					f->hc_name_len = wire_name_from_str(c->args[++a], f->hc_name);
					if (f->hc_name_len < 0)
						PLUGIN_FAIL(c, "health_check: domain \"%s\": invalid name", c->args[a]);
					/* the probe appends the root label itself */
					f->hc_name_len--;
				} else {
					PLUGIN_FAIL(c, "health_check: unknown option \"%s\" (no_rec, domain NAME)", c->args[a]);
				}
			}
		} else if (strcmp(c->name, "policy") == 0) {
			if (c->nargs != 1)
				PLUGIN_FAIL(c, "policy: needs one of random, round_robin, sequential");
			if (strcmp(c->args[0], "random") == 0)
				f->policy = POLICY_RANDOM;
			else if (strcmp(c->args[0], "round_robin") == 0)
				f->policy = POLICY_ROUND_ROBIN;
			else if (strcmp(c->args[0], "sequential") == 0)
				f->policy = POLICY_SEQUENTIAL;
			else
				PLUGIN_FAIL(c, "policy: \"%s\": unknown; use random, round_robin or sequential", c->args[0]);
		} else if (strcmp(c->name, "expire") == 0) {
			if (c->nargs != 1 || cf_parse_duration_ms(c->args[0], &ms) < 0)
				PLUGIN_FAIL(c, "expire: needs a duration such as 10s");
			f->expire_ms = ms;
		} else if (strcmp(c->name, "timeout") == 0 || strcmp(c->name, "deadline") == 0) {
			if (c->nargs != 1 || cf_parse_duration_ms(c->args[0], &ms) < 0 || ms < 10 || ms > 60000)
				PLUGIN_FAIL(c, "%s: needs a duration from 10ms to 60s", c->name);
			if (c->name[0] == 't')
				f->timeout_ms = ms;
			else
				f->deadline_ms = ms;
		} else if (strcmp(c->name, "tls") == 0 || strcmp(c->name, "tls_servername") == 0) {
			PLUGIN_FAIL(c, "%s: DNS over TLS upstreams are not supported", c->name);
		} else {
			PLUGIN_FAIL(c, "unknown property \"%s\"; supported: except, force_tcp, prefer_udp, max_fails, "
				"health_check, policy, max_concurrent, expire, failfast_all_unhealthy_upstreams, "
				"timeout, deadline", c->name);
		}
	}
	if (f->force_tcp && f->prefer_udp)
		PLUGIN_FAIL(d, "force_tcp and prefer_udp are mutually exclusive");
	return 0;
fail:
	return -1;
}

int fwd_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	struct forward *f = calloc(1, sizeof(*f));
	const char *name = d->name;
	char why[256];

	if (!f) {
		snprintf(err, errlen, "%s:%d: %s: out of memory", d->file, d->line, d->name);
		return -1;
	}
	f->plugin_name = strcmp(d->name, "proxy") == 0 ? "proxy" : "forward";
	f->max_fails = FWD_DEFAULT_MAX_FAILS;
	f->hc_ms = FWD_DEFAULT_HC_MS;
	f->hc_rd = 1;
	f->hc_name_len = 0;             /* "." */
	f->policy = POLICY_RANDOM;
	f->timeout_ms = FWD_DEFAULT_TIMEOUT_MS;
	f->deadline_ms = FWD_DEFAULT_DEADLINE_MS;
	f->expire_ms = FWD_DEFAULT_EXPIRE_MS;
	f->max_concurrent = FWD_DEFAULT_MAX_CONCURRENT;
	f->reject_rcode = DNS_RCODE_SERVFAIL;
	if (d->nargs < 2)
		PLUGIN_FAIL(d, "needs FROM and at least one TO (forward . 10.0.0.10 or forward . /etc/resolv.conf)");
	if (cf_parse_zone(d->args[0], &f->from, why, sizeof(why)) < 0)
		PLUGIN_FAIL(d, "FROM \"%s\": %s", d->args[0], why);
	for (size_t a = 1; a < d->nargs; a++) {
		const char *to = d->args[a];
		int r;
		if (strstr(to, "://") && strncmp(to, "dns://", 6) != 0)
			PLUGIN_FAIL(d, "\"%s\": only plain DNS upstreams (dns://) are supported", to);
		r = add_upstream(f, to, d->file, d->line, err, errlen);
		if (r < 0)
			goto fail;
		if (r > 0 && add_file(f, to, d->file, d->line, err, errlen) < 0)
			goto fail;
	}
	if (parse_block(f, d, err, errlen) < 0)
		goto fail;
	if (getrandom(&f->rng, sizeof(f->rng), 0) != sizeof(f->rng) || !f->rng)
		f->rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)query_now_ns();
	/* a query it holds is answered within the deadline: the drain at
	 * shutdown waits that long */
	if (f->deadline_ms > ctx->process->hold_ms)
		ctx->process->hold_ms = f->deadline_ms;
	*state = f;
	return 0;
fail:
	free(f);                        /* nothing else is allocated before start */
	return -1;
}
