#!/bin/bash
# kube_faults.sh -- every list fault of the contract is survived: while it
# lasts the old answers are served, afterwards the source recovers by
# itself (a change made during the fault becomes resolvable).  Each fault
# is met by a real re-list: the watch history is compacted and the watches
# closed, so the next watch is answered 410 and the source must list
# again (in pages: this server does not stream lists).  A resync list that
# keeps failing never stops the watch.  Then the API server goes away and
# comes back.  Watch faults: kube_watch.sh.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 57

start_fake --no-watch-list --bookmark-interval 1 || exit 1
APIPORT=$(cat "$K8S/port")
se default one one.default.global 10.0.0.1

PORT=$(free_port)
kube_corefile "$T_TMP/Corefile" "kubeconfig $K8S/kubeconfig" "timeout 1s" \
	"backoff 100ms 400ms" "max_body 1M"
start_globaldns gd "$T_TMP/Corefile" || exit 1
wait_a 10 one.default.global 10.0.0.1

N=0
# relist: the watch is held off (500) while a change is made and the
# history compacted past the source's resourceVersion; its next watch
# gets 410, so a list follows
relist() {
	local id
	id=$(ctl fault '{"kind":"watch","code":500}' | sed -n 's/.*"id": *\([0-9]*\).*/\1/p')
	ctl close-watches '{}' >/dev/null
	se default bump bump.default.global "10.8.8.$((N % 250 + 1))"
	ctl compact '{"keep":0}' >/dev/null
	ctl clear "{\"id\":$id}" >/dev/null
}
# reconnect: every connection dropped, so a new one (a TLS handshake) follows
reconnect() { ctl drop-connections '{}' >/dev/null; }
# survive NAME LOG-REGEX FAULT-JSON [TRIGGER]: inject, make the source meet
# it (relist by default), wait until the fake applied it, check the old
# answer, make a change, clear, check the change arrives.
survive() {
	local name=$1 re=$2 fault=$3 trigger=${4:-relist} seq
	N=$((N + 1))
	seq=$(fake_seq)
	ctl fault "$fault" >/dev/null
	$trigger
	wait_log 10 "$re" "$seq"
	ok $? "$name: the fault happened"
	se default "rec$N" "rec$N.default.global" "10.9.0.$N"
	sleep 0.3
	is "$(a one.default.global)" 10.0.0.1 "$name: old answers still served"
	ctl clear '{}' >/dev/null
	wait_a 10 "rec$N.default.global" "10.9.0.$N"
	is "$(a "rec$N.default.global")" "10.9.0.$N" "$name: recovered"
}

survive "list hangs (timeout)" "list 0 hang" '{"kind":"list","action":"hang","seconds":20,"count":1}'
survive "list stalls after the headers" "list 200 stall" '{"kind":"list","action":"stall","seconds":20,"count":1}'
survive "list 401 (token re-read, still wrong)" "list 401 status" '{"kind":"list","code":401,"count":2}'
survive "list 403" "list 403 status" '{"kind":"list","code":403,"count":2}'
survive "list 500" "list 500 status" '{"kind":"list","code":500,"count":2}'
survive "list 503" "list 503 status" '{"kind":"list","code":503,"retry_after":null,"count":2}'
survive "list 504" "list 504 status" '{"kind":"list","code":504,"count":2}'
survive "list invalid JSON" "list 200 invalid_json" '{"kind":"list","action":"invalid_json","count":2}'
survive "list items is a string" "list 200 wrong_types" '{"kind":"list","action":"wrong_types","variant":"items_string","count":2}'
survive "list items is null" "list 200 wrong_types" '{"kind":"list","action":"wrong_types","variant":"items_null","count":2}'
survive "list continue is a number" "list 200 wrong_types" '{"kind":"list","action":"wrong_types","variant":"continue_number","count":2}'
survive "list cut mid-body" "list 200 cut_list" '{"kind":"list","action":"cut_list","count":2}'
survive "list body over max_body" "list 200 huge" '{"kind":"list","action":"huge","mb":2,"count":2}'
survive "TLS handshake hangs" "tls 0 hang_tls" '{"action":"hang_tls","seconds":20,"count":1}' reconnect

