#!/bin/bash
# migration.sh -- the README's migration guide (issue 10 item 7), checked
# against the old chart (tests/data/migration/istiocoredns-chart.yaml, the
# objects Istio's istiocoredns add-on made) and the new objects
# (packaging/kubernetes/globaldns.yaml):
#  * the istiocoredns Service is the chart's (name, namespace, selector,
#    ports, exportTo) and selects the new pods, so its ClusterIP -- what
#    kube-dns stubDomains and CoreDNS forward blocks name -- stays;
#  * the new objects share no name with the old ones but that Service, and
#    the new Deployment never selects the old pods: both run side by side
#    during the switch, and rolling back is scaling the old one up again;
#  * the new ClusterRole grants less than the old one; probes, ports,
#    dnsPolicy and the sidecar annotation are the old pod's;
#  * end to end, on loopback: the ConfigMap's Corefile (ports moved off 53)
#    against the fake API server answers .global from ServiceEntries and
#    forwards the rest (NSD); dnsmasq configured from the kube-dns
#    stubDomains snippet (dnsmasq is what kube-dns runs) and a server
#    running the CoreDNS snippet (globaldns standing in for the cluster's
#    CoreDNS, which Debian does not package) reach it unchanged but for
#    the address.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/lib_kube.sh"
. "$(dirname "$0")/../integration/lib_upstream.sh"
. "$(dirname "$0")/lib_manifest.sh"
need dnsmasq nsd
plan 21

OLD=$TESTDATA/migration/istiocoredns-chart.yaml
NEW=$TOP_SRCDIR/packaging/kubernetes/globaldns.yaml
K=$TOP_SRCDIR/packaging/kubernetes
on() { yq "$1" "$OLD" "$NEW"; }   # F[0]: the old chart, F[1]: the new objects
SVC='lambda d: {k: v for k, v in [("ns", d["metadata"]["namespace"]), ("selector", d["spec"]["selector"]), ("ports", sorted((p["name"], p["port"], p["protocol"]) for p in d["spec"]["ports"])), ("exportTo", d["metadata"]["annotations"]["networking.istio.io/exportTo"])]}'

# ---- the objects
is "$(on "($SVC)(o('Service','istiocoredns',F[1])) == ($SVC)(o('Service','istiocoredns',F[0]))")" True \
	"the istiocoredns Service is the chart's: namespace, selector, ports, exportTo"
is "$(on "sel(o('Service','istiocoredns',F[0])['spec']['selector'], o('Deployment','globaldns',F[1])['spec']['template']['metadata']['labels'])")" True \
	"the old Service's selector picks the new pods (the ClusterIP stays, clients need no change)"
is "$(on "sel(o('Deployment','globaldns',F[1])['spec']['selector'], o('Deployment','istiocoredns',F[0])['spec']['template']['metadata']['labels'])")" False \
	"the new Deployment does not select the old pods"
is "$(on "sorted('%s %s/%s' % (d['kind'], d['metadata'].get('namespace', ''), d['metadata']['name']) for d in F[1] if any((d['kind'], d['metadata'].get('namespace'), d['metadata']['name']) == (e['kind'], e['metadata'].get('namespace'), e['metadata']['name']) for e in F[0]))")" \
	'["Service istio-system/istiocoredns"]' "no other object of the chart is replaced: the old Deployment, ConfigMap and RBAC stay for a roll back"
is "$(on "all(set(r['apiGroups']) <= {'networking.istio.io'} and (set(r['resources']) <= {'serviceentries'}) and set(r['verbs']) <= set(o('ClusterRole','istiocoredns',F[0])['rules'][0]['verbs']) for r in o('ClusterRole','globaldns',F[1])['rules'])")" True \
	"the new ClusterRole grants a subset of the old one (serviceentries instead of every networking.istio.io resource)"
OLDC="o('Deployment','istiocoredns',F[0])['spec']['template']['spec']['containers'][0]"
NEWC="o('Deployment','globaldns',F[1])['spec']['template']['spec']['containers'][0]"
is "$(on "$NEWC['livenessProbe']['httpGet'] == $OLDC['livenessProbe']['httpGet']")" True "liveness probe: GET /health on 8080, as before"
is "$(on "sorted((p['name'], p['containerPort'], p['protocol']) for p in $NEWC['ports']) == sorted((p['name'], p['containerPort'], p['protocol']) for p in $OLDC['ports'])")" True \
	"container ports dns, dns-tcp, metrics (9153) as before: scrape configs keep working"
is "$(on "[d['spec']['template']['spec']['dnsPolicy'] + ' ' + d['spec']['template']['metadata']['annotations']['sidecar.istio.io/inject'] for d in (o('Deployment','istiocoredns',F[0]), o('Deployment','globaldns',F[1]))]")" \
	'["Default false", "Default false"]' "dnsPolicy Default and no sidecar, as before"

