/*
 * bench_query.c -- how fast and how allocation-free the answer path is.
 *
 * Prints a table: for a registry of N ServiceEntries (default 10,000),
 *   - the time to read the manifest and build the registry snapshot;
 *   - ns per query and heap allocations per query through query_process()
 *     (parse, dispatch, lookup, answer) for hits, NODATA and NXDOMAIN,
 *     and for an SRV and a PTR hit (the block has `srv` and `reverse`);
 *   - the same question parsed and answered with ldns (ldns_wire2pkt,
 *     ldns_pkt_new + records, ldns_pkt2wire), the measurement behind
 *     writing src/wire.c by hand.
 * Allocations are counted by interposing malloc/calloc/realloc (glibc).
 * Not a test: `make bench` runs it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <ldns/ldns.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/query.h"
#include "globaldns/plugin.h"
#include "globaldns/server.h"

static unsigned long allocs;

/* Interpose the allocator (the executable's symbols win over libc's, also
 * for calls from shared libraries such as libldns) and count calls. */
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t a, size_t b);
void *__libc_realloc(void *p, size_t n);

void *malloc(size_t n)
{
	allocs++;
	return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
	allocs++;
	return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
	allocs++;
	return __libc_realloc(p, n);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t make_query(uint8_t *buf, const char *name, ldns_rr_type t)
{
	ldns_pkt *p = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;

	ldns_pkt_query_new_frm_str(&p, name, t, LDNS_RR_CLASS_IN, LDNS_RD);
	ldns_pkt_set_edns_udp_size(p, 1232);
	ldns_pkt_set_edns_data(p, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, 0, ""));
	ldns_pkt2wire(&wire, p, &len);
	memcpy(buf, wire, len);
	free(wire);
	ldns_pkt_free(p);
	return len;
}

