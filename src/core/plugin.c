/*
 * plugin.c -- every directive name in CoreDNS's plugin order, and the ones
 * globaldns implements.
 *
 * The order is CoreDNS's plugin.cfg (1.11): a server block runs its plugins
 * in this order whatever order the Corefile writes them in.
 * `serviceentries` sits where CoreDNS compiles external backends, beside
 * `kubernetes`; `proxy` (removed from CoreDNS in 1.7) is accepted as an
 * alias of `forward` where forward exists.
 */
#include "globaldns/plugin.h"

#include <stdio.h>
#include <string.h>

struct plugin_entry {
	const char *name;
	const struct plugin_ops *ops;
};

static const struct plugin_entry plugin_table[] = {
	{ "root", NULL }, { "metadata", NULL }, { "geoip", NULL },
	{ "cancel", NULL }, { "tls", NULL }, { "timeouts", NULL },
	{ "reload", &reload_plugin }, { "nsid", NULL }, { "bufsize", NULL },
	{ "bind", &bind_plugin }, { "debug", NULL }, { "trace", NULL },
	{ "ready", &ready_plugin }, { "health", &health_plugin }, { "pprof", NULL },
	{ "prometheus", &prometheus_plugin }, { "errors", &errors_plugin }, { "log", &log_plugin },
	{ "dnstap", NULL }, { "local", NULL }, { "dns64", NULL },
	{ "acl", NULL }, { "any", NULL }, { "chaos", NULL },
	{ "loadbalance", NULL }, { "tsig", NULL }, { "cache", &cache_plugin },
	{ "rewrite", NULL }, { "header", NULL }, { "dnssec", NULL },
	{ "autopath", NULL }, { "minimal", NULL }, { "template", NULL },
	{ "transfer", NULL }, { "hosts", NULL }, { "route53", NULL },
	{ "azure", NULL }, { "clouddns", NULL }, { "k8s_external", NULL },
	{ "kubernetes", NULL },
	{ "serviceentries", &serviceentries_plugin },
	{ "istio", NULL },
	{ "file", NULL }, { "auto", NULL }, { "secondary", NULL },
	{ "etcd", NULL }, { "loop", NULL },
	{ "forward", &forward_plugin }, { "proxy", &forward_plugin },
	{ "grpc", NULL }, { "erratic", NULL }, { "whoami", NULL },
	{ "on", NULL }, { "sign", NULL }, { "view", NULL },
};

#define NPLUGINS (sizeof(plugin_table) / sizeof(plugin_table[0]))

const struct plugin_ops *plugin_find(const char *name, int *known, int *order)
{
	for (size_t i = 0; i < NPLUGINS; i++) {
		if (strcmp(plugin_table[i].name, name) != 0)
			continue;
		*known = 1;
		*order = (int)i;
		return plugin_table[i].ops;
	}
	*known = 0;
	*order = -1;
	return NULL;
}

const char *plugin_supported_list(void)
{
	static char list[512];

	if (!list[0]) {
		size_t o = 0;
		for (size_t i = 0; i < NPLUGINS; i++) {
			if (!plugin_table[i].ops)
				continue;
			o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
				o ? ", " : "", plugin_table[i].name);
			if (o >= sizeof(list))
				break;
		}
	}
	return list;
}
