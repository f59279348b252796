#!/bin/bash
# kube_resync.sh -- no periodic re-list unless asked: side by side, a
# default source lists once and then only watches, while one with `resync`
# lists again on its period beside a watch that never stops; `poll`
# without `nowatch` is taken as `resync`, with a warning.  A change the
# watch brings while a (slow) resync list runs is not undone by the older
# list when it completes: the watch's state wins, deletions too.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 12

start_fake --bookmark-interval 2 || exit 1
ctl bulk '{"count":300}' >/dev/null
se default x x.default.global 10.0.0.1
se default y y.default.global 10.0.0.2

# default: the whole cluster, a token; resync: namespace default, a token;
# poll: namespace default, a client certificate -- told apart in the log
pick_ports PD PR PP MR
PORT=$PD; kube_corefile "$T_TMP/Corefile.d" "kubeconfig $K8S/kubeconfig" "timeout 2s"
PORT=$PR; kube_corefile "$T_TMP/Corefile.r" "kubeconfig $K8S/kubeconfig" "timeout 2s" \
	"namespaces default" "resync 4s"
sed -i "s/^global:$PR {/global:$PR {\n    prometheus 127.0.0.1:$MR/" "$T_TMP/Corefile.r"
PORT=$PP; kube_corefile "$T_TMP/Corefile.p" "kubeconfig $K8S/kubeconfig-tokenfile" "timeout 2s" \
	"namespaces default" "poll 2s"
PORT=$PD; start_globaldns gdd "$T_TMP/Corefile.d" || exit 1
PORT=$PR; start_globaldns gdr "$T_TMP/Corefile.r" || exit 1
PORT=$PP; start_globaldns gdp "$T_TMP/Corefile.p" || exit 1
GDP=$GD_PID
for p in $PD $PR $PP; do PORT=$p; wait_a 10 x.default.global 10.0.0.1; done
sleep 1
SEQ=$(fake_seq)
sleep 7
L=$(fake_log "$SEQ")
is "$(echo "$L" | grep -c ' /apis/networking.istio.io/v1/serviceentries')" 0 \
	"default: no request at all in 7 s once synced -- no periodic re-list, the watch goes on"
R=$(echo "$L" | grep -c ' list 200 .*/namespaces/default/serviceentries?limit=500')
ok $([ "$R" -ge 4 ]; echo $?) "resync 4s and poll 2s: re-lists in pages beside the watch ($R in 7 s for the two)"
is "$(echo "$L" | grep -c ' watch ')" 0 "... and no watch was stopped or restarted"
like "$(cat "$T_TMP/gdp.log")" 'poll without nowatch is deprecated.*"resync 2s"' "poll without nowatch: the deprecation is said"
unlike "$(cat "$T_TMP/gdr.log")" 'deprecated' "... not for resync"

# a change during a slow resync list: the watch's state wins
stop_pid "$GDP"
PORT=$PR
SEQ=$(fake_seq)
ctl fault '{"kind":"list","action":"trickle","bytes":1024,"delay":0.5,"count":1,"match":"namespaces/default/"}' >/dev/null
wait_log 10 'list 200 trickle' "$SEQ"
T=$(fake_log "$SEQ" | grep 'list 200 trickle' | head -1 | cut -d' ' -f1)
se default x x.default.global 10.0.0.9
del default y
wait_a 5 x.default.global 10.0.0.9
is "$(a x.default.global)" 10.0.0.9 "during a slow resync list: the change arrives through the watch"
is "$(rcode y.default.global)" NXDOMAIN "... and the deletion"
# the moment the trickled list completes (the next resync is 4 s away)
lists() { curl -s --max-time 5 "http://127.0.0.1:$MR/metrics" | awk '$1 ~ /^globaldns_kubernetes_lists_total/ { print $NF }'; }
L0=$(lists)
grew() { [ "$(lists)" -gt "$L0" ]; }
wait_until 30 grew
ok $? "the slow resync list completed"
sleep 0.3
is "$(a x.default.global)" 10.0.0.9 "after the older list completed: the watch's address stays"
is "$(rcode y.default.global)" NXDOMAIN "... and the deleted entry stays deleted"
is "$(a svc-00299.default.global)" 240.0.1.44 "... the rest as the list says"
PORT=$PD
is "$(a x.default.global) $(rcode y.default.global)" "10.0.0.9 NXDOMAIN" "the default source has the same state"
