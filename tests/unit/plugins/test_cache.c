/*
 * test_cache.c -- the `cache` plugin without sockets: a cache instance is
 * set up from a Corefile directive, queries built with ldns go through its
 * serve function, and the forwarder's answer is played by writing an
 * upstream response (built with ldns) into the request and calling the
 * answer hook the cache left, as query.c does.  Hits are parsed back
 * with ldns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ldns/ldns.h>

#include "plugins/cache.h"
#include "globaldns/corefile.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/wire.h"

/* The plugin, found as the core finds it: through the plugin table. */
static const struct plugin_ops *cache_ops(void)
{
	for (size_t i = 0; i < plugin_table_size; i++)
		if (strcmp(plugin_table[i].name, "cache") == 0)
			return plugin_table[i].ops;
	return NULL;
}

struct fixture {
	struct corefile *cf;
	void *cache;
	uint8_t pkt[512];
	uint8_t resp[QUERY_RESP_MAX];
	struct dns_request req;
};

/* A cache instance from `cache ...` in a `.:53` block. */
static struct fixture *fx_new(const char *directive)
{
	struct fixture *f = calloc(1, sizeof(*f));
	static char *zones[] = { "." };
	struct plugin_block block = { .file = "Corefile", .line = 1, .port = 53, .zones = zones, .nzones = 1 };
	struct plugin_process process = { 0 };
	struct plugin_ctx ctx = { .block = &block, .process = &process };
	char text[1024], err[512];

	assert_non_null(f);
	snprintf(text, sizeof(text), ".:53 {\n%s\n}\n", directive);
	f->cf = corefile_parse("Corefile", text, err, sizeof(err));
	assert_non_null(f->cf);
	assert_int_equal(cache_ops()->setup(&ctx, &f->cf->blocks[0].dirs[0], &f->cache,
		err, sizeof(err)), 0);
	return f;
}

static void fx_free(struct fixture *f)
{
	cache_ops()->free(f->cache);
	corefile_free(f->cf);
	free(f);
}

/* A client to answer: the cache treats a request without one as its own
 * background refresh. */
static void no_reply(struct dns_request *req, const uint8_t *resp, size_t len)
{
	(void)req;
	(void)resp;
	(void)len;
}

