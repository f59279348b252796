#!/bin/bash
# kube_bench.sh -- the Kubernetes source against the fake API server with
# N ServiceEntries (default 10,000); prints a table, asserts nothing.
#   1. registry_build: parse / decode / build of N entries (C, in-process)
#   2. kube_mem: bytes per name in the informer's store and in the
#      registry snapshot (100,000 entries)
#   3. start to first answer (a streaming list over HTTP/2), then the registry
#   4. create-to-resolvable with a watch, N entries held (each change
#      rebuilds the whole registry, coalesced)
#   5. the same with `nowatch` and `poll 2s`
# The API's cost per replica (bytes and requests a minute, idle and under
# changes, latency, RSS, re-lists) is tests/bench/kube_api_bench.py's
# (about 20 minutes for 10,000 and 100,000 entries).
# Usage: tests/bench/kube_bench.sh BUILD-DIR [N]
set -eu
B=${1:?usage: kube_bench.sh BUILD-DIR [N]}
N=${2:-10000}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
FAKE=$TOP/tests/k8s/fake_apiserver.py
[ -x "$B/tests/bench/registry_build" ] || make -C "$B" tests/bench/registry_build >/dev/null
"$B/tests/bench/registry_build" "$N"
echo
[ -x "$B/tests/bench/kube_mem" ] || make -C "$B" tests/bench/kube_mem >/dev/null
"$B/tests/bench/kube_mem" 100000
echo

tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
python3 "$FAKE" serve --dir "$tmp/k8s" >"$tmp/fake.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 1 100); do [ -f "$tmp/k8s/ready" ] && break; sleep 0.1; done
CP=$(cat "$tmp/k8s/control_port")
ctl() { curl -sS --max-time 30 -X POST --data-binary "${2:-{\}}" "http://127.0.0.1:$CP/$1" >/dev/null; }
ctl bulk "{\"count\":$N}"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ms() { date +%s%3N; }
resolves() { [ "$(dig @127.0.0.1 -p "$1" +short +tries=1 +time=1 "$2")" = "$3" ]; }

run() {  # run LABEL PROPERTIES...
	local label=$1; shift
	local p t0 t1 d delays=""
	p=$(port)
	{ echo "global:$p {"; echo " serviceentries {"; echo "  kubeconfig $tmp/k8s/kubeconfig"
	  for x in "$@"; do echo "  $x"; done; echo " }"; echo "}"; } >"$tmp/Corefile.$label"
	t0=$(ms)
	"$B/globaldns" -conf "$tmp/Corefile.$label" >"$tmp/$label.log" 2>&1 &
	pids="$pids $!"
	local gd=$!
	local last=$(printf 'svc-%05d.default.global' $((N - 1)))
	for _ in $(seq 1 600); do resolves "$p" "$last" "$(python3 -c "n=$N; print('240.%d.%d.%d' % (n>>16&255, n>>8&255, n&255))")" && break; sleep 0.05; done
	t1=$(ms)
	for i in 1 2 3 4 5; do
		ctl entries "{\"metadata\":{\"name\":\"b-$label-$i\"},\"spec\":{\"hosts\":[\"b-$label-$i.default.global\"],\"addresses\":[\"10.99.0.$i\"],\"resolution\":\"STATIC\"}}"
		d=$(ms)
		for _ in $(seq 1 400); do resolves "$p" "b-$label-$i.default.global" "10.99.0.$i" && break; sleep 0.02; done
		delays="$delays $(( $(ms) - d ))"
	done
	kill "$gd"
	printf '%-22s %8d %s\n' "$label" $((t1 - t0)) "$(echo $delays | tr ' ' '\n' | sort -n | tr '\n' ' ')"
}
printf '%-22s %8s %s\n' "mode ($N entries)" "start ms" "create-to-resolvable ms (5 samples, sorted)"
run watch
run "nowatch-poll-2s" nowatch "poll 2s"
