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
		cmocka_unit_test(test_parse_fuzz),
		cmocka_unit_test(test_write_answer),
		cmocka_unit_test(test_write_truncate),
		cmocka_unit_test(test_badvers_rcode),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
