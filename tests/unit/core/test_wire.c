/*
 * test_wire.c -- the hand-written query parser and response writer, checked
 * against ldns: every response we write must parse back with ldns to what
 * we meant.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "globaldns/wire.h"

/* Build a query with ldns; returns its wire length into buf. */
static size_t make_query(uint8_t *buf, size_t cap, const char *name,
	ldns_rr_type type, int edns, uint16_t udp, uint8_t version, int do_bit)
{
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
	ldns_pkt_set_id(p, 0x1234);
	if (edns) {
		ldns_pkt_set_edns_udp_size(p, udp);
		ldns_pkt_set_edns_version(p, version);
		ldns_pkt_set_edns_do(p, do_bit);
		/* ldns writes an OPT only when something EDNS is set */
		ldns_pkt_set_edns_data(p, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 0, ""));
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	assert_true(len <= cap);
	memcpy(buf, wire, len);
	LDNS_FREE(wire);
	ldns_pkt_free(p);
	return len;
}

static void test_parse_basic(void **state)
{
	uint8_t pkt[512];
	struct dns_query q;
	size_t len = make_query(pkt, sizeof(pkt), "HttpBin.Bar.GLOBAL.", LDNS_RR_TYPE_AAAA, 0, 0, 0, 0);

	(void)state;
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_OK);
	assert_int_equal(q.id, 0x1234);
	assert_int_equal(q.qtype, DNS_TYPE_AAAA);
	assert_int_equal(q.qclass, DNS_CLASS_IN);
	assert_int_equal(q.nlabels, 3);
	assert_int_equal(q.qname_len, 20);
	assert_memory_equal(q.qname_lc, "\007httpbin\003bar\006global", 20);
	assert_memory_equal(q.qname, "\007HttpBin\003Bar\006GLOBAL", 20);
	assert_int_equal(q.edns, 0);
}

static void test_parse_edns(void **state)
{
	uint8_t pkt[512];
	struct dns_query q;
	size_t len = make_query(pkt, sizeof(pkt), "a.global.", LDNS_RR_TYPE_A, 1, 4096, 0, 1);

	(void)state;
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_OK);
	assert_int_equal(q.edns, 1);
	assert_int_equal(q.edns_udp, 4096);
	assert_int_equal(q.edns_do, 1);
	len = make_query(pkt, sizeof(pkt), "a.global.", LDNS_RR_TYPE_A, 1, 4096, 1, 0);
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_BADVERS);
}

static void test_parse_bad(void **state)
{
	uint8_t pkt[512];
	struct dns_query q;
	size_t len = make_query(pkt, sizeof(pkt), "a.global.", LDNS_RR_TYPE_A, 0, 0, 0, 0);

	(void)state;
	assert_int_equal(wire_parse_query(pkt, 5, &q), WIRE_DROP);
	pkt[2] |= 0x80; /* QR */
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_DROP);
	pkt[2] &= 0x7f;
	pkt[5] = 2; /* QDCOUNT 2 */
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
	pkt[5] = 0;
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
	pkt[5] = 1;
	assert_int_equal(wire_parse_query(pkt, len - 1, &q), WIRE_FORMERR);
	pkt[2] = (uint8_t)((pkt[2] & 0x87) | (4 << 3)); /* opcode NOTIFY */
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_NOTIMP);
	pkt[5] = 0; /* a DSO-like message: opcode 6, no question: NOTIMP */
	pkt[2] = (uint8_t)((pkt[2] & 0x87) | (6 << 3));
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_NOTIMP);
	pkt[5] = 1;
	pkt[2] &= 0x87;
	pkt[12] = 0xC0; /* compression pointer in the question */
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
	/* ARCOUNT says one record that is not there */
	len = make_query(pkt, sizeof(pkt), "a.global.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	pkt[11] = 1;
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
}

/* A query for a.global. A, ID 0x1234, with `extra` appended and the
 * counts given (AN, NS, AR). */
static size_t raw_query(uint8_t *pkt, int qd, int an, int ar, const uint8_t *extra,
	size_t elen)
{
	static const uint8_t q[] = "\001a\006global\000\000\001\000\001";
	size_t len = 12;

	memset(pkt, 0, 12);
	pkt[0] = 0x12; pkt[1] = 0x34;
	pkt[5] = (uint8_t)qd;
	pkt[7] = (uint8_t)an;
	pkt[11] = (uint8_t)ar;
	if (qd) {
		memcpy(pkt + len, q, sizeof(q) - 1);
		len += sizeof(q) - 1;
	}
	memcpy(pkt + len, extra, elen);
	return len + elen;
}

