/*
 * wire.h -- the DNS wire format on the query path: parse a query, write a
 * response, with no allocation.
 *
 * Why not ldns here: ldns_wire2pkt()/ldns_pkt2wire() allocate a tree per
 * packet, and the query path must not allocate.  This module does only what
 * the authoritative path needs (header, one question, the OPT record,
 * answer records with compression pointers into the question) on caller
 * buffers; tests/unit/test_wire.c checks every packet it writes by parsing
 * it back with ldns.  Everything that is not on the per-query path (zone
 * names from the Corefile, host names at registry build) may use ldns.
 */
#ifndef GLOBALDNS_WIRE_H
#define GLOBALDNS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_HDR 12
#define WIRE_MAXNAME 255
#define WIRE_MAXLABELS 128

enum {
	DNS_RCODE_NOERROR = 0,
	DNS_RCODE_FORMERR = 1,
	DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3,
	DNS_RCODE_NOTIMP = 4,
	DNS_RCODE_REFUSED = 5,
	DNS_RCODE_NOTAUTH = 9,
	DNS_RCODE_BADVERS = 16          /* extended: needs OPT */
};

/* TSIG error field (RFC 8945) */
#define DNS_TSIG_BADKEY 17

enum {
	DNS_TYPE_A = 1,
	DNS_TYPE_NS = 2,
	DNS_TYPE_CNAME = 5,
	DNS_TYPE_SOA = 6,
	DNS_TYPE_PTR = 12,
	DNS_TYPE_MX = 15,
	DNS_TYPE_TXT = 16,
	DNS_TYPE_AAAA = 28,
	DNS_TYPE_OPT = 41,
	DNS_TYPE_HINFO = 13,
	DNS_TYPE_TSIG = 250,
	DNS_TYPE_IXFR = 251,
	DNS_TYPE_AXFR = 252,
	DNS_TYPE_ANY = 255
};

#define DNS_CLASS_IN 1
#define DNS_CLASS_CH 3
#define DNS_CLASS_ANY 255

/* Header flag bits (second 16-bit word). */
#define DNS_FLAG_QR 0x8000
#define DNS_FLAG_AA 0x0400
#define DNS_FLAG_TC 0x0200
#define DNS_FLAG_RD 0x0100
#define DNS_FLAG_RA 0x0080
#define DNS_FLAG_AD 0x0020
#define DNS_FLAG_CD 0x0010

/* The largest UDP answer we send by default (DNS flag day 2020). */
#define WIRE_DEFAULT_UDP_MAX 1232

/* Big-endian fields of the wire format. */
static inline uint16_t wire_get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t wire_get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wire_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* The offset just past the (possibly compressed) name at off, or 0 if it
 * runs past len or uses a reserved label type. */
size_t wire_skip_name(const uint8_t *pkt, size_t len, size_t off);

/* A parsed query.  Fixed size; lives on the stack or in a request slot. */
struct dns_query {
	uint16_t id;
	uint16_t flags;                 /* as received */
	uint8_t qname[WIRE_MAXNAME];    /* wire form, case as asked */
	uint8_t qname_lc[WIRE_MAXNAME]; /* wire form, lowercased */
	uint16_t qname_len;             /* bytes, including the root label */
	uint8_t nlabels;                /* labels, not counting the root */
	uint8_t label_off[WIRE_MAXLABELS]; /* offset of each label in qname */
	uint16_t qtype;
	uint16_t qclass;
	uint16_t qend;                  /* offset just past the question */
	uint8_t edns;                   /* 1 if the query had an OPT record */
	uint8_t edns_version;
	uint8_t edns_do;
	uint16_t edns_udp;              /* the client's advertised size */
	uint16_t tsig_off;              /* offset of a (well-formed, last) TSIG record, 0 if none */
};

