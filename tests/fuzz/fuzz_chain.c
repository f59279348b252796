/*
 * fuzz_chain.c -- fuzz target for a whole plugin chain, the forwarder's
 * included: one server block (one of four variants, below)
 *
 *     .:53 {
 *         cache 30 { serve_stale 1h verify }
 *         serviceentries global { file conf/demo/serviceentries.yaml; fallthrough }
 *         forward . 127.0.0.1:PORT { max_fails 0; timeout 10ms; deadline 25ms }
 *     }
 *
 * whose upstream is this program: a UDP and a TCP socket on a loopback
 * port that answer every query c-ares sends with bytes from the input.  So
 * the client's query *and* the upstream's answer are fuzzed, through the
 * real c-ares, the forwarder's matching and relaying, the cache's storing
 * and answering.  Each input gets a fresh server (no cache or upstream
 * state carried from one input to the next: deterministic), driven on the
 * event loop until the client has its answer.
 *
 * Input: byte 0 is flags, bytes 1-2 the length L of the client's query,
 * then the query (L bytes), then the upstream's answer A.
 *   bit 0  the client asks over TCP (the forwarder then uses TCP too)
 *   bit 1  then asks the same again (the cache's hit path), then with the
 *          name's case flipped
 *   bit 2  the answer is built on the forwarded query: its header and
 *          question with QR set, A[0..1] ORed into the flags, A[2..7] as
 *          the AN, NS and AR counts, then A[8..] as the records
 *   bit 3  raw answer, ID not patched (c-ares drops most: the deadline path)
 *   bit 4  the upstream answers twice
 *   bit 5  the upstream answers over UDP with TC set (c-ares retries
 *          over TCP)
 *   bits 6-7  the configuration: 0 as above; 1 cache { prefetch 1 1m 90%;
 *          keepttl }, forward { force_tcp; policy sequential }; 2 cache {
 *          success 2; denial 1; serve_stale 1h immediate; servfail 0 },
 *          forward { prefer_udp; max_concurrent 1; except example.org };
 *          3 cache { disable denial; prefetch 2 }, forward to the upstream
 *          twice { policy round_robin; max_fails 1;
 *          failfast_all_unhealthy_upstreams }; 1 and 3 also with
 *          serviceentries { srv; reverse 240.0.0.0/4 2001:db8::/32 }
 * Otherwise A is sent as it is, with the forwarded query's ID.
 *
 * Checks: every answer the client gets is a response to its query (its
 * ID, QR set), at least a header, at most 1232 bytes over UDP.
 *
 * Built with --enable-fuzzer it is a libFuzzer target; built without,
 * main() replays tests/fuzz/corpus/chain as an ordinary test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/plugin.h"
#include "globaldns/query.h"
#include "globaldns/server.h"
#include "globaldns/wire.h"
#include "replay.h"

#define MAX_WAIT_NS 2000000000ull       /* per query: far past the 25 ms deadline */

static struct event_base *base;
static struct plugin_env env;
static int up_udp = -1, up_tcp = -1;
static struct event *up_udp_ev, *up_tcp_ev;
static char corefiles[4][1024];         /* the variants, by flags bits 6-7 */

/* what the upstream sends, for the current input */
static const uint8_t *ans;
static size_t anslen;
static unsigned int flags;

static int up_conns;                    /* TCP connections from c-ares open */

/* what the client got */
static int replied;
static uint16_t client_id;
static int client_tcp;

/* Build the upstream's answer to the query q (qlen bytes) into out. */
static size_t make_answer(const uint8_t *q, size_t qlen, uint8_t *out, size_t cap,
	int tc)
{
	size_t n;

	if (flags & 4) {
		size_t qend = qlen >= WIRE_HDR ? wire_skip_name(q, qlen, WIRE_HDR) : 0;
		if (!qend || qend + 4 > qlen)
			return 0;
		qend += 4;
		memcpy(out, q, qend);
		out[2] |= 0x80;
		if (anslen >= 2) {
			out[2] |= ans[0];
			out[3] = ans[1];
		}
		memset(out + 6, 0, 6);
		if (anslen >= 8)
			memcpy(out + 6, ans + 2, 6);
		n = qend;
		if (anslen > 8) {
			size_t more = anslen - 8 < cap - n ? anslen - 8 : cap - n;
			memcpy(out + n, ans + 8, more);
			n += more;
		}
	} else {
		n = anslen < cap ? anslen : cap;
		memcpy(out, ans, n);
		if (!(flags & 8) && n >= 2 && qlen >= 2)
			memcpy(out, q, 2);
	}
	if (tc && n >= 3)
		out[2] |= 0x02;
	return n;
}

