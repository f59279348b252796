/*
 * reverse.c -- reverse zones from networks, reverse names back to
 * addresses, and the PTR index (registry_index.h): every served name
 * holding an address inside the configured networks.
 *
 * The index is one array of addresses sorted by (family, bytes), each
 * with a run of names (sorted by wire bytes) in a second array; the names'
 * wire forms live in one blob.  A lookup is a binary search: a full
 * address finds its names, a shorter prefix (an empty non-terminal such
 * as 0.240.in-addr.arpa) finds whether any address lies under it.
 */
#define _POSIX_C_SOURCE 200809L

#include "globaldns/registry_index.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "globaldns/registry.h"
#include "globaldns/util.h"

#define REV_MAX_SPLIT 256

/* ---- networks -> zones ---- */

static int bit_set(const uint8_t *a, int from, int to)
{
	for (int b = from; b < to; b++)
		if (a[b / 8] & (0x80 >> (b % 8)))
			return 1;
	return 0;
}

/* The reverse name of the first `bits` bits of addr (a multiple of 8 or 4). */
static void rev_name(int family, const uint8_t *addr, int bits, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	if (family == AF_INET) {
		for (int i = bits / 8 - 1; i >= 0; i--)
			o += (size_t)snprintf(out + o, outlen - o, "%u.", addr[i]);
		snprintf(out + o, outlen - o, "in-addr.arpa.");
	} else {
		for (int i = bits / 4 - 1; i >= 0; i--)
			o += (size_t)snprintf(out + o, outlen - o, "%x.",
				(addr[i / 2] >> (i % 2 ? 0 : 4)) & 0xf);
		snprintf(out + o, outlen - o, "ip6.arpa.");
	}
}

int rev_zones_from_cidr(const char *text, struct rev_zone *out, size_t max,
	size_t *n, char *why, size_t whylen)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	uint8_t addr[16] = { 0 };
	unsigned long bits;
	int family, total, step, zbits;
	size_t count;

	if (!slash || (size_t)(slash - text) >= sizeof(buf)) {
		errf(why, whylen, "\"%s\": not a network (ADDRESS/BITS)", text);
		return -1;
	}
	memcpy(buf, text, (size_t)(slash - text));
	buf[slash - text] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1) {
		family = AF_INET;
		total = 32;
		step = 8;
	} else if (inet_pton(AF_INET6, buf, addr) == 1) {
		family = AF_INET6;
		total = 128;
		step = 4;
	} else {
		errf(why, whylen, "\"%s\": not an IPv4 or IPv6 network", text);
		return -1;
	}
	if (parse_uint(slash + 1, (unsigned long)total, &bits) < 0) {
		errf(why, whylen, "\"%s\": the prefix length is not a number from 0 to %d", text, total);
		return -1;
	}
	if (bit_set(addr, (int)bits, total)) {
		errf(why, whylen, "\"%s\": address bits set beyond the /%lu prefix", text, bits);
		return -1;
	}
	zbits = ((int)bits + step - 1) / step * step;
	count = (size_t)1 << (zbits - (int)bits);
	if (count > REV_MAX_SPLIT || *n + count > max) {
		errf(why, whylen, "\"%s\": too many reverse zones (%zu; at most %zu in all): use a prefix nearer a multiple of %d",
			text, *n + count, max < REV_MAX_SPLIT ? max : REV_MAX_SPLIT, step);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		struct rev_zone *z = &out[*n];
		char name[256];
		memset(z, 0, sizeof(*z));
		z->family = family;
		z->bits = zbits;
		memcpy(z->addr, addr, 16);
		/* the i-th subnet: i in the bits from `bits` to `zbits` */
		for (int b = 0; b < zbits - (int)bits; b++)
			if (i & ((size_t)1 << b)) {
				int pos = zbits - 1 - b;
				z->addr[pos / 8] |= (uint8_t)(0x80 >> (pos % 8));
			}
		rev_name(family, z->addr, zbits, name, sizeof(name));
		if (wire_zone_set(&z->z, name) < 0) {
			errf(why, whylen, "\"%s\": bad reverse zone %s", text, name);
			return -1;
		}
		(*n)++;
	}
	return 0;
}

/* ---- reverse names -> addresses ---- */

