#!/bin/bash
# kube_watch.sh -- the watch stream: every fault of a stream is survived
# (old answers served meanwhile, the change made during the fault arrives
# afterwards), events split across chunks or packed several to a chunk are
# all applied, ERROR 410 leads to a re-list, BOOKMARKs move the
# resourceVersion the next watch starts from, and a watch answered 429,
# 500 or 503 is watched again from its resourceVersion after the back-off
# (Retry-After honoured) -- no list -- while a 410 still forces one.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 44

start_fake --bookmark-interval 1 || exit 1
se default one one.default.global 10.0.0.1
N=0

# ---- watch faults: poll is long, so only the watch carries changes
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.w" "kubeconfig $K8S/kubeconfig" "timeout 1s" \
	"backoff 100ms 400ms" "max_body 1M"
start_globaldns gdw "$T_TMP/Corefile.w" || exit 1
wait_a 10 one.default.global 10.0.0.1

# wsurvive NAME FAULT-JSON: the next watch stream gets the fault; a change
# made meanwhile arrives afterwards
wsurvive() {
	local name=$1 fault=$2
	N=$((N + 1))
	ctl fault "$fault" >/dev/null
	ctl close-watches '{}' >/dev/null
	se default "rec$N" "rec$N.default.global" "10.9.0.$N"
	sleep 0.5
	is "$(a one.default.global)" 10.0.0.1 "$name: old answers still served"
	ctl clear '{}' >/dev/null
	wait_a 10 "rec$N.default.global" "10.9.0.$N"
	is "$(a "rec$N.default.global")" "10.9.0.$N" "$name: the change arrived after recovery"
}
wsurvive "watch cut mid-event" '{"kind":"watch","action":"cut_watch","count":1}'
wsurvive "watch cut mid-event, clean end" '{"kind":"watch","action":"cut_watch","clean":true,"count":1}'
wsurvive "watch invalid JSON line" '{"kind":"watch","action":"invalid_json","count":1}'
wsurvive "watch resourceVersion a number" '{"kind":"watch","action":"wrong_types","variant":"rv_number","count":1}'
wsurvive "watch event over max_body" '{"kind":"watch","action":"huge","mb":2,"count":1}'
wsurvive "watch ends at once" '{"kind":"watch","action":"close_watch","count":3}'
wsurvive "watch 403" '{"kind":"watch","code":403,"count":2}'
wsurvive "watch 500" '{"kind":"watch","code":500,"count":2}'
wsurvive "watch trickles" '{"kind":"watch","action":"trickle","bytes":7,"delay":0.01,"count":1}'

