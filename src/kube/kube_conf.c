/*
 * kube_conf.c -- the Kubernetes API as a kind of source (source.h): the
 * properties it owns in a `serviceentries` block and how they make a
 * kube_source_conf (kube.h).
 *
 *   kubeconfig PATH [CONTEXT]   endpoint URL        namespaces NS...
 *   api_version VERSION         resync DURATION     nowatch
 *   poll DURATION               timeout DURATION    max_body SIZE
 *   backoff MIN [MAX]           sa_dir DIR          tls_ca PATH
 *   token_file PATH
 *
 * `poll` is the list period of `nowatch`; given without `nowatch` it is
 * the old periodic re-list, now `resync` (said once at setup).
 *
 * A block without any source property reads the Kubernetes API: this is
 * the default kind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "globaldns/corefile.h"
#include "globaldns/log.h"
#include "globaldns/source.h"
#include "globaldns/util.h"
#include "kube.h"

/* A kube_source_conf with the strings it points to. */
struct kube_conf {
	struct kube_source_conf c;
	char **ns;
	size_t ns_cap;
};

static const char *const kube_props[] = {
	"kubeconfig", "endpoint", "namespaces", "api_version", "poll", "nowatch", "resync",
	"timeout", "max_body", "backoff", "sa_dir", "tls_ca", "token_file", NULL,
};

static void *kc_new(void)
{
	return calloc(1, sizeof(struct kube_conf));
}

static void kc_free(void *conf)
{
	struct kube_conf *k = conf;

	if (!k)
		return;
	free((char *)k->c.kubeconfig);
	free((char *)k->c.context);
	free((char *)k->c.endpoint);
	free((char *)k->c.api_version);
	free((char *)k->c.sa_dir);
	free((char *)k->c.tls_ca);
	free((char *)k->c.token_file);
	for (size_t i = 0; i < k->c.nnamespaces; i++)
		free(k->ns[i]);
	free(k->ns);
	free(k);
}

/* "64M", "1048576", "512k": bytes (binary suffixes); 0 or -1. */
static int parse_size(const char *s, size_t *out)
{
	size_t n = strspn(s, "0123456789");
	char digits[24];
	unsigned long v;
	int shift = 0;

	if (n == 0 || n >= sizeof(digits))
		return -1;
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (parse_uint(digits, 1ul << 32, &v) < 0)
		return -1;
	s += n;
	if (*s && strchr("kKmMgG", *s)) {
		shift = (*s == 'k' || *s == 'K') ? 10 : (*s == 'm' || *s == 'M') ? 20 : 30;
		s++;
		if (*s == 'i')
			s++;
	}
	if (*s == 'B')
		s++;
	if (*s || v > (1ul << 32) >> shift || (v << shift) < 1024)
		return -1;
	*out = (size_t)(v << shift);
	return 0;
}