int rev_name_addr(const struct dns_query *q, const struct rev_zone *rz,
	uint8_t addr[16])
{
	int step = rz->family == AF_INET ? 8 : 4;
	int total = rz->family == AF_INET ? 32 : 128;
	int k = (int)q->nlabels - 2;    /* labels above in-addr.arpa / ip6.arpa */

	memset(addr, 0, 16);
	if (k < 0 || k * step > total)
		return -1;
	for (int j = 0; j < k; j++) {
		const uint8_t *l = q->qname_lc + q->label_off[j];
		int idx = k - 1 - j;    /* the label's place from the left of the address */
		if (rz->family == AF_INET) {
			unsigned v = 0;
			if (l[0] < 1 || l[0] > 3 || (l[0] > 1 && l[1] == '0'))
				return -1;
			for (int c = 1; c <= l[0]; c++) {
				if (l[c] < '0' || l[c] > '9')
					return -1;
				v = v * 10 + (unsigned)(l[c] - '0');
			}
			if (v > 255)
				return -1;
			addr[idx] = (uint8_t)v;
		} else {
			unsigned v;
			if (l[0] != 1)
				return -1;
			if (l[1] >= '0' && l[1] <= '9')
				v = (unsigned)(l[1] - '0');
			else if (l[1] >= 'a' && l[1] <= 'f')
				v = (unsigned)(l[1] - 'a' + 10);
			else
				return -1;
			addr[idx / 2] |= (uint8_t)(idx % 2 ? v : v << 4);
		}
	}
	return k * step;
}

/* ---- the PTR index ---- */

struct ptr_addr {
	uint8_t family;                 /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint32_t first, n;              /* into names */
};

struct ptr_index {
	struct ptr_addr *addrs;
	size_t naddrs, addrs_cap;
	struct ptr_name *names;
	size_t nnames;
	uint8_t *blob;
	size_t blen, bcap;
};

/* A (address, name) pair while building. */
struct pair {
	uint8_t family;
	uint8_t addr[16];
	uint32_t off, len;              /* the name in the blob */
};

struct build {
	struct ptr_index *x;
	const struct rev_zone *zones;
	size_t nzones;
	struct pair *pairs;
	size_t npairs, cap;
	int failed;
};

/* qsort has no argument; builds run on the main loop only */
static _Thread_local const uint8_t *sort_blob;     /* per builder thread */

static int addr_cmp(uint8_t fa, const uint8_t *a, uint8_t fb, const uint8_t *b)
{
	if (fa != fb)
		return fa < fb ? -1 : 1;
	return memcmp(a, b, 16);
}

/* Names as read: label by label from the left (a shorter label first). */
static int wire_text_cmp(const uint8_t *a, const uint8_t *b)
{
	while (*a && *b) {
		int c = memcmp(a + 1, b + 1, *a < *b ? *a : *b);
		if (c || *a != *b)
			return c ? c : (*a < *b ? -1 : 1);
		a += *a + 1;
		b += *b + 1;
	}
	return (*a != 0) - (*b != 0);
}

static int pair_cmp(const void *va, const void *vb)
{
	const struct pair *a = va, *b = vb;
	int c = addr_cmp(a->family, a->addr, b->family, b->addr);

	return c ? c : wire_text_cmp(sort_blob + a->off, sort_blob + b->off);
}

static int in_zone(const struct rev_zone *z, int family, const uint8_t *a)
{
	if (z->family != family)
		return 0;
	for (int b = 0; b < z->bits; b++) {
		uint8_t m = (uint8_t)(0x80 >> (b % 8));
		if ((a[b / 8] & m) != (z->addr[b / 8] & m))
			return 0;
	}
	return 1;
}

static int add_pair(struct build *b, int family, const uint8_t *a, size_t alen,
	uint32_t off, uint32_t len)
{
	uint8_t full[16] = { 0 };
	int in = 0;

	memcpy(full, a, alen);
	for (size_t z = 0; z < b->nzones && !in; z++)
		in = in_zone(&b->zones[z], family, full);
	if (!in)
		return 0;
	if (grow_array((void **)&b->pairs, &b->cap, b->npairs + 1, sizeof(*b->pairs)) < 0)
		return -1;
	b->pairs[b->npairs].family = (uint8_t)family;
	memcpy(b->pairs[b->npairs].addr, full, 16);
	b->pairs[b->npairs].off = off;
	b->pairs[b->npairs].len = len;
	b->npairs++;
	return 0;
}