/* OPT with 8 bytes of RDATA: one option of length `optlen`. */
static const uint8_t opt_rr_head[] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 8, 0, 10 };

/* TSIG key "k.", alg "hmac-sha256.", time 0x000012345678, fudge 300,
 * MAC of 2 bytes, original ID 0x4321, error 0, other 0. */
static const uint8_t tsig_rr[] = {
	1, 'k', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 13 + 10 + 2 + 6,
	11, 'h', 'm', 'a', 'c', '-', 's', 'h', 'a', '2', '5', '6', 0,
	0, 0, 0x12, 0x34, 0x56, 0x78, 0x01, 0x2c, 0, 2, 0xaa, 0xbb,
	0x43, 0x21, 0, 0, 0, 0,
};

static void test_parse_edns_options(void **state)
{
	uint8_t pkt[512], rr[64];
	struct dns_query q;
	size_t len;

	(void)state;
	memcpy(rr, opt_rr_head, sizeof(opt_rr_head));
	rr[sizeof(opt_rr_head)] = 0;
	rr[sizeof(opt_rr_head) + 1] = 4;        /* option length 4: fits */
	memcpy(rr + sizeof(opt_rr_head) + 2, "abcd", 4);
	len = raw_query(pkt, 1, 0, 1, rr, sizeof(opt_rr_head) + 6);
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_OK);
	assert_int_equal(q.edns, 1);
	rr[sizeof(opt_rr_head) + 1] = 5;        /* past the RDATA */
	len = raw_query(pkt, 1, 0, 1, rr, sizeof(opt_rr_head) + 6);
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
	assert_int_equal(q.edns, 0);            /* the FORMERR has no OPT */
	assert_int_not_equal(q.qend, 0);        /* but the question */
	/* QDCOUNT 0 with a sound OPT: FORMERR with the OPT, DO kept */
	rr[sizeof(opt_rr_head) + 1] = 4;
	len = raw_query(pkt, 0, 0, 1, rr, sizeof(opt_rr_head) + 6);
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
	assert_int_equal(q.edns, 1);
	assert_int_equal(q.edns_do, 1);
	assert_int_equal(q.qend, 0);
	/* QDCOUNT 2: FORMERR without OPT */
	pkt[5] = 2;
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
	assert_int_equal(q.edns, 0);
}

static void test_parse_tsig(void **state)
{
	uint8_t pkt[512], two[256], resp[512];
	struct dns_query q;
	struct wire_resp w;
	size_t len, rlen;

	(void)state;
	len = raw_query(pkt, 1, 0, 1, tsig_rr, sizeof(tsig_rr));
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_BADKEY);
	assert_int_equal(q.tsig_off, len - sizeof(tsig_rr));
	/* the error answer: NOTAUTH, question, the TSIG record echoed */
	wire_resp_init(&w, resp, sizeof(resp), 512, pkt, &q);
	wire_resp_rcode(&w, DNS_RCODE_NOTAUTH);
	rlen = wire_resp_finish(&w);
	rlen = wire_resp_tsig_error(resp, rlen, sizeof(resp), pkt, len, &q, DNS_TSIG_BADKEY);
	{
		ldns_pkt *p = NULL;
		ldns_rr *t;
		assert_int_equal(ldns_wire2pkt(&p, resp, rlen), LDNS_STATUS_OK);
		assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOTAUTH);
		assert_int_equal(ldns_pkt_qdcount(p), 1);
		/* ldns takes the TSIG out of the additional section */
		t = ldns_pkt_tsig(p);
		assert_non_null(t);
		assert_int_equal(ldns_rr_get_class(t), LDNS_RR_CLASS_ANY);
		assert_int_equal(ldns_rr_ttl(t), 0);
		assert_int_equal(ldns_rdf_size(ldns_rr_rdf(t, 3)), 2);   /* MAC: its size field (0) only */
		assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(t, 3)), 0);
		assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(t, 4)), 0x4321);
		assert_int_equal(ldns_rdf2native_int16(ldns_rr_rdf(t, 5)), DNS_TSIG_BADKEY);
		ldns_pkt_free(p);
	}
	/* not last: FORMERR; twice: FORMERR; in the answer section: FORMERR */
	memcpy(two, tsig_rr, sizeof(tsig_rr));
	memcpy(two + sizeof(tsig_rr), opt_rr_head, sizeof(opt_rr_head) - 2);
	two[sizeof(tsig_rr) + 10] = 0;          /* OPT RDLENGTH 0 */
	len = raw_query(pkt, 1, 0, 2, two, sizeof(tsig_rr) + 11);
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
	memcpy(two + sizeof(tsig_rr), tsig_rr, sizeof(tsig_rr));
	len = raw_query(pkt, 1, 0, 2, two, 2 * sizeof(tsig_rr));
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
	len = raw_query(pkt, 1, 1, 0, tsig_rr, sizeof(tsig_rr));
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
	/* class IN: FORMERR (as NSD); RDATA one byte short: FORMERR */
	memcpy(two, tsig_rr, sizeof(tsig_rr));
	two[6] = 1;
	len = raw_query(pkt, 1, 0, 1, two, sizeof(tsig_rr));
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
	two[6] = 255;
	two[12]--;
	len = raw_query(pkt, 1, 0, 1, two, sizeof(tsig_rr) - 1);
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_FORMERR);
	assert_int_equal(q.tsig_off, 0);
	/* signed NOTIFY: BADKEY before NOTIMP */
	len = raw_query(pkt, 1, 0, 1, tsig_rr, sizeof(tsig_rr));
	pkt[2] = 4 << 3;
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_BADKEY);
}

