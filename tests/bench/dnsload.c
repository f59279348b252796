/*
 * dnsload.c -- a paced DNS load generator for the benchmarks and the soak
 * script: sends queries at a fixed rate over UDP (several sockets, so
 * several source ports) or over persistent TCP connections, matches the
 * answers by ID and checks each against what the query file expects.
 * Prints one line per group of queries; asserts nothing.
 *
 *   dnsload [-s ADDR] -p PORT [-b SRC] [-r RATE] [-l SECONDS] [-c CONNS]
 *           [-w WAIT] [-t] QUERYFILE
 *
 * QUERYFILE: one query a line, "NAME TYPE EXPECT [GROUP]", cycled in
 * order.  EXPECT is an rcode (NOERROR, NXDOMAIN, SERVFAIL, REFUSED), an
 * rcode and the first A/AAAA address of the answer ("NOERROR:10.0.0.1"),
 * two of those separated by "|" (either is correct), or "any".  GROUP names the line of the report the query counts in
 * (default "all").  Truncated answers (TC) count as answered and are
 * counted apart; they are correct only if EXPECT is "any".
 *
 * Output (one line per group, then "total"):
 *   group sent answered correct tc noerror nxdomain servfail refused other p50_ms p99_ms
 */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXQ 100000
#define MAXG 16
#define MAXCONN 256
#define NBUCKET 64

struct expect {
	int rcode;              /* -1: any */
	int has_addr;
	int family;
	uint8_t addr[16];
};

struct qline {
	uint8_t wire[300];
	size_t len;
	struct expect ex[2];
	int nex;
	int group;
};

struct group {
	char name[32];
	uint64_t sent, answered, correct, tc, rc[5];
	uint64_t lat[NBUCKET];  /* bucket i: < 0.05 ms * 1.25^i */
};

struct slot {
	int32_t q;              /* query line, -1 free */
	uint64_t sent_ns;
};

struct conn {
	int fd;
	int tcp;
	uint16_t next_id;
	struct slot *slots;     /* 65536 */
	uint8_t rbuf[70000];
	size_t rlen;
	uint64_t outstanding;
};

static struct qline *qs;
static size_t nq;
static struct group groups[MAXG + 1];
static size_t ngroups;
static struct conn conns[MAXCONN];
static int nconns = 8, use_tcp;
static struct sockaddr_storage srv, src;
static socklen_t srvlen, srclen;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int parse_addr(const char *s, int port, struct sockaddr_storage *ss,
	socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return 0;
	}
	return -1;
}

static int rcode_of(const char *s)
{
	static const char *const n[] = { "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED" };

	for (int i = 0; i < 6; i++)
		if (strcmp(s, n[i]) == 0)
			return i;
	return -2;
}

static int group_of(const char *name)
{
	for (size_t i = 0; i < ngroups; i++)
		if (strcmp(groups[i].name, name) == 0)
			return (int)i;
	if (ngroups >= MAXG)
		return (int)ngroups - 1;
	snprintf(groups[ngroups].name, sizeof(groups[ngroups].name), "%s", name);
	return (int)ngroups++;
}