static void on_up_udp(evutil_socket_t fd, short what, void *arg)
{
	uint8_t q[4096], out[65535];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n;
	size_t len;

	(void)what;
	(void)arg;
	while ((n = recvfrom(fd, q, sizeof(q), MSG_DONTWAIT, (struct sockaddr *)&from, &fl)) > 0) {
		len = make_answer(q, (size_t)n, out, sizeof(out), (flags & 32) != 0);
		if (len > 4096)
			len = 4096;
		(void)sendto(fd, out, len, MSG_DONTWAIT, (struct sockaddr *)&from, fl);
		if (flags & 16)
			(void)sendto(fd, out, len, MSG_DONTWAIT, (struct sockaddr *)&from, fl);
		fl = sizeof(from);
	}
}

/* One TCP connection from c-ares: read one framed query, answer it. */
static void on_up_conn(evutil_socket_t fd, short what, void *arg)
{
	uint8_t buf[4096], out[65535 + 2];
	struct event *ev = arg;
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	size_t len;

	(void)what;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (n >= 2) {
		size_t ql = ((size_t)buf[0] << 8) | buf[1];
		if (ql > (size_t)n - 2)
			ql = (size_t)n - 2;
		len = make_answer(buf + 2, ql, out + 2, sizeof(out) - 2, 0);
		out[0] = (uint8_t)(len >> 8);
		out[1] = (uint8_t)len;
		(void)send(fd, out, len + 2, MSG_NOSIGNAL);
		if (flags & 16)
			(void)send(fd, out, len + 2, MSG_NOSIGNAL);
	}
	event_free(ev);
	close(fd);
	up_conns--;
}

