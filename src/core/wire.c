/*
 * wire.c -- allocation-free DNS query parsing and response writing for the
 * query path (see wire.h for why this is not ldns).
 */
#include "globaldns/wire.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

size_t wire_skip_name(const uint8_t *pkt, size_t len, size_t off)
{
	while (off < len) {
		uint8_t c = pkt[off];
		if (c == 0)
			return off + 1;
		if ((c & 0xC0) == 0xC0)
			return off + 2 <= len ? off + 2 : 0;
		if (c & 0xC0)
			return 0;
		off += (size_t)c + 1;
	}
	return 0;
}

static enum wire_parse parse_question(const uint8_t *pkt, size_t len,
	struct dns_query *q)
{
	size_t off = WIRE_HDR, n = 0;
	unsigned int labels = 0;

	for (;;) {
		uint8_t c;
		if (off >= len)
			return WIRE_FORMERR;
		c = pkt[off];
		if (c & 0xC0)   /* no compression in the only question */
			return WIRE_FORMERR;
		if (n + 1u + c > WIRE_MAXNAME || off + 1u + c > len)
			return WIRE_FORMERR;
		if (c == 0) {
			q->qname[n] = 0;
			q->qname_lc[n] = 0;
			n++;
			off++;
			break;
		}
		if (labels >= WIRE_MAXLABELS)
			return WIRE_FORMERR;
		q->label_off[labels++] = (uint8_t)n;
		q->qname[n] = c;
		q->qname_lc[n] = c;
		memcpy(q->qname + n + 1, pkt + off + 1, c);
		for (unsigned int i = 1; i <= c; i++) {
			uint8_t ch = pkt[off + i];
			q->qname_lc[n + i] = (ch >= 'A' && ch <= 'Z') ? (uint8_t)(ch + 32) : ch;
		}
		n += (size_t)c + 1;
		off += (size_t)c + 1;
	}
	if (off + 4 > len)
		return WIRE_FORMERR;
	q->qname_len = (uint16_t)n;
	q->nlabels = (uint8_t)labels;
	q->qtype = wire_get16(pkt + off);
	q->qclass = wire_get16(pkt + off + 2);
	q->qend = (uint16_t)(off + 4);
	return WIRE_OK;
}

/* RFC 6891 6.1.2: the options must fill the OPT RDATA exactly. */
static int opt_options_ok(const uint8_t *rd, size_t rdlen)
{
	size_t o = 0;

	while (o < rdlen) {
		if (rdlen - o < 4)
			return 0;
		o += 4 + (size_t)wire_get16(rd + o + 2);
		if (o > rdlen)
			return 0;
	}
	return 1;
}

/*
 * A TSIG RDATA (RFC 8945 4.2): algorithm name, time signed (48 bits),
 * fudge, MAC size and MAC, original ID, error, other length and data;
 * it must fill the RDATA exactly.
 */
static int tsig_rdata_ok(const uint8_t *pkt, size_t off, size_t end)
{
	size_t o = wire_skip_name(pkt, end, off);

	if (o == 0 || o + 10 > end)
		return 0;
	o += 10 + (size_t)wire_get16(pkt + o + 8);
	if (o + 6 > end)
		return 0;
	return o + 6 + wire_get16(pkt + o + 4) == end;
}

/*
 * Walk the records from off (past the question) through answer,
 * authority and additional; remember the OPT record and a TSIG one.
 */
static enum wire_parse parse_rest(const uint8_t *pkt, size_t len, size_t off,
	struct dns_query *q)
{
	unsigned int total = (unsigned int)wire_get16(pkt + 6) + wire_get16(pkt + 8)
		+ wire_get16(pkt + 10);
	unsigned int before_additional = (unsigned int)wire_get16(pkt + 6) + wire_get16(pkt + 8);