static int load(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];

	if (!f)
		return -1;
	qs = calloc(MAXQ, sizeof(*qs));
	while (qs && nq < MAXQ && fgets(line, sizeof(line), f)) {
		char name[256], type[16], expect[80], grp[32] = "all", *colon;
		struct qline *q = &qs[nq];
		size_t o = 12;
		uint16_t t;
		int n = sscanf(line, "%255s %15s %79s %31s", name, type, expect, grp);

		if (n < 3 || name[0] == '#')
			continue;
		t = strcmp(type, "AAAA") == 0 ? 28 : strcmp(type, "NS") == 0 ? 2
			: strcmp(type, "SOA") == 0 ? 6 : strcmp(type, "TXT") == 0 ? 16
			: strcmp(type, "ANY") == 0 ? 255 : 1;
		memset(q->wire, 0, 12);
		q->wire[2] = 0x01;      /* RD */
		q->wire[5] = 1;
		for (char *l = name, *dot; *l; l = dot + 1) {
			dot = strchr(l, '.');
			if (!dot)
				dot = l + strlen(l);
			if (dot > l) {
				q->wire[o++] = (uint8_t)(dot - l);
				memcpy(q->wire + o, l, (size_t)(dot - l));
				o += (size_t)(dot - l);
			}
			if (!*dot)
				break;
		}
		q->wire[o++] = 0;
		q->wire[o++] = (uint8_t)(t >> 8);
		q->wire[o++] = (uint8_t)t;
		q->wire[o++] = 0;
		q->wire[o++] = 1;
		q->len = o;
		for (char *alt = expect, *bar; alt && q->nex < 2; alt = bar) {
			struct expect *e = &q->ex[q->nex++];
			if ((bar = strchr(alt, '|')))
				*bar++ = '\0';
			colon = strchr(alt, ':');
			if (colon) {
				*colon = '\0';
				e->has_addr = 1;
				if (inet_pton(AF_INET, colon + 1, e->addr) == 1)
					e->family = AF_INET;
				else if (inet_pton(AF_INET6, colon + 1, e->addr) == 1)
					e->family = AF_INET6;
				else
					e->has_addr = 0;
			}
			e->rcode = strcmp(alt, "any") == 0 ? -1 : rcode_of(alt);
		}
		q->group = group_of(grp);
		nq++;
	}
	fclose(f);
	return nq ? 0 : -1;
}