static void on_up_accept(evutil_socket_t fd, short what, void *arg)
{
	int c;

	(void)what;
	(void)arg;
	while ((c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct event *ev = event_new(base, c, EV_READ | EV_PERSIST, on_up_conn, NULL);
		if (!ev) {
			close(c);
			continue;
		}
		event_assign(ev, base, c, EV_READ | EV_PERSIST, on_up_conn, ev);
		event_add(ev, NULL);
		up_conns++;
	}
}

static void init(void)
{
	const char *top = getenv("TOP_SRCDIR");
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int one = 1;

	if (base)
		return;
	/* as the daemon (main.c): a write to a connection the peer closed
	 * is an error, not a signal that ends the process */
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOGL_ERROR);
	base = event_base_new();
	env.base = base;
	/* one port for UDP and TCP: the kernel picks a free UDP port, which
	 * another process may hold for TCP (make check runs tests side by
	 * side), so a few picks are tried */
	for (int tries = 0; ; tries++) {
		sa.sin_family = AF_INET;
		sa.sin_port = 0;
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(sa);
		up_udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		up_tcp = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (!base || up_udp < 0 || up_tcp < 0
		    || bind(up_udp, (struct sockaddr *)&sa, sizeof(sa)) < 0
		    || getsockname(up_udp, (struct sockaddr *)&sa, &sl) < 0) {
			perror("fuzz_chain: upstream socket");
			abort();
		}
		setsockopt(up_tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(up_tcp, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(up_tcp, 64) == 0)
			break;
		if (errno != EADDRINUSE || tries == 20) {
			perror("fuzz_chain: upstream TCP socket");
			abort();
		}
		close(up_udp);
		close(up_tcp);
	}
	up_udp_ev = event_new(base, up_udp, EV_READ | EV_PERSIST, on_up_udp, NULL);
	up_tcp_ev = event_new(base, up_tcp, EV_READ | EV_PERSIST, on_up_accept, NULL);
	event_add(up_udp_ev, NULL);
	event_add(up_tcp_ev, NULL);
	for (int v = 0; v < 4; v++) {
		static const char *const cache_props[4] = {
			"  serve_stale 1h verify\n",
			"  prefetch 1 1m 90%\n  keepttl\n",
			"  success 2\n  denial 1\n  serve_stale 1h immediate\n  servfail 0\n",
			"  disable denial\n  prefetch 2\n",
		};
		static const char *const fwd_props[4] = {
			"",
			"  force_tcp\n  policy sequential\n",
			"  prefer_udp\n  max_concurrent 1\n  except example.org\n",
			"  policy round_robin\n  failfast_all_unhealthy_upstreams\n",
		};
		int port = ntohs(sa.sin_port);
		char to[64];
		if (v == 3)             /* the same upstream twice */
			snprintf(to, sizeof(to), "127.0.0.1:%d 127.0.0.1:%d", port, port);
		else
			snprintf(to, sizeof(to), "127.0.0.1:%d", port);
		snprintf(corefiles[v], sizeof(corefiles[v]),
			".:53 {\n"
			" cache 30 {\n%s }\n"
			" serviceentries global {\n  file %s/conf/demo/serviceentries.yaml\n  fallthrough\n%s }\n"
			" forward . %s {\n  max_fails %d\n  timeout 10ms\n  deadline 25ms\n%s }\n"
			"}\n", cache_props[v], top ? top : ".",
			v % 2 ? "  srv\n  reverse 240.0.0.0/4 2001:db8::/32\n" : "",
			to, v == 3 ? 1 : 0, fwd_props[v]);
	}
}

static void on_reply(struct dns_request *req, const uint8_t *resp, size_t len)
{
	(void)req;
	replied++;
	if (len < WIRE_HDR || wire_get16(resp) != client_id || !(resp[2] & 0x80)
	    || (!client_tcp && len > WIRE_DEFAULT_UDP_MAX))
		abort();
}

/* Ask the chain pkt; run the loop until it answers (bounded). */
static void ask(const struct server *srv, const uint8_t *pkt, size_t len, int tcp)
{
	static uint8_t resp[QUERY_RESP_MAX];
	struct dns_request req;
	struct sockaddr_in *c = (struct sockaddr_in *)&req.client;

	memset(&req, 0, sizeof(req));
	req.pkt = pkt;
	req.pktlen = len;
	req.tcp = tcp;
	req.server_port = 53;
	req.server_addr = "";
	req.resp = resp;
	c->sin_family = AF_INET;
	c->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	req.clientlen = sizeof(*c);
	req.transport.reply = on_reply;
	replied = 0;
	client_tcp = tcp;
	client_id = len >= 2 ? wire_get16(pkt) : 0;
	if (query_process(server_dispatch(srv), &req)) {
		on_reply(&req, req.resp, req.resp_len);
		return;
	}
	{
		uint64_t t0 = query_now_ns();
		unsigned long rounds = 0;
		while (!replied && server_pending(srv) && query_now_ns() - t0 < MAX_WAIT_NS) {
			event_base_loop(base, EVLOOP_ONCE);
			rounds++;
		}
		if (getenv("FUZZ_CHAIN_DEBUG"))
			fprintf(stderr, "rounds %lu, %.1f ms, replied %d\n", rounds,
				(double)(query_now_ns() - t0) / 1e6, replied);
	}
	if (server_pending(srv))
		abort();                /* held past every deadline */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct server_opts so = { .default_port = 53, .no_listeners = 1,
		.table = plugin_table, .ntable = plugin_table_size };
	struct corefile *cf;
	struct server *srv;
	char err[512];
	size_t qlen;
	uint8_t q2[65535];

	init();
	if (size < 3)
		return 0;
	flags = data[0];
	qlen = ((size_t)data[1] << 8) | data[2];
	if (qlen > size - 3)
		qlen = size - 3;
	ans = data + 3 + qlen;
	anslen = size - 3 - qlen;
	cf = corefile_parse("Corefile", corefiles[flags >> 6], err, sizeof(err));
	srv = cf ? server_new(cf, &so, err, sizeof(err)) : NULL;
	if (!srv || server_start(srv, &env, err, sizeof(err)) < 0) {
		fprintf(stderr, "fuzz_chain: setup failed: %s\n", err);
		abort();
	}
	/* the manifest is read on the loop: let it load */
	for (int i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	ask(srv, data + 3, qlen, flags & 1);
	if (flags & 2) {
		ask(srv, data + 3, qlen, flags & 1);
		memcpy(q2, data + 3, qlen);
		for (size_t i = WIRE_HDR; i < qlen; i++)
			if ((q2[i] | 0x20) >= 'a' && (q2[i] | 0x20) <= 'z')
				q2[i] ^= 0x20;
		ask(srv, q2, qlen, !(flags & 1));
	}
	server_free(srv);
	corefile_free(cf);
	/* the upstream side of connections c-ares closed goes too; a query
	 * c-ares sent last is not the next input's */
	for (int i = 0; i < 50 && up_conns > 0; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	while (recv(up_udp, q2, sizeof(q2), MSG_DONTWAIT) >= 0)
		;
	return 0;
}

#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
static void cleanup(void)
{
	if (up_udp_ev)
		event_free(up_udp_ev);
	if (up_tcp_ev)
		event_free(up_tcp_ev);
	if (up_udp >= 0)
		close(up_udp);
	if (up_tcp >= 0)
		close(up_tcp);
	if (base)
		event_base_free(base);
}

int main(int argc, char **argv)
{
	return fuzz_replay_main(argc, argv, "chain", cleanup);
}
#endif
