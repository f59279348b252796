#!/bin/bash
# kube_basic.sh -- the Kubernetes source end to end: SERVFAIL until the
# first list, then entries created, modified and deleted through the API
# show up in answers (with the measured create-to-resolvable delay), the
# requests look as the contract says (a streaming list where the server
# takes one, else pages of 500, then a watch from the list's
# resourceVersion), and `namespaces` lists per namespace.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 25

start_fake || exit 1
ctl bulk '{"count":3}' >/dev/null
se ns1 web web.ns1.global 10.1.0.1
# the API answers 503 until told otherwise: no entries yet
ctl fault '{"code":503,"retry_after":null}' >/dev/null

PORT=$(free_port)
kube_corefile "$T_TMP/Corefile" "kubeconfig $K8S/kubeconfig" "timeout 2s" "backoff 200ms 500ms"
start_globaldns gd "$T_TMP/Corefile" || exit 1

is "$(rcode svc-00000.default.global)" SERVFAIL "SERVFAIL before the first complete list"
is "$(rcode nothing.default.global)" SERVFAIL "SERVFAIL (not NXDOMAIN) for unknown names too"
sleep 1.5
is "$(grep -c 'kubernetes all namespaces: list: HTTP 503' "$T_TMP/gd.log")" 1 \
	"one log line for the failing state, not one per retry"
ctl clear '{}' >/dev/null
wait_a 10 svc-00000.default.global 240.0.0.1
is "$(a svc-00000.default.global)" 240.0.0.1 "after recovery: bulk entry served"
is "$(a web.ns1.global)" 10.1.0.1 "entry of another namespace served"
like "$(cat "$T_TMP/gd.log")" "recovered" "recovery logged"

# create -> resolvable, measured a few times
# measured from the moment the fake acknowledged the create (the control
# call itself, a python start, is not counted); dig polls every 50 ms
delays=""
for i in 1 2 3 4 5; do
	se ns1 "new$i" "new$i.ns1.global" "10.2.0.$i"
	t0=$(now_ms)
	wait_a 10 "new$i.ns1.global" "10.2.0.$i" || break
	delays="$delays $(( $(now_ms) - t0 ))"
done
is "$(echo $delays | wc -w)" 5 "5 created entries became resolvable"
sorted=$(echo $delays | tr ' ' '\n' | sort -n | tr '\n' ' ')
echo "# create-to-resolvable with watch (ms): $sorted"
max=$(echo $delays | tr ' ' '\n' | sort -n | tail -1)
ok $([ "$max" -lt 2000 ]; echo $?) "each within 2 s (max $max ms)"

se ns1 web web.ns1.global 10.1.0.9 10.1.0.8
wait_a 5 web.ns1.global "10.1.0.8 10.1.0.9"
is "$(a web.ns1.global)" "10.1.0.8 10.1.0.9" "modified entry: new addresses"
del ns1 web
wait_rcode 5 web.ns1.global NXDOMAIN
is "$(rcode web.ns1.global)" NXDOMAIN "deleted entry: NXDOMAIN"
is "$(a new1.ns1.global)" 10.2.0.1 "the others stay"

# an invalid entry is skipped with namespace/name and the reason
ctl entries '{"metadata":{"name":"bad","namespace":"ns1"},"spec":{"hosts":["*"],"addresses":["10.9.9.9"]}}' >/dev/null
se ns1 after-bad after-bad.ns1.global 10.3.0.1
wait_a 5 after-bad.ns1.global 10.3.0.1
like "$(grep 'skipping' "$T_TMP/gd.log")" "ns1/bad" "invalid entry skipped and logged with its name"
is "$(grep -c 'skipping ns1/bad' "$T_TMP/gd.log")" 1 "logged once"

# what the requests looked like
L=$(ctl log)
like "$L" '"accept": ?"application/json"' "Accept: application/json"
like "$L" '"accept_encoding": ?"[^"]*gzip' "Accept-Encoding: gzip"
W=$(fake_log | grep ' watch 200 ' | tail -1)
like "$W" "/apis/networking.istio.io/v1/serviceentries\?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=[0-9]+" \
	"a streaming list: a watch with sendInitialEvents, NotOlderThan, bookmarks"
to=$(echo "$W" | sed -n 's/.*timeoutSeconds=\([0-9]*\).*/\1/p')
ok $([ "${to:-0}" -ge 300 ] && [ "${to:-0}" -le 600 ]; echo $?) "timeoutSeconds random in 300..600 ($to)"
is "$(fake_log | grep -c ' watch 200 ')" 1 "the same stream carried every change after the list"
is "$(fake_log | grep -c ' list ')" 0 "no paginated list"

# namespaces: one list/watch per namespace, works with a namespaced Role;
# a server that does not stream lists (WatchList off: 422) gets pages
ctl rbac '{"mode":"namespaces","namespaces":["ns1","ns2"]}' >/dev/null
ctl config '{"watch_list":false}' >/dev/null
SEQ=$(fake_seq)
se ns2 two two.ns2.global 10.4.0.2
se ns3 three three.ns3.global 10.4.0.3
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile2" "kubeconfig $K8S/kubeconfig" "namespaces ns1 ns2" "timeout 2s"
start_globaldns gd2 "$T_TMP/Corefile2" || exit 1
wait_a 10 two.ns2.global 10.4.0.2
is "$(a two.ns2.global)" 10.4.0.2 "namespaces: ns2 served"
is "$(rcode three.ns3.global)" NXDOMAIN "namespaces: ns3 not read"
se ns1 late late.ns1.global 10.4.0.9
wait_a 5 late.ns1.global 10.4.0.9
is "$(a late.ns1.global)" 10.4.0.9 "namespaces: changes in ns1 arrive through its watch"
like "$(fake_log "$SEQ")" "watch 422 .*/namespaces/ns1/serviceentries\?watch=1&sendInitialEvents=true" \
	"WatchList off: the streaming list is answered 422"
like "$(fake_log "$SEQ")" "list 200 .* /apis/networking.istio.io/v1/namespaces/ns2/serviceentries\?limit=500" \
	"... then a list in pages of 500"
like "$(fake_log "$SEQ" | grep 'ns2/serviceentries?watch' | tail -1)" \
	"watch 200 .*watch=1&resourceVersion=[0-9]+&allowWatchBookmarks=true&timeoutSeconds=[0-9]+" \
	"... and a watch from the list's resourceVersion"
