/*
 * serviceentries_int.h -- the inside of the serviceentries plugin, shared
 * by its files: serviceentries.c (the directive, the registry, answers,
 * metrics and /registry of the block) and serviceentries_sources.c (its
 * sources: one or several clusters merged, their staleness, the disk
 * snapshot).
 */
#ifndef GLOBALDNS_SERVICEENTRIES_INT_H
#define GLOBALDNS_SERVICEENTRIES_INT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "globaldns/seentry.h"
#include "globaldns/source.h"
#include "globaldns/wire.h"

struct cf_directive;
struct cJSON;
struct event;
struct event_base;
struct metrics_out;
struct registry;
struct se_plugin;

/* One source of a block: its own, or one `cluster NAME { ... }` of several. */
struct se_slot {
	struct se_plugin *p;
	char *cluster;                  /* NULL: the block's only source */
	char *label;                    /* for log lines: "ZONE (cluster NAME)" */
	const struct se_source_kind *kind;
	void *kind_conf;
	const struct cf_directive *kind_prop;   /* its first property: setup only */
	struct se_source *source;
	struct se_list last;            /* several sources: its last good entries */
	int have;                       /* it delivered entries (live or the snapshot's) */
	int from_snapshot;              /* what it serves came from the disk snapshot */
	time_t snap_time;               /* then: when they were last known good */
	struct se_list snap;            /* read at start, until used or not needed */
	int snap_have;
};

struct se_plugin {
	struct wire_zone *zones;
	size_t nzones;
	char **zone_names;              /* for registry_conf */
	uint32_t ttl;
	struct se_addr *defaults;
	size_t ndefaults;
	struct se_slot *slots;          /* where the entries come from */
	size_t nslots, slots_cap;
	struct registry *reg;           /* current snapshot, NULL before the first load */
	uint32_t serial;
	/* fallthrough [ZONES...]: names not known (NXDOMAIN) within these
	 * zones (all if none) go to the next plugin instead */
	int fallthrough;
	struct wire_zone ft_zones[16];
	size_t nft_zones;
	/* ns_address: what ns.dns.<zone>, the target of the apex NS, answers */
	uint8_t ns_v4[8][4];
	size_t nns_v4;
	uint8_t ns_v6[8][16];
	size_t nns_v6;
	int ns_capped;                  /* the host has more than 8 of a family */
	/* snapshot PATH: the disk snapshot (serviceentries_sources.c) */
	char *snap_path;
	const struct cf_directive *snap_prop;   /* setup only */
	long snap_interval_ms, snap_wait_ms;
	int snap_ready_live;            /* ready only once every source synced live */
	struct event_base *base;
	struct event *snap_write_timer, *snap_apply_timer;
	double started_ms;              /* monotonic, at start */
	int snap_dirty;                 /* live entries not written yet */
	double snap_last_write_ms;      /* monotonic, 0: never */
	time_t snap_written;            /* wall clock of the last write */
	time_t snap_loaded;             /* "written" of the snapshot read at start, 0: none */
	unsigned long snap_writes_ok, snap_writes_failed;
	char snap_error[600];           /* why the last write or the read failed */
};

/* serviceentries.c: a new registry from entries (moved into it), swapped in. */
void se_build(struct se_plugin *p, struct se_list *entries);

/* serviceentries_sources.c */
void se_slot_update(void *arg, struct se_list *entries);
int se_snap_parse(struct se_plugin *p, const struct cf_directive *c, char *err,
	size_t errlen);
int se_snap_start(struct se_plugin *p, struct event_base *base);
/* Write what is not written yet (shutdown, reload) and stop the timers. */
void se_snap_stop(struct se_plugin *p);
void se_sources_collect(struct se_plugin *p, struct metrics_out *o);
void se_sources_introspect(struct se_plugin *p, struct cJSON *obj);

#endif
