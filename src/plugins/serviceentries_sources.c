/*
 * serviceentries_sources.c -- where a serviceentries block's entries come
 * from: its source, or several (`cluster NAME { ... }`) merged into one
 * list; how stale each is; and the disk snapshot of their last good
 * entries (snapshot.h) read at a start while the API is unreachable.
 *
 * Several sources: each keeps its last good list (a cluster that becomes
 * unreachable keeps its entries while the others update), and the block's
 * registry is built from their union -- the same host in two clusters gets
 * the union of their addresses, the rule for one cluster.  An entry's
 * namespace is prefixed with its cluster ("east/istio-system"), which is
 * how /registry attributes a name to a cluster.  No registry is built
 * before every source delivered (live or from the snapshot): a partial one
 * would answer NXDOMAIN for the missing cluster's names, and resolvers
 * cache that.  One source: its list goes into the registry unchanged,
 * without a copy.
 *
 * The snapshot: every live update marks it dirty; it is written at most
 * once per `interval` and when the block stops (shutdown, reload).  At
 * start it is read and checked (snapshot.h); each source that has a part
 * in it, of its own cluster and identity, serves that part as soon as the
 * source reports an error, or `wait` after the start without a sync --
 * never once the source has synced.  Such a source is stale until its
 * first live sync: /registry, globaldns_source_snapshot, and readiness if
 * `ready live`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/metrics.h"
#include "globaldns/plugin.h"
#include "globaldns/registry.h"
#include "globaldns/snapshot.h"
#include "globaldns/util.h"
#include "globaldns/workers.h"
#include "serviceentries_sources.h"

#define SNAP_DEFAULT_INTERVAL_MS 10000L
#define SNAP_DEFAULT_WAIT_MS 5000L
#define SNAP_CHECK_MS 100L
#define SNAP_POLL_MS 50L

static const char name[] = "serviceentries";

static double mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void arm(struct event *ev, long ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(ev, &tv);
}

static const char *slot_label(const struct se_slot *sl)
{
	return sl->label ? sl->label : sl->set->zone;
}

/* ---- several sources, one list ---- */

/* "CLUSTER/" before *ns (NULL stays NULL); 0 or -1. */
static int prefix(char **ns, const char *cluster)
{
	size_t n;
	char *x;

	if (!*ns)
		return 0;
	n = strlen(cluster) + strlen(*ns) + 2;
	if (!(x = malloc(n)))
		return -1;
	snprintf(x, n, "%s/%s", cluster, *ns);
	free(*ns);
	*ns = x;
	return 0;
}

/* Every source's last list, copied, into one. */
static int merge(const struct se_sources *set, struct se_list *m)
{
	se_list_init(m);
	for (size_t i = 0; i < set->nslots; i++) {
		const struct se_slot *sl = &set->slots[i];
		size_t n0 = m->n, r0 = m->nrejects;
		if (se_list_copy(m, &sl->last) < 0)
			return -1;
		for (size_t k = n0; k < m->n; k++)
			if (prefix(&m->items[k].ns, sl->cluster) < 0)
				return -1;
		for (size_t k = r0; k < m->nrejects; k++)
			if (prefix(&m->rejects[k].ns, sl->cluster) < 0)
				return -1;
	}
	return 0;
}

/* The entries of sl are now these (moved): a new registry when it can be. */
static void publish(struct se_slot *sl, struct se_list *entries)
{
	struct se_sources *set = sl->set;
	struct se_list m;

	sl->have = 1;
	if (set->nslots == 1) {
		/* the snapshot keeps its own copy: the registry keeps no list */
		se_list_free(&sl->last);
		if (set->snap_path && se_list_copy(&sl->last, entries) < 0) {
			se_list_free(&sl->last);
			log_error("plugin/serviceentries: %s: out of memory copying the entries for the snapshot",
				set->zone);
		}
		set->build(set->build_arg, entries);
		return;
	}
	se_list_free(&sl->last);
	sl->last = *entries;
	se_list_init(entries);
	for (size_t i = 0; i < set->nslots; i++)
		if (!set->slots[i].have)
			return;
	if (merge(set, &m) < 0) {
		log_error("plugin/serviceentries: %s: out of memory merging the clusters' entries; "
			"keeping the previous registry", set->zone);
		se_list_free(&m);
		return;
	}
	set->build(set->build_arg, &m);
	se_list_free(&m);
}