enum wire_parse {
	WIRE_OK = 0,
	WIRE_DROP,          /* not a query we answer: too short, or QR=1 */
	WIRE_FORMERR,       /* answer FORMERR (question may be unparsed) */
	WIRE_NOTIMP,        /* opcode other than QUERY */
	WIRE_BADVERS,       /* EDNS version > 0 */
	WIRE_BADKEY         /* TSIG-signed: we have no key (NOTAUTH, BADKEY) */
};

/*
 * Parse pkt as a query into *q.  On WIRE_FORMERR, q->qend is 0 if the
 * question could not be read (then the answer carries no question), and
 * q->edns says whether the FORMERR carries an OPT (only when QDCOUNT is 0
 * and the rest of the message is sound, as Knot answers).  Malformed: a
 * record past the end, an OPT outside the additional section, twice, not
 * owned by the root or whose options overrun its RDATA; a TSIG record
 * that is not the last, not class ANY or whose RDATA does not parse.
 */
enum wire_parse wire_parse_query(const uint8_t *pkt, size_t len,
	struct dns_query *q);

/* A response under construction in a caller buffer. */
struct wire_resp {
	uint8_t *buf;
	size_t cap;         /* bytes in buf */
	size_t limit;       /* largest message the client accepts */
	size_t len;
	uint16_t counts[3]; /* answer, authority, additional (without OPT) */
	int truncated;
	int edns;           /* add an OPT at finish */
	int edns_do;
	int ext_rcode;      /* upper 8 bits of an extended rcode */
};

enum { WIRE_SEC_ANSWER = 0, WIRE_SEC_AUTHORITY = 1, WIRE_SEC_ADDITIONAL = 2 };

/*
 * Start a response to q in buf: ID, opcode, RD and CD copied, QR set, the
 * question copied from the original packet `pkt` (so the client's case is
 * echoed); `limit` is the largest size the client accepts.  If q->qend is
 * 0 the response has no question.  cap must be at least 512.
 */
void wire_resp_init(struct wire_resp *r, uint8_t *buf, size_t cap,
	size_t limit, const uint8_t *pkt, const struct dns_query *q);

/* Set the response code (an extended one needs the query to have EDNS). */
void wire_resp_rcode(struct wire_resp *r, int rcode);
void wire_resp_flags(struct wire_resp *r, uint16_t set);

/*
 * Append a record whose owner is the name at `owner_off` in the message
 * (a compression pointer; 12 is the question name) and whose rdata is
 * given.  Returns 0, or -1 if it does not fit in limit (the response is
 * then marked truncated and nothing more is added).
 */
int wire_resp_rr(struct wire_resp *r, int section, uint16_t owner_off,
	uint16_t type, uint16_t klass, uint32_t ttl,
	const uint8_t *rdata, uint16_t rdlen);

/*
 * Append `count` records already in wire form (len bytes, their owners
 * compression pointers into this message): all of them, or none and the
 * response is marked truncated (-1), as wire_resp_rr.
 */
int wire_resp_rrs(struct wire_resp *r, int section, const uint8_t *rrs,
	size_t len, unsigned int count);

/*
 * Append a SOA record for the zone apex at `apex_off`, with MNAME
 * "ns.dns.<apex>" and RNAME "hostmaster.<apex>" (as CoreDNS's kubernetes
 * plugin writes them).  Returns 0 or -1 as wire_resp_rr.
 */
int wire_resp_soa(struct wire_resp *r, int section, uint16_t apex_off,
	uint32_t ttl, uint32_t serial, uint32_t minimum);

/* Append an NS record "ns.dns.<apex>" owned by the apex.  0 or -1. */
int wire_resp_ns(struct wire_resp *r, int section, uint16_t apex_off,
	uint32_t ttl);

/*
 * Finish: write the counts and the OPT record (if the query had EDNS).  A
 * truncated response is cut back to header and question with TC set.
 * Returns the message length.
 */
size_t wire_resp_finish(struct wire_resp *r);

