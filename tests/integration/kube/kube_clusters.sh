#!/bin/bash
# kube_clusters.sh -- several clusters in one serviceentries block
# (`cluster NAME { ... }`), against two fake API servers, each with its own
# CA and token: their entries merge into one registry (the same host in
# both gets the union of addresses), each cluster has its own list and
# watch, metrics labelled by cluster and /registry attribution; a cluster
# that goes away keeps its last entries, stale (metric, /registry), while
# the other goes on updating, and is live again when it comes back.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 33

K8S=$T_TMP/east; start_fake --bookmark-interval 1 || exit 1
EAST=$K8S EAST_PID=$FAKE_PID EAST_PORT=$(cat "$K8S/port")
K8S=$T_TMP/west; start_fake --bookmark-interval 1 || exit 1
WEST=$K8S WEST_PID=$FAKE_PID
ok $(cmp -s "$EAST/kubeconfig" "$WEST/kubeconfig"; [ $? = 1 ]; echo $?) "each fake has its own kubeconfig (server, CA, token)"

K8S=$EAST se default web web.default.global 10.1.0.1
K8S=$EAST se default east east.default.global 10.1.0.5
K8S=$WEST se default web web.default.global 10.2.0.1
K8S=$WEST se default west west.default.global 10.2.0.5

pick_ports PORT HPORT MPORT
cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
    ready 127.0.0.1:$HPORT
    prometheus 127.0.0.1:$MPORT
    serviceentries {
        cluster east {
            kubeconfig $EAST/kubeconfig
            timeout 2s
            backoff 200ms 500ms
        }
        cluster west {
            kubeconfig $WEST/kubeconfig
            timeout 2s
            backoff 200ms 500ms
        }
        snapshot $T_TMP/global.json {
            wait 2s
        }
    }
}
EOF
start_globaldns gd "$T_TMP/Corefile" || exit 1
wait_a 10 west.default.global 10.2.0.5
is "$(a web.default.global)" "10.1.0.1 10.2.0.1" "a host in both clusters: the union of their addresses"
is "$(a east.default.global)" 10.1.0.5 "an east-only host"
is "$(a west.default.global)" 10.2.0.5 "a west-only host"
is "$(rcode nothing.default.global)" NXDOMAIN "an unknown name: NXDOMAIN"
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/ready")" 200 "ready once both synced"

reg() { curl -sf "http://127.0.0.1:$HPORT/registry"; }
# regq PYTHON-EXPR: evaluated with r = the first registry
regq() {
	reg | python3 -c '
import json, sys
r = json.load(sys.stdin)["registries"][0]
names = {n["name"]: n for n in r["names"]}
src = {s["cluster"]: s for s in r["sources"]}
print(eval(sys.argv[1]))' "$1"
}
is "$(regq '",".join(names["web.default.global."]["service_entries"])')" "east/default/web,west/default/web" \
	"/registry: a name says which cluster each entry came from"
is "$(regq '",".join(sorted(src))')" "east,west" "/registry: one source per cluster"
is "$(regq 'src["east"]["synced"] and src["west"]["synced"] and not src["east"]["stale"]')" True \
	"/registry: both synced, not stale"
like "$(regq 'src["east"]["server"]')" "^https://127.0.0.1:$EAST_PORT" "/registry: each source names its server"

metrics() { curl -sf "http://127.0.0.1:$MPORT/metrics"; }
M=$(metrics)
like "$M" 'globaldns_source_synced\{[^}]*cluster="east"[^}]*\} 1' "metric: east synced"
like "$M" 'globaldns_source_synced\{[^}]*cluster="west"[^}]*\} 1' "metric: west synced"
like "$M" 'globaldns_kubernetes_objects\{[^}]*cluster="west"[^}]*\} 2' "the kube metrics carry the cluster label"
like "$M" 'globaldns_source_staleness_seconds\{[^}]*cluster="east"[^}]*\} 0' "metric: east staleness 0"

is "$(K8S=$EAST fake_log | grep -c ' watch 200 ')" 1 "east: its own watch"
is "$(K8S=$WEST fake_log | grep -c ' watch 200 ')" 1 "west: its own watch"