static void snap_schedule(struct se_sources *set);

static void slot_update(void *arg, struct se_list *entries)
{
	struct se_slot *sl = arg;

	if (sl->from_snapshot)
		log_info("plugin/serviceentries: %s: live entries from the source; the snapshot's are no longer served",
			slot_label(sl));
	sl->from_snapshot = 0;
	se_list_free(&sl->snap);
	sl->snap_have = 0;
	publish(sl, entries);
	sl->set->snap_dirty = 1;
	snap_schedule(sl->set);
}

/* Seconds since what sl serves was last known good (0: in sync). */
static double staleness(const struct se_slot *sl, time_t now)
{
	const struct se_source_status *st = &sl->source->status;

	if (sl->from_snapshot)
		return (double)(now - sl->snap_time);
	if (sl->have && st->last_error[0] && st->good_until)
		return (double)(now - st->good_until);
	return 0;
}

/* ---- the snapshot: configuration ---- */

static int snap_parse(struct se_sources *set, const struct cf_directive *c, char *err,
	size_t errlen)
{
	char why[512];

	if (set->snap_path)
		PLUGIN_FAIL(c, "snapshot: given twice");
	if (c->nargs != 1)
		PLUGIN_FAIL(c, "snapshot: needs the path of the file, e.g. \"snapshot /var/lib/globaldns/global.json\"");
	set->snap_interval_ms = SNAP_DEFAULT_INTERVAL_MS;
	set->snap_wait_ms = SNAP_DEFAULT_WAIT_MS;
	for (size_t i = 0; i < c->nchildren; i++) {
		const struct cf_directive *o = &c->children[i];
		if ((strcmp(o->name, "interval") == 0 || strcmp(o->name, "wait") == 0) && o->nargs == 1) {
			long ms;
			if (cf_parse_duration_ms(o->args[0], &ms) < 0 || ms < 0 || ms > 86400000L)
				PLUGIN_FAIL(o, "snapshot %s: \"%s\": not a duration up to 24h", o->name, o->args[0]);
			if (o->name[0] == 'i')
				set->snap_interval_ms = ms;
			else
				set->snap_wait_ms = ms;
		} else if (strcmp(o->name, "ready") == 0 && o->nargs == 1 &&
			   (strcmp(o->args[0], "live") == 0 || strcmp(o->args[0], "snapshot") == 0)) {
			set->snap_ready_live = o->args[0][0] == 'l';
		} else {
			PLUGIN_FAIL(o, "snapshot: unknown or malformed \"%s\"; supported: "
				"interval DURATION, wait DURATION, ready snapshot|live", o->name);
		}
	}
	if (snapshot_check_path(c->args[0], why, sizeof(why)) < 0)
		PLUGIN_FAIL(c, "snapshot \"%s\": %s", c->args[0], why);
	if (!(set->snap_path = strdup(c->args[0])))
		PLUGIN_FAIL(c, "out of memory");
	set->snap_prop = c;
	return 0;
fail:
	return -1;
}

/* ---- the sources: configuration ---- */