/* Build the query name/type (DO, CD as asked) into f->req. */
static void ask(struct fixture *f, const char *name, ldns_rr_type type, int edns,
	int do_bit, int cd, int tcp)
{
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;

	assert_int_equal(ldns_pkt_query_new_frm_str(&p, name, type, LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
	ldns_pkt_set_id(p, 0x4242);
	ldns_pkt_set_cd(p, cd);
	if (edns) {
		ldns_pkt_set_edns_udp_size(p, 1232);
		ldns_pkt_set_edns_do(p, do_bit);
		ldns_pkt_set_edns_data(p, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 0, ""));
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	assert_true(len <= sizeof(f->pkt));
	memcpy(f->pkt, wire, len);
	LDNS_FREE(wire);
	ldns_pkt_free(p);
	memset(&f->req, 0, sizeof(f->req));
	f->req.pkt = f->pkt;
	f->req.pktlen = len;
	f->req.resp = f->resp;
	f->req.tcp = tcp;
	f->req.plugin = "";
	f->req.transport.reply = no_reply;
	assert_int_equal(wire_parse_query(f->pkt, len, &f->req.q), WIRE_OK);
	f->req.limit = tcp ? QUERY_RESP_MAX : edns ? 1232 : 512;
}

/* Run the cache; PLUGIN_DONE (a hit) or PLUGIN_NEXT (a miss). */
static enum plugin_result serve(struct fixture *f)
{
	return cache_ops()->serve(f->cache, &f->req);
}

/* The forwarder's answer to the query in f->req: a response with rcode,
 * AA as given and records ("an:..." / "ns:..." lines). */
static void respond(struct fixture *f, ldns_pkt_rcode rcode, int aa,
	const char *const *rrs, size_t nrrs)
{
	ldns_pkt *p = ldns_pkt_new();
	ldns_rr *qrr = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	char qname[300];

	assert_non_null(p);
	ldns_pkt_set_id(p, 0x4242);
	ldns_pkt_set_qr(p, 1);
	ldns_pkt_set_ra(p, 1);
	ldns_pkt_set_rd(p, 1);
	ldns_pkt_set_aa(p, aa);
	ldns_pkt_set_rcode(p, (uint8_t)rcode);
	wire_name_to_str(f->pkt + WIRE_HDR, qname, sizeof(qname) - 8);
	strcat(qname, " IN A");
	assert_int_equal(ldns_rr_new_question_frm_str(&qrr, qname, NULL, NULL), LDNS_STATUS_OK);
	ldns_rr_set_type(qrr, (ldns_rr_type)f->req.q.qtype);
	ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, qrr);
	for (size_t i = 0; i < nrrs; i++) {
		ldns_rr *rr = NULL;
		assert_int_equal(ldns_rr_new_frm_str(&rr, rrs[i] + 3, 0, NULL, NULL), LDNS_STATUS_OK);
		ldns_pkt_push_rr(p, rrs[i][0] == 'a' ? LDNS_SECTION_ANSWER : LDNS_SECTION_AUTHORITY, rr);
	}
	assert_int_equal(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	memcpy(f->req.resp, wire, len);
	f->req.resp_len = len;
	f->req.plugin = "forward";
	LDNS_FREE(wire);
	ldns_pkt_free(p);
}

/* The final answer goes past the hook the cache set, as query.c does it. */
static void done(struct fixture *f)
{
	assert_int_equal(f->req.nhooks, 1);
	f->req.nhooks = 0;
	f->req.hooks[0].fn(f->req.hooks[0].arg, &f->req);
}

static void upstream(struct fixture *f, ldns_pkt_rcode rcode, int aa,
	const char *const *rrs, size_t nrrs)
{
	respond(f, rcode, aa, rrs, nrrs);
	done(f);
}

/* The hit in f->req, parsed (caller frees). */
static ldns_pkt *hit(struct fixture *f)
{
	ldns_pkt *p = NULL;

	assert_int_equal(ldns_wire2pkt(&p, f->req.resp, f->req.resp_len), LDNS_STATUS_OK);
	assert_int_equal(ldns_pkt_id(p), 0x4242);
	return p;
}

static uint32_t first_ttl(ldns_pkt *p, ldns_pkt_section s)
{
	ldns_rr_list *l = ldns_pkt_get_section_clone(p, s);
	uint32_t ttl;

	assert_true(ldns_rr_list_rr_count(l) > 0);
	ttl = ldns_rr_ttl(ldns_rr_list_rr(l, 0));
	ldns_rr_list_deep_free(l);
	return ttl;
}

static const struct cache_stats *stats(struct fixture *f)
{
	return cache_get_stats(f->cache);
}

static const char *const www[] = { "an:www.example.test. 300 IN A 192.0.2.1" };

/* miss, store, hit: only the forwarder's answers */
static void test_hit(void **state)
{
	struct fixture *f = fx_new("cache");
	ldns_pkt *p;

	(void)state;
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 1, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	upstream(f, LDNS_RCODE_NOERROR, 0, www, 1);
	assert_int_equal(stats(f)->inserts, 1);
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 1, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	p = hit(f);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(ldns_pkt_ancount(p), 1);
	assert_int_equal(ldns_pkt_aa(p), 0);       /* the upstream set none */
	assert_int_equal(ldns_pkt_edns(p), 1);
	ldns_pkt_free(p);
	assert_int_equal(stats(f)->hits_success, 1);

	/* an answer not from the forwarder (serviceentries) is never stored */
	ask(f, "other.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	{
		const char *const o[] = { "an:other.example.test. 300 IN A 192.0.2.9" };
		respond(f, LDNS_RCODE_NOERROR, 1, o, 1);
	}
	f->req.plugin = "serviceentries";
	done(f);
	assert_int_equal(stats(f)->inserts, 1);
	fx_free(f);
}

/* AA comes back only if the upstream set it */
static void test_aa_kept(void **state)
{
	struct fixture *f = fx_new("cache");
	ldns_pkt *p;

	(void)state;
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	upstream(f, LDNS_RCODE_NOERROR, 1, www, 1);
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	p = hit(f);
	assert_int_equal(ldns_pkt_aa(p), 1);
	ldns_pkt_free(p);
	fx_free(f);
}

/* the key: name case-insensitive; type; DO and CD bits */
static void test_key(void **state)
{
	struct fixture *f = fx_new("cache");
	ldns_pkt *p;
	char qname[300];

	(void)state;
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 1, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	upstream(f, LDNS_RCODE_NOERROR, 0, www, 1);

	ask(f, "WwW.ExAmPlE.TEST.", LDNS_RR_TYPE_A, 1, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	p = hit(f);
	/* the question as the client asked it (0x20) */
	wire_name_to_str(f->resp + WIRE_HDR, qname, sizeof(qname));
	assert_string_equal(qname, "WwW.ExAmPlE.TEST.");
	ldns_pkt_free(p);

	ask(f, "www.example.test.", LDNS_RR_TYPE_AAAA, 1, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 1, 1, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);     /* DO */
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 1, 0, 1, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);     /* CD */
	upstream(f, LDNS_RCODE_NOERROR, 0, www, 1);
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 0, 0, 1, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);     /* CD stored: a hit */
	p = hit(f);
	assert_int_equal(ldns_pkt_cd(p), 1);
	ldns_pkt_free(p);
	/* EDNS itself is not in the key: a hit without OPT */
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	p = hit(f);
	assert_int_equal(ldns_pkt_edns(p), 0);
	assert_int_equal(ldns_pkt_arcount(p), 0);
	ldns_pkt_free(p);
	fx_free(f);
}

/* TTLs count down; success MINTTL and TTL clamp them */
static void test_ttl(void **state)
{
	struct fixture *f = fx_new("cache {\n success 100 60 30\n}");
	const char *const shortttl[] = { "an:short.example.test. 5 IN A 192.0.2.5" };
	ldns_pkt *p;

	(void)state;
	/* 300 from upstream, TTL 60: the first answer already says 60 */
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	upstream(f, LDNS_RCODE_NOERROR, 0, www, 1);
	p = hit(f);
	assert_int_equal(first_ttl(p, LDNS_SECTION_ANSWER), 60);
	ldns_pkt_free(p);
	/* 5 from upstream, MINTTL 30: cached for 30 */
	ask(f, "short.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	upstream(f, LDNS_RCODE_NOERROR, 0, shortttl, 1);
	ask(f, "short.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	p = hit(f);
	assert_int_equal(first_ttl(p, LDNS_SECTION_ANSWER), 30);
	ldns_pkt_free(p);
	/* a second later both have counted down by one */
	usleep(1100 * 1000);
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	p = hit(f);
	assert_int_equal(first_ttl(p, LDNS_SECTION_ANSWER), 59);
	ldns_pkt_free(p);
	ask(f, "short.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	p = hit(f);
	assert_int_equal(first_ttl(p, LDNS_SECTION_ANSWER), 29);
	ldns_pkt_free(p);
	fx_free(f);
}

/* denial: the SOA minimum, capped by the denial TTL */
static void test_denial(void **state)
{
	const char *const nx[] = { "ns:test. 300 IN SOA ns.up. host.up. 1 3600 600 86400 60" };
	struct fixture *f;
	ldns_pkt *p;
	uint32_t ttl;
	uint8_t *wire = NULL;
	size_t len;

	(void)state;
	/* cache_classify: NXDOMAIN for min(300, SOA minimum 60) */
	f = fx_new("cache");
	ask(f, "nx.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	upstream(f, LDNS_RCODE_NXDOMAIN, 0, nx, 1);
	len = f->req.resp_len;
	wire = malloc(len);
	memcpy(wire, f->req.resp, len);
	assert_int_equal(cache_classify(wire, len, &ttl), CACHE_DENIAL);
	assert_int_equal(ttl, 60);
	free(wire);
	ask(f, "nx.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	p = hit(f);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	assert_int_equal(first_ttl(p, LDNS_SECTION_AUTHORITY), 60);
	ldns_pkt_free(p);
	assert_int_equal(stats(f)->entries_denial, 1);
	fx_free(f);

	/* denial TTL 20 caps the SOA minimum; NODATA is a denial too */
	f = fx_new("cache {\n denial 100 20 1\n}");
	ask(f, "nx.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	upstream(f, LDNS_RCODE_NXDOMAIN, 0, nx, 1);
	ask(f, "nx.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	p = hit(f);
	assert_int_equal(first_ttl(p, LDNS_SECTION_AUTHORITY), 20);
	ldns_pkt_free(p);
	ask(f, "www.example.test.", LDNS_RR_TYPE_TXT, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	upstream(f, LDNS_RCODE_NOERROR, 0, nx, 1);
	assert_int_equal(stats(f)->entries_denial, 2);
	fx_free(f);
}

/* capacity: the least recently used entry goes */
static void test_eviction(void **state)
{
	struct fixture *f = fx_new("cache {\n success 2\n}");
	const char *names[] = { "a.example.test.", "b.example.test.", "c.example.test." };

	(void)state;
	for (int i = 0; i < 2; i++) {
		char rr[128];
		const char *rrs[] = { rr };
		snprintf(rr, sizeof(rr), "an:%s 300 IN A 192.0.2.%d", names[i], i + 1);
		ask(f, names[i], LDNS_RR_TYPE_A, 0, 0, 0, 0);
		assert_int_equal(serve(f), PLUGIN_NEXT);
		upstream(f, LDNS_RCODE_NOERROR, 0, rrs, 1);
	}
	/* a is used again, so b is the least recently used */
	ask(f, names[0], LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	{
		const char *rrs[] = { "an:c.example.test. 300 IN A 192.0.2.3" };
		ask(f, names[2], LDNS_RR_TYPE_A, 0, 0, 0, 0);
		assert_int_equal(serve(f), PLUGIN_NEXT);
		upstream(f, LDNS_RCODE_NOERROR, 0, rrs, 1);
	}
	assert_int_equal(stats(f)->evictions, 1);
	assert_int_equal(stats(f)->entries_success, 2);
	ask(f, names[0], LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	ask(f, names[2], LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	ask(f, names[1], LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	fx_free(f);
}

/* SERVFAIL: an upstream's is cached briefly; the forwarder's own never */
static void test_servfail(void **state)
{
	struct fixture *f = fx_new("cache");
	ldns_pkt *p;

	(void)state;
	ask(f, "sf.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	upstream(f, LDNS_RCODE_SERVFAIL, 0, NULL, 0);
	ask(f, "sf.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_DONE);
	p = hit(f);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	assert_int_equal(ldns_pkt_aa(p), 0);
	ldns_pkt_free(p);

	/* the deadline's SERVFAIL (marked by the forwarder) */
	ask(f, "dl.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	f->req.synthesized = 1;                 /* left over: the cache clears it */
	assert_int_equal(serve(f), PLUGIN_NEXT);
	assert_int_equal(f->req.synthesized, 0);
	query_answer_rcode(&f->req, DNS_RCODE_SERVFAIL, "forward");
	f->req.synthesized = 1;
	done(f);
	ask(f, "dl.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	fx_free(f);
}

/* serve_stale: an expired entry answers when the forwarder fails */
static void test_stale(void **state)
{
	struct fixture *f = fx_new("cache {\n success 100 1 1\n serve_stale 1h verify\n}");
	ldns_pkt *p;

	(void)state;
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	upstream(f, LDNS_RCODE_NOERROR, 0, www, 1);
	usleep(1100 * 1000);
	ask(f, "www.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 0);
	assert_int_equal(serve(f), PLUGIN_NEXT);   /* verify: ask first */
	query_answer_rcode(&f->req, DNS_RCODE_SERVFAIL, "forward");
	f->req.synthesized = 1;
	done(f);
	p = hit(f);
	assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	assert_int_equal(first_ttl(p, LDNS_SECTION_ANSWER), 0);
	ldns_pkt_free(p);
	assert_int_equal(stats(f)->served_stale, 1);
	fx_free(f);
}

/* A message a hit could not add an OPT to is not stored. */
static void test_too_big(void **state)
{
	struct fixture *f = fx_new("cache");
	size_t n = 4093, len;
	uint8_t *m = f->resp;

	(void)state;
	/* "hugeone.example.test." is 22 bytes of wire name */
	ask(f, "hugeone.example.test.", LDNS_RR_TYPE_A, 0, 0, 0, 1);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	len = WIRE_HDR + (size_t)f->req.q.qname_len + 4;
	memcpy(m, f->pkt, len);
	m[2] = 0x81;
	m[3] = 0x80;
	m[6] = (uint8_t)(n >> 8);
	m[7] = (uint8_t)n;
	m[8] = m[9] = m[10] = m[11] = 0;
	for (size_t i = 0; i < n; i++) {
		static const uint8_t rr[16] = { 0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 1, 0x2C, 0, 4, 10, 0, 0, 0 };
		memcpy(m + len, rr, sizeof(rr));
		m[len + 13] = (uint8_t)(i >> 16);
		m[len + 14] = (uint8_t)(i >> 8);
		m[len + 15] = (uint8_t)i;
		len += sizeof(rr);
	}
	assert_int_equal(len, 65526);
	f->req.resp_len = len;
	f->req.plugin = "forward";
	done(f);
	assert_int_equal(stats(f)->inserts, 0);
	ask(f, "hugeone.example.test.", LDNS_RR_TYPE_A, 1, 0, 0, 1);
	assert_int_equal(serve(f), PLUGIN_NEXT);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hit),
		cmocka_unit_test(test_aa_kept),
		cmocka_unit_test(test_key),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_denial),
		cmocka_unit_test(test_eviction),
		cmocka_unit_test(test_servfail),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_too_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
