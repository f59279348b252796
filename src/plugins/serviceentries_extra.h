/*
 * serviceentries_extra.h -- SRV records for ServiceEntry ports and PTR
 * records for registry addresses: the `srv` and `reverse` properties of a
 * serviceentries block, the indexes built with each registry snapshot,
 * and the answers.  Private to the serviceentries plugin.
 */
#ifndef GLOBALDNS_SERVICEENTRIES_EXTRA_H
#define GLOBALDNS_SERVICEENTRIES_EXTRA_H

#include <stddef.h>
#include <stdint.h>

#include "globaldns/corefile.h"
#include "globaldns/plugin.h"
#include "globaldns/registry_index.h"

struct cJSON;
struct registry;
struct dns_request;

#define SE_REV_MAX_ZONES 256

/* The block's configuration. */
struct se_extra_conf {
	int srv;                                /* `srv`: answer SRV */
	struct rev_zone rz[SE_REV_MAX_ZONES];   /* `reverse NETWORK...`, split */
	size_t nrz;
	const struct cf_directive *rev_prop;    /* setup only: for errors */
};

/* What is built with each snapshot (NULL when neither is configured). */
struct se_extra {
	struct srv_index *srv;
	struct ptr_index *ptr;
};

/* A property of ours: 1 handled, 0 not ours, -1 error (FILE:LINE in err). */
int se_extra_prop(struct se_extra_conf *c, const struct cf_directive *d,
	char *err, size_t errlen);

/*
 * After the block is parsed: with `reverse`, drop the forward zones at or
 * below in-addr.arpa / ip6.arpa (they are in the block key for dispatch)
 * and check that every reverse zone is inside a zone of the block.  0 or -1.
 */
int se_extra_setup(struct se_extra_conf *c, const struct plugin_block *b,
	struct wire_zone *zones, char **names, size_t *nzones, char *err,
	size_t errlen);

/* Build the indexes for snapshot r: 0 (*out NULL if nothing is on), -1 ENOMEM. */
int se_extra_build(const struct se_extra_conf *c, const struct registry *r,
	const struct se_list *entries, struct se_extra **out);
void se_extra_free(struct se_extra *x);
/* se_extra_free for registry_set_extra */
void se_extra_release(void *x);
/* 1 if a and b answer the same SRV records (PTR follows the registry). */
int se_extra_same(const struct se_extra *a, const struct se_extra *b);

/* GET /registry: "srv", "srv_records", "reverse_zones", "ptr_addresses". */
void se_extra_introspect(const struct se_extra_conf *c,
	const struct se_extra *x, struct cJSON *obj);

enum se_extra_result {
	SE_EXTRA_PASS = 0,      /* not an SRV name: the registry answers */
	SE_EXTRA_DONE,          /* answered */
	SE_EXTRA_NXDOMAIN       /* no such name: answer NXDOMAIN as the zone does */
};

/* An underscore name in a forward zone (its apex at label zl of the query). */
enum se_extra_result se_srv_serve(const struct se_extra_conf *c,
	const struct se_extra *x, const struct registry *r,
	struct dns_request *req, int zl, uint32_t ttl, uint32_t serial);

/* The reverse zone the query is in (the deepest), its apex label in *zl. */
const struct rev_zone *se_rev_zone(const struct se_extra_conf *c,
	const struct dns_query *q, int *zl);

/* Answer in a reverse zone; falls: NXDOMAIN passes to the next plugin. */
enum plugin_result se_rev_serve(const struct rev_zone *rz, int zl,
	const struct se_extra *x, struct dns_request *req, uint32_t ttl,
	uint32_t serial, int falls);

#endif