/* The kinds of source (source.h), in the order their properties are listed. */
extern const struct se_source_kind file_source_kind;
extern const struct se_source_kind kube_source_kind;
static const struct se_source_kind *const kinds[] = {
	&file_source_kind, &kube_source_kind,
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static const struct se_source_kind *kind_of(const char *prop)
{
	for (size_t k = 0; k < NKINDS; k++)
		for (const char *const *pp = kinds[k]->props; *pp; pp++)
			if (strcmp(prop, *pp) == 0)
				return kinds[k];
	return NULL;
}

void se_sources_supported(char *out, size_t len, const char *const *own,
	size_t nown)
{
	static const char *const ours[] = { "cluster", "snapshot" };
	size_t o = 0;

	out[0] = '\0';
	for (size_t k = 0; k < NKINDS; k++) {
		for (const char *const *pp = kinds[k]->props; *pp && o < len; pp++)
			o += (size_t)snprintf(out + o, len - o, "%s%s", o ? ", " : "", *pp);
		for (size_t i = 0; k == 0 && i < nown && o < len; i++)
			o += (size_t)snprintf(out + o, len - o, ", %s", own[i]);
		for (size_t i = 0; k == 0 && i < sizeof(ours) / sizeof(ours[0]) && o < len; i++)
			o += (size_t)snprintf(out + o, len - o, ", %s", ours[i]);
	}
}

/* The slot of a new source (cluster NULL: the block's own properties). */
static struct se_slot *slot_add(struct se_sources *set, const char *cluster)
{
	struct se_slot *sl;

	if (grow_array((void **)&set->slots, &set->slots_cap, set->nslots + 1, sizeof(*set->slots)) < 0)
		return NULL;
	sl = &set->slots[set->nslots];
	memset(sl, 0, sizeof(*sl));
	if (cluster && !(sl->cluster = strdup(cluster)))
		return NULL;
	sl->set = set;
	set->nslots++;
	return sl;
}

/* A property of a source kind: one kind per source. */
static int source_prop(struct se_slot *sl, const struct se_source_kind *kind,
	const struct cf_directive *c, char *err, size_t errlen)
{
	char msg[512];

	if (sl->kind && sl->kind != kind)
		PLUGIN_FAIL(c, "%s: a %s property, but this %s reads \"%s\"; "
			"use the properties of one source only", c->name,
			kind->title, sl->cluster ? "cluster" : "block",
			sl->kind_prop->name);
	if (!sl->kind) {
		if (!(sl->kind_conf = kind->conf_new()))
			PLUGIN_FAIL(c, "out of memory");
		sl->kind = kind;
		sl->kind_prop = c;
	}
	if (kind->conf_prop(sl->kind_conf, c, msg, sizeof(msg)) < 0)
		PLUGIN_FAIL(c, "%s", msg);
	return 0;
fail:
	return -1;
}

/* cluster NAME { PROPERTIES }: one of several sources. */
static int parse_cluster(struct se_sources *set, const struct cf_directive *c,
	char *err, size_t errlen)
{
	const char *n = c->nargs == 1 ? c->args[0] : "";
	size_t l = strlen(n);
	struct se_slot *sl;

	if (c->nargs != 1 || !c->has_block)
		PLUGIN_FAIL(c, "cluster: needs a name and a block of source properties, "
			"e.g. \"cluster east { kubeconfig /etc/east.yaml }\"");
	/* a label value and a log word: a DNS label */
	if (l == 0 || l > 63 || strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789-") != l ||
	    n[0] == '-' || n[l - 1] == '-')
		PLUGIN_FAIL(c, "cluster: \"%s\": not a name (lowercase letters, digits and '-', at most 63)", n);
	for (size_t i = 0; i < set->nslots; i++)
		if (set->slots[i].cluster && strcmp(set->slots[i].cluster, n) == 0)
			PLUGIN_FAIL(c, "cluster: \"%s\" given twice", n);
	if (!(sl = slot_add(set, n)))
		PLUGIN_FAIL(c, "out of memory");
	sl->kind_prop = c;
	for (size_t i = 0; i < c->nchildren; i++) {
		const struct cf_directive *cc = &c->children[i];
		const struct se_source_kind *kind = kind_of(cc->name);
		if (!kind)
			PLUGIN_FAIL(cc, "cluster %s: \"%s\" is not a source property", n, cc->name);
		if (source_prop(sl, kind, cc, err, errlen) < 0)
			goto fail;
	}
	if (!sl->kind)
		PLUGIN_FAIL(c, "cluster %s: no source properties (e.g. kubeconfig FILE [CONTEXT], or endpoint URL)", n);
	return 0;
fail:
	return -1;
}

int se_sources_prop(struct se_sources *set, const struct cf_directive *c,
	char *err, size_t errlen)
{
	const struct se_source_kind *kind = kind_of(c->name);
	struct se_slot *own = NULL;

	if (strcmp(c->name, "cluster") == 0)
		return parse_cluster(set, c, err, errlen) < 0 ? -1 : 1;
	if (strcmp(c->name, "snapshot") == 0)
		return snap_parse(set, c, err, errlen) < 0 ? -1 : 1;
	if (!kind)
		return 0;
	for (size_t i = 0; i < set->nslots && !own; i++)
		if (!set->slots[i].cluster)
			own = &set->slots[i];
	if (!own && !(own = slot_add(set, NULL)))
		PLUGIN_FAIL(c, "out of memory");
	return source_prop(own, kind, c, err, errlen) < 0 ? -1 : 1;
fail:
	return -1;
}

int se_sources_create(struct se_sources *set, const struct cf_directive *d,
	int check, char *err, size_t errlen)
{
	for (size_t i = 0; i < set->nslots && set->nslots > 1; i++)
		if (!set->slots[i].cluster)
			PLUGIN_FAIL(set->slots[i].kind_prop, "%s: a source property beside cluster blocks; "
				"with clusters, give each its own properties inside its block",
				set->slots[i].kind_prop->name);
	if (!set->nslots) {
		/* no source property: the default kind (the Kubernetes API, in-cluster) */
		struct se_slot *sl = slot_add(set, NULL);
		if (!sl)
			PLUGIN_FAIL(d, "out of memory");
		for (size_t k = 0; k < NKINDS && !sl->kind; k++)
			if (kinds[k]->is_default)
				sl->kind = kinds[k];
		if (!(sl->kind_conf = sl->kind->conf_new()))
			PLUGIN_FAIL(d, "out of memory");
	}
	for (size_t i = 0; i < set->nslots; i++) {
		struct se_slot *sl = &set->slots[i];
		struct se_source_args sa = {
			.label = set->zone, .check = check,
			.update = slot_update, .update_arg = sl,
		};
		char serr[1024];
		if (sl->cluster) {
			size_t n = strlen(set->zone) + strlen(sl->cluster) + sizeof(" (cluster )");
			if (!(sl->label = malloc(n)))
				PLUGIN_FAIL(d, "out of memory");
			snprintf(sl->label, n, "%s (cluster %s)", set->zone, sl->cluster);
			sa.label = sl->label;
		}
		sl->source = sl->kind->create(sl->kind_conf, &sa, serr, sizeof(serr));
		if (!sl->source)
			PLUGIN_FAIL(sl->kind_prop ? sl->kind_prop : d, "%s", serr);
		sl->source->cluster = sl->cluster;
		if (set->snap_path && !sl->source->identity)
			PLUGIN_FAIL(set->snap_prop, "snapshot: the %s source needs none (it reads local files)",
				sl->kind->title);
	}
	for (size_t i = 0; i < set->nslots; i++)
		set->slots[i].kind_prop = NULL; /* into the Corefile tree: setup only */
	set->snap_prop = NULL;
	return 0;
fail:
	return -1;
}

/* ---- the snapshot: writing ---- */

/* The write on its thread ended (wait: wait for it): 1, or 0 still writing. */
static int snap_finish(struct se_sources *set, int wait)
{
	char err[512];
	int rc;

	if (!snapshot_write_poll(set->snap_job, wait, &rc, err, sizeof(err), &set->snap_write_took_ms))
		return 0;
	set->snap_job = NULL;
	if (rc < 0) {
		set->snap_writes_failed++;
		snprintf(set->snap_error, sizeof(set->snap_error), "%s", err);
		log_error("plugin/serviceentries: %s: snapshot %s: %s", set->zone, set->snap_path, err);
		return 1;
	}
	set->snap_writes_ok++;
	set->snap_written = set->snap_job_now;
	set->snap_error[0] = '\0';
	return 1;
}

/* Write what is served, off the loop (wait: and wait for it, at the end). */
static void snap_write(struct se_sources *set, int wait)
{
	struct snapshot_part parts[64];
	size_t n = 0;
	time_t now = time(NULL);
	char err[512];

	if (set->snap_job && !snap_finish(set, wait))
		return;         /* one at a time: its end schedules the next */
	/* nothing served yet (a cluster has not delivered): nothing to keep;
	 * written once every part is there */
	if (!set->snap_path || !set->snap_dirty)
		return;
	for (size_t i = 0; i < set->nslots; i++)
		if (!set->slots[i].have)
			return;
	for (size_t i = 0; i < set->nslots && n < sizeof(parts) / sizeof(parts[0]); i++) {
		const struct se_slot *sl = &set->slots[i];
		const struct se_source_status *st = &sl->source->status;
		if (!sl->have)
			continue;
		parts[n].cluster = sl->cluster;
		parts[n].identity = sl->source->identity;
		parts[n].synced_at = sl->from_snapshot ? sl->snap_time
			: st->last_error[0] && st->good_until ? st->good_until : now;
		parts[n].list = &sl->last;
		n++;
	}
	set->snap_dirty = 0;
	set->snap_last_write_ms = mono_ms();
	set->snap_job_now = now;
	set->snap_job = snapshot_write_start(set->snap_path, set->zones, set->nzones, parts, n,
		now, err, sizeof(err));
	if (!set->snap_job) {
		set->snap_writes_failed++;
		snprintf(set->snap_error, sizeof(set->snap_error), "%s", err);
		log_error("plugin/serviceentries: %s: snapshot %s: %s", set->zone, set->snap_path, err);
		return;
	}
	if (wait)
		snap_finish(set, 1);
	else
		arm(set->snap_poll_timer, SNAP_POLL_MS);
}

static void on_write_timer_locked(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	snap_write(arg, 0);
}

WORKERS_LOCKED_EVENT_CB(on_write_timer)

static void snap_schedule(struct se_sources *set);

static void on_poll_timer_locked(evutil_socket_t fd, short what, void *arg)
{
	struct se_sources *set = arg;

	(void)fd;
	(void)what;
	if (!snap_finish(set, 0))
		arm(set->snap_poll_timer, SNAP_POLL_MS);
	else if (set->snap_dirty)
		snap_schedule(set);
}

WORKERS_LOCKED_EVENT_CB(on_poll_timer)

/* Write now, or when `interval` since the last write has passed. */
static void snap_schedule(struct se_sources *set)
{
	double since;
	long wait = 0;

	if (!set->snap_write_timer || set->snap_job || evtimer_pending(set->snap_write_timer, NULL))
		return;
	since = mono_ms() - set->snap_last_write_ms;
	if (set->snap_last_write_ms > 0 && since < (double)set->snap_interval_ms)
		wait = set->snap_interval_ms - (long)since;
	arm(set->snap_write_timer, wait);
}

/* ---- the snapshot: reading at start ---- */

static void on_part(void *arg, const char *cluster, const char *identity,
	time_t synced_at, struct se_list *entries)
{
	struct se_sources *set = arg;

	for (size_t i = 0; i < set->nslots; i++) {
		struct se_slot *sl = &set->slots[i];
		if ((cluster == NULL) != (sl->cluster == NULL) ||
		    (cluster && strcmp(cluster, sl->cluster) != 0))
			continue;
		if (strcmp(identity, sl->source->identity) != 0) {
			log_error("plugin/serviceentries: %s: snapshot %s: rejected its part for \"%s\", "
				"this source reads \"%s\"; not served", slot_label(sl), set->snap_path,
				identity, sl->source->identity);
			return;
		}
		se_list_free(&sl->snap);
		sl->snap = *entries;
		se_list_init(entries);
		sl->snap_have = 1;
		sl->snap_time = synced_at;
		return;
	}
	log_warning("plugin/serviceentries: %s: snapshot %s: a part for %s%s, which this block does not read; ignored",
		set->zone, set->snap_path, cluster ? "cluster " : "the block's only source",
		cluster ? cluster : "");
}

/* Serve the snapshot's entries of the sources that failed, or did not sync
 * within `wait`; drop those of the sources that synced. */
static void on_apply_timer_locked(evutil_socket_t fd, short what, void *arg)
{
	struct se_sources *set = arg;
	int pending = 0;
	double waited = mono_ms() - set->started_ms;

	(void)fd;
	(void)what;
	for (size_t i = 0; i < set->nslots; i++) {
		struct se_slot *sl = &set->slots[i];
		const struct se_source_status *st = &sl->source->status;
		char when[32];
		struct tm tm;
		size_t n;
		if (!sl->snap_have)
			continue;
		if (sl->have) {
			se_list_free(&sl->snap);
			sl->snap_have = 0;
			continue;
		}
		if (!st->last_error[0] && !st->syncs_failed && waited < (double)set->snap_wait_ms) {
			pending = 1;
			continue;
		}
		if (!gmtime_r(&sl->snap_time, &tm) || !strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm))
			snprintf(when, sizeof(when), "?");
		n = sl->snap.n;
		sl->from_snapshot = 1;
		sl->snap_have = 0;
		log_warning("plugin/serviceentries: %s: serving %zu entries from the snapshot %s (last in sync %s): %s",
			slot_label(sl), n, set->snap_path, when,
			st->last_error[0] ? st->last_error : "no sync yet");
		publish(sl, &sl->snap);
		se_list_free(&sl->snap);
	}
	if (pending)
		arm(set->snap_apply_timer, SNAP_CHECK_MS);
}

