/*
 * metrics.c -- counters of the query path in fixed arrays, collectors, and
 * the Prometheus text exposition (see metrics.h).
 */
#include "config.h"

#include "globaldns/metrics.h"

#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "globaldns/query.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"

/* ---- fixed label spaces ---- */

/* The types CoreDNS counts by name (plugin/metrics/vars/monitor.go: SRV,
 * DS, DNSKEY, RRSIG, NSEC, NSEC3, SVCB, HTTPS and the rest); anything
 * else is "other". */
static const uint16_t mtypes[] = {
	DNS_TYPE_A, DNS_TYPE_AAAA, DNS_TYPE_NS, DNS_TYPE_CNAME, DNS_TYPE_SOA,
	DNS_TYPE_PTR, DNS_TYPE_MX, DNS_TYPE_TXT, 33, 43, 48, 46, 47, 50,
	64, 65, DNS_TYPE_IXFR, DNS_TYPE_AXFR, DNS_TYPE_ANY,
};
#define NTYPES (sizeof(mtypes) / sizeof(mtypes[0]) + 1)   /* + other */

/* Counted by rcode 0..23 (the ones miekg/dns names, which CoreDNS prints) + other. */
#define NRCODES 25

/* Plugin names seen answering ("" = the server itself). */
#define NPLUGINS 24

/* coredns_dns_request_size_bytes / response_size_bytes buckets. */
static const double size_buckets[] = {
	0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16000, 32000,
	48000, 64000,
};
#define NSIZEB (sizeof(size_buckets) / sizeof(size_buckets[0]))

const double metrics_time_buckets[16] = {
	0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064,
	0.128, 0.256, 0.512, 1.024, 2.048, 4.096, 8.192,
};
const size_t metrics_time_nbuckets = 16;

const double metrics_slim_buckets[5] = { 0.00025, 0.0025, 0.025, 0.25, 2.5 };

struct metrics_slot {
	struct metrics_slot *next;
	struct metrics *m;
	char server[128];
	char zone[256];
	uint64_t req[2][2][NTYPES];             /* proto, family, type */
	uint64_t do_req;                        /* DO bit set */
	uint64_t resp[NRCODES][NPLUGINS];
	struct metrics_hist dur;                /* no type label since CoreDNS 1.9 */
	struct metrics_hist reqsize[2], respsize[2];
	uint8_t enabled[NPLUGINS];
};

struct collector {
	metrics_collect_fn fn;
	void *arg;
};

/* A family without labels that lives as long as the registry. */
struct process_family {
	struct process_family *next;
	char *name, *help;
	enum metrics_type type;
	uint64_t counter;
	double gauge;
	struct metrics_hist hist;
};

struct metrics {
	struct metrics_slot *slots;
	char plugin_names[NPLUGINS][32];
	size_t nplugin_names;           /* [0] is "" */
	struct collector *collectors;
	size_t ncollectors, collectors_cap;
	struct process_family *families, **families_tail;
};

struct metrics *metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->nplugin_names = 1;
	m->families_tail = &m->families;
	return m;
}

/* ---- histograms ---- */

void metrics_hist_init(struct metrics_hist *h, const double *bounds,
	size_t nbounds)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = nbounds > METRICS_HIST_MAX ? METRICS_HIST_MAX : nbounds;
}

void metrics_hist_observe(struct metrics_hist *h, double v)
{
	size_t i = 0;

	while (i < h->nbounds && v > h->bounds[i])
		i++;
	h->buckets[i]++;
	h->count++;
	h->sum += v;
}

/* ---- slots and the query path ---- */