/*
 * Append to a finished response (buf, len bytes, cap) the unsigned TSIG
 * record of an error answer to the signed query q (RFC 8945 5.3.2): the
 * request's key and algorithm names, its time signed and fudge, no MAC,
 * its original ID, and `error`; ARCOUNT is incremented.  Returns the new
 * length (len unchanged if q has no TSIG or it does not fit).
 */
size_t wire_resp_tsig_error(uint8_t *buf, size_t len, size_t cap,
	const uint8_t *pkt, size_t pktlen, const struct dns_query *q,
	uint16_t error);

/*
 * Offset, in a response built by wire_resp_init, of the question-name
 * suffix that starts at label i of q (i == q->nlabels is the root).
 */
uint16_t wire_qname_suffix_off(const struct dns_query *q, unsigned int i);

/*
 * If q's name is at or below the zone (lowercased wire form, zlabels
 * labels), return the index of q's label where the zone starts (0 when q is
 * the apex; q->nlabels for the root zone); else -1.
 */
int wire_zone_label(const struct dns_query *q, const uint8_t *zone,
	size_t zlen, unsigned int zlabels);

/* Lowercase a wire name in place (ASCII only, as DNS compares). */
void wire_name_lower(uint8_t *name, size_t len);

/*
 * Convert presentation "a.b.c." / "a.b.c" / "." to wire form in out
 * (WIRE_MAXNAME bytes).  Returns the length, or -1 if invalid.  Not for
 * the query path (it is not optimised), but allocation-free.
 */
int wire_name_from_str(const char *s, uint8_t *out);

/*
 * Write wire name `name` in presentation form ("a.b.", "." for the root)
 * into out; returns out.  Escapes dots and non-printables as \DDD.
 */
char *wire_name_to_str(const uint8_t *name, char *out, size_t outlen);

/* What a walk over a whole message found (wire_msg_walk). */
struct wire_msg_info {
	size_t qend;                    /* past the question */
	size_t opt_off, opt_end;        /* the OPT record, if any */
	uint16_t counts[3];             /* answer, authority, additional (OPT included) */
	uint32_t min_ttl;               /* of every record but the OPT */
	int nrecords;                   /* records but the OPT */
	int soa, ns;                    /* an SOA / NS in authority */
	uint32_t soa_min;               /* that SOA's MINIMUM */
};

/*
 * Walk every record of message m (one question); with ttl_set, write
 * *ttl_set into every TTL but the OPT's (only into those above it, if
 * cap).  0, or -1 if the message is malformed (an OPT outside the
 * additional section or twice, a record past the end, bytes left over).
 */
int wire_msg_walk(uint8_t *m, size_t len, struct wire_msg_info *mi,
	const uint32_t *ttl_set, int cap);

/* Number of labels in a wire name, not counting the root. */
int wire_name_labels(const uint8_t *name);

/* A zone (or any name below which something applies): both forms. */
struct wire_zone {
	char name[256];                 /* presentation, lowercase, FQDN: "global." */
	uint8_t wire[WIRE_MAXNAME];     /* wire form, lowercased */
	int wire_len;
	int nlabels;                    /* not counting the root */
};

/* Set z from a presentation name ("Global", "global.", "."), lowercased.
 * 0, or -1 if the name is invalid. */
int wire_zone_set(struct wire_zone *z, const char *name);

/* wire_zone_label() for z: where z starts in q's name, or -1. */
int wire_zone_match(const struct dns_query *q, const struct wire_zone *z);

/* The mnemonic of a type ("A", "AAAA", "SRV" ...), or NULL if not known. */
const char *dns_type_name(uint16_t type);

/* miekg/dns's name of an rcode (what CoreDNS prints: "NOERROR" ...
 * "RCODE15", "BADSIG" ... "BADCOOKIE"), or NULL past 23. */
const char *dns_rcode_name(int rcode);

#endif