WORKERS_LOCKED_EVENT_CB(on_apply_timer)

static int snap_start(struct se_sources *set, struct event_base *base)
{
	char err[512];
	int rc;
	int any = 0;

	if (!set->snap_path)
		return 0;
	set->started_ms = mono_ms();
	if (!(set->snap_write_timer = evtimer_new(base, on_write_timer, set)) ||
	    !(set->snap_apply_timer = evtimer_new(base, on_apply_timer, set)) ||
	    !(set->snap_poll_timer = evtimer_new(base, on_poll_timer, set)))
		return -1;
	rc = snapshot_read(set->snap_path, set->zones, set->nzones,
		on_part, set, &set->snap_loaded, err, sizeof(err));
	if (rc < 0) {
		snprintf(set->snap_error, sizeof(set->snap_error), "read: %s", err);
		log_error("plugin/serviceentries: %s: snapshot %s rejected: %s; not served",
			set->zone, set->snap_path, err);
		return 0;
	}
	if (rc > 0) {
		log_info("plugin/serviceentries: %s: snapshot %s: none yet; written after the first sync",
			set->zone, set->snap_path);
		return 0;
	}
	for (size_t i = 0; i < set->nslots; i++)
		any |= set->slots[i].snap_have;
	if (any)
		arm(set->snap_apply_timer, SNAP_CHECK_MS);
	return 0;
}