struct metrics_slot *metrics_slot(struct metrics *m, const char *server,
	const char *zone)
{
	struct metrics_slot *s, **tail;

	if (!m)
		return NULL;
	tail = &m->slots;
	for (s = m->slots; s; s = s->next) {
		if (strcmp(s->server, server) == 0 && strcmp(s->zone, zone) == 0)
			return s;
		tail = &s->next;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->m = m;
	snprintf(s->server, sizeof(s->server), "%s", server);
	snprintf(s->zone, sizeof(s->zone), "%s", zone);
	metrics_hist_init(&s->dur, metrics_time_buckets, metrics_time_nbuckets);
	for (int p = 0; p < 2; p++) {
		metrics_hist_init(&s->reqsize[p], size_buckets, NSIZEB);
		metrics_hist_init(&s->respsize[p], size_buckets, NSIZEB);
	}
	*tail = s;
	return s;
}

static size_t type_index(uint16_t t)
{
	for (size_t i = 0; i < NTYPES - 1; i++)
		if (mtypes[i] == t)
			return i;
	return NTYPES - 1;
}

/* Index of a plugin name; new names are copied into the fixed table. */
static size_t plugin_index(struct metrics *m, const char *name)
{
	if (!name || !name[0])
		return 0;
	for (size_t i = 1; i < m->nplugin_names; i++)
		if (strcmp(m->plugin_names[i], name) == 0)
			return i;
	if (m->nplugin_names == NPLUGINS)
		return 0;
	snprintf(m->plugin_names[m->nplugin_names], sizeof(m->plugin_names[0]), "%s", name);
	return m->nplugin_names++;
}

static int client_family(const struct dns_request *req)
{
	const struct sockaddr_in6 *s6;

	if (req->client.ss_family != AF_INET6)
		return 0;
	s6 = (const struct sockaddr_in6 *)&req->client;
	return IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) ? 0 : 1;
}

void metrics_observe(struct metrics_slot *s, const struct dns_request *req)
{
	int proto = req->tcp ? 1 : 0;
	size_t t = type_index(req->q.qtype);
	uint64_t now = query_now_ns();
	double dur = now > req->start_ns ? (double)(now - req->start_ns) / 1e9 : 0;

	if (!s)
		return;
	s->req[proto][client_family(req)][t]++;
	if (req->q.edns_do)
		s->do_req++;
	metrics_hist_observe(&s->dur, dur);
	metrics_hist_observe(&s->reqsize[proto], (double)req->pktlen);
	metrics_hist_observe(&s->respsize[proto], (double)req->resp_len);
	if (req->resp_len >= WIRE_HDR) {
		unsigned int rc = req->resp[3] & 0x0f;
		/* our only extended rcode: BADVERS (16) answers a version > 0 */
		if (rc == 0 && req->q.edns && req->q.edns_version > 0 && !req->plugin[0])
			rc = 16;
		s->resp[rc < NRCODES - 1 ? rc : NRCODES - 1][plugin_index(s->m, req->plugin)]++;
	}
}

void metrics_plugin_enabled(struct metrics_slot *s, const char *name)
{
	if (s)
		s->enabled[plugin_index(s->m, name)] = 1;
}

void metrics_plugin_enabled_reset(struct metrics *m)
{
	for (struct metrics_slot *s = m ? m->slots : NULL; s; s = s->next)
		memset(s->enabled, 0, sizeof(s->enabled));
}

/* ---- process-wide families ---- */

static struct process_family *process_family(struct metrics *m,
	const char *name, const char *help, enum metrics_type type)
{
	struct process_family *f;

	for (f = m->families; f; f = f->next)
		if (strcmp(f->name, name) == 0)
			return f->type == type ? f : NULL;
	f = calloc(1, sizeof(*f));
	if (!f || !(f->name = strdup(name)) || !(f->help = strdup(help))) {
		if (f)
			free(f->name);
		free(f);
		return NULL;
	}
	f->type = type;
	*m->families_tail = f;
	m->families_tail = &f->next;
	return f;
}

/* Where counts go that no registry keeps (tests without one, no memory). */
static uint64_t scratch_counter;
static double scratch_gauge;
static struct metrics_hist scratch_hist;

uint64_t *metrics_counter(struct metrics *m, const char *name,
	const char *help)
{
	struct process_family *f = m ? process_family(m, name, help, METRICS_COUNTER) : NULL;

	return f ? &f->counter : &scratch_counter;
}

double *metrics_gauge(struct metrics *m, const char *name, const char *help)
{
	struct process_family *f = m ? process_family(m, name, help, METRICS_GAUGE) : NULL;

	return f ? &f->gauge : &scratch_gauge;
}

struct metrics_hist *metrics_histogram(struct metrics *m, const char *name,
	const char *help, const double *bounds, size_t nbounds)
{
	struct process_family *f = m ? process_family(m, name, help, METRICS_HISTOGRAM) : NULL;

	if (!f)
		return &scratch_hist;
	if (!f->hist.bounds)
		metrics_hist_init(&f->hist, bounds, nbounds);
	return &f->hist;
}

/* ---- collectors ---- */

int metrics_add_collector(struct metrics *m, metrics_collect_fn fn, void *arg)
{
	if (!m)
		return 0;
	if (grow_array((void **)&m->collectors, &m->collectors_cap,
		m->ncollectors + 1, sizeof(*m->collectors)) < 0)
		return -1;
	m->collectors[m->ncollectors].fn = fn;
	m->collectors[m->ncollectors].arg = arg;
	m->ncollectors++;
	return 0;
}