# ---- end to end: the new Corefile, the API, and both kinds of cluster DNS
start_fake || exit 1
se bar httpbin httpbin.bar.global 240.0.0.2
APIPORT=$(cat "$K8S/port")
pick_ports PORT HP RP MP NSD DM CD
start_nsd "$NSD" || exit 1
echo "nameserver 127.0.0.1:$NSD" >"$T_TMP/resolv.conf"
yq 'o("ConfigMap","globaldns")["data"]["Corefile"]' "$NEW" | sed \
	-e "s|^\.:53 {|.:$PORT {\n    bind 127.0.0.1|" \
	-e "s|health :8080|health 127.0.0.1:$HP|" -e "s|ready :8181|ready 127.0.0.1:$RP|" \
	-e "s|prometheus :9153|prometheus 127.0.0.1:$MP|" -e "s|/etc/resolv.conf|$T_TMP/resolv.conf|" \
	>"$T_TMP/Corefile"
grep -q "127.0.0.1:$RP" "$T_TMP/Corefile" && grep -q "$T_TMP/resolv.conf" "$T_TMP/Corefile" && grep -q "^\.:$PORT {" "$T_TMP/Corefile"
ok $? "the ConfigMap's Corefile, moved to loopback ports (no other change)"
KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$APIPORT GLOBALDNS_SA_DIR=$K8S \
	start_globaldns new "$T_TMP/Corefile" || exit 1
wait_a 10 httpbin.bar.global 240.0.0.2
is "$(a httpbin.bar.global)" 240.0.0.2 "it answers .global from the API's ServiceEntries (in-cluster configuration)"
like "$(flags httpbin.bar.global)" "aa" "authoritatively"
is "$(q +short www.example.test A)" 192.0.2.10 "and forwards the rest to the resolvers of resolv.conf"
is "$(curl -s --max-time 5 "http://127.0.0.1:$RP/ready")/$(curl -s --max-time 5 "http://127.0.0.1:$HP/health")" "OK/OK" \
	"/ready and /health where the probes look"

# kube-dns: its stubDomains become dnsmasq's --server=/global/IP#53
STUB=$(yq 'o("ConfigMap","kube-dns")["data"]["stubDomains"]' "$K/clients/kube-dns-stubdomains.yaml")
is "$(printf '%s' "$STUB" | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)))')" '{"global": ["10.96.0.53"]}' \
	"the kube-dns snippet: stubDomains {\"global\": [the Service's ClusterIP]}"
SERVERS=$(printf '%s' "$STUB" | python3 -c '
import json, sys
for zone, ips in json.load(sys.stdin).items():
    for ip in ips:
        print("--server=/%s/%s" % (zone, ip))' | sed "s|/10\.96\.0\.53\$|/127.0.0.1#$PORT|")
dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --user=root \
	--listen-address=127.0.0.1 --bind-interfaces --port="$DM" --cache-size=0 \
	$SERVERS --server="127.0.0.1#$NSD" >"$T_TMP/dnsmasq.log" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_dns "$DM" || echo "# dnsmasq did not start"
dq() { dig @127.0.0.1 -p "$1" +tries=1 +time=3 +short "$2" A; }
is "$(dq "$DM" httpbin.bar.global)" 240.0.0.2 "kube-dns (dnsmasq with that stub domain): .global from globaldns"
is "$(dig @127.0.0.1 -p "$DM" +tries=1 +time=3 nothere.bar.global | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')" NXDOMAIN \
	"kube-dns: an unknown .global name is NXDOMAIN"
is "$(dq "$DM" www.example.test)" 192.0.2.10 "kube-dns: other names as before"

# CoreDNS: the server block the snippet adds
sed -e "s|^global:53 {|global:$CD {\n    bind 127.0.0.1|" -e "s|forward \. 10\.96\.0\.53:53|forward . 127.0.0.1:$PORT|" \
	"$K/clients/coredns-global.Corefile" >"$T_TMP/coredns.Corefile"
grep -q "forward . 127.0.0.1:$PORT" "$T_TMP/coredns.Corefile"
ok $? "the CoreDNS snippet: a global block forwarding to the Service's ClusterIP"
PORT_NEW=$PORT
PORT=$CD start_globaldns coredns "$T_TMP/coredns.Corefile" || exit 1
is "$(dq "$CD" httpbin.bar.global)" 240.0.0.2 "CoreDNS's global block (run by globaldns as a stand-in): .global from globaldns"

# a ServiceEntry created now reaches both kinds of client
se bar reviews reviews.bar.global 240.0.0.7
PORT=$PORT_NEW wait_a 10 reviews.bar.global 240.0.0.7
is "$(dq "$DM" reviews.bar.global)" 240.0.0.7 "a new ServiceEntry: through kube-dns"
is "$(dq "$CD" reviews.bar.global)" 240.0.0.7 "and through CoreDNS"