static void snap_stop(struct se_sources *set)
{
	if (set->snap_write_timer) {
		snap_write(set, 1);
		if (set->snap_job)
			snap_finish(set, 1);
		event_free(set->snap_write_timer);
		set->snap_write_timer = NULL;
	}
	if (set->snap_poll_timer) {
		event_free(set->snap_poll_timer);
		set->snap_poll_timer = NULL;
	}
	if (set->snap_apply_timer) {
		event_free(set->snap_apply_timer);
		set->snap_apply_timer = NULL;
	}
}

/* ---- life cycle ---- */

int se_sources_start(struct se_sources *set, struct event_base *base)
{
	for (size_t i = 0; i < set->nslots; i++)
		if (set->slots[i].source->ops->start(set->slots[i].source, base) < 0)
			return -1;
	return snap_start(set, base);
}

int se_sources_ready(const struct se_sources *set, char *why, size_t whylen)
{
	for (size_t i = 0; i < set->nslots; i++) {
		const struct se_slot *sl = &set->slots[i];
		const char *e = sl->source->status.last_error;
		if (!sl->have || !*set->reg) {
			snprintf(why, whylen, "serviceentries %s: %s", slot_label(sl),
				e[0] ? e : "first load not complete");
			return 0;
		}
		if (sl->from_snapshot && set->snap_ready_live) {
			snprintf(why, whylen, "serviceentries %s: serving the snapshot, waiting for a live sync (%s)",
				slot_label(sl), e[0] ? e : "not synced yet");
			return 0;
		}
	}
	return 1;
}