/* Every prefix of a valid query, and every single byte flipped, parses or
 * fails cleanly (ASan watches for out-of-bounds reads). */
static void test_parse_fuzz(void **state)
{
	uint8_t pkt[512], copy[512];
	struct dns_query q;
	size_t len = make_query(pkt, sizeof(pkt), "x.y.global.", LDNS_RR_TYPE_A, 1, 1232, 0, 1);

	(void)state;
	for (size_t n = 0; n <= len; n++) {
		memcpy(copy, pkt, n);
		(void)wire_parse_query(copy, n, &q);
	}
	for (size_t i = 0; i < len; i++)
		for (int v = 0; v < 256; v += 7) {
			memcpy(copy, pkt, len);
			copy[i] = (uint8_t)v;
			(void)wire_parse_query(copy, len, &q);
		}
}

static ldns_pkt *reparse(const uint8_t *buf, size_t len)
{
	ldns_pkt *p = NULL;

	assert_int_equal(ldns_wire2pkt(&p, buf, len), LDNS_STATUS_OK);
	return p;
}

static void test_write_answer(void **state)
{
	uint8_t pkt[512], out[1024];
	struct dns_query q;
	struct wire_resp w;
	size_t len = make_query(pkt, sizeof(pkt), "HttpBin.bar.global.", LDNS_RR_TYPE_A, 1, 1232, 0, 1);
	const uint8_t a[4] = { 240, 0, 0, 2 };
	ldns_pkt *p;
	ldns_rr *rr;
	char *s;

	(void)state;
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_OK);
	wire_resp_init(&w, out, sizeof(out), 1232, pkt, &q);
	wire_resp_rcode(&w, DNS_RCODE_NOERROR);
	wire_resp_flags(&w, DNS_FLAG_AA);
	assert_int_equal(wire_resp_rr(&w, WIRE_SEC_ANSWER, WIRE_HDR, DNS_TYPE_A, DNS_CLASS_IN, 30, a, 4), 0);
	assert_int_equal(wire_resp_soa(&w, WIRE_SEC_AUTHORITY, wire_qname_suffix_off(&q, 2), 30, 77, 30), 0);
	len = wire_resp_finish(&w);
	p = reparse(out, len);
	assert_int_equal(ldns_pkt_id(p), 0x1234);
	assert_true(ldns_pkt_qr(p));
	assert_true(ldns_pkt_aa(p));
	assert_true(ldns_pkt_rd(p));
	assert_false(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(ldns_pkt_nscount(p), 1);
	assert_true(ldns_pkt_edns(p));
	assert_true(ldns_pkt_edns_do(p));
	assert_int_equal(ldns_pkt_edns_udp_size(p), 1232);
	rr = ldns_rr_list_rr(ldns_pkt_question(p), 0);
	s = ldns_rdf2str(ldns_rr_owner(rr));
	assert_string_equal(s, "HttpBin.bar.global.");   /* 0x20 echoed */
	free(s);
	rr = ldns_rr_list_rr(ldns_pkt_answer(p), 0);
	s = ldns_rr2str(rr);
	assert_string_equal(s, "HttpBin.bar.global.\t30\tIN\tA\t240.0.0.2\n");
	free(s);
	rr = ldns_rr_list_rr(ldns_pkt_authority(p), 0);
	s = ldns_rr2str(rr);
	assert_string_equal(s, "global.\t30\tIN\tSOA\tns.dns.global. hostmaster.global. 77 7200 1800 86400 30\n");
	free(s);
	ldns_pkt_free(p);
}