	for (unsigned int i = 0; i < total; i++) {
		size_t name_off = off;
		uint16_t type, rdlen;

		off = wire_skip_name(pkt, len, off);
		if (off == 0 || off + 10 > len)
			return WIRE_FORMERR;
		type = wire_get16(pkt + off);
		rdlen = wire_get16(pkt + off + 8);
		if (off + 10 + rdlen > len)
			return WIRE_FORMERR;
		if (type == DNS_TYPE_OPT) {
			/* RFC 6891 6.1.1: one OPT, owned by the root, in additional */
			if (q->edns || i < before_additional || pkt[name_off] != 0
			    || !opt_options_ok(pkt + off + 10, rdlen))
				return WIRE_FORMERR;
			q->edns = 1;
			q->edns_udp = wire_get16(pkt + off + 2);
			q->edns_version = pkt[off + 5];
			q->edns_do = (pkt[off + 6] & 0x80) != 0;
		} else if (type == DNS_TYPE_TSIG) {
			/* RFC 8945 5.1: the last record of the additional
			 * section, class ANY (as NSD) */
			if (i != total - 1 || i < before_additional || wire_get16(pkt + off + 2) != DNS_CLASS_ANY
			    || !tsig_rdata_ok(pkt, off + 10, off + 10 + rdlen))
				return WIRE_FORMERR;
			q->tsig_off = (uint16_t)name_off;
		}
		off += 10 + (size_t)rdlen;
	}
	return WIRE_OK;
}

enum wire_parse wire_parse_query(const uint8_t *pkt, size_t len,
	struct dns_query *q)
{
	enum wire_parse rc;
	unsigned int opcode, qdcount;

	q->qend = 0;
	q->qname_len = 0;
	q->nlabels = 0;
	q->edns = 0;
	q->edns_version = 0;
	q->edns_do = 0;
	q->edns_udp = 0;
	q->tsig_off = 0;
	q->qtype = 0;
	q->qclass = 0;
	if (len < WIRE_HDR)
		return WIRE_DROP;
	q->id = wire_get16(pkt);
	q->flags = wire_get16(pkt + 2);
	if (q->flags & DNS_FLAG_QR)
		return WIRE_DROP;
	opcode = (q->flags >> 11) & 0xF;
	qdcount = wire_get16(pkt + 4);
	/* an opcode we do not implement is NOTIMP whatever its sections
	 * hold (RFC 8490 DSO messages have no question) */
	if (opcode != 0 && qdcount != 1)
		return WIRE_NOTIMP;
	if (qdcount == 0) {
		/* FORMERR, with the OPT echoed if there was one (as Knot) */
		if (parse_rest(pkt, len, WIRE_HDR, q) != WIRE_OK)
			q->edns = 0;
		q->tsig_off = 0;
		return WIRE_FORMERR;
	}
	if (qdcount != 1)
		return WIRE_FORMERR;
	rc = parse_question(pkt, len, q);
	if (rc != WIRE_OK) {
		q->qend = 0;
		return rc;
	}
	if (parse_rest(pkt, len, q->qend, q) != WIRE_OK) {
		q->edns = 0;
		q->tsig_off = 0;
		return WIRE_FORMERR;
	}
	/* signed, and we have no key: NOTAUTH/BADKEY before anything else,
	 * the opcode included (as NSD and Knot) */
	if (q->tsig_off)
		return WIRE_BADKEY;
	if (opcode != 0)
		return WIRE_NOTIMP;
	if (q->edns && q->edns_version > 0)
		return WIRE_BADVERS;
	return WIRE_OK;
}