void se_sources_free(struct se_sources *set)
{
	snap_stop(set);
	for (size_t i = 0; i < set->nslots; i++) {
		struct se_slot *sl = &set->slots[i];
		se_source_free(sl->source);
		if (sl->kind)
			sl->kind->conf_free(sl->kind_conf);
		se_list_free(&sl->last);
		se_list_free(&sl->snap);
		free(sl->cluster);
		free(sl->label);
	}
	free(set->slots);
	free(set->snap_path);
}

/* ---- metrics and /registry ---- */

/* The "cluster" label pair of a source of several, or the end of the list. */
#define CLUSTER_LABEL(sl) (sl)->cluster ? "cluster" : NULL, (sl)->cluster

void se_sources_collect(const struct se_sources *set, struct metrics_out *o)
{
	const char *zone = set->zone;
	time_t now = time(NULL);

	metrics_out_family(o, "globaldns_source_synced", METRICS_GAUGE,
		"1 once the source has completed its first sync.");
	metrics_out_family(o, "globaldns_source_syncs_total", METRICS_COUNTER,
		"Complete loads of the source, by result.");
	metrics_out_family(o, "globaldns_source_last_success_timestamp_seconds", METRICS_GAUGE,
		"Unix time of the last successful sync (0 before the first).");
	metrics_out_family(o, "globaldns_source_staleness_seconds", METRICS_GAUGE,
		"Seconds since the entries served from the source were last known in sync (0: in sync).");
	metrics_out_family(o, "globaldns_source_snapshot", METRICS_GAUGE,
		"1 while the source's entries are served from the disk snapshot (no live sync yet).");
	for (size_t i = 0; i < set->nslots; i++) {
		const struct se_slot *sl = &set->slots[i];
		const struct se_source_status *st = &sl->source->status;
		const char *kind = sl->source->ops->kind;
		metrics_out_sample(o, "globaldns_source_synced", "", st->synced ? 1 : 0,
			"zone", zone, "source", kind, CLUSTER_LABEL(sl), NULL);
		metrics_out_sample(o, "globaldns_source_syncs_total", "", (double)st->syncs_ok,
			"zone", zone, "source", kind, "result", "success", CLUSTER_LABEL(sl), NULL);
		metrics_out_sample(o, "globaldns_source_syncs_total", "", (double)st->syncs_failed,
			"zone", zone, "source", kind, "result", "failure", CLUSTER_LABEL(sl), NULL);
		metrics_out_sample(o, "globaldns_source_last_success_timestamp_seconds", "",
			(double)st->last_success, "zone", zone, "source", kind, CLUSTER_LABEL(sl), NULL);
		metrics_out_sample(o, "globaldns_source_staleness_seconds", "", staleness(sl, now),
			"zone", zone, "source", kind, CLUSTER_LABEL(sl), NULL);
		metrics_out_sample(o, "globaldns_source_snapshot", "", sl->from_snapshot ? 1 : 0,
			"zone", zone, "source", kind, CLUSTER_LABEL(sl), NULL);
		if (sl->source->ops->collect)
			sl->source->ops->collect(sl->source, o, zone);
	}
	if (!set->snap_path)
		return;
	metrics_out_family(o, "globaldns_snapshot_writes_total", METRICS_COUNTER,
		"Writes of the disk snapshot of the registry, by result.");
	metrics_out_family(o, "globaldns_snapshot_last_write_timestamp_seconds", METRICS_GAUGE,
		"Unix time of the last good write of the disk snapshot (0: none yet).");
	metrics_out_sample(o, "globaldns_snapshot_writes_total", "", (double)set->snap_writes_ok,
		"zone", zone, "result", "success", NULL);
	metrics_out_sample(o, "globaldns_snapshot_writes_total", "", (double)set->snap_writes_failed,
		"zone", zone, "result", "failure", NULL);
	metrics_out_sample(o, "globaldns_snapshot_last_write_timestamp_seconds", "",
		(double)set->snap_written, "zone", zone, NULL);
}