static void test_write_truncate(void **state)
{
	uint8_t pkt[512], out[65535];
	struct dns_query q;
	struct wire_resp w;
	size_t len = make_query(pkt, sizeof(pkt), "big.global.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	uint8_t a[4] = { 10, 0, 0, 0 };
	ldns_pkt *p;
	int rc = 0, added = 0;

	(void)state;
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_OK);
	wire_resp_init(&w, out, sizeof(out), 512, pkt, &q);
	for (int i = 0; i < 100 && rc == 0; i++) {
		a[3] = (uint8_t)i;
		rc = wire_resp_rr(&w, WIRE_SEC_ANSWER, WIRE_HDR, DNS_TYPE_A, DNS_CLASS_IN, 30, a, 4);
		added += rc == 0;
	}
	assert_int_equal(rc, -1);
	assert_true(added < 100);
	len = wire_resp_finish(&w);
	assert_true(len <= 512);
	p = reparse(out, len);
	assert_true(ldns_pkt_tc(p));
	assert_int_equal(ldns_pkt_ancount(p), 0);
	assert_int_equal(ldns_pkt_qdcount(p), 1);
	ldns_pkt_free(p);
}

static void test_badvers_rcode(void **state)
{
	uint8_t pkt[512], out[1024];
	struct dns_query q;
	struct wire_resp w;
	size_t len = make_query(pkt, sizeof(pkt), "a.global.", LDNS_RR_TYPE_A, 1, 1232, 1, 0);
	ldns_pkt *p;

	(void)state;
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_BADVERS);
	wire_resp_init(&w, out, sizeof(out), 512, pkt, &q);
	wire_resp_rcode(&w, DNS_RCODE_BADVERS);
	len = wire_resp_finish(&w);
	p = reparse(out, len);
	assert_true(ldns_pkt_edns(p));
	assert_int_equal(ldns_pkt_get_rcode(p), 0);
	assert_int_equal(ldns_pkt_edns_extended_rcode(p), 1);   /* 16 >> 4 */
	ldns_pkt_free(p);
}

static void test_names(void **state)
{
	uint8_t w[WIRE_MAXNAME];
	char s[1024];
	uint8_t pkt[512];
	struct dns_query q;
	size_t len;

	(void)state;
	assert_int_equal(wire_name_from_str("global.", w), 8);
	assert_int_equal(wire_name_from_str("global", w), 8);
	assert_int_equal(wire_name_from_str(".", w), 1);
	assert_int_equal(wire_name_from_str("a..b", w), -1);
	assert_int_equal(wire_name_from_str("", w), -1);
	wire_name_from_str("A.b.Global", w);
	wire_name_lower(w, sizeof(w));
	assert_string_equal(wire_name_to_str(w, s, sizeof(s)), "a.b.global.");
	assert_int_equal(wire_name_labels(w), 3);
	len = make_query(pkt, sizeof(pkt), "x.Bar.GLOBAL.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(wire_parse_query(pkt, len, &q), WIRE_OK);
	assert_int_equal(wire_zone_label(&q, (const uint8_t *)"\006global", 8, 1), 2);
	assert_int_equal(wire_zone_label(&q, (const uint8_t *)"\003bar\006global", 12, 2), 1);
	assert_int_equal(wire_zone_label(&q, (const uint8_t *)"", 1, 0), 3);
	assert_int_equal(wire_zone_label(&q, (const uint8_t *)"\005lobal", 7, 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_basic),
		cmocka_unit_test(test_parse_edns),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_edns_options),
		cmocka_unit_test(test_parse_tsig),
		cmocka_unit_test(test_parse_fuzz),
		cmocka_unit_test(test_write_answer),
		cmocka_unit_test(test_write_truncate),
		cmocka_unit_test(test_badvers_rcode),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