# events split across chunks, several per chunk, and both at once
for mode in split pack mixed; do
	ctl config "{\"chunk_mode\":\"$mode\",\"pack\":3,\"split_delay\":0.05}" >/dev/null
	ctl close-watches '{}' >/dev/null
	sleep 0.3
	ctl entries "{\"items\":[
		{\"metadata\":{\"name\":\"$mode-a\"},\"spec\":{\"hosts\":[\"$mode-a.default.global\"],\"addresses\":[\"10.8.0.1\"],\"resolution\":\"STATIC\"}},
		{\"metadata\":{\"name\":\"$mode-b\"},\"spec\":{\"hosts\":[\"$mode-b.default.global\"],\"addresses\":[\"10.8.0.2\"],\"resolution\":\"STATIC\"}},
		{\"metadata\":{\"name\":\"$mode-c\"},\"spec\":{\"hosts\":[\"$mode-c.default.global\"],\"addresses\":[\"10.8.0.3\"],\"resolution\":\"STATIC\"}},
		{\"metadata\":{\"name\":\"$mode-d\"},\"spec\":{\"hosts\":[\"$mode-d.default.global\"],\"addresses\":[\"10.8.0.4\"],\"resolution\":\"STATIC\"}}]}" >/dev/null
	wait_a 5 "$mode-d.default.global" 10.8.0.4
	is "$(a "$mode-a.default.global") $(a "$mode-d.default.global")" "10.8.0.1 10.8.0.4" \
		"chunk mode $mode: every event applied"
done
ctl config '{"chunk_mode":"event"}' >/dev/null

# ERROR 410 on the watch (history compacted) -> re-list
# Hold the client off the watch (500s) while the entry is created and the
# history compacted, so its next watch must start from a too-old
# resourceVersion, whatever the machine's load does to the timing.
SEQ=$(fake_seq)
ctl fault '{"kind":"watch","code":500}' >/dev/null
ctl close-watches '{}' >/dev/null
se default after410 after410.default.global 10.7.0.1
ctl compact '{"keep":0}' >/dev/null
ctl clear '{}' >/dev/null
wait_a 10 after410.default.global 10.7.0.1
is "$(a after410.default.global)" 10.7.0.1 "watch too old (ERROR 410): re-listed, change arrived"
like "$(fake_log "$SEQ" | grep -E ' list |sendInitialEvents' | head -1)" "(list|watch) 200" "a re-list followed (a streaming list)"
unlike "$(grep 'names from' "$T_TMP/gdw.log" | tail -1)" "removed, [1-9]" "nothing was lost on the way"

# bookmarks move the resourceVersion: after a bookmark a re-watch starts there
SEQ=$(fake_seq)
ctl bookmark '{}' >/dev/null
sleep 0.3
RV=$(ctl state | python3 -c 'import json,sys; print(json.load(sys.stdin)["resourceVersion"])')
ctl close-watches '{}' >/dev/null
wait_log 5 "watch 200 .*resourceVersion=$RV&" "$SEQ"
ok $? "after a BOOKMARK the next watch starts from its resourceVersion ($RV)"


# ---- 429 / 500 / 503 on a watch: back off, watch again from the same
# resourceVersion, no list (client-go would re-list after a 5xx)
wait_a 10 one.default.global 10.0.0.1
sleep 0.5
RV=$(fake_log | grep ' watch 200 ' | tail -1 | sed -n 's/.*resourceVersion=\([0-9]*\).*/\1/p')
SEQ=$(fake_seq)
ctl fault '{"kind":"watch","code":429,"retry_after":2,"count":1}' >/dev/null
ctl close-watches '{}' >/dev/null
wait_log 10 "watch 200 " "$SEQ"
W=$(ctl log | python3 -c '
import json, sys
es = [e for e in json.load(sys.stdin)["entries"] if e["seq"] >= int(sys.argv[1]) and e["kind"] == "watch"]
t = [e["time"] for e in es if e["status"] == 429]
ok = [e for e in es if e["status"] == 200]
print("%.2f %s" % (ok[0]["time"] - t[0], ok[0]["path"]) if t and ok else "none")' "$SEQ")
ok $(python3 -c "import sys; w='$W'.split(); sys.exit(0 if w[0] != 'none' and float(w[0]) >= 1.95 else 1)"; echo $?) \
	"watch 429 with Retry-After 2: the next watch came $(echo "$W" | cut -d' ' -f1) s later"
like "$W" "resourceVersion=[0-9]+&" "... from a resourceVersion (no list)"
SEQ2=$(fake_seq)
ctl fault '{"kind":"watch","code":503,"count":1}' >/dev/null
ctl fault '{"kind":"watch","code":500,"count":1}' >/dev/null
ctl close-watches '{}' >/dev/null
se default via5xx via5xx.default.global 10.7.5.1
wait_a 10 via5xx.default.global 10.7.5.1
is "$(a via5xx.default.global)" 10.7.5.1 "watch 503, then 500: the change made meanwhile arrives"
like "$(fake_log "$SEQ2" | grep ' watch ' | tr '\n' ' ')" "watch 503 .* watch 500 .* watch 200 .*resourceVersion=[0-9]+" \
	"... through watches from the resourceVersion after the back-off"
is "$(fake_log "$SEQ" | grep -cE ' list |sendInitialEvents')" 0 "no list for any of 429, 503, 500"
# 429 then a resourceVersion gone meanwhile: the 410 still forces the list
SEQ=$(fake_seq)
ctl fault '{"kind":"watch","code":429,"retry_after":1,"count":1}' >/dev/null
ctl close-watches '{}' >/dev/null
se default gone gone.default.global 10.7.5.2
ctl compact '{"keep":0}' >/dev/null
wait_a 10 gone.default.global 10.7.5.2
is "$(a gone.default.global)" 10.7.5.2 "429, then the history compacted: the change arrives"
like "$(fake_log "$SEQ" | tr '\n' ' ')" "watch 429 .* watch 200 .*resourceVersion=.* watch 200 .*sendInitialEvents=true" \
	"... the re-watch met 410 and a (streaming) list followed"
unlike "$(grep 'names from' "$T_TMP/gdw.log" | tail -1)" "removed, [1-9]" "... nothing lost"

# ---- every watch answers 410: the re-lists back off, no tight loop
SEQ=$(fake_seq)
ctl fault '{"kind":"watch","code":410}' >/dev/null
ctl close-watches '{}' >/dev/null
sleep 5
N=$(fake_log "$SEQ" | grep -cE ' list |sendInitialEvents')
ok $([ "$N" -ge 1 ] && [ "$N" -le 30 ]; echo $?) "every watch 410: lists bounded in 5 s ($N)"
is "$(a one.default.global)" 10.0.0.1 "every watch 410: old answers still served"
ctl clear '{}' >/dev/null
se default after410b after410b.default.global 10.7.0.2
wait_a 10 after410b.default.global 10.7.0.2
is "$(a after410b.default.global)" 10.7.0.2 "every watch 410: recovered after the fault"

# ---- a watch that keeps failing (a bad line on every stream): no
# error/recovered pairs per retry, the first bytes of a stream are no recovery
L0=$(wc -l <"$T_TMP/gdw.log")
ctl fault '{"kind":"watch","action":"invalid_json"}' >/dev/null
ctl close-watches '{}' >/dev/null
sleep 8
LINES=$(tail -n +$((L0 + 1)) "$T_TMP/gdw.log" | grep -Ec 'ERROR|recovered')
ok $([ "$LINES" -ge 1 ] && [ "$LINES" -le 2 ]; echo $?) "persistent watch fault: $LINES log lines in 8 s"
ctl clear '{}' >/dev/null
se default afterbad afterbad.default.global 10.7.0.3
wait_a 10 afterbad.default.global 10.7.0.3
is "$(a afterbad.default.global)" 10.7.0.3 "persistent watch fault: recovered after the fault"

# ---- a watch that cannot get an answer (the connection closes at once):
# logged once, not silent; recovers when the watch works again
L0=$(wc -l <"$T_TMP/gdw.log")
ctl fault '{"kind":"watch","action":"hang","seconds":0.2}' >/dev/null
ctl close-watches '{}' >/dev/null
sleep 4
is "$(tail -n +$((L0 + 1)) "$T_TMP/gdw.log" | grep -c 'ERROR.*watch: ')" 1 "watch connection fails at once: one error line"
ctl clear '{}' >/dev/null
se default afterhang afterhang.default.global 10.7.0.4
wait_a 10 afterhang.default.global 10.7.0.4
is "$(a afterhang.default.global)" 10.7.0.4 "watch connection fails at once: recovered after the fault"
like "$(tail -n +$((L0 + 1)) "$T_TMP/gdw.log")" "recovered" "the recovery is logged"

# ---- watch restarts are counted where /registry and /metrics read them
# (/registry once reported a copy that stayed 0)
HPORT=$(free_port)
sed -i "s/^global:$PORT {/global:$PORT {\n    ready 127.0.0.1:$HPORT\n    prometheus 127.0.0.1:$HPORT/" "$T_TMP/Corefile.w"
kill -HUP "$GD_PID"
wait_until 10 curl -sf "http://127.0.0.1:$HPORT/registry" -o /dev/null
restarts() {
	curl -sf "http://127.0.0.1:$HPORT/registry" | python3 -c \
		'import json,sys; print(json.load(sys.stdin)["registries"][0]["source"]["watch_restarts"])'
}
R0=$(restarts)
for i in 1 2; do
	ctl close-watches '{}' >/dev/null
	se default "wr$i" "wr$i.default.global" "10.6.0.$i"
	wait_a 10 "wr$i.default.global" "10.6.0.$i"
done
R1=$(restarts)
ok $([ -n "$R0" ] && [ -n "$R1" ] && [ "$R1" -ge $((R0 + 2)) ]; echo $?) \
	"/registry: watch_restarts counts the closed streams ($R0 -> $R1)"
M=$(curl -sf "http://127.0.0.1:$HPORT/metrics" | sed -n 's/^globaldns_source_watch_restarts_total{zone="global.",source="kubernetes"} //p')
is "$M" "$(restarts)" "the metric says the same"
like "$(curl -sf "http://127.0.0.1:$HPORT/registry")" '"server":[[:space:]]*"https://127\.0\.0\.1:[0-9]+"' \
	"/registry: the source says which API server it reads"