# ---- east goes away: its entries stay, stale; west goes on
kill "$EAST_PID"
for _ in $(seq 1 50); do kill -0 "$EAST_PID" 2>/dev/null || break; sleep 0.1; done
K8S=$WEST se default new new.default.global 10.2.0.9
wait_a 10 new.default.global 10.2.0.9
is "$(a new.default.global)" 10.2.0.9 "east down: a west change is served"
is "$(a east.default.global)" 10.1.0.5 "east down: its last entries are still served"
is "$(a web.default.global)" "10.1.0.1 10.2.0.1" "east down: the shared host keeps both clusters' addresses"
stale=$(metric_at_least 6 "$MPORT" 'globaldns_source_staleness_seconds{[^}]*cluster="east"[^}]*' 2)
ok $([ "${stale:-0}" -ge 2 ] 2>/dev/null; echo $?) "metric: east staleness grows ($stale s)"
like "$(metrics)" 'globaldns_source_staleness_seconds\{[^}]*cluster="west"[^}]*\} 0' "metric: west staleness 0"
is "$(regq 'src["east"]["stale"], src["west"]["stale"]')" "(True, False)" "/registry: east stale, west not"
like "$(regq 'src["east"]["last_error"]')" "." "/registry: east's error is shown"
is "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT/ready")" 200 \
	"still ready: the block serves what it has"

# ---- east comes back (restarted, another state): live again
rm -f "$EAST/ready"
K8S=$EAST; start_fake --reuse-certs --port "$EAST_PORT" --initial-rv 100000 --bookmark-interval 1 || exit 1
EAST_PID=$FAKE_PID
K8S=$EAST se default east east.default.global 10.1.0.6
wait_a 20 east.default.global 10.1.0.6
is "$(a east.default.global)" 10.1.0.6 "east back: its new state is served"
is "$(rcode web.default.global)" NOERROR "the restarted east has no web: west's is still served"
is "$(a web.default.global)" "10.2.0.1" "... only with west's address"
for _ in $(seq 1 50); do [ "$(regq 'src["east"]["stale"]')" = False ] && break; sleep 0.1; done
is "$(regq 'src["east"]["stale"]')" False "/registry: east not stale any more"

# ---- Corefile errors name FILE:LINE
bad() {  # bad DESCRIPTION LINE REGEX: the Corefile in $T_TMP/bad
	local out
	out=$("$GLOBALDNS" -validate -conf "$T_TMP/bad" 2>&1)
	like "$out" "bad:$2: $3" "$1"
}
printf 'global:%s {\n    serviceentries {\n        kubeconfig %s\n        cluster west {\n            kubeconfig %s\n        }\n    }\n}\n' \
	"$PORT" "$EAST/kubeconfig" "$WEST/kubeconfig" >"$T_TMP/bad"
bad "a source property beside clusters" 3 'serviceentries: kubeconfig: a source property beside cluster blocks'
printf 'global:%s {\n    serviceentries {\n        cluster West {\n            kubeconfig %s\n        }\n    }\n}\n' \
	"$PORT" "$WEST/kubeconfig" >"$T_TMP/bad"
bad "a cluster name that is no DNS label" 3 'serviceentries: cluster: "West": not a name'

# ---- both clusters down, globaldns restarted: each from its part of the snapshot
stop_pid "$GD_PID"
kill "$EAST_PID" "$WEST_PID"
for _ in $(seq 1 50); do kill -0 "$EAST_PID" 2>/dev/null || kill -0 "$WEST_PID" 2>/dev/null || break; sleep 0.1; done
start_globaldns gd2 "$T_TMP/Corefile" || exit 1
wait_a 10 new.default.global 10.2.0.9
is "$(a east.default.global) $(a new.default.global)" "10.1.0.6 10.2.0.9" \
	"both down at start: each cluster's entries from the snapshot"
is "$(regq 'src["east"]["from_snapshot"], src["west"]["from_snapshot"]')" "(True, True)" \
	"/registry: both from the snapshot"
is "$(regq '",".join(names["web.default.global."]["service_entries"])')" "west/default/web" \
	"/registry: attribution kept"
