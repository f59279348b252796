/*
 * table.c -- the plugin table: every directive name in CoreDNS's plugin
 * order, and the ones globaldns implements.
 *
 * The order is CoreDNS's plugin.cfg (1.11): a server block sets up and
 * runs its plugins in this order whatever order the Corefile writes them
 * in.  `serviceentries` sits where CoreDNS compiles external backends,
 * beside `kubernetes`; `rrl` (external too) where its plugin.cfg entry
 * puts it, before `acl`; `proxy` (removed from CoreDNS in 1.7) sits where
 * forward does, and `grpc` where it is; both read a line aimed at the
 * istio-coredns-plugin's 127.0.0.1:8053 as serviceentries (grpc_compat.h).
 *
 * A new plugin: its file in src/plugins/, its ops declared and listed
 * here, its file in Makefile.am, its tests.
 */
#include "globaldns/plugin.h"

#include <stddef.h>

extern const struct plugin_ops acl_plugin;
extern const struct plugin_ops any_plugin;
extern const struct plugin_ops bind_plugin;
extern const struct plugin_ops cache_plugin;
extern const struct plugin_ops chaos_plugin;
extern const struct plugin_ops debug_plugin;
extern const struct plugin_ops errors_plugin;
extern const struct plugin_ops forward_plugin;
extern const struct plugin_ops grpc_plugin;
extern const struct plugin_ops health_plugin;
extern const struct plugin_ops hosts_plugin;
extern const struct plugin_ops loadbalance_plugin;
extern const struct plugin_ops log_plugin;
extern const struct plugin_ops loop_plugin;
extern const struct plugin_ops prometheus_plugin;
extern const struct plugin_ops proxy_plugin;
extern const struct plugin_ops ready_plugin;
extern const struct plugin_ops reload_plugin;
extern const struct plugin_ops rrl_plugin;
extern const struct plugin_ops serviceentries_plugin;
extern const struct plugin_ops timeouts_plugin;
extern const struct plugin_ops workers_plugin;

/* Why the cluster-DNS plugins are refused, and what to do instead. */
#define NOT_CLUSTER_DNS "globaldns is not the cluster DNS: it answers ServiceEntry hosts " \
	"(serviceentries, hosts) and forwards the rest; "
#define ZONE_FILES "globaldns serves ServiceEntries and hosts entries, not zone files; " \
	"serve the zone from an authoritative server (NSD, Knot, CoreDNS) and forward it there " \
	"(forward ZONE ADDRESS), or list static names with hosts"

const struct plugin_entry plugin_table[] = {
	{ "root", NULL, NULL }, { "metadata", NULL, NULL }, { "geoip", NULL, NULL },
	{ "cancel", NULL, NULL }, { "tls", NULL, NULL }, { "timeouts", &timeouts_plugin, NULL },
	{ "reload", &reload_plugin, NULL }, { "nsid", NULL, NULL }, { "bufsize", NULL, NULL },
	{ "bind", &bind_plugin, NULL }, { "workers", &workers_plugin, NULL },
	{ "debug", &debug_plugin, NULL }, { "trace", NULL, NULL },
	{ "ready", &ready_plugin, NULL }, { "health", &health_plugin, NULL }, { "pprof", NULL, NULL },
	{ "prometheus", &prometheus_plugin, NULL }, { "errors", &errors_plugin, NULL }, { "log", &log_plugin, NULL },
	{ "dnstap", NULL, NULL }, { "local", NULL, NULL }, { "dns64", NULL, NULL },
	{ "rrl", &rrl_plugin, NULL }, { "acl", &acl_plugin, NULL }, { "any", &any_plugin, NULL }, { "chaos", &chaos_plugin, NULL },
	{ "loadbalance", &loadbalance_plugin, NULL }, { "tsig", NULL, NULL }, { "cache", &cache_plugin, NULL },
	{ "rewrite", NULL, NULL }, { "header", NULL, NULL }, { "dnssec", NULL, NULL },
	{ "autopath", NULL, NOT_CLUSTER_DNS
		"autopath needs the kubernetes plugin's pods; keep it in the cluster's CoreDNS" },
	{ "minimal", NULL, NULL }, { "template", NULL, NULL },
	{ "transfer", NULL, NULL }, { "hosts", &hosts_plugin, NULL }, { "route53", NULL, NULL },
	{ "azure", NULL, NULL }, { "clouddns", NULL, NULL },
	{ "k8s_external", NULL, NOT_CLUSTER_DNS
		"k8s_external belongs beside kubernetes in the cluster's CoreDNS" },
	{ "kubernetes", NULL, NOT_CLUSTER_DNS
		"keep kubernetes in the cluster's CoreDNS (or kube-dns) and let it send the ServiceEntry "
		"zones here (a forward block or stubDomains: README, \"How cluster DNS reaches it\")" },
	{ "serviceentries", &serviceentries_plugin, NULL },
	{ "istio", NULL, NULL },
	{ "file", NULL, ZONE_FILES }, { "auto", NULL, ZONE_FILES }, { "secondary", NULL, ZONE_FILES },
	{ "etcd", NULL, NOT_CLUSTER_DNS
		"it reads no etcd; serve those records from CoreDNS and forward the zone there, "
		"or publish the names as ServiceEntries" },
	{ "loop", &loop_plugin, NULL },
	{ "forward", &forward_plugin, NULL }, { "proxy", &proxy_plugin, NULL },
	{ "grpc", &grpc_plugin, NULL }, { "erratic", NULL, NULL }, { "whoami", NULL, NULL },
	{ "on", NULL, NULL }, { "sign", NULL, NULL }, { "view", NULL, NULL },
};

const size_t plugin_table_size = sizeof(plugin_table) / sizeof(plugin_table[0]);