# 429 with Retry-After: the next try waits at least that long
SEQ=$(fake_seq)
ctl fault '{"kind":"list","code":429,"plain":true,"retry_after":2,"count":1}' >/dev/null
relist
wait_log 10 "list 429" "$SEQ"
sleep 2.5
TIMES=$(ctl log | python3 -c '
import json, sys
es = [e for e in json.load(sys.stdin)["entries"] if e["seq"] >= int(sys.argv[1]) and e["kind"] == "list"]
t429 = [e["time"] for e in es if e["status"] == 429][0]
after = [e["time"] for e in es if e["time"] > t429]
print("%.2f" % (after[0] - t429) if after else "none")' "$SEQ")
ok $(python3 -c "import sys; sys.exit(0 if '$TIMES' != 'none' and float('$TIMES') >= 1.95 else 1)"; echo $?) \
	"429 plain text with Retry-After: 2: next list after $TIMES s"
is "$(a one.default.global)" 10.0.0.1 "429: old answers still served"

# resync lists that keep failing (429): the watch goes on, never stopped
wait_a 10 one.default.global 10.0.0.1
PORT0=$PORT GD0=$GD_PID
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.rs" "kubeconfig $K8S/kubeconfig" "resync 1s" "timeout 1s" "backoff 100ms 400ms"
start_globaldns gdrs "$T_TMP/Corefile.rs" || exit 1
wait_a 10 one.default.global 10.0.0.1
sleep 1.5
SEQ=$(fake_seq)
ctl fault '{"kind":"list","code":429,"retry_after":1}' >/dev/null
wait_log 10 "list 429" "$SEQ"
se default viawatch viawatch.default.global 10.9.9.1
wait_a 10 viawatch.default.global 10.9.9.1
is "$(a viawatch.default.global)" 10.9.9.1 "resync lists answered 429 every time: a change still arrives through the watch"
sleep 2
ok $([ "$(fake_log "$SEQ" | grep -c ' list 429 ')" -ge 2 ]; echo $?) "... while the resync lists kept trying"
is "$(fake_log "$SEQ" | grep -c ' watch ')" 0 "... and the watch was never stopped nor restarted"
like "$(grep -c 'resync list failed' "$T_TMP/gdrs.log")" '^1$' "the failing resync is logged once"
ctl clear '{}' >/dev/null
stop_pid "$GD_PID"
PORT=$PORT0 GD_PID=$GD0

# a 503 with details.retryAfterSeconds in a Status body
survive "list 503 with retryAfterSeconds" "list 503 status" '{"kind":"list","code":503,"retry_after":1,"count":1}'

# log lines: one per state change, never one per retry
ERRS=$(grep -c '^\[ERROR\]' "$T_TMP/gd.log")
RECS=$(grep -c 'recovered' "$T_TMP/gd.log")
ok $([ "$ERRS" -le 40 ] && [ "$RECS" -le 20 ]; echo $?) "about one error (two: the held-off watch too) and one recovery line per fault ($ERRS, $RECS)"

# ---- the API server goes away, and comes back (restarted: higher RVs)
kill "$FAKE_PID"
for _ in $(seq 1 50); do kill -0 "$FAKE_PID" 2>/dev/null || break; sleep 0.1; done
sleep 2
is "$(a one.default.global)" 10.0.0.1 "API server gone: old answers still served"
like "$(cat "$T_TMP/gd.log")" "cannot connect|transfer failed" "the outage is logged"
rm -f "$K8S/ready"
start_fake --no-watch-list --reuse-certs --port "$APIPORT" --initial-rv 100000 --bookmark-interval 1 || exit 1
se default one one.default.global 10.0.0.11
se default back back.default.global 10.6.0.1
wait_a 15 back.default.global 10.6.0.1
is "$(a back.default.global)" 10.6.0.1 "API server back: new entries served"
is "$(a one.default.global)" 10.0.0.11 "and the restarted server's state replaces the old one"
is "$(rcode rec1.default.global)" NXDOMAIN "entries the new server does not have are gone"