void wire_resp_init(struct wire_resp *r, uint8_t *buf, size_t cap,
	size_t limit, const uint8_t *pkt, const struct dns_query *q)
{
	uint16_t flags = (uint16_t)(DNS_FLAG_QR
		| (q->flags & (0x7800 | DNS_FLAG_RD | DNS_FLAG_CD)));

	r->buf = buf;
	r->cap = cap;
	r->limit = limit < cap ? limit : cap;
	r->truncated = 0;
	r->edns = q->edns;
	r->edns_do = q->edns_do;
	r->ext_rcode = 0;
	memset(r->counts, 0, sizeof(r->counts));
	wire_put16(buf, q->id);
	wire_put16(buf + 2, flags);
	wire_put16(buf + 4, q->qend ? 1 : 0);
	memset(buf + 6, 0, 6);
	r->len = WIRE_HDR;
	if (q->qend) {
		size_t qlen = (size_t)q->qname_len + 4;
		memcpy(buf + WIRE_HDR, pkt + WIRE_HDR, qlen);
		r->len += qlen;
	}
}

void wire_resp_rcode(struct wire_resp *r, int rcode)
{
	uint16_t flags = wire_get16(r->buf + 2);

	flags = (uint16_t)((flags & ~0xF) | (rcode & 0xF));
	wire_put16(r->buf + 2, flags);
	r->ext_rcode = rcode >> 4;
}

void wire_resp_flags(struct wire_resp *r, uint16_t set)
{
	wire_put16(r->buf + 2, (uint16_t)(wire_get16(r->buf + 2) | set));
}

/* Room for an OPT record is always kept back when the query had EDNS. */
static size_t room(const struct wire_resp *r)
{
	size_t reserve = r->edns ? 11 : 0;

	if (r->len + reserve >= r->limit)
		return 0;
	return r->limit - r->len - reserve;
}

int wire_resp_rr(struct wire_resp *r, int section, uint16_t owner_off,
	uint16_t type, uint16_t klass, uint32_t ttl,
	const uint8_t *rdata, uint16_t rdlen)
{
	uint8_t *p;

	if (r->truncated || room(r) < (size_t)12 + rdlen) {
		r->truncated = 1;
		return -1;
	}
	p = r->buf + r->len;
	wire_put16(p, (uint16_t)(0xC000 | owner_off));
	wire_put16(p + 2, type);
	wire_put16(p + 4, klass);
	wire_put32(p + 6, ttl);
	wire_put16(p + 10, rdlen);
	memcpy(p + 12, rdata, rdlen);
	r->len += (size_t)12 + rdlen;
	r->counts[section]++;
	return 0;
}

int wire_resp_rrs(struct wire_resp *r, int section, const uint8_t *rrs,
	size_t len, unsigned int count)
{
	if (r->truncated || room(r) < len) {
		r->truncated = 1;
		return -1;
	}
	memcpy(r->buf + r->len, rrs, len);
	r->len += len;
	r->counts[section] = (uint16_t)(r->counts[section] + count);
	return 0;
}

int wire_resp_soa(struct wire_resp *r, int section, uint16_t apex_off,
	uint32_t ttl, uint32_t serial, uint32_t minimum)
{
	uint8_t rd[64], *p = rd;

	/* MNAME ns.dns.<apex>, RNAME hostmaster.<apex>, compressed */
	memcpy(p, "\002ns\003dns", 7);
	p += 7;
	wire_put16(p, (uint16_t)(0xC000 | apex_off));
	p += 2;
	memcpy(p, "\012hostmaster", 11);
	p += 11;
	wire_put16(p, (uint16_t)(0xC000 | apex_off));
	p += 2;
	wire_put32(p, serial);
	wire_put32(p + 4, 7200);     /* refresh */
	wire_put32(p + 8, 1800);     /* retry */
	wire_put32(p + 12, 86400);   /* expire */
	wire_put32(p + 16, minimum);
	p += 20;
	return wire_resp_rr(r, section, apex_off, DNS_TYPE_SOA, DNS_CLASS_IN,
		ttl, rd, (uint16_t)(p - rd));
}

int wire_resp_ns(struct wire_resp *r, int section, uint16_t apex_off,
	uint32_t ttl)
{
	uint8_t rd[16];

	memcpy(rd, "\002ns\003dns", 7);
	wire_put16(rd + 7, (uint16_t)(0xC000 | apex_off));
	return wire_resp_rr(r, section, apex_off, DNS_TYPE_NS, DNS_CLASS_IN,
		ttl, rd, 9);
}

