#!/bin/bash
# kube_liveness.sh -- a watch whose connection goes silent (nothing closed,
# nothing delivered: the fake's relay stops relaying both ways) is found
# out and resumed on a new connection from the last resourceVersion,
# without a list, at the real timings (the fake sends a bookmark a minute,
# as the API server's watch cache):
#   - HTTP/2: the connection is read-idle 30 s, a probe on it goes
#     unanswered 15 s: shut down, every stream restarts -- under 60 s;
#   - HTTP/1.1: no byte for 75 s (a minute between bookmarks, and margin);
#   - HTTP/2, one stream stalled on a live connection (the proxy still
#     answers, the API server behind it sends nothing): its read deadline.
# The three run side by side (about 80 s in all).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
need nghttpx
plan 17

# three fakes: $K8S (HTTP/2), $T_TMP/k8s1 (HTTP/1.1), $T_TMP/k8s3 (HTTP/2, a stalled stream)
start_fake || exit 1
K2=$K8S
K8S=$T_TMP/k8s1; start_fake --http1 || exit 1
K8S=$T_TMP/k8s3; start_fake || exit 1
K8S=$K2
is "$(cat "$K2/protocol") $(cat "$T_TMP/k8s1/protocol") $(cat "$T_TMP/k8s3/protocol")" "h2 http/1.1 h2" \
	"the fakes speak HTTP/2, HTTP/1.1, HTTP/2"
for k in "$K2" "$T_TMP/k8s1" "$T_TMP/k8s3"; do
	K8S=$k; se default one one.default.global 10.0.0.1
done
K8S=$K2

# one daemon per fake, each with metrics
pick_ports P2 P1 P3 M2 M1 M3
mk() {  # mk FILE PORT METRICS KUBECONFIG
	cat >"$1" <<EOF
global:$2 {
    prometheus 127.0.0.1:$3
    serviceentries {
        kubeconfig $4
        timeout 2s
        backoff 200ms 1s
    }
}
EOF
}
mk "$T_TMP/Corefile2" "$P2" "$M2" "$K2/kubeconfig"
mk "$T_TMP/Corefile1" "$P1" "$M1" "$T_TMP/k8s1/kubeconfig"
mk "$T_TMP/Corefile3" "$P3" "$M3" "$T_TMP/k8s3/kubeconfig"
PORT=$P2; start_globaldns gd2 "$T_TMP/Corefile2" || exit 1
PORT=$P1; start_globaldns gd1 "$T_TMP/Corefile1" || exit 1
PORT=$P3; start_globaldns gd3 "$T_TMP/Corefile3" || exit 1
for p in $P2 $P1 $P3; do PORT=$p; wait_a 10 one.default.global 10.0.0.1; done
PORT=$P2; is "$(a one.default.global)" 10.0.0.1 "synced (HTTP/2)"
PORT=$P1; is "$(a one.default.global)" 10.0.0.1 "synced (HTTP/1.1)"
PORT=$P3; is "$(a one.default.global)" 10.0.0.1 "synced (HTTP/2, stream to stall)"
sleep 1

# what each watch looked like before the silence
last_watch_rv() { K8S=$1 fake_log | grep ' watch 200 ' | tail -1 | sed -n 's/.*resourceVersion=\([0-9]*\).*/\1/p'; }
seq2=$(K8S=$K2 fake_seq); seq1=$(K8S=$T_TMP/k8s1 fake_seq); seq3=$(K8S=$T_TMP/k8s3 fake_seq)
acc2=$(K8S=$K2 ctl traffic | sed -n 's/.*"accepted": *\([0-9]*\).*/\1/p')
acc1=$(K8S=$T_TMP/k8s1 ctl traffic | sed -n 's/.*"accepted": *\([0-9]*\).*/\1/p')

