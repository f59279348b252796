#!/bin/bash
# kube_snapshot.sh -- the disk snapshot (`snapshot PATH`): written after
# the first sync, then at most once per interval and at shutdown; a server
# started while the API is down answers from it (stale in /registry and
# the metrics, ready unless `ready live`), and goes live when the API
# comes back; a corrupt, truncated or foreign snapshot is rejected with a
# log line and never served; a snapshot path that cannot work is a
# Corefile error naming FILE:LINE.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 31

start_fake --bookmark-interval 1 || exit 1
APIPORT=$(cat "$K8S/port")
se default web web.default.global 10.1.0.1
se default db db.default.global 10.1.0.2

mkdir -p "$T_TMP/state"
SNAP=$T_TMP/state/global.json
pick_ports PORT HPORT MPORT
write_conf() {  # write_conf ZONE READY [PROPERTY]
	ZONE=$1
	cat >"$T_TMP/Corefile" <<EOF
$1:$PORT {
    ready 127.0.0.1:$HPORT
    prometheus 127.0.0.1:$MPORT
    serviceentries {
        kubeconfig $K8S/kubeconfig
        timeout 2s
        backoff 200ms 500ms
        ${3:-}
        snapshot $SNAP {
            interval 1h
            wait 3s
            ready $2
        }
    }
}
EOF
}
metrics() { curl -sf "http://127.0.0.1:$MPORT/metrics"; }
ready() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/ready"; }
src() {  # src PYTHON-EXPR on s = the first registry's source
	curl -sf "http://127.0.0.1:$HPORT/registry" | python3 -c '
import json, sys
r = json.load(sys.stdin)["registries"][0]
s = r["source"]
print(eval(sys.argv[1]))' "$1"
}
wait_file() { for _ in $(seq 1 100); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }

# ---- with the API: written after the first sync, then rate-limited
write_conf global snapshot
start_globaldns gd "$T_TMP/Corefile" || exit 1
wait_a 10 db.default.global 10.1.0.2
wait_file "$SNAP"
is "$(python3 -c '
import json, sys
lines = open(sys.argv[1]).read().splitlines()
h, s = json.loads(lines[0]), json.loads(lines[1])["source"]
names = sorted(json.loads(l)["metadata"]["name"] for l in lines[2:2 + s["items"]])
print(h["format"], h["version"], h["zones"], h["sources"], s["items"], names)' "$SNAP")" \
	"globaldns-registry-snapshot 1 ['global.'] 1 2 ['db', 'web']" "written after the first sync: format, version, zones, the entries"
like "$(metrics)" 'globaldns_snapshot_writes_total\{[^}]*result="success"[^}]*\} 1' "metric: one write"
se default late late.default.global 10.1.0.3
wait_a 5 late.default.global 10.1.0.3
sleep 0.5
is "$(grep -c late "$SNAP")" 0 "a change within the interval is not written at once"
ls "$T_TMP/state" >"$T_TMP/ls"
is "$(wc -l <"$T_TMP/ls" | tr -d ' ')" 1 "no temporary file left beside it"
stop_pid "$GD_PID"
is "$(grep -c late "$SNAP")" 1 "... but at shutdown"
cp "$SNAP" "$T_TMP/good.json"

# ---- restarted while the API is down: the snapshot is served, stale
kill "$FAKE_PID"
for _ in $(seq 1 50); do kill -0 "$FAKE_PID" 2>/dev/null || break; sleep 0.1; done
start_globaldns gd2 "$T_TMP/Corefile" || exit 1
wait_a 10 late.default.global 10.1.0.3
is "$(a web.default.global) $(a late.default.global)" "10.1.0.1 10.1.0.3" "API down at start: answers from the snapshot"
like "$(cat "$T_TMP/gd2.log")" "serving 3 entries from the snapshot $SNAP \(last in sync [0-9T:-]+Z\)" "logged"
is "$(src 's["from_snapshot"], s["stale"]')" "(True, True)" "/registry: from the snapshot, stale"
like "$(metrics)" 'globaldns_source_snapshot\{[^}]*\} 1' "metric: globaldns_source_snapshot 1"
stale=$(metric_at_least 3 "$MPORT" 'globaldns_source_staleness_seconds{[^}]*' 1)
ok $([ "${stale:-0}" -ge 1 ] 2>/dev/null; echo $?) "metric: staleness counts from the last sync ($stale s)"
is "$(ready)" 200 "ready on the snapshot (the default)"

