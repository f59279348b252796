/*
 * nullresp.c -- the do-nothing DNS responder the peer benchmark
 * (tests/bench/peers.sh) measures every server against: it answers each
 * query with the query itself, QR set, NOERROR, no records.  UDP is read
 * and written in batches of 64 (recvmmsg/sendmmsg), so its rate is what
 * the kernel and the load generator allow on this machine; TCP (2-byte
 * framing, pipelined, persistent connections) is served from one epoll
 * loop.  Single-threaded: pin it to one CPU as the servers are.
 *
 *   nullresp ADDR PORT      runs until SIGTERM/SIGINT
 */

#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define MAXCONN 1024
#define BUFSZ 65536

struct tconn {
	int fd;
	int want_out;
	uint64_t id;
	uint8_t in[BUFSZ];
	size_t inlen;
	uint8_t out[BUFSZ];
	size_t outlen;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void serve_udp(int fd)
{
	static uint8_t bufs[BATCH][4096];
	static struct iovec iov[BATCH];
	static struct mmsghdr msgs[BATCH];
	static struct sockaddr_storage from[BATCH];
	int n, i, k;

	for (;;) {
		for (i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (i = 0, k = 0; i < n; i++) {
			if (msgs[i].msg_len < 12 || (bufs[i][2] & 0x80))
				continue;
			bufs[i][2] |= 0x80;     /* QR */
			bufs[i][3] &= 0xF0;     /* NOERROR */
			iov[i].iov_len = msgs[i].msg_len;
			if (k != i) {
				msgs[k] = msgs[i];
			}
			k++;
		}
		if (k > 0)
			sendmmsg(fd, msgs, (unsigned)k, MSG_DONTWAIT);
	}
}

static void tcp_close(int ep, struct tconn **slot)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, (*slot)->fd, NULL);
	close((*slot)->fd);
	free(*slot);
	*slot = NULL;
}

/* Reads what is there, answers every whole message, writes what it can. */
static void serve_tcp(int ep, struct tconn **slot)
{
	struct tconn *c = *slot;
	ssize_t n;
	size_t o = 0;

	for (;;) {
		n = recv(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			tcp_close(ep, slot);
			return;
		}
		if (n < 0)
			break;
		c->inlen += (size_t)n;
		while (c->inlen - o >= 2) {
			size_t ml = (size_t)(c->in[o] << 8 | c->in[o + 1]);
			if (c->inlen - o < ml + 2 || c->outlen + ml + 2 > sizeof(c->out))
				break;
			memcpy(c->out + c->outlen, c->in + o, ml + 2);
			if (ml >= 12) {
				c->out[c->outlen + 4] |= 0x80;
				c->out[c->outlen + 5] &= 0xF0;
			}
			c->outlen += ml + 2;
			o += ml + 2;
		}
		memmove(c->in, c->in + o, c->inlen - o);
		c->inlen -= o;
		o = 0;
		if (c->inlen == sizeof(c->in))
			break;
	}
	if (c->outlen) {
		n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
		if (n > 0) {
			memmove(c->out, c->out + n, c->outlen - (size_t)n);
			c->outlen -= (size_t)n;
		}
	}
	if ((c->outlen != 0) != c->want_out) {  /* wait for room only while answers wait */
		struct epoll_event ev = { .events = EPOLLIN | (c->outlen ? EPOLLOUT : 0u), .data.u64 = c->id };
		c->want_out = c->outlen != 0;
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	struct epoll_event ev, evs[64];
	static struct tconn *conns[MAXCONN];
	int u, t, ep, one = 1, big = 4 << 20;

	if (argc != 3) {
		fprintf(stderr, "usage: nullresp ADDR PORT\n");
		return 2;
	}
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) {
		fprintf(stderr, "nullresp: bad address %s\n", argv[1]);
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (u < 0 || t < 0 || ep < 0) {
		perror("nullresp: socket");
		return 1;
	}
	setsockopt(u, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(u, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(u, (struct sockaddr *)&a, sizeof(a)) < 0 || bind(t, (struct sockaddr *)&a, sizeof(a)) < 0
	    || listen(t, 128) < 0) {
		perror("nullresp: bind");
		return 1;
	}
	ev.events = EPOLLIN;
	ev.data.u64 = (uint64_t)-1;
	epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev);
	ev.data.u64 = (uint64_t)-2;
	epoll_ctl(ep, EPOLL_CTL_ADD, t, &ev);
	while (!stop) {
		int n = epoll_wait(ep, evs, 64, 200);
		for (int i = 0; i < n; i++) {
			uint64_t id = evs[i].data.u64;
			if (id == (uint64_t)-1) {
				serve_udp(u);
			} else if (id == (uint64_t)-2) {
				int fd;
				while ((fd = accept4(t, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					int s;
					for (s = 0; s < MAXCONN && conns[s]; s++)
						;
					if (s == MAXCONN || !(conns[s] = calloc(1, sizeof(*conns[s])))) {
						close(fd);
						continue;
					}
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					conns[s]->fd = fd;
					conns[s]->id = (uint64_t)s;
					ev.events = EPOLLIN;
					ev.data.u64 = (uint64_t)s;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
			} else if (id < MAXCONN && conns[id]) {
				serve_tcp(ep, &conns[id]);
			}
		}
	}
	for (int s = 0; s < MAXCONN; s++)
		if (conns[s])
			tcp_close(ep, &conns[s]);
	return 0;
}
