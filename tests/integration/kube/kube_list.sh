#!/bin/bash
# kube_list.sh -- paginated lists, against a server that does not stream
# lists (WatchList off: 422): 1,200 entries in pages of 500 following
# `continue`, parsed as they arrive (the list is 180 times max_body); a 410
# on a continue token gives one full list without limit (client-go's
# pager); version fallback (v1 not served -> v1beta1 -> v1alpha3); a fixed
# api_version; a list that never ends; `nowatch` polling with its
# create-to-resolvable delay.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 28

start_fake --no-watch-list || exit 1
ctl bulk '{"count":1200}' >/dev/null
# only v1beta1 and v1alpha3 are served (an Istio before 1.22)
ctl versions '{"served":["v1beta1","v1alpha3"]}' >/dev/null
# the first continued page answers 410 Expired once
ctl fault '{"kind":"list","code":410,"match":"continue=","count":1}' >/dev/null

PORT=$(free_port)
kube_corefile "$T_TMP/Corefile" "kubeconfig $K8S/kubeconfig" "timeout 2s" "backoff 200ms 1s" "max_body 4K"
start_globaldns gd "$T_TMP/Corefile" || exit 1
wait_a 15 svc-01199.default.global 240.0.4.176
is "$(a svc-00000.default.global)" 240.0.0.1 "first of 1,200 entries"
is "$(a svc-00600.default.global)" 240.0.2.89 "middle one"
is "$(a svc-01199.default.global)" 240.0.4.176 "last one"
like "$(grep 'names from' "$T_TMP/gd.log" | head -1)" "1200 names from 1200 entries" \
	"the first registry holds all 1,200 (only whole lists are used)"
is "$(grep -c 'names from' "$T_TMP/gd.log")" 1 "no partial registry was published"

LOG=$(fake_log)
like "$LOG" "watch 404 .* /apis/networking.istio.io/v1/serviceentries\?watch=1&sendInitialEvents=true" "v1 tried first: 404"
like "$LOG" "watch 422 .* /apis/networking.istio.io/v1beta1/serviceentries\?watch=1&sendInitialEvents=true" \
	"then v1beta1, as a streaming list: 422"
like "$LOG" "list 200 .* /apis/networking.istio.io/v1beta1/serviceentries\?limit=500$" "then a list in pages"
like "$LOG" "list 410 status .*v1beta1/serviceentries\?limit=500&continue=" "continue token expired once (410)"
like "$LOG" "list 200 .* /apis/networking.istio.io/v1beta1/serviceentries$" \
	"then one full list, without limit or continue (client-go's pager)"
is "$(echo "$LOG" | grep -c ' list ')" 3 "three list requests in all: page, expired continue, full list"
like "$(grep 'names from' "$T_TMP/gd.log" | head -1)" "1200 names" \
	"1,200 entries (about 180 times max_body 4K) listed: pages parsed as they arrive"
like "$(echo "$LOG" | grep ' watch 200 ' | head -1)" "v1beta1/serviceentries\?watch=1&resourceVersion=" "watch uses the served version"
like "$(cat "$T_TMP/gd.log")" "networking.istio.io/v1 not served; trying v1beta1" "fallback logged"
unlike "$(grep ERROR "$T_TMP/gd.log")" "410" "an expired continue token is not an error"

# a list whose continue token never ends (an empty page giving the same
# token again): an error, logged once, bounded requests, old answers kept
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.e" "kubeconfig $K8S/kubeconfig" "timeout 2s" "backoff 200ms 1s" "resync 1s"
start_globaldns gde "$T_TMP/Corefile.e" || exit 1
wait_a 15 svc-01199.default.global 240.0.4.176
SEQ=$(fake_seq)
ctl fault '{"kind":"list","action":"empty_page","match":"continue="}' >/dev/null
sleep 5
N=$(fake_log "$SEQ" | grep -c ' list ')
ok $([ "$N" -ge 2 ] && [ "$N" -le 40 ]; echo $?) "endless continue token: list requests bounded in 5 s ($N)"
is "$(grep -c 'the list does not end' "$T_TMP/gde.log")" 1 "endless continue token (a resync list): one error line"
is "$(a svc-00000.default.global)" 240.0.0.1 "endless continue token: old answers kept"
ctl clear '{}' >/dev/null
se default endless endless.default.global 10.5.9.1
wait_a 10 endless.default.global 10.5.9.1
is "$(a endless.default.global)" 10.5.9.1 "endless continue token: recovered after the fault"
stop_pid "$GD_PID"

# a server that streams lists: the same 1,200 entries through a watch
# with sendInitialEvents, each event a line under max_body 4K
ctl config '{"watch_list":true}' >/dev/null
SEQ=$(fake_seq)
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.s" "kubeconfig $K8S/kubeconfig" "timeout 2s" "max_body 4K"
start_globaldns gds "$T_TMP/Corefile.s" || exit 1
wait_a 15 svc-01199.default.global 240.0.4.176
like "$(grep 'names from' "$T_TMP/gds.log" | head -1)" "1201 names from 1201 entries" \
	"a streaming list 180 times max_body: every entry"
is "$(fake_log "$SEQ" | grep -cE ' list ')" 0 "... in one watch with sendInitialEvents, no page"
stop_pid "$GD_PID"
ctl config '{"watch_list":false}' >/dev/null

# nothing served: one clear error, SERVFAIL stays until the CRD appears
ctl versions '{"served":[]}' >/dev/null
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile2" "kubeconfig $K8S/kubeconfig" "timeout 2s" "backoff 200ms 500ms"
start_globaldns gd2 "$T_TMP/Corefile2" || exit 1
sleep 1
is "$(rcode svc-00000.default.global)" SERVFAIL "no version served: SERVFAIL"
like "$(cat "$T_TMP/gd2.log")" "is Istio's ServiceEntry CRD installed" "says the CRD seems missing"
is "$(grep -c 'v1 not served; trying v1beta1' "$T_TMP/gd2.log")" 1 "the version fallback is logged once, not on every retry"
ctl versions '{"served":["v1alpha3"]}' >/dev/null
wait_a 10 svc-00001.default.global 240.0.0.2
is "$(a svc-00001.default.global)" 240.0.0.2 "CRD appears (v1alpha3): served"

# a fixed api_version, and pure polling
ctl versions '{"served":["v1","v1beta1","v1alpha3"]}' >/dev/null
ctl log/clear '{}' >/dev/null
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile3" "kubeconfig $K8S/kubeconfig" "api_version v1alpha3" "nowatch" "poll 2s"
start_globaldns gd3 "$T_TMP/Corefile3" || exit 1
wait_a 10 svc-00002.default.global 240.0.0.3
delays=""
for i in 1 2 3; do
	se default "poll$i" "poll$i.default.global" "10.5.0.$i"
	t0=$(now_ms)
	wait_a 6 "poll$i.default.global" "10.5.0.$i" || break
	delays="$delays $(( $(now_ms) - t0 ))"
done
echo "# create-to-resolvable with nowatch, poll 2s (ms): $(echo $delays | tr ' ' '\n' | sort -n | tr '\n' ' ')"
is "$(echo $delays | wc -w)" 3 "nowatch: created entries appear at the next poll"
LOG=$(fake_log)
is "$(echo "$LOG" | grep -c ' watch ')" 0 "nowatch: no watch requests"
is "$(echo "$LOG" | grep ' list ' | grep -vc 'v1alpha3')" 0 "api_version v1alpha3: only that version asked"