static void visit(void *arg, const char *name, const uint8_t (*v4)[4],
	size_t nv4, const uint8_t (*v6)[16], size_t nv6,
	const char *const *sources, size_t nsources)
{
	struct build *b = arg;
	struct ptr_index *x = b->x;
	size_t before = b->npairs;
	uint8_t wire[WIRE_MAXNAME];
	int len;

	(void)sources; (void)nsources;
	if (b->failed || (len = wire_name_from_str(name, wire)) < 0)
		return;
	wire_name_lower(wire, (size_t)len);
	for (size_t i = 0; i < nv4 && !b->failed; i++)
		b->failed = add_pair(b, AF_INET, v4[i], 4, (uint32_t)x->blen, (uint32_t)len) < 0;
	for (size_t i = 0; i < nv6 && !b->failed; i++)
		b->failed = add_pair(b, AF_INET6, v6[i], 16, (uint32_t)x->blen, (uint32_t)len) < 0;
	if (b->failed || b->npairs == before)
		return;
	if (grow_array((void **)&x->blob, &x->bcap, x->blen + (size_t)len, 1) < 0) {
		b->failed = 1;
		return;
	}
	memcpy(x->blob + x->blen, wire, (size_t)len);
	x->blen += (size_t)len;
}

struct ptr_index *ptr_index_build(const struct registry *r,
	const struct rev_zone *zones, size_t nzones)
{
	struct ptr_index *x = calloc(1, sizeof(*x));
	struct build b = { .x = x, .zones = zones, .nzones = nzones };
	size_t o = 0;

	if (!x)
		return NULL;
	registry_foreach(r, visit, &b);
	if (b.failed)
		goto fail;
	sort_blob = x->blob;
	if (b.npairs)
		qsort(b.pairs, b.npairs, sizeof(*b.pairs), pair_cmp);
	if (b.npairs && !(x->names = calloc(b.npairs, sizeof(*x->names))))
		goto fail;
	for (size_t i = 0; i < b.npairs; i++) {
		const struct pair *p = &b.pairs[i];
		struct ptr_addr *a = x->naddrs ? &x->addrs[x->naddrs - 1] : NULL;
		if (i && pair_cmp(&b.pairs[i - 1], p) == 0)
			continue;       /* cannot happen from a registry: names are unique */
		if (!a || addr_cmp(a->family, a->addr, p->family, p->addr) != 0) {
			if (grow_array((void **)&x->addrs, &x->addrs_cap, x->naddrs + 1, sizeof(*x->addrs)) < 0)
				goto fail;
			a = &x->addrs[x->naddrs++];
			a->family = p->family;
			memcpy(a->addr, p->addr, 16);
			a->first = (uint32_t)o;
			a->n = 0;
		}
		x->names[o].wire = x->blob + p->off;
		x->names[o].len = (uint16_t)p->len;
		o++;
		a->n++;
	}
	x->nnames = o;
	sort_blob = NULL;
	free(b.pairs);
	return x;
fail:
	sort_blob = NULL;
	free(b.pairs);
	ptr_index_free(x);
	return NULL;
}

void ptr_index_free(struct ptr_index *x)
{
	if (!x)
		return;
	free(x->addrs);
	free(x->names);
	free(x->blob);
	free(x);
}

size_t ptr_index_lookup(const struct ptr_index *x, int family,
	const uint8_t *addr, int bits, const struct ptr_name **names)
{
	size_t lo = 0, hi = x ? x->naddrs : 0;
	int total = family == AF_INET ? 32 : 128;
	uint8_t full[16] = { 0 };
	const struct ptr_addr *a;

	*names = NULL;
	memcpy(full, addr, family == AF_INET ? 4 : 16);
	/* the first address at or after the prefix (host bits are 0) */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (addr_cmp(x->addrs[mid].family, x->addrs[mid].addr, (uint8_t)family, full) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!x || lo >= x->naddrs)
		return 0;
	a = &x->addrs[lo];
	if (bits >= total) {
		if (addr_cmp(a->family, a->addr, (uint8_t)family, full) != 0)
			return 0;
		*names = x->names + a->first;
		return a->n;
	}
	if (a->family != family)
		return 0;
	for (int b = 0; b < bits; b++) {
		uint8_t m = (uint8_t)(0x80 >> (b % 8));
		if ((a->addr[b / 8] & m) != (full[b / 8] & m))
			return 0;
	}
	return 1;
}

size_t ptr_index_addresses(const struct ptr_index *x)
{
	return x ? x->naddrs : 0;
}