static void add_time(cJSON *obj, const char *key, time_t t)
{
	char buf[32];
	struct tm tm;

	if (!t || !gmtime_r(&t, &tm)) {
		cJSON_AddNullToObject(obj, key);
		return;
	}
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	cJSON_AddStringToObject(obj, key, buf);
}

static void source_json(const struct se_slot *sl, cJSON *src, time_t now)
{
	const struct se_source_status *st = &sl->source->status;

	if (sl->cluster)
		cJSON_AddStringToObject(src, "cluster", sl->cluster);
	else
		cJSON_AddNullToObject(src, "cluster");
	cJSON_AddStringToObject(src, "kind", sl->source->ops->kind);
	cJSON_AddBoolToObject(src, "synced", st->synced);
	add_time(src, "last_success", st->last_success);
	add_time(src, "last_attempt", st->last_attempt);
	cJSON_AddNumberToObject(src, "syncs_ok", (double)st->syncs_ok);
	cJSON_AddNumberToObject(src, "syncs_failed", (double)st->syncs_failed);
	cJSON_AddStringToObject(src, "last_error", st->last_error);
	cJSON_AddBoolToObject(src, "stale", sl->from_snapshot || staleness(sl, now) > 0);
	cJSON_AddNumberToObject(src, "staleness_seconds", staleness(sl, now));
	cJSON_AddBoolToObject(src, "from_snapshot", sl->from_snapshot);
	if (sl->from_snapshot)
		add_time(src, "snapshot_synced_at", sl->snap_time);
	cJSON_AddNumberToObject(src, "entries", (double)(sl->set->nslots == 1
		? (*sl->set->reg ? registry_entries(*sl->set->reg) : 0) : sl->last.n));
	if (sl->source->ops->introspect)
		sl->source->ops->introspect(sl->source, src);
}

