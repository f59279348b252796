/*
 * hosts.c -- `hosts [FILE [ZONES...]] { INLINE; ttl; no_reverse; reload;
 * fallthrough [ZONES...]; fallthrough_unsupported }`: names from an
 * /etc/hosts-style file and from lines in the Corefile, as CoreDNS's
 * plugin/hosts serves them.
 *
 *   FILE     default /etc/hosts; missing is a warning (it may appear
 *            later), re-read when its time or size changes (checked every
 *            `reload`, default 5s; 0s never)
 *   ZONES    the names it answers for; default the block's zones.  Names
 *            outside them are skipped when the file is read
 *   INLINE   "IP NAME..." lines inside the block, before `fallthrough`
 *   ttl      1..65535 seconds, default 3600
 *   no_reverse  no PTR answers (by default every address answers PTR
 *            under in-addr.arpa / ip6.arpa with its names, file first)
 *
 * Answers, as CoreDNS: A and AAAA of a name (the file's addresses, then the
 * inline ones), authoritative, TTL `ttl`; `*.example.com` matches exactly
 * one label below example.com (and answers no PTR).  A name it has with
 * no address of the asked type (or another type) gets NODATA: NOERROR,
 * AA, nothing else -- no SOA, a hosts file has none.  A name it does not
 * have gets SERVFAIL, CoreDNS's way of saying "no SOA to deny it with",
 * unless `fallthrough` covers it: then the next plugin (forward) answers.
 * With `fallthrough_unsupported` other types of a known name fall through
 * too.  A PTR query it has no name for always goes on to the next plugin.
 *
 * The lookup allocates nothing: the entries are hash tables built when
 * the file is read, swapped in whole.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/readfile.h"
#include "globaldns/util.h"
#include "globaldns/wire.h"
#include "globaldns/workers.h"

#define HOSTS_MAX_ZONES 16
#define HOSTS_MAX_FILE (64u << 20)

static const char name[] = "hosts";

/* One owner name and its addresses (indexes into the map's arrays). */
struct hname {
	uint32_t off;                   /* in names: wire form, lowercase */
	uint16_t len;
	uint32_t v4, nv4, v6, nv6;
};

/* One address and the names that answer its PTR. */
struct hrev {
	int family;
	uint8_t addr[16];
	uint32_t first, n;              /* in rnames: indexes into hnames */
};

/* The entries of one source (the file, or the inline lines). */
struct hmap {
	struct hname *names;
	size_t nnames;
	uint32_t *ntab;                 /* hash of names: index + 1, 0 empty */
	size_t ntab_size;
	uint8_t *blob;                  /* the wire names */
	uint8_t (*v4)[4];
	uint8_t (*v6)[16];
	struct hrev *revs;
	size_t nrevs;
	uint32_t *rtab;
	size_t rtab_size;
	uint32_t *rnames;
	size_t len;                     /* CoreDNS's Map.Len(): addresses + reverse names */
};

struct hosts {
	char *path;
	struct wire_zone zones[HOSTS_MAX_ZONES];
	size_t nzones;
	uint32_t ttl;
	int reverse;
	long reload_ms;
	int fallthrough, fall_unsupported;
	struct wire_zone ft[HOSTS_MAX_ZONES];
	size_t nft;
	struct hmap *file, *inline_map;
	time_t mtime_s;
	long mtime_ns;
	off_t size;
	struct event *timer;
	double *reload_time;            /* coredns_hosts_reload_timestamp_seconds */
};

/* A parsed line: one (address, name) pair. */
struct pair {
	int family;
	uint8_t addr[16];
	uint8_t wire[WIRE_MAXNAME];
	int wlen;
	int wild;
};

static void hmap_free(struct hmap *m)
{
	if (!m)
		return;
	free(m->names);
	free(m->ntab);
	free(m->blob);
	free(m->v4);
	free(m->v6);
	free(m->revs);
	free(m->rtab);
	free(m->rnames);
	free(m);
}