size_t wire_resp_finish(struct wire_resp *r)
{
	if (r->truncated) {
		/* RFC 2181 9: a truncated answer is discarded by the client
		 * anyway; send header and question only, with TC. */
		if (wire_get16(r->buf + 4)) {
			size_t off = WIRE_HDR;
			while (r->buf[off] != 0)
				off += (size_t)r->buf[off] + 1;
			r->len = off + 1 + 4;
		} else {
			r->len = WIRE_HDR;
		}
		memset(r->counts, 0, sizeof(r->counts));
		wire_resp_flags(r, DNS_FLAG_TC);
	}
	if (r->edns && r->len + 11 <= r->cap) {
		uint8_t *p = r->buf + r->len;
		p[0] = 0;                               /* root owner */
		wire_put16(p + 1, DNS_TYPE_OPT);
		wire_put16(p + 3, WIRE_DEFAULT_UDP_MAX);     /* our payload size */
		p[5] = (uint8_t)r->ext_rcode;
		p[6] = 0;                               /* version 0 */
		p[7] = r->edns_do ? 0x80 : 0;           /* RFC 3225: copy DO */
		p[8] = 0;
		wire_put16(p + 9, 0);
		r->len += 11;
		r->counts[WIRE_SEC_ADDITIONAL]++;
	}
	wire_put16(r->buf + 6, r->counts[0]);
	wire_put16(r->buf + 8, r->counts[1]);
	wire_put16(r->buf + 10, r->counts[2]);
	return r->len;
}

/* Copy the name at off in pkt, following compression pointers, to out
 * (WIRE_MAXNAME bytes); its length, or 0 if it is malformed. */
static size_t name_expand(const uint8_t *pkt, size_t len, size_t off,
	uint8_t *out)
{
	size_t n = 0;
	int jumps = 0;

	while (off < len) {
		uint8_t c = pkt[off];
		if ((c & 0xC0) == 0xC0) {
			if (off + 1 >= len || ++jumps > 64)
				return 0;
			off = ((size_t)(c & 0x3F) << 8) | pkt[off + 1];
			continue;
		}
		if (c & 0xC0 || n + 1u + c > WIRE_MAXNAME || off + 1u + c > len)
			return 0;
		memcpy(out + n, pkt + off, (size_t)c + 1);
		n += (size_t)c + 1;
		if (c == 0)
			return n;
		off += (size_t)c + 1;
	}
	return 0;
}

size_t wire_resp_tsig_error(uint8_t *buf, size_t len, size_t cap,
	const uint8_t *pkt, size_t pktlen, const struct dns_query *q,
	uint16_t error)
{
	uint8_t key[WIRE_MAXNAME], alg[WIRE_MAXNAME];
	size_t klen, alen, off, rd, o;

	if (!q->tsig_off)
		return len;
	klen = name_expand(pkt, pktlen, q->tsig_off, key);
	off = wire_skip_name(pkt, pktlen, q->tsig_off);
	if (!klen || !off)
		return len;
	rd = off + 10;                  /* the request's TSIG RDATA */
	alen = name_expand(pkt, pktlen, rd, alg);
	o = wire_skip_name(pkt, pktlen, rd);
	if (!alen || !o || o + 10 > pktlen)
		return len;
	/* owner, type/class/TTL/rdlength, alg, time+fudge, MAC size 0,
	 * original ID, error, other length 0 */
	if (len + klen + 10 + alen + 8 + 2 + 6 > cap)
		return len;
	memcpy(buf + len, key, klen);
	len += klen;
	wire_put16(buf + len, DNS_TYPE_TSIG);
	wire_put16(buf + len + 2, DNS_CLASS_ANY);
	wire_put32(buf + len + 4, 0);
	wire_put16(buf + len + 8, (uint16_t)(alen + 8 + 2 + 6));
	len += 10;
	memcpy(buf + len, alg, alen);
	len += alen;
	memcpy(buf + len, pkt + o, 8);  /* time signed and fudge, echoed */
	wire_put16(buf + len + 8, 0);   /* no MAC (RFC 8945 5.3.2) */
	len += 10;
	o += 10 + (size_t)wire_get16(pkt + o + 8);
	memcpy(buf + len, pkt + o, 2);  /* original ID */
	wire_put16(buf + len + 2, error);
	wire_put16(buf + len + 4, 0);
	len += 6;
	wire_put16(buf + 10, (uint16_t)(wire_get16(buf + 10) + 1));
	return len;
}