void metrics_remove_collector(struct metrics *m, metrics_collect_fn fn,
	void *arg)
{
	for (size_t i = 0; m && i < m->ncollectors; i++) {
		if (m->collectors[i].fn != fn || m->collectors[i].arg != arg)
			continue;
		memmove(&m->collectors[i], &m->collectors[i + 1],
			(m->ncollectors - i - 1) * sizeof(*m->collectors));
		m->ncollectors--;
		return;
	}
}

/* ---- exposition ---- */

/* The shortest text that reads back as v (as Go's 'g', -1 formatting). */
static void shortest(char *buf, size_t len, double v)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

static void sb_value(struct strbuf *b, double v)
{
	if (isinf(v))
		strbuf_str(b, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		strbuf_str(b, "NaN");
	else if (v == floor(v) && fabs(v) < 1e15)
		strbuf_printf(b, "%.0f", v);
	else {
		char t[64];
		shortest(t, sizeof(t), v);
		strbuf_str(b, t);
	}
}

/* Label value escaping of the text format: \\, \" and \n. */
static void sb_label_value(struct strbuf *b, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\')
			strbuf_str(b, "\\\\");
		else if (*v == '"')
			strbuf_str(b, "\\\"");
		else if (*v == '\n')
			strbuf_str(b, "\\n");
		else
			strbuf_add(b, v, 1);
	}
}

/* One series of a scrape: NAME_SUFFIX{LABELS} and its value. */
struct sample {
	char *key;
	double v;
};

/*
 * A family of a scrape.  Samples with the same key are one series: two
 * instances reporting it (two forward blocks with one upstream, say) are
 * summed, as CoreDNS's process-wide vectors count them together.
 */
struct family {
	char *name;
	enum metrics_type type;
	char *help;                     /* NULL: untyped (never declared) */
	struct sample *s;
	size_t n, cap;
	uint32_t *slots;                /* open addressing: sample index + 1 */
	size_t nslots;
};

struct metrics_out {
	struct family *fams;
	size_t n, cap;
	int oom;
};

static uint32_t *slot_of(struct family *f, const char *key, size_t len)
{
	size_t mask = f->nslots - 1;
	size_t i = (size_t)hash_fnv1a(HASH_FNV1A_INIT, key, len) & mask;

	while (f->slots[i] && strcmp(f->s[f->slots[i] - 1].key, key) != 0)
		i = (i + 1) & mask;
	return &f->slots[i];
}

/* Add value to the series key (len bytes; taken). */
static void sample_add(struct metrics_out *o, struct family *f, char *key,
	size_t len, double value)
{
	uint32_t *slot;

	if ((f->n + 1) * 2 > f->nslots) {
		size_t ns = f->nslots ? f->nslots * 2 : 64;
		uint32_t *old = f->slots;
		size_t oldn = f->nslots;
		if (!(f->slots = calloc(ns, sizeof(*f->slots)))) {
			f->slots = old;
			goto oom;
		}
		f->nslots = ns;
		for (size_t i = 0; i < oldn; i++)
			if (old[i])
				*slot_of(f, f->s[old[i] - 1].key, strlen(f->s[old[i] - 1].key)) = old[i];
		free(old);
	}
	slot = slot_of(f, key, len);
	if (*slot) {
		f->s[*slot - 1].v += value;
		free(key);
		return;
	}
	if (grow_array((void **)&f->s, &f->cap, f->n + 1, sizeof(*f->s)) < 0)
		goto oom;
	f->s[f->n].key = key;
	f->s[f->n].v = value;
	*slot = (uint32_t)++f->n;
	return;
oom:
	free(key);
	o->oom = 1;
}

static struct family *family_get(struct metrics_out *o, const char *name)
{
	struct family *f;

	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->fams[i].name, name) == 0)
			return &o->fams[i];
	if (o->n == o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 32;
		f = realloc(o->fams, ncap * sizeof(*f));
		if (!f) {
			o->oom = 1;
			return NULL;
		}
		o->fams = f;
		o->cap = ncap;
	}
	f = &o->fams[o->n];
	memset(f, 0, sizeof(*f));
	f->name = strdup(name);
	if (!f->name) {
		o->oom = 1;
		return NULL;
	}
	o->n++;
	return f;
}

void metrics_out_family(struct metrics_out *o, const char *name,
	enum metrics_type type, const char *help)
{
	struct family *f = family_get(o, name);