static int conn_open(struct conn *c)
{
	int fd = socket(srv.ss_family, (use_tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, big = 4 << 20;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (use_tcp)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (srclen && bind(fd, (struct sockaddr *)&src, srclen) < 0) {
		close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&srv, srvlen) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	c->fd = fd;
	c->tcp = use_tcp;
	c->rlen = 0;
	return 0;
}

/* The first A/AAAA rdata of the answer section, or NULL. */
static const uint8_t *first_addr(const uint8_t *m, size_t len, int *family)
{
	size_t o = 12;
	unsigned an = (unsigned)(m[6] << 8 | m[7]);

	while (o < len && m[o]) {       /* question */
		if ((m[o] & 0xC0) == 0xC0) {
			o += 1;
			break;
		}
		o += (size_t)m[o] + 1;
	}
	o += 5;
	for (unsigned i = 0; i < an && o < len; i++) {
		uint16_t t, rdlen;
		while (o < len && m[o] && (m[o] & 0xC0) != 0xC0)
			o += (size_t)m[o] + 1;
		o += (o < len && (m[o] & 0xC0) == 0xC0) ? 2 : 1;
		if (o + 10 > len)
			return NULL;
		t = (uint16_t)(m[o] << 8 | m[o + 1]);
		rdlen = (uint16_t)(m[o + 8] << 8 | m[o + 9]);
		o += 10;
		if (o + rdlen > len)
			return NULL;
		if ((t == 1 && rdlen == 4) || (t == 28 && rdlen == 16)) {
			*family = t == 1 ? AF_INET : AF_INET6;
			return m + o;
		}
		o += rdlen;
	}
	return NULL;
}

static void account(struct conn *c, const uint8_t *m, size_t len)
{
	uint16_t id;
	struct slot *s;
	struct qline *q;
	struct group *g;
	uint64_t lat;
	int rc, ok, b = 0, fam = 0;
	double lim = 0.05;
	const uint8_t *a;

	if (len < 12)
		return;
	id = (uint16_t)(m[0] << 8 | m[1]);
	s = &c->slots[id];
	if (s->q < 0)
		return;
	q = &qs[s->q];
	g = &groups[q->group];
	lat = now_ns() - s->sent_ns;
	s->q = -1;
	c->outstanding--;
	g->answered++;
	rc = m[3] & 0x0F;
	g->rc[rc == 0 ? 0 : rc == 3 ? 1 : rc == 2 ? 2 : rc == 5 ? 3 : 4]++;
	ok = 0;
	a = first_addr(m, len, &fam);
	for (int k = 0; k < q->nex && !ok; k++) {
		const struct expect *e = &q->ex[k];
		if (m[2] & 0x02)
			ok = e->rcode == -1;
		else
			ok = (e->rcode == -1 || e->rcode == rc) && (!e->has_addr
				|| (a && fam == e->family && memcmp(a, e->addr, fam == AF_INET ? 4 : 16) == 0));
	}
	if (m[2] & 0x02)
		g->tc++;
	g->correct += ok;
	while (b < NBUCKET - 1 && (double)lat / 1e6 >= lim) {
		lim *= 1.25;
		b++;
	}
	g->lat[b]++;
}

static void on_readable(struct conn *c)
{
	uint8_t buf[65536];

	for (;;) {
		ssize_t n;
		if (!c->tcp) {
			n = recv(c->fd, buf, sizeof(buf), 0);
			if (n <= 0)
				return;
			account(c, buf, (size_t)n);
			continue;
		}
		n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			/* closed by the server: the outstanding ones are lost */
			for (int i = 0; i < 65536; i++)
				c->slots[i].q = -1;
			c->outstanding = 0;
			close(c->fd);
			c->fd = -1;
			return;
		}
		if (n < 0)
			return;
		c->rlen += (size_t)n;
		while (c->rlen >= 2) {
			size_t ml = (size_t)(c->rbuf[0] << 8 | c->rbuf[1]);
			if (c->rlen < ml + 2)
				break;
			account(c, c->rbuf + 2, ml);
			memmove(c->rbuf, c->rbuf + 2 + ml, c->rlen - 2 - ml);
			c->rlen -= 2 + ml;
		}
	}
}

static void send_one(struct conn *c, size_t qi)
{
	struct qline *q = &qs[qi];
	uint8_t buf[302];
	uint16_t id = c->next_id++;
	struct slot *s = &c->slots[id];
	ssize_t n;

	if (c->fd < 0 && conn_open(c) < 0)
		return;
	if (s->q >= 0) {                /* never answered: reuse the ID */
		s->q = -1;
		c->outstanding--;
	}
	memcpy(buf + 2, q->wire, q->len);
	buf[2] = (uint8_t)(id >> 8);
	buf[3] = (uint8_t)id;
	groups[q->group].sent++;
	if (c->tcp) {
		buf[0] = (uint8_t)(q->len >> 8);
		buf[1] = (uint8_t)q->len;
		n = send(c->fd, buf, q->len + 2, MSG_NOSIGNAL);
	} else {
		n = send(c->fd, buf + 2, q->len, 0);
	}
	if (n < 0)
		return;                 /* counts as sent, never answered */
	s->q = (int32_t)qi;
	s->sent_ns = now_ns();
	c->outstanding++;
}

static double pct(const struct group *g, double p)
{
	uint64_t n = 0, want, acc = 0;
	double lim = 0.05;

	for (int i = 0; i < NBUCKET; i++)
		n += g->lat[i];
	if (!n)
		return 0;
	want = (uint64_t)(p * (double)n);
	for (int i = 0; i < NBUCKET; i++, lim *= 1.25) {
		acc += g->lat[i];
		if (acc > want)
			return lim;
	}
	return lim;
}

static void report(void)
{
	struct group *t = &groups[MAXG];

	snprintf(t->name, sizeof(t->name), "total");
	printf("%-10s %8s %8s %8s %6s %7s %8s %8s %7s %6s %7s %7s\n", "group", "sent", "answered",
		"correct", "tc", "noerror", "nxdomain", "servfail", "refused", "other", "p50_ms", "p99_ms");
	for (size_t i = 0; i <= ngroups; i++) {
		struct group *g = i < ngroups ? &groups[i] : t;
		if (i < ngroups) {
			t->sent += g->sent;
			t->answered += g->answered;
			t->correct += g->correct;
			t->tc += g->tc;
			for (int k = 0; k < 5; k++)
				t->rc[k] += g->rc[k];
			for (int k = 0; k < NBUCKET; k++)
				t->lat[k] += g->lat[k];
		}
		printf("%-10s %8llu %8llu %8llu %6llu %7llu %8llu %8llu %7llu %6llu %7.2f %7.2f\n", g->name,
			(unsigned long long)g->sent, (unsigned long long)g->answered,
			(unsigned long long)g->correct, (unsigned long long)g->tc,
			(unsigned long long)g->rc[0], (unsigned long long)g->rc[1],
			(unsigned long long)g->rc[2], (unsigned long long)g->rc[3],
			(unsigned long long)g->rc[4], pct(g, 0.5), pct(g, 0.99));
	}
}

int main(int argc, char **argv)
{
	const char *server = "127.0.0.1", *bindaddr = NULL;
	int port = 0, opt;
	double rate = 1000, secs = 5, wait = 6;
	uint64_t start, end, next;
	struct pollfd pfd[MAXCONN];
	size_t qi = 0;
	uint64_t sent = 0;

	while ((opt = getopt(argc, argv, "s:p:b:r:l:c:w:t")) != -1) {
		switch (opt) {
		case 's': server = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'b': bindaddr = optarg; break;
		case 'r': rate = atof(optarg); break;
		case 'l': secs = atof(optarg); break;
		case 'c': nconns = atoi(optarg); break;
		case 'w': wait = atof(optarg); break;
		case 't': use_tcp = 1; break;
		default:
			fprintf(stderr, "usage: dnsload [-s ADDR] -p PORT [-b SRC] [-r RATE] [-l SECONDS] [-c CONNS] [-w WAIT] [-t] QUERYFILE\n");
			return 2;
		}
	}
	if (optind >= argc || port <= 0 || nconns < 1 || nconns > MAXCONN || rate <= 0
	    || parse_addr(server, port, &srv, &srvlen) < 0
	    || (bindaddr && parse_addr(bindaddr, 0, &src, &srclen) < 0)) {
		fprintf(stderr, "dnsload: bad arguments\n");
		return 2;
	}
	if (load(argv[optind]) < 0) {
		fprintf(stderr, "dnsload: %s: no queries\n", argv[optind]);
		return 2;
	}
	for (int i = 0; i < nconns; i++) {
		conns[i].fd = -1;
		conns[i].slots = malloc(65536 * sizeof(struct slot));
		if (!conns[i].slots)
			return 1;
		for (int k = 0; k < 65536; k++)
			conns[i].slots[k].q = -1;
		if (conn_open(&conns[i]) < 0) {
			perror("dnsload: socket");
			return 1;
		}
	}
	start = now_ns();
	end = start + (uint64_t)(secs * 1e9);
	next = start;
	for (;;) {
		uint64_t now = now_ns(), outstanding = 0;
		int timeout;

		/* send what is due (catch up after a stall, at most 1000 at once) */
		for (int burst = 0; now < end && next <= now && burst < 1000; burst++) {
			send_one(&conns[sent % (uint64_t)nconns], qi);
			qi = (qi + 1) % nq;
			sent++;
			next = start + (uint64_t)((double)sent * 1e9 / rate);
		}
		for (int i = 0; i < nconns; i++)
			outstanding += conns[i].outstanding;
		if (now >= end && (outstanding == 0 || now >= end + (uint64_t)(wait * 1e9)))
			break;
		timeout = now < end ? (int)((next > now ? next - now : 0) / 1000000) : 50;
		for (int i = 0; i < nconns; i++) {
			pfd[i].fd = conns[i].fd;
			pfd[i].events = POLLIN;
		}
		if (poll(pfd, (nfds_t)nconns, timeout) > 0)
			for (int i = 0; i < nconns; i++)
				if (pfd[i].revents && conns[i].fd >= 0)
					on_readable(&conns[i]);
	}
	report();
	return 0;
}