/* The ldns way: parse, build an answer packet, write it. */
static size_t ldns_answer(const uint8_t *q, size_t qlen, uint8_t *out)
{
	ldns_pkt *qp = NULL, *rp;
	ldns_rr *rr;
	uint8_t *wire = NULL;
	size_t len = 0;
	uint8_t a[4] = { 240, 0, 0, 2 };

	if (ldns_wire2pkt(&qp, q, qlen) != LDNS_STATUS_OK)
		return 0;
	rp = ldns_pkt_new();
	ldns_pkt_set_id(rp, ldns_pkt_id(qp));
	ldns_pkt_set_qr(rp, 1);
	ldns_pkt_set_aa(rp, 1);
	ldns_pkt_push_rr(rp, LDNS_SECTION_QUESTION,
		ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(qp), 0)));
	rr = ldns_rr_new();
	ldns_rr_set_owner(rr, ldns_rdf_clone(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(qp), 0))));
	ldns_rr_set_type(rr, LDNS_RR_TYPE_A);
	ldns_rr_set_ttl(rr, 30);
	ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_A, 4, a));
	ldns_pkt_push_rr(rp, LDNS_SECTION_ANSWER, rr);
	ldns_pkt_set_edns_udp_size(rp, 1232);
	ldns_pkt2wire(&wire, rp, &len);
	memcpy(out, wire, len);
	free(wire);
	ldns_pkt_free(rp);
	ldns_pkt_free(qp);
	return len;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10000;
	long iters = argc > 2 ? atol(argv[2]) : 2000000;
	char dir[] = "/tmp/globaldns-bench.XXXXXX", path[256], text[512], err[512];
	struct server_opts so = { .default_port = 53, .no_listeners = 1,
		.table = plugin_table, .ntable = plugin_table_size };
	static uint8_t resp[QUERY_RESP_MAX];
	struct event_base *base;
	struct plugin_env env;
	struct corefile *cf;
	struct server *srv;
	FILE *f;
	double t0, t1;
	struct { const char *label; char name[64]; ldns_rr_type t; uint8_t pkt[512]; size_t len; } cases[5];

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/se.yaml", dir);
	f = fopen(path, "w");
	for (int i = 0; i < n; i++)
		fprintf(f, "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
			"metadata: {name: se-%05d, namespace: ns%d}\n"
			"spec:\n  hosts: [svc-%05d.ns%d.global]\n  addresses: [240.%d.%d.%d]\n  resolution: STATIC\n"
			"  ports: [{name: http, number: 80, protocol: HTTP}]\n",
			i, i % 50, i, i % 50, 1 + i / 65536, (i / 256) % 256, i % 256);
	fclose(f);
	snprintf(text, sizeof(text), "global:53 240.in-addr.arpa:53 {\n serviceentries {\n  file %s\n"
		"  srv\n  reverse 240.0.0.0/8\n }\n}\n", path);
	log_set_level(LOGL_WARNING);
	base = event_base_new();
	cf = corefile_parse("bench", text, err, sizeof(err));
	srv = server_new(cf, &so, err, sizeof(err));
	t0 = now_s();
	env = (struct plugin_env){ .base = base };
	if (!srv || server_start(srv, &env, err, sizeof(err)) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		return 1;
	}
	t1 = now_s();
	printf("%-44s %12s %14s %8s\n", "benchmark", "per op", "allocs per op", "answers");
	printf("%-44s %9.1f ms %14s\n", "read manifest + build registry", (t1 - t0) * 1e3, "-");
	printf("  (%d ServiceEntries)\n", n);

	cases[0].label = "query_process: A hit";
	snprintf(cases[0].name, 64, "svc-%05d.ns%d.global.", n / 2, (n / 2) % 50);
	cases[0].t = LDNS_RR_TYPE_A;
	cases[1].label = "query_process: AAAA NODATA";
	snprintf(cases[1].name, 64, "svc-%05d.ns%d.global.", n / 3, (n / 3) % 50);
	cases[1].t = LDNS_RR_TYPE_AAAA;
	cases[2].label = "query_process: NXDOMAIN";
	snprintf(cases[2].name, 64, "nothere.ns1.global.");
	cases[2].t = LDNS_RR_TYPE_A;
	cases[3].label = "query_process: SRV hit (+ A additional)";
	snprintf(cases[3].name, 64, "_http._tcp.svc-%05d.ns%d.global.", n / 2, (n / 2) % 50);
	cases[3].t = LDNS_RR_TYPE_SRV;
	cases[4].label = "query_process: PTR hit";
	snprintf(cases[4].name, 64, "%d.%d.%d.240.in-addr.arpa.", (n / 2) % 256, ((n / 2) / 256) % 256,
		1 + (n / 2) / 65536);
	cases[4].t = LDNS_RR_TYPE_PTR;
	for (int c = 0; c < 5; c++) {
		struct dns_request req;
		unsigned long a0;
		cases[c].len = make_query(cases[c].pkt, cases[c].name, cases[c].t);
		a0 = allocs;
		t0 = now_s();
		for (long i = 0; i < iters; i++) {
			memset(&req, 0, offsetof(struct dns_request, q));
			req.pkt = cases[c].pkt;
			req.pktlen = cases[c].len;
			req.server_port = 53;
			req.resp = resp;
			query_process(server_dispatch(srv), &req);
		}
		t1 = now_s();
		printf("%-44s %9.1f ns %14.2f %8u\n", cases[c].label, (t1 - t0) * 1e9 / (double)iters,
			(double)(allocs - a0) / (double)iters, (unsigned)((resp[6] << 8) | resp[7]));
	}
	{
		long li = iters / 10;
		unsigned long a0 = allocs;
		t0 = now_s();
		for (long i = 0; i < li; i++)
			ldns_answer(cases[0].pkt, cases[0].len, resp);
		t1 = now_s();
		printf("%-44s %9.1f ns %14.2f\n", "ldns parse + answer + write (A hit)",
			(t1 - t0) * 1e9 / (double)li, (double)(allocs - a0) / (double)li);
	}
	server_free(srv);
	corefile_free(cf);
	event_base_free(base);
	unlink(path);
	rmdir(dir);
	return 0;
}
