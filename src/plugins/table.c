/*
 * table.c -- the plugin table: every directive name in CoreDNS's plugin
 * order, and the ones globaldns implements.
 *
 * The order is CoreDNS's plugin.cfg (1.11): a server block sets up and
 * runs its plugins in this order whatever order the Corefile writes them
 * in.  `serviceentries` sits where CoreDNS compiles external backends,
 * beside `kubernetes`; `rrl` (external too) where its plugin.cfg entry
 * puts it, before `acl`; `proxy` (removed from CoreDNS in 1.7) is accepted as
 * an alias of `forward` where forward exists.
 *
 * A new plugin: its file in src/plugins/, its ops declared and listed
 * here, its file in Makefile.am, its tests.
 */
#include "globaldns/plugin.h"

#include <stddef.h>

extern const struct plugin_ops acl_plugin;
extern const struct plugin_ops bind_plugin;
extern const struct plugin_ops cache_plugin;
extern const struct plugin_ops errors_plugin;
extern const struct plugin_ops forward_plugin;
extern const struct plugin_ops health_plugin;
extern const struct plugin_ops log_plugin;
extern const struct plugin_ops prometheus_plugin;
extern const struct plugin_ops ready_plugin;
extern const struct plugin_ops reload_plugin;
extern const struct plugin_ops rrl_plugin;
extern const struct plugin_ops serviceentries_plugin;

const struct plugin_entry plugin_table[] = {
	{ "root", NULL }, { "metadata", NULL }, { "geoip", NULL },
	{ "cancel", NULL }, { "tls", NULL }, { "timeouts", NULL },
	{ "reload", &reload_plugin }, { "nsid", NULL }, { "bufsize", NULL },
	{ "bind", &bind_plugin }, { "debug", NULL }, { "trace", NULL },
	{ "ready", &ready_plugin }, { "health", &health_plugin }, { "pprof", NULL },
	{ "prometheus", &prometheus_plugin }, { "errors", &errors_plugin }, { "log", &log_plugin },
	{ "dnstap", NULL }, { "local", NULL }, { "dns64", NULL },
	{ "rrl", &rrl_plugin }, { "acl", &acl_plugin }, { "any", NULL }, { "chaos", NULL },
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

const size_t plugin_table_size = sizeof(plugin_table) / sizeof(plugin_table[0]);