	if (!f || f->help)
		return;
	f->type = type;
	f->help = strdup(help ? help : "");
	if (!f->help)
		o->oom = 1;
}

/* Write {k="v",...} from a NULL-terminated key/value list (plus extra). */
static void sb_labels(struct strbuf *b, va_list ap, const char *ek,
	const char *ev)
{
	const char *k;
	int first = 1;

	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		strbuf_str(b, first ? "{" : ",");
		first = 0;
		strbuf_str(b, k);
		strbuf_str(b, "=\"");
		sb_label_value(b, v ? v : "");
		strbuf_str(b, "\"");
	}
	if (ek) {
		strbuf_str(b, first ? "{" : ",");
		first = 0;
		strbuf_str(b, ek);
		strbuf_str(b, "=\"");
		strbuf_str(b, ev);
		strbuf_str(b, "\"");
	}
	if (!first)
		strbuf_str(b, "}");
}

static void sample_line(struct metrics_out *o, const char *name,
	const char *suffix, double value, va_list ap, const char *ek,
	const char *ev)
{
	struct family *f = family_get(o, name);
	struct strbuf k = { 0 };

	if (!f)
		return;
	strbuf_str(&k, name);
	strbuf_str(&k, suffix);
	sb_labels(&k, ap, ek, ev);
	if (k.failed) {
		free(k.p);
		o->oom = 1;
		return;
	}
	sample_add(o, f, k.p, k.len, value);
}

void metrics_out_sample(struct metrics_out *o, const char *name,
	const char *suffix, double value, ...)
{
	va_list ap;

	va_start(ap, value);
	sample_line(o, name, suffix ? suffix : "", value, ap, NULL, NULL);
	va_end(ap);
}