static size_t pow2_above(size_t n)
{
	size_t s = 16;

	while (s < n * 2)
		s *= 2;
	return s;
}

/* The slot of a name in the table (found, or where it would go). */
static uint32_t *name_slot(const struct hmap *m, const uint8_t *w, size_t len)
{
	size_t mask = m->ntab_size - 1, i = (size_t)hash_fnv1a(HASH_FNV1A_INIT, w, len) & mask;

	while (m->ntab[i]) {
		const struct hname *h = &m->names[m->ntab[i] - 1];
		if (h->len == len && memcmp(m->blob + h->off, w, len) == 0)
			break;
		i = (i + 1) & mask;
	}
	return &m->ntab[i];
}

static uint32_t *rev_slot(const struct hmap *m, int family, const uint8_t *a)
{
	size_t alen = family == AF_INET ? 4 : 16;
	size_t mask = m->rtab_size - 1;
	size_t i = (size_t)hash_fnv1a(HASH_FNV1A_INIT, a, alen) & mask;

	while (m->rtab[i]) {
		const struct hrev *r = &m->revs[m->rtab[i] - 1];
		if (r->family == family && memcmp(r->addr, a, alen) == 0)
			break;
		i = (i + 1) & mask;
	}
	return &m->rtab[i];
}

static const struct hname *hmap_name(const struct hmap *m, const uint8_t *w, size_t len)
{
	uint32_t *s;

	if (!m || !m->nnames)
		return NULL;
	s = name_slot(m, w, len);
	return *s ? &m->names[*s - 1] : NULL;
}

/* Is the wire name w inside one of the zones? */
static int in_zones(const struct wire_zone *z, size_t nz, const uint8_t *w, size_t len)
{
	int labels = wire_name_labels(w);

	for (size_t i = 0; i < nz; i++) {
		size_t zl = (size_t)z[i].wire_len;
		if (labels >= z[i].nlabels && len >= zl && memcmp(w + len - zl, z[i].wire, zl) == 0) {
			/* the suffix must start at a label boundary */
			size_t o = 0;
			while (o < len - zl)
				o += (size_t)w[o] + 1;
			if (o == len - zl)
				return 1;
		}
	}
	return 0;
}

