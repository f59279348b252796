#!/bin/bash
# idle_files.sh -- a directory of N one-entry manifest files (default
# 20,000), nothing changing: the daemon's CPU while idle, and how long one
# changed file takes to be served; prints a table, asserts nothing.
#
# For each binary given (the build's, then any others, e.g. an older build
# to compare with), in the same run: start to first answer of the last
# file, CPU over IDLE seconds (% of one core), then one file rewritten and
# the time until its new address is served, and resident memory.
#
# Usage: tests/bench/idle_files.sh BUILD-DIR [N] [IDLE-SECONDS] [OTHER-GLOBALDNS...]
set -eu
B=${1:?usage: idle_files.sh BUILD-DIR [N] [IDLE-SECONDS] [OTHER-GLOBALDNS...]}
N=${2:-20000}
IDLE=${3:-20}
shift $(( $# >= 3 ? 3 : $# ))
tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mkdir "$tmp/se"
python3 - "$tmp/se" "$N" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open("%s/se-%05d.yaml" % (d, i), "w") as f:
        f.write("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                "metadata: {name: se-%d, namespace: bench}\nspec:\n  hosts: [svc-%d.bench.global]\n"
                "  addresses: [240.%d.%d.%d]\n  resolution: STATIC\n" % (i, i, 1 + i // 65536, (i // 256) % 256, i % 256))
PY
ms() { date +%s%3N; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
resolves() { [ "$(dig @127.0.0.1 -p "$1" +short +tries=1 +time=1 "$2")" = "$3" ]; }

run() {  # run LABEL BINARY
	local label=$1 bin=$2 p gd t0 t1 c0 c1 w0 w1 last addr
	p=$(port)
	printf 'global:%s {\n  serviceentries {\n    file %s\n  }\n}\n' "$p" "$tmp/se" >"$tmp/Corefile"
	last=$(printf 'svc-%d.bench.global' $((N - 1)))
	addr=$(python3 -c "i=$N-1; print('240.%d.%d.%d' % (1 + i // 65536, (i // 256) % 256, i % 256))")
	t0=$(ms)
	"$bin" -conf "$tmp/Corefile" -quiet >"$tmp/$label.log" 2>&1 &
	gd=$!
	pids="$pids $gd"
	for _ in $(seq 1 1200); do resolves "$p" "$last" "$addr" && break; sleep 0.05; done
	t1=$(ms)
	sleep 2
	c0=$(cpu_ticks $gd); w0=$(ms)
	sleep "$IDLE"
	c1=$(cpu_ticks $gd); w1=$(ms)
	# one file changed: its new address served when?
	sed -i 's/addresses: \[.*\]/addresses: [10.9.9.9]/' "$tmp/se/se-00007.yaml"
	local d0 d1
	d0=$(ms)
	for _ in $(seq 1 600); do resolves "$p" svc-7.bench.global 10.9.9.9 && break; sleep 0.02; done
	d1=$(ms)
	sed -i 's/addresses: \[.*\]/addresses: [240.1.0.7]/' "$tmp/se/se-00007.yaml"
	printf '%-10s %9d %8.1f%% %10d %8d\n' "$label" $((t1 - t0)) \
		"$(echo "scale=1; ($c1 - $c0) * 100 * 1000 / ($(getconf CLK_TCK) * ($w1 - $w0))" | bc)" \
		$((d1 - d0)) "$(awk '/VmRSS/ {print int($2 / 1024)}' /proc/$gd/status)"
	kill $gd; wait $gd 2>/dev/null || true
	sleep 2     # let the change back settle on disk before the next binary
}
echo "$N one-entry manifest files in one directory; CPU idle over $IDLE s"
printf '%-10s %9s %9s %10s %8s\n' binary "start ms" "idle CPU" "1 change ms" "RSS MB"
run this "$B/globaldns"
n=1
for other in "$@"; do run "other$n" "$other"; n=$((n + 1)); done