void metrics_out_histogram(struct metrics_out *o, const char *name,
	const struct metrics_hist *h, ...)
{
	uint64_t cum = 0;
	char le[64];
	va_list ap;

	for (size_t i = 0; i <= h->nbounds; i++) {
		cum += h->buckets[i];
		if (i < h->nbounds)
			shortest(le, sizeof(le), h->bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		va_start(ap, h);
		sample_line(o, name, "_bucket", (double)cum, ap, "le", le);
		va_end(ap);
	}
	va_start(ap, h);
	sample_line(o, name, "_sum", h->sum, ap, NULL, NULL);
	va_end(ap);
	va_start(ap, h);
	sample_line(o, name, "_count", (double)h->count, ap, NULL, NULL);
	va_end(ap);
}

static const char *type_name(size_t t)
{
	return t < NTYPES - 1 ? dns_type_name(mtypes[t]) : "other";
}

static void family_label(char *buf, size_t len, int fam)
{
	snprintf(buf, len, "%d", fam + 1);
}

static void builtin(const struct metrics *m, struct metrics_out *o)
{
	const char *proto[2] = { "udp", "tcp" };
	char fam[4];

	metrics_out_family(o, "coredns_build_info", METRICS_GAUGE,
		"A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.");
	metrics_out_sample(o, "coredns_build_info", "", 1, "version", PACKAGE_VERSION,
		"revision", "globaldns", "goversion", "none", NULL);
	metrics_out_family(o, "coredns_panics_total", METRICS_COUNTER,
		"A metrics that counts the number of panics.");
	metrics_out_sample(o, "coredns_panics_total", "", 0, NULL);
	metrics_out_family(o, "coredns_dns_requests_total", METRICS_COUNTER,
		"Counter of DNS requests made per zone, protocol and family.");
	metrics_out_family(o, "coredns_dns_do_requests_total", METRICS_COUNTER,
		"Counter of DNS requests with DO bit set per zone.");
	metrics_out_family(o, "coredns_dns_responses_total", METRICS_COUNTER,
		"Counter of response status codes.");
	metrics_out_family(o, "coredns_dns_request_duration_seconds", METRICS_HISTOGRAM,
		"Histogram of the time (in seconds) each request took per zone.");
	metrics_out_family(o, "coredns_dns_request_size_bytes", METRICS_HISTOGRAM,
		"Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.");
	metrics_out_family(o, "coredns_dns_response_size_bytes", METRICS_HISTOGRAM,
		"Size of the returned response in bytes.");
	metrics_out_family(o, "coredns_plugin_enabled", METRICS_GAUGE,
		"A metric that indicates whether a plugin is enabled on per server and zone basis.");
	for (const struct metrics_slot *s = m->slots; s; s = s->next) {
		for (int p = 0; p < 2; p++)
			for (int f = 0; f < 2; f++)
				for (size_t t = 0; t < NTYPES; t++) {
					if (!s->req[p][f][t])
						continue;
					family_label(fam, sizeof(fam), f);
					metrics_out_sample(o, "coredns_dns_requests_total", "",
						(double)s->req[p][f][t], "server", s->server,
						"zone", s->zone, "view", "", "proto", proto[p],
						"family", fam, "type", type_name(t), NULL);
				}
		for (size_t r = 0; r < NRCODES; r++)
			for (size_t p = 0; p < m->nplugin_names; p++) {
				if (!s->resp[r][p])
					continue;
				metrics_out_sample(o, "coredns_dns_responses_total", "",
					(double)s->resp[r][p], "server", s->server, "zone", s->zone,
					"view", "", "rcode", r < NRCODES - 1 ? dns_rcode_name((int)r) : "other",
					"plugin", m->plugin_names[p], NULL);
			}
		if (s->do_req)
			metrics_out_sample(o, "coredns_dns_do_requests_total", "",
				(double)s->do_req, "server", s->server, "view", "",
				"zone", s->zone, NULL);
		if (s->dur.count)
			metrics_out_histogram(o, "coredns_dns_request_duration_seconds",
				&s->dur, "server", s->server, "zone", s->zone, "view", "", NULL);
		for (int p = 0; p < 2; p++) {
			if (s->reqsize[p].count)
				metrics_out_histogram(o, "coredns_dns_request_size_bytes",
					&s->reqsize[p], "server", s->server, "zone", s->zone,
					"view", "", "proto", proto[p], NULL);
			if (s->respsize[p].count)
				metrics_out_histogram(o, "coredns_dns_response_size_bytes",
					&s->respsize[p], "server", s->server, "zone", s->zone,
					"view", "", "proto", proto[p], NULL);
		}
		for (size_t p = 1; p < m->nplugin_names; p++)
			if (s->enabled[p])
				metrics_out_sample(o, "coredns_plugin_enabled", "", 1,
					"server", s->server, "zone", s->zone, "view", "",
					"name", m->plugin_names[p], NULL);
	}
	for (const struct process_family *f = m->families; f; f = f->next) {
		metrics_out_family(o, f->name, f->type, f->help);
		if (f->type == METRICS_HISTOGRAM)
			metrics_out_histogram(o, f->name, &f->hist, NULL);
		else if (f->type == METRICS_GAUGE)
			metrics_out_sample(o, f->name, "", f->gauge, NULL);
		else
			metrics_out_sample(o, f->name, "", (double)f->counter, NULL);
	}
}

static const char *type_str(enum metrics_type t)
{
	return t == METRICS_COUNTER ? "counter" : t == METRICS_GAUGE ? "gauge" : "histogram";
}

char *metrics_render(struct metrics *m, size_t *len)
{
	struct metrics_out o = { 0 };
	struct strbuf b = { 0 };

	builtin(m, &o);
	for (size_t i = 0; i < m->ncollectors; i++)
		m->collectors[i].fn(m->collectors[i].arg, &o);
	for (size_t i = 0; i < o.n; i++) {
		struct family *f = &o.fams[i];
		if (f->help) {
			strbuf_printf(&b, "# HELP %s ", f->name);
			strbuf_str(&b, f->help);
			strbuf_printf(&b, "\n# TYPE %s %s\n", f->name, type_str(f->type));
		}
		for (size_t j = 0; j < f->n; j++) {
			strbuf_str(&b, f->s[j].key);
			strbuf_str(&b, " ");
			sb_value(&b, f->s[j].v);
			strbuf_str(&b, "\n");
		}
	}
	for (size_t i = 0; i < o.n; i++) {
		for (size_t j = 0; j < o.fams[i].n; j++)
			free(o.fams[i].s[j].key);
		free(o.fams[i].s);
		free(o.fams[i].slots);
		free(o.fams[i].name);
		free(o.fams[i].help);
	}
	free(o.fams);
	if (o.oom || b.failed || !b.p) {
		free(b.p);
		return NULL;
	}
	*len = b.len;
	return b.p;
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	while (m->slots) {
		struct metrics_slot *n = m->slots->next;
		free(m->slots);
		m->slots = n;
	}
	while (m->families) {
		struct process_family *n = m->families->next;
		free(m->families->name);
		free(m->families->help);
		free(m->families);
		m->families = n;
	}
	free(m->collectors);
	free(m);
}