# ---- the API comes back: live
rm -f "$K8S/ready"
start_fake --reuse-certs --port "$APIPORT" --initial-rv 100000 --bookmark-interval 1 || exit 1
se default web web.default.global 10.1.0.9
wait_a 20 web.default.global 10.1.0.9
is "$(a web.default.global)" 10.1.0.9 "API back: live entries"
is "$(rcode late.default.global)" NXDOMAIN "... and only them (the restarted API has no late)"
is "$(src 's["from_snapshot"], s["stale"]')" "(False, False)" "/registry: live, not stale"
like "$(metrics)" 'globaldns_source_snapshot\{[^}]*\} 0' "metric: globaldns_source_snapshot 0"
stop_pid "$GD_PID"

# ---- ready live: serves the snapshot but is not ready
kill "$FAKE_PID"
for _ in $(seq 1 50); do kill -0 "$FAKE_PID" 2>/dev/null || break; sleep 0.1; done
cp "$T_TMP/good.json" "$SNAP"
write_conf global live
start_globaldns gd3 "$T_TMP/Corefile" || exit 1
wait_a 10 web.default.global 10.1.0.1
is "$(a web.default.global)" 10.1.0.1 "ready live: the snapshot is served"
is "$(ready)" 503 "... but not ready until a live sync"
stop_pid "$GD_PID"

# ---- rejected snapshots: never served
rejected() {  # rejected NAME REASON-REGEX DESCRIPTION: start with $SNAP as it is
	start_globaldns "$1" "$T_TMP/Corefile" || exit 1
	sleep 3.5
	like "$(cat "$T_TMP/$1.log")" "snapshot $SNAP rejected: $2; not served" "$3: rejected, logged"
	is "$(rcode "web.default.$ZONE")" SERVFAIL "$3: not served (SERVFAIL)"
	stop_pid "$GD_PID"
}
sed 's/10\.1\.0\.1/10.1.0.7/' "$T_TMP/good.json" >"$SNAP"
rejected gd4 'checksum mismatch .*corrupt' "a changed address"
head -c $(( $(wc -c <"$T_TMP/good.json") - 100 )) "$T_TMP/good.json" >"$SNAP"
rejected gd5 '[0-9]+ bytes after the header, it says [0-9]+: truncated or corrupt' "a truncated file"
head -c 100 "$T_TMP/good.json" >"$SNAP"
rejected gd9 'not JSON \(truncated or corrupt\)' "a file cut in its header"
cp "$T_TMP/good.json" "$SNAP"
write_conf other.global snapshot
rejected gd6 'written for other zones \(another serviceentries block\)' "another block's (zones)"
write_conf global snapshot "namespaces default"
cp "$T_TMP/good.json" "$SNAP"
start_globaldns gd8 "$T_TMP/Corefile" || exit 1
sleep 3.5
like "$(cat "$T_TMP/gd8.log")" "snapshot $SNAP: rejected its part for \"kubernetes https://127.0.0.1:$APIPORT\", this source reads \"kubernetes https://127.0.0.1:$APIPORT namespaces=default\"; not served" \
	"a part for another source (here: other namespaces): rejected, logged"
is "$(rcode web.default.global)" SERVFAIL "... not served (SERVFAIL)"
stop_pid "$GD_PID"
python3 - "$T_TMP/good.json" "$SNAP" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().split("\n", 1)
h = json.loads(lines[0]); h["version"] = 99
open(sys.argv[2], "w").write(json.dumps(h) + "\n" + lines[1])
PY
write_conf global snapshot
rejected gd7 'format version 99, this server reads version 1' "another format version"

# ---- a path that cannot work: FILE:LINE at startup
bad() {  # bad DESCRIPTION PATH REGEX
	sed "s#snapshot $SNAP {#snapshot $2 {#" "$T_TMP/Corefile" >"$T_TMP/bad"
	out=$("$GLOBALDNS" -validate -conf "$T_TMP/bad" 2>&1)
	like "$out" "bad:9: serviceentries: snapshot \"$2\": $3" "$1"
}
bad "a missing directory" "$T_TMP/nodir/global.json" "directory \"$T_TMP/nodir\": No such file or directory"
bad "a directory that is a file" "$T_TMP/good.json/global.json" "directory \"$T_TMP/good.json\": Not a directory"