# the silence: every open connection of fakes 1 and 2; on fake 3 the
# next watch stalls (200, then nothing) behind a live HTTP/2 connection
K8S=$T_TMP/k8s3 ctl fault '{"kind":"watch","action":"stall","seconds":200,"count":1}' >/dev/null
K8S=$T_TMP/k8s3 ctl close-watches '{}' >/dev/null
T0=$(now_ms)
K8S=$K2 ctl silence '{}' >/dev/null
K8S=$T_TMP/k8s1 ctl silence '{}' >/dev/null
sleep 1
# changes made during the silence
for k in "$K2" "$T_TMP/k8s1" "$T_TMP/k8s3"; do K8S=$k; se default after after.default.global 10.0.0.2; done
K8S=$K2

took() {  # took PORT FILE: ms from the silence until after.default.global resolves (100 s at most)
	PORT=$1
	for _ in $(seq 1 1000); do
		[ "$(a after.default.global)" = 10.0.0.2 ] && { echo $(( $(now_ms) - T0 )) >"$2"; return 0; }
		sleep 0.1
	done
	echo never >"$2"
}
took "$P2" "$T_TMP/t2" & w2=$!
took "$P1" "$T_TMP/t1" & w1=$!
took "$P3" "$T_TMP/t3" & w3=$!
wait $w2 $w1 $w3
t2=$(cat "$T_TMP/t2") t1=$(cat "$T_TMP/t1") t3=$(cat "$T_TMP/t3")
echo "# silence to resolvable: HTTP/2 $t2 ms, HTTP/1.1 $t1 ms, HTTP/2 stalled stream $t3 ms"
ok $([ "$t2" != never ] && [ "$t2" -lt 60000 ]; echo $?) "HTTP/2: silent connection found and left within 60 s ($t2 ms)"
ok $([ "$t1" != never ] && [ "$t1" -lt 85000 ]; echo $?) "HTTP/1.1: silent watch found within about 75 s ($t1 ms)"
ok $([ "$t3" != never ] && [ "$t3" -lt 85000 ]; echo $?) "HTTP/2: a stalled stream on a live connection found by its read deadline ($t3 ms)"

# resumed from the last resourceVersion, on a new connection, no list
after2=$(K8S=$K2 fake_log "$seq2"); after1=$(K8S=$T_TMP/k8s1 fake_log "$seq1"); after3=$(K8S=$T_TMP/k8s3 fake_log "$seq3")
unlike "$after2$after1$after3" ' list |sendInitialEvents' "no list after any of the silences"
like "$after2" 'watch 200 .*resourceVersion=[0-9]+' "HTTP/2: watched again from a resourceVersion"
like "$after1" 'watch 200 .*resourceVersion=[0-9]+' "HTTP/1.1: watched again from a resourceVersion"
K8S=$K2 ctl traffic >"$T_TMP/traffic2"
ok $([ "$(sed -n 's/.*"accepted": *\([0-9]*\).*/\1/p' "$T_TMP/traffic2")" -gt "$acc2" ]; echo $?) "HTTP/2: on a new connection"
K8S=$T_TMP/k8s1 ctl traffic >"$T_TMP/traffic1"
ok $([ "$(sed -n 's/.*"accepted": *\([0-9]*\).*/\1/p' "$T_TMP/traffic1")" -gt "$acc1" ]; echo $?) "HTTP/1.1: on a new connection"
metric() { curl -s --max-time 5 "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 ~ "^"n"[{ ]" || $1 == n { s += $NF } END { print s + 0 }'; }
ok $([ "$(metric "$M2" globaldns_kubernetes_dead_connections_total)" -ge 1 ]; echo $?) \
	"HTTP/2: the connection was declared dead after an unanswered probe"
ok $([ "$(metric "$M2" globaldns_kubernetes_health_probes_total)" -ge 1 ]; echo $?) "... probes were sent"
ok $([ "$(metric "$M1" globaldns_kubernetes_watch_silent_total)" -ge 1 ]; echo $?) \
	"HTTP/1.1: the watch was given up by its read deadline"
like "$(cat "$T_TMP/gd2.log")" "connection dead" "HTTP/2: logged why"
like "$(cat "$T_TMP/gd3.log")" "watch: silent" "HTTP/2 stalled stream: logged why"