uint16_t wire_qname_suffix_off(const struct dns_query *q, unsigned int i)
{
	if (i >= q->nlabels)
		return (uint16_t)(WIRE_HDR + q->qname_len - 1);
	return (uint16_t)(WIRE_HDR + q->label_off[i]);
}

int wire_zone_label(const struct dns_query *q, const uint8_t *zone,
	size_t zlen, unsigned int zlabels)
{
	unsigned int start;
	size_t off;

	if (zlabels > q->nlabels)
		return -1;
	start = q->nlabels - zlabels;
	off = start < q->nlabels ? q->label_off[start] : (size_t)q->qname_len - 1;
	if (q->qname_len - off != zlen || memcmp(q->qname_lc + off, zone, zlen) != 0)
		return -1;
	return (int)start;
}

void wire_name_lower(uint8_t *name, size_t len)
{
	size_t off = 0;

	while (off < len && name[off] != 0) {
		uint8_t c = name[off];
		for (size_t i = off + 1; i <= off + c && i < len; i++)
			if (name[i] >= 'A' && name[i] <= 'Z')
				name[i] = (uint8_t)(name[i] + 32);
		off += (size_t)c + 1;
	}
}

int wire_name_from_str(const char *s, uint8_t *out)
{
	size_t n = 0, slen = strlen(s);
	const char *p = s, *end = s + slen;

	if (slen == 0)
		return -1;
	if (strcmp(s, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	while (p < end) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t l = dot ? (size_t)(dot - p) : (size_t)(end - p);
		if (l == 0 || l > 63 || n + l + 2 > WIRE_MAXNAME)
			return -1;
		out[n] = (uint8_t)l;
		memcpy(out + n + 1, p, l);
		n += l + 1;
		if (!dot)
			break;
		p = dot + 1;
	}
	out[n++] = 0;
	return (int)n;
}

char *wire_name_to_str(const uint8_t *name, char *out, size_t outlen)
{
	size_t o = 0, off = 0;

	if (outlen == 0)
		return out;
	if (name[0] == 0) {
		snprintf(out, outlen, ".");
		return out;
	}
	while (name[off] != 0 && off < WIRE_MAXNAME) {
		uint8_t c = name[off];
		for (size_t i = 1; i <= c; i++) {
			uint8_t ch = name[off + i];
			if (o + 5 >= outlen)
				goto done;
			if (ch == '.' || ch == '\\')
				o += (size_t)snprintf(out + o, outlen - o, "\\%c", ch);
			else if (!isprint(ch) || ch == ' ')
				o += (size_t)snprintf(out + o, outlen - o, "\\%03u", ch);
			else
				out[o++] = (char)ch;
		}
		if (o + 1 >= outlen)
			goto done;
		out[o++] = '.';
		off += (size_t)c + 1;
	}
done:
	out[o < outlen ? o : outlen - 1] = '\0';
	return out;
}

int wire_name_labels(const uint8_t *name)
{
	int n = 0;
	size_t off = 0;

	while (name[off] != 0 && off < WIRE_MAXNAME) {
		off += (size_t)name[off] + 1;
		n++;
	}
	return n;
}

int wire_zone_set(struct wire_zone *z, const char *name)
{
	memset(z, 0, sizeof(*z));
	z->wire_len = wire_name_from_str(name, z->wire);
	if (z->wire_len < 0)
		return -1;
	wire_name_lower(z->wire, (size_t)z->wire_len);
	z->nlabels = wire_name_labels(z->wire);
	wire_name_to_str(z->wire, z->name, sizeof(z->name));
	return 0;
}

int wire_zone_match(const struct dns_query *q, const struct wire_zone *z)
{
	return wire_zone_label(q, z->wire, (size_t)z->wire_len, (unsigned int)z->nlabels);
}

static const char *const rcode_names[] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11",
	"RCODE12", "RCODE13", "RCODE14", "RCODE15", "BADSIG", "BADKEY",
	"BADTIME", "BADMODE", "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE",
};