static int set_once(const char **dst, const struct cf_directive *c, const char *v,
	char *err, size_t errlen)
{
	if (*dst) {
		errf(err, errlen, "%s: given twice", c->name);
		return -1;
	}
	if (!(*dst = strdup(v))) {
		errf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static int namespaces(struct kube_conf *kc, const struct cf_directive *c,
	char *err, size_t errlen)
{
	if (c->nargs == 0) {
		errf(err, errlen, "namespaces: needs at least one namespace");
		return -1;
	}
	for (size_t a = 0; a < c->nargs; a++) {
		const char *ns = c->args[a];
		size_t l = strlen(ns);
		/* a DNS-1123 label: it goes into the URL path */
		if (l == 0 || l > 63 || strspn(ns, "abcdefghijklmnopqrstuvwxyz0123456789-") != l
		    || ns[0] == '-' || ns[l - 1] == '-') {
			errf(err, errlen, "namespaces: \"%s\": not a namespace name (lowercase DNS label)", ns);
			return -1;
		}
		if (grow_array((void **)&kc->ns, &kc->ns_cap, kc->c.nnamespaces + 1, sizeof(*kc->ns)) < 0
		    || !(kc->ns[kc->c.nnamespaces] = strdup(ns))) {
			errf(err, errlen, "out of memory");
			return -1;
		}
		kc->c.nnamespaces++;
	}
	kc->c.namespaces = (const char *const *)kc->ns;
	return 0;
}

static int kc_prop(void *conf, const struct cf_directive *c, char *err,
	size_t errlen)
{
	struct kube_conf *kc = conf;
	struct kube_source_conf *k = &kc->c;
	const char *n = c->name;
	long ms;

	if (strcmp(n, "nowatch") == 0) {
		if (c->nargs) {
			errf(err, errlen, "nowatch: takes no arguments");
			return -1;
		}
		k->nowatch = 1;
		return 0;
	}
	if (strcmp(n, "namespaces") == 0)
		return namespaces(kc, c, err, errlen);
	if (strcmp(n, "kubeconfig") == 0) {
		if (c->nargs < 1 || c->nargs > 2) {
			errf(err, errlen, "kubeconfig: needs a path (or a list a:b) and optionally a context");
			return -1;
		}
		if (set_once(&k->kubeconfig, c, c->args[0], err, errlen) < 0 ||
		    (c->nargs == 2 && set_once(&k->context, c, c->args[1], err, errlen) < 0))
			return -1;
		return 0;
	}
	if (strcmp(n, "backoff") == 0) {
		if (c->nargs < 1 || c->nargs > 2 || cf_parse_duration_ms(c->args[0], &k->backoff_min_ms) < 0
		    || k->backoff_min_ms < 10
		    || (c->nargs == 2 && (cf_parse_duration_ms(c->args[1], &k->backoff_max_ms) < 0
					  || k->backoff_max_ms < k->backoff_min_ms))) {
			errf(err, errlen, "backoff: needs a first delay (at least 10ms) and optionally a longest delay, e.g. \"backoff 1s 30s\"");
			return -1;
		}
		return 0;
	}
	if (c->nargs != 1) {
		errf(err, errlen, "%s: needs one value", n);
		return -1;
	}
	if (strcmp(n, "poll") == 0 || strcmp(n, "timeout") == 0 || strcmp(n, "resync") == 0) {
		if (cf_parse_duration_ms(c->args[0], &ms) < 0 || ms < 100 || ms > 86400000L) {
			errf(err, errlen, "%s: \"%s\": not a duration from 100ms to 24h", n, c->args[0]);
			return -1;
		}
		if (n[0] == 'p')
			k->poll_ms = ms;
		else if (n[0] == 'r')
			k->resync_ms = ms;
		else
			k->timeout_ms = ms;
		return 0;
	}
	if (strcmp(n, "max_body") == 0) {
		if (parse_size(c->args[0], &k->max_body) < 0) {
			errf(err, errlen, "max_body: \"%s\": not a size from 1K to 4G (e.g. 64M)", c->args[0]);
			return -1;
		}
		return 0;
	}
	if (strcmp(n, "api_version") == 0) {
		if (strcmp(c->args[0], "v1") != 0 && strcmp(c->args[0], "v1beta1") != 0 &&
		    strcmp(c->args[0], "v1alpha3") != 0) {
			errf(err, errlen, "api_version: \"%s\": not one of v1, v1beta1, v1alpha3", c->args[0]);
			return -1;
		}
		return set_once(&k->api_version, c, c->args[0], err, errlen);
	}
	if (strcmp(n, "endpoint") == 0) {
		if (strncmp(c->args[0], "https://", 8) != 0 && strncmp(c->args[0], "http://", 7) != 0) {
			errf(err, errlen, "endpoint: \"%s\": not an http:// or https:// URL", c->args[0]);
			return -1;
		}
		return set_once(&k->endpoint, c, c->args[0], err, errlen);
	}
	if (strcmp(n, "sa_dir") == 0)
		return set_once(&k->sa_dir, c, c->args[0], err, errlen);
	if (strcmp(n, "tls_ca") == 0)
		return set_once(&k->tls_ca, c, c->args[0], err, errlen);
	if (strcmp(n, "token_file") == 0)
		return set_once(&k->token_file, c, c->args[0], err, errlen);
	errf(err, errlen, "%s: not implemented", n);
	return -1;
}

/* Resolved (kubeconfig files parsed) here, so errors come out at setup
 * and under -validate; nothing is contacted until start. */
static struct se_source *kc_create(const void *conf,
	const struct se_source_args *a, char *err, size_t errlen)
{
	struct kube_source_conf k = ((const struct kube_conf *)conf)->c;
	struct se_source *s;
	char kerr[768];

	k.label = a->label;
	if (k.poll_ms && !k.nowatch) {
		/* the old periodic re-list while watching: resync does that now */
		if (!k.resync_ms)
			k.resync_ms = k.poll_ms;
		log_warning("plugin/serviceentries: %s: poll without nowatch is deprecated: "
			"nothing is re-listed on a timer unless asked; taken as \"resync %lds\" "
			"(write resync, or drop it: the watch is kept alive and resumed without lists)",
			a->label, k.resync_ms / 1000);
		k.poll_ms = 0;
	}
	s = kube_source_new(&k, a->update, a->update_arg, kerr, sizeof(kerr));
	if (!s)
		errf(err, errlen, "kubernetes: %s", kerr);
	return s;
}

const struct se_source_kind kube_source_kind = {
	.name = "kubernetes",
	.title = "Kubernetes API",
	.props = kube_props,
	.is_default = 1,
	.conf_new = kc_new,
	.conf_prop = kc_prop,
	.create = kc_create,
	.conf_free = kc_free,
};