/* "source": the first (the only one, as before clusters); "sources": all. */
void se_sources_introspect(const struct se_sources *set, cJSON *obj)
{
	time_t now = time(NULL);
	cJSON *src = cJSON_AddObjectToObject(obj, "source");
	cJSON *arr = cJSON_AddArrayToObject(obj, "sources");

	if (src)
		source_json(&set->slots[0], src, now);
	for (size_t i = 0; arr && i < set->nslots; i++) {
		cJSON *x = cJSON_CreateObject();
		if (!x)
			break;
		source_json(&set->slots[i], x, now);
		cJSON_AddItemToArray(arr, x);
	}
	if (set->snap_path) {
		cJSON *s = cJSON_AddObjectToObject(obj, "snapshot"), *w;
		if (!s || !cJSON_AddStringToObject(s, "path", set->snap_path))
			return;
		add_time(s, "loaded_written_at", set->snap_loaded);
		add_time(s, "last_write", set->snap_written);
		cJSON_AddNumberToObject(s, "last_write_ms", set->snap_write_took_ms);
		if ((w = cJSON_AddObjectToObject(s, "writes"))) {
			cJSON_AddNumberToObject(w, "ok", (double)set->snap_writes_ok);
			cJSON_AddNumberToObject(w, "failed", (double)set->snap_writes_failed);
		}
		cJSON_AddStringToObject(s, "last_error", set->snap_error);
		cJSON_AddBoolToObject(s, "ready_on_snapshot", !set->snap_ready_live);
	}
}