const char *dns_rcode_name(int rcode)
{
	if (rcode < 0 || (size_t)rcode >= sizeof(rcode_names) / sizeof(rcode_names[0]))
		return NULL;
	return rcode_names[rcode];
}

static const struct { uint16_t t; const char *n; } type_names[] = {
	{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" },
	{ 13, "HINFO" }, { 15, "MX" }, { 16, "TXT" }, { 28, "AAAA" },
	{ 33, "SRV" }, { 35, "NAPTR" }, { 41, "OPT" }, { 43, "DS" },
	{ 46, "RRSIG" }, { 47, "NSEC" }, { 48, "DNSKEY" }, { 50, "NSEC3" },
	{ 64, "SVCB" }, { 65, "HTTPS" }, { 99, "SPF" }, { 250, "TSIG" },
	{ 251, "IXFR" }, { 252, "AXFR" }, { 255, "ANY" }, { 257, "CAA" },
};

const char *dns_type_name(uint16_t type)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].t == type)
			return type_names[i].n;
	return NULL;
}

int wire_msg_walk(uint8_t *m, size_t len, struct wire_msg_info *mi,
	const uint32_t *ttl_set, int cap)
{
	size_t off;
	int total;

	memset(mi, 0, sizeof(*mi));
	mi->min_ttl = UINT32_MAX;
	if (len < WIRE_HDR || wire_get16(m + 4) != 1)
		return -1;
	off = wire_skip_name(m, len, WIRE_HDR);
	if (!off || off + 4 > len)
		return -1;
	mi->qend = off + 4;
	off = mi->qend;
	mi->counts[0] = wire_get16(m + 6);
	mi->counts[1] = wire_get16(m + 8);
	mi->counts[2] = wire_get16(m + 10);
	total = mi->counts[0] + mi->counts[1] + mi->counts[2];
	for (int i = 0; i < total; i++) {
		size_t start = off;
		uint16_t type, rdlen;
		uint32_t ttl;

		off = wire_skip_name(m, len, off);
		if (!off || off + 10 > len)
			return -1;
		type = wire_get16(m + off);
		ttl = wire_get32(m + off + 4);
		rdlen = wire_get16(m + off + 8);
		if (off + 10 + rdlen > len)
			return -1;
		if (type == DNS_TYPE_OPT) {
			if (i < mi->counts[0] + mi->counts[1] || mi->opt_end)
				return -1;
			mi->opt_off = start;
			mi->opt_end = off + 10 + rdlen;
		} else {
			mi->nrecords++;
			if (ttl < mi->min_ttl)
				mi->min_ttl = ttl;
			if (i >= mi->counts[0] && i < mi->counts[0] + mi->counts[1]) {
				if (type == DNS_TYPE_SOA && rdlen >= 20) {
					mi->soa = 1;
					mi->soa_min = wire_get32(m + off + 10 + rdlen - 4);
				} else if (type == DNS_TYPE_NS) {
					mi->ns = 1;
				}
			}
			if (ttl_set && (!cap || ttl > *ttl_set))
				wire_put32(m + off + 4, *ttl_set);
		}
		off += 10u + rdlen;
	}
	return off == len ? 0 : -1;
}