/* Parse hosts-file text into pairs (comments, blank and bad lines skipped). */
static int parse_text(const struct hosts *h, const char *text, struct pair **out,
	size_t *n, size_t *cap)
{
	const char *p = text;

	while (*p) {
		char line[4096], *tok, *save = NULL;
		const char *e = strchr(p, '\n');
		size_t ll = e ? (size_t)(e - p) : strlen(p);
		struct pair base;
		char *hash;

		if (ll >= sizeof(line))
			ll = sizeof(line) - 1;
		memcpy(line, p, ll);
		line[ll] = '\0';
		p = e ? e + 1 : p + strlen(p);
		if ((hash = strchr(line, '#')))
			*hash = '\0';
		tok = strtok_r(line, " \t\r", &save);
		if (!tok)
			continue;
		{
			char *pct = strchr(tok, '%');   /* an IPv6 zone: dropped */
			if (pct)
				*pct = '\0';
		}
		memset(&base, 0, sizeof(base));
		if (inet_pton(AF_INET, tok, base.addr) == 1)
			base.family = AF_INET;
		else if (inet_pton(AF_INET6, tok, base.addr) == 1) {
			base.family = AF_INET6;
			/* Go's To4(): an IPv4-mapped address is IPv4 */
			if (memcmp(base.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
				memmove(base.addr, base.addr + 12, 4);
				memset(base.addr + 4, 0, 12);
				base.family = AF_INET;
			}
		} else
			continue;
		while ((tok = strtok_r(NULL, " \t\r", &save))) {
			struct pair pr = base;
			pr.wlen = wire_name_from_str(tok, pr.wire);
			if (pr.wlen < 0)
				continue;
			wire_name_lower(pr.wire, (size_t)pr.wlen);
			if (!in_zones(h->zones, h->nzones, pr.wire, (size_t)pr.wlen))
				continue;
			pr.wild = pr.wire[0] == 1 && pr.wire[1] == '*';
			if (grow_array((void **)out, cap, *n + 1, sizeof(**out)) < 0)
				return -1;
			(*out)[(*n)++] = pr;
		}
	}
	return 0;
}

/* Build the lookup tables of a list of pairs.  NULL on memory exhaustion. */
static struct hmap *hmap_build(const struct hosts *h, const struct pair *pr, size_t n)
{
	struct hmap *m = calloc(1, sizeof(*m));
	size_t blob_len = 0, nv4 = 0, nv6 = 0, nrn = 0;
	uint32_t *fill4 = NULL, *fill6 = NULL, *fillr = NULL;

	if (!m)
		return NULL;
	for (size_t i = 0; i < n; i++)
		blob_len += (size_t)pr[i].wlen;
	m->blob = malloc(blob_len + 1);
	blob_len = 0;
	m->ntab_size = m->rtab_size = pow2_above(n + 1);
	m->names = calloc(n + 1, sizeof(*m->names));
	m->ntab = calloc(m->ntab_size, sizeof(*m->ntab));
	m->revs = calloc(n + 1, sizeof(*m->revs));
	m->rtab = calloc(m->rtab_size, sizeof(*m->rtab));
	m->rnames = calloc(n + 1, sizeof(*m->rnames));
	m->v4 = calloc(n + 1, sizeof(*m->v4));
	m->v6 = calloc(n + 1, sizeof(*m->v6));
	fill4 = calloc(n + 1, sizeof(*fill4));
	fill6 = calloc(n + 1, sizeof(*fill6));
	fillr = calloc(n + 1, sizeof(*fillr));
	if (!m->names || !m->ntab || !m->blob || !m->revs || !m->rtab || !m->rnames
	    || !m->v4 || !m->v6 || !fill4 || !fill6 || !fillr)
		goto fail;
	/* names, and how many addresses each has */
	for (size_t i = 0; i < n; i++) {
		uint32_t *s = name_slot(m, pr[i].wire, (size_t)pr[i].wlen);
		struct hname *hn;
		if (!*s) {
			hn = &m->names[m->nnames];
			hn->off = (uint32_t)blob_len;
			hn->len = (uint16_t)pr[i].wlen;
			memcpy(m->blob + blob_len, pr[i].wire, (size_t)pr[i].wlen);
			blob_len += (size_t)pr[i].wlen;
			*s = (uint32_t)++m->nnames;
		}
		hn = &m->names[*s - 1];
		if (pr[i].family == AF_INET)
			hn->nv4++;
		else
			hn->nv6++;
		if (h->reverse && !pr[i].wild) {
			uint32_t *r = rev_slot(m, pr[i].family, pr[i].addr);
			if (!*r) {
				m->revs[m->nrevs].family = pr[i].family;
				memcpy(m->revs[m->nrevs].addr, pr[i].addr, 16);
				*r = (uint32_t)++m->nrevs;
			}
			m->revs[*r - 1].n++;
			nrn++;
		}
	}
	for (size_t i = 0; i < m->nnames; i++) {
		m->names[i].v4 = (uint32_t)nv4;
		m->names[i].v6 = (uint32_t)nv6;
		nv4 += m->names[i].nv4;
		nv6 += m->names[i].nv6;
	}
	for (size_t i = 0, o = 0; i < m->nrevs; i++) {
		m->revs[i].first = (uint32_t)o;
		o += m->revs[i].n;
	}
	/* then the addresses and reverse names, in the order written */
	for (size_t i = 0; i < n; i++) {
		uint32_t ni = *name_slot(m, pr[i].wire, (size_t)pr[i].wlen) - 1;
		struct hname *hn = &m->names[ni];
		if (pr[i].family == AF_INET)
			memcpy(m->v4[hn->v4 + fill4[ni]++], pr[i].addr, 4);
		else
			memcpy(m->v6[hn->v6 + fill6[ni]++], pr[i].addr, 16);
		if (h->reverse && !pr[i].wild) {
			uint32_t ri = *rev_slot(m, pr[i].family, pr[i].addr) - 1;
			m->rnames[m->revs[ri].first + fillr[ri]++] = ni;
		}
	}
	m->len = nv4 + nv6 + nrn;
	free(fill4);
	free(fill6);
	free(fillr);
	return m;
fail:
	free(fill4);
	free(fill6);
	free(fillr);
	hmap_free(m);
	return NULL;
}

static struct hmap *hmap_from_text(const struct hosts *h, const char *text)
{
	struct pair *pr = NULL;
	size_t n = 0, cap = 0;
	struct hmap *m = NULL;

	if (parse_text(h, text, &pr, &n, &cap) == 0)
		m = hmap_build(h, pr, n);
	free(pr);
	return m;
}

/* CoreDNS's readHosts: re-read the file when its time or size changed;
 * a file that cannot be read keeps what was read before. */
static void read_file(struct hosts *h)
{
	struct stat st;
	char *text;
	size_t len;
	struct hmap *m;

	if (stat(h->path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	if (h->file && st.st_mtim.tv_sec == h->mtime_s && st.st_mtim.tv_nsec == h->mtime_ns
	    && st.st_size == h->size)
		return;
	if (read_whole_file(h->path, HOSTS_MAX_FILE, &text, &len) < 0) {
		log_warning("plugin/hosts: %s: %s", h->path, strerror(errno));
		return;
	}
	m = hmap_from_text(h, text);
	free(text);
	if (!m) {
		log_error("plugin/hosts: %s: out of memory; keeping the previous entries", h->path);
		return;
	}
	log_debug("plugin/hosts: Parsed hosts file into %zu entries", m->len);
	hmap_free(h->file);
	h->file = m;
	h->mtime_s = st.st_mtim.tv_sec;
	h->mtime_ns = st.st_mtim.tv_nsec;
	h->size = st.st_size;
	if (h->reload_time)
		*h->reload_time = (double)st.st_mtim.tv_sec + (double)st.st_mtim.tv_nsec / 1e9;
}

static void on_reload_locked(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	read_file(arg);
}

WORKERS_LOCKED_EVENT_CB(on_reload)

/* ---- the query path ---- */

static int falls_through(const struct hosts *h, const struct dns_query *q)
{
	if (!h->fallthrough)
		return 0;
	for (size_t i = 0; i < h->nft; i++)
		if (wire_zone_match(q, &h->ft[i]) >= 0)
			return 1;
	return 0;
}

/* The entry of q's name in m: the name itself, else its wildcard. */
static const struct hname *lookup(const struct hmap *m, const struct dns_query *q)
{
	const struct hname *hn = hmap_name(m, q->qname_lc, q->qname_len);
	uint8_t w[WIRE_MAXNAME + 2];
	size_t rest;

	if (hn || q->nlabels < 1)
		return hn;
	/* "*" in place of the first label: one label below the wildcard's parent */
	rest = q->nlabels >= 2 ? (size_t)(q->qname_len - q->label_off[1]) : 1;
	w[0] = 1;
	w[1] = '*';
	memcpy(w + 2, q->qname_lc + q->qname_len - rest, rest);
	hn = hmap_name(m, w, rest + 2);
	return hn;
}

/* The address a reverse name stands for (CoreDNS's ExtractAddressFromReverse). */
static int reverse_addr(const struct dns_query *q, int *family, uint8_t *a)
{
	static const uint8_t v4arpa[] = "\007in-addr\004arpa";
	static const uint8_t v6arpa[] = "\003ip6\004arpa";
	const uint8_t *n = q->qname_lc;

	memset(a, 0, 16);
	if (q->nlabels == 6 && memcmp(n + q->label_off[4], v4arpa, sizeof(v4arpa)) == 0) {
		for (int i = 0; i < 4; i++) {
			const uint8_t *l = n + q->label_off[3 - i];
			unsigned int v = 0;
			if (l[0] < 1 || l[0] > 3)
				return -1;
			for (int k = 1; k <= l[0]; k++) {
				if (l[k] < '0' || l[k] > '9')
					return -1;
				v = v * 10 + (unsigned int)(l[k] - '0');
			}
			if (v > 255 || (l[0] > 1 && l[1] == '0'))
				return -1;
			a[i] = (uint8_t)v;
		}
		*family = AF_INET;
		return 0;
	}
	if (q->nlabels == 34 && memcmp(n + q->label_off[32], v6arpa, sizeof(v6arpa)) == 0) {
		for (int i = 0; i < 32; i++) {
			const uint8_t *l = n + q->label_off[31 - i];
			int v;
			if (l[0] != 1)
				return -1;
			v = l[1] >= '0' && l[1] <= '9' ? l[1] - '0' : l[1] >= 'a' && l[1] <= 'f' ? l[1] - 'a' + 10 : -1;
			if (v < 0)
				return -1;
			a[i / 2] |= (uint8_t)(i % 2 ? v : v << 4);
		}
		*family = AF_INET6;
		return 0;
	}
	return -1;
}

static void add_ptrs(const struct hosts *h, const struct hmap *m, struct wire_resp *w,
	int family, const uint8_t *a)
{
	uint32_t *s;

	if (!m || !m->nrevs)
		return;
	s = rev_slot(m, family, a);
	if (!*s)
		return;
	for (uint32_t i = 0; i < m->revs[*s - 1].n; i++) {
		const struct hname *hn = &m->names[m->rnames[m->revs[*s - 1].first + i]];
		wire_resp_rr(w, WIRE_SEC_ANSWER, WIRE_HDR, DNS_TYPE_PTR, DNS_CLASS_IN,
			h->ttl, m->blob + hn->off, hn->len);
	}
}

static int has_ptr(const struct hmap *m, int family, const uint8_t *a)
{
	return m && m->nrevs && *rev_slot(m, family, a);
}

static void add_addrs(const struct hosts *h, const struct hmap *m,
	const struct hname *hn, struct wire_resp *w, uint16_t qt)
{
	if (!hn)
		return;
	if (qt == DNS_TYPE_A)
		for (uint32_t i = 0; i < hn->nv4; i++)
			wire_resp_rr(w, WIRE_SEC_ANSWER, WIRE_HDR, DNS_TYPE_A, DNS_CLASS_IN,
				h->ttl, m->v4[hn->v4 + i], 4);
	else
		for (uint32_t i = 0; i < hn->nv6; i++)
			wire_resp_rr(w, WIRE_SEC_ANSWER, WIRE_HDR, DNS_TYPE_AAAA, DNS_CLASS_IN,
				h->ttl, m->v6[hn->v6 + i], 16);
}

static enum plugin_result hosts_serve(void *state, struct dns_request *req)
{
	struct hosts *h = state;
	const struct dns_query *q = &req->q;
	const struct hname *f = NULL, *in = NULL;
	struct wire_resp w;
	int zoned = 0, family;
	uint8_t a[16];

	for (size_t i = 0; i < h->nzones && !zoned; i++)
		zoned = wire_zone_match(q, &h->zones[i]) >= 0;
	if (q->qtype == DNS_TYPE_PTR) {
		/* PTR zones need not be among the zones */
		if (reverse_addr(q, &family, a) < 0
		    || (!has_ptr(h->file, family, a) && !has_ptr(h->inline_map, family, a)))
			return PLUGIN_NEXT;
		query_begin(req, &w, DNS_RCODE_NOERROR, DNS_FLAG_AA);
		add_ptrs(h, h->file, &w, family, a);
		add_ptrs(h, h->inline_map, &w, family, a);
		query_finish(req, &w, "hosts");
		return PLUGIN_DONE;
	}
	if (!zoned)
		return PLUGIN_NEXT;
	f = h->file ? lookup(h->file, q) : NULL;
	in = h->inline_map ? lookup(h->inline_map, q) : NULL;
	if (q->qtype != DNS_TYPE_A && q->qtype != DNS_TYPE_AAAA && h->fall_unsupported
	    && falls_through(h, q))
		return PLUGIN_NEXT;
	/* unknown name: fall through, or SERVFAIL (no SOA to deny it with) */
	if (!(f && f->nv4 + f->nv6) && !(in && in->nv4 + in->nv6)) {
		if (falls_through(h, q))
			return PLUGIN_NEXT;
		query_answer_rcode(req, DNS_RCODE_SERVFAIL, "hosts");
		req->error = "no such name in the hosts data (no SOA to answer NXDOMAIN with)";
		return PLUGIN_DONE;
	}
	query_begin(req, &w, DNS_RCODE_NOERROR, DNS_FLAG_AA);
	if (q->qtype == DNS_TYPE_A || q->qtype == DNS_TYPE_AAAA) {
		add_addrs(h, h->file, f, &w, q->qtype);
		add_addrs(h, h->inline_map, in, &w, q->qtype);
	}
	query_finish(req, &w, "hosts");
	return PLUGIN_DONE;
}

/* ---- configuration ---- */

static void hosts_free(void *state)
{
	struct hosts *h = state;

	if (!h)
		return;
	if (h->timer)
		event_free(h->timer);
	hmap_free(h->file);
	hmap_free(h->inline_map);
	free(h->path);
	free(h);
}

static int add_zone(struct wire_zone *z, size_t *n, const char *s, char *why, size_t whylen)
{
	if (*n >= HOSTS_MAX_ZONES) {
		snprintf(why, whylen, "more than %d zones", HOSTS_MAX_ZONES);
		return -1;
	}
	if (cf_parse_zone(s, &z[*n], why, whylen) < 0)
		return -1;
	(*n)++;
	return 0;
}

/* The sub-block: properties, and before `fallthrough` inline lines. */
static int parse_block(struct hosts *h, const struct cf_directive *d,
	struct strbuf *inl, char *err, size_t errlen)
{
	char why[256];

	for (size_t i = 0; i < d->nchildren; i++) {
		const struct cf_directive *c = &d->children[i];
		if (strcmp(c->name, "fallthrough") == 0) {
			h->fallthrough = 1;
			h->nft = 0;
			if (c->nargs == 0 && add_zone(h->ft, &h->nft, ".", why, sizeof(why)) < 0)
				PLUGIN_FAIL(c, "fallthrough: %s", why);
			for (size_t a = 0; a < c->nargs; a++)
				if (add_zone(h->ft, &h->nft, c->args[a], why, sizeof(why)) < 0)
					PLUGIN_FAIL(c, "fallthrough: zone \"%s\": %s", c->args[a], why);
		} else if (strcmp(c->name, "fallthrough_unsupported") == 0) {
			if (c->nargs)
				PLUGIN_FAIL(c, "fallthrough_unsupported: takes no arguments");
			h->fall_unsupported = 1;
		} else if (strcmp(c->name, "no_reverse") == 0) {
			h->reverse = 0;
		} else if (strcmp(c->name, "ttl") == 0) {
			unsigned long v;
			if (c->nargs < 1)
				PLUGIN_FAIL(c, "ttl needs a time in second");
			if (parse_uint(c->args[0], 4294967295ul, &v) < 0)
				PLUGIN_FAIL(c, "ttl needs a number of second");
			if (v == 0 || v > 65535)
				PLUGIN_FAIL(c, "ttl provided is invalid");
			h->ttl = (uint32_t)v;
		} else if (strcmp(c->name, "reload") == 0) {
			if (c->nargs != 1)
				PLUGIN_FAIL(c, "reload needs a duration (zero seconds to disable)");
			if (cf_parse_duration_ms(c->args[0], &h->reload_ms) < 0)
				PLUGIN_FAIL(c, "invalid duration for reload '%s'", c->args[0]);
		} else if (!h->fallthrough && !c->has_block) {
			/* an inline hosts line, "IP NAME..." */
			strbuf_str(inl, c->name);
			for (size_t a = 0; a < c->nargs; a++) {
				strbuf_str(inl, " ");
				strbuf_str(inl, c->args[a]);
			}
			strbuf_str(inl, "\n");
		} else {
			PLUGIN_FAIL(c, "unknown property \"%s\"", c->name);
		}
	}
	if (h->fall_unsupported && !h->fallthrough)
		PLUGIN_FAIL(d, "fallthrough_unsupported requires fallthrough");
	return 0;
fail:
	return -1;
}

static int hosts_setup(const struct plugin_ctx *ctx, const struct cf_directive *d,
	void **state, char *err, size_t errlen)
{
	struct hosts *h = calloc(1, sizeof(*h));
	struct strbuf inl = { 0 };
	struct stat st;
	char why[256];

	if (!h)
		return -1;
	h->ttl = 3600;
	h->reverse = 1;
	h->reload_ms = 5000;
	if (!(h->path = strdup(d->nargs ? d->args[0] : "/etc/hosts")))
		PLUGIN_FAIL(d, "out of memory");
	for (size_t a = 1; a < d->nargs; a++)
		if (add_zone(h->zones, &h->nzones, d->args[a], why, sizeof(why)) < 0)
			PLUGIN_FAIL(d, "zone \"%s\": %s", d->args[a], why);
	for (size_t z = 0; z < ctx->block->nzones && d->nargs < 2; z++)
		if (add_zone(h->zones, &h->nzones, ctx->block->zones[z], why, sizeof(why)) < 0)
			PLUGIN_FAIL(d, "zone \"%s\": %s", ctx->block->zones[z], why);
	if (d->nargs && stat(h->path, &st) < 0) {
		if (errno != ENOENT)
			PLUGIN_FAIL(d, "unable to access hosts file '%s': %s", h->path, strerror(errno));
		log_warning("plugin/hosts: File does not exist: %s", h->path);
	} else if (d->nargs && S_ISDIR(st.st_mode)) {
		log_warning("plugin/hosts: Hosts file \"%s\" is a directory", h->path);
	}
	if (parse_block(h, d, &inl, err, errlen) < 0)
		goto fail;
	if (inl.failed)
		PLUGIN_FAIL(d, "out of memory");
	if (inl.len && !(h->inline_map = hmap_from_text(h, inl.p)))
		PLUGIN_FAIL(d, "out of memory");
	free(inl.p);
	*state = h;
	return 0;
fail:
	free(inl.p);
	hosts_free(h);
	return -1;
}

static int hosts_start(void *state, const struct plugin_env *env)
{
	struct hosts *h = state;
	struct timeval tv;

	h->reload_time = metrics_gauge(env->metrics, "coredns_hosts_reload_timestamp_seconds",
		"The timestamp of the last reload of hosts file.");
	read_file(h);
	if (h->reload_ms <= 0)
		return 0;
	if (!(h->timer = event_new(env->base, -1, EV_PERSIST, on_reload, h)))
		return -1;
	tv.tv_sec = h->reload_ms / 1000;
	tv.tv_usec = (h->reload_ms % 1000) * 1000;
	return event_add(h->timer, &tv);
}

static void hosts_collect(void *state, const struct plugin_block *b,
	struct metrics_out *o)
{
	const struct hosts *h = state;
	size_t n = (h->file ? h->file->len : 0) + (h->inline_map ? h->inline_map->len : 0);

	(void)b;
	metrics_out_family(o, "coredns_hosts_entries", METRICS_GAUGE,
		"The combined number of entries in hosts and Corefile.");
	metrics_out_sample(o, "coredns_hosts_entries", "", (double)n, "hostsfile", h->path, NULL);
}

const struct plugin_ops hosts_plugin = {
	.name = "hosts",
	.setup = hosts_setup,
	.start = hosts_start,
	.serve = hosts_serve,
	.free = hosts_free,
	.collect = hosts_collect,
};
