#!/bin/bash
# workers.sh -- a worker per core (workers.h), measured: globaldns with
# `workers 1` and `workers N` side by side on the same data, in one run.
# Prints a table; asserts nothing; not part of `make check`.
#
# For each worker count: N ServiceEntries (default 10,000; 90 % A, 5 %
# AAAA, 5 % NXDOMAIN queries), dnsperf flat out for D seconds (kQPS), then
# at a fixed offered rate (queries/s) the server's CPU microseconds per
# answered query (utime + stime of all its threads, /proc/PID/stat), and
# per worker the share of the queries it answered and its CPU per query
# (globaldns_worker_queries_total and globaldns_worker_cpu_seconds_total).
# Also a forwarding mode (`cache` + `forward` to a second globaldns, the
# cache warm) where the workers answer from the cache.
#
# Runs in a private network namespace (unshare -n) when started as root;
# otherwise on free ports of 127.0.0.1.  Bounded: about 2 x (2 x D + 10) s
# per mode.
#
# Usage: tests/bench/workers.sh [-n ENTRIES] [-d SECONDS] [-r RATE] [-w "1 2"]
#        GLOBALDNS=path picks the binary (default ./globaldns).
set -eu
SELF=$(readlink -f "$0")
N=10000 D=5 RATE=40000 WS="1 $(nproc)"
while getopts n:d:r:w: o; do
	case $o in
	n) N=$OPTARG ;; d) D=$OPTARG ;; r) RATE=$OPTARG ;; w) WS=$OPTARG ;;
	*) echo "usage: $0 [-n ENTRIES] [-d SECONDS] [-r RATE] [-w \"1 2\"]" >&2; exit 2 ;;
	esac
done
GD=$(readlink -f "${GLOBALDNS:-./globaldns}")
[ -x "$GD" ] || { echo "no globaldns binary at $GD (set GLOBALDNS)" >&2; exit 2; }
command -v dnsperf >/dev/null || { echo "dnsperf not installed (apt-get install dnsperf)" >&2; exit 2; }
if [ "$(id -u)" = 0 ] && [ "${WB_NETNS:-}" != inside ] && command -v unshare >/dev/null; then
	WB_NETNS=inside exec unshare -n -- "$SELF" "$@"
fi
[ "${WB_NETNS:-}" = inside ] && ip link set lo up

tmp=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null; done; sleep 0.3; for p in $pids; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"; }
trap cleanup EXIT

python3 - "$tmp" "$N" <<'PY'
import random, sys
d, n = sys.argv[1], int(sys.argv[2])
random.seed(1)
with open(d + "/se.yaml", "w") as f:
    for i in range(n):
        f.write(f"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: se-{i}, namespace: ns{i%50}}}\n"
                f"spec:\n  hosts: [svc-{i}.ns{i%50}.global]\n  addresses: [240.{1+i//65536}.{(i//256)%256}.{i%256}]\n  resolution: STATIC\n")
with open(d + "/auth.q", "w") as f:
    for _ in range(50000):
        r, i = random.random(), random.randrange(n)
        if r < 0.90: f.write(f"svc-{i}.ns{i%50}.global A\n")
        elif r < 0.95: f.write(f"svc-{i}.ns{i%50}.global AAAA\n")
        else: f.write(f"missing-{i}.ns{i%50}.global A\n")
with open(d + "/up.hosts", "w") as f:
    for i in range(4000):
        f.write(f"10.{i//65536}.{(i//256)%256}.{i%256} n{i}.bench.test\n")
with open(d + "/fwd.q", "w") as f:
    for _ in range(50000):
        f.write(f"n{random.randrange(4000)}.bench.test A\n")
PY

port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do dig @127.0.0.1 -p "$1" +short +time=1 +tries=1 "$2" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric_w() { curl -s "http://127.0.0.1:$2/metrics" | awk -v m="$1" 'index($1, m "{") == 1 { split($1, a, "\""); print a[2], $2 }'; }

UP=$(port)
printf '.:%s {\n  workers 1\n  hosts %s\n}\n' "$UP" "$tmp/up.hosts" >"$tmp/up.Corefile"
"$GD" -conf "$tmp/up.Corefile" -quiet 2>"$tmp/up.log" &
pids="$pids $!"
wait_up "$UP" n1.bench.test || { echo "the upstream did not start" >&2; exit 1; }

hz=$(getconf CLK_TCK)
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) CPUs, Linux $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "globaldns: $GD; $N entries; dnsperf -c 20, flat out ${D} s, then ${RATE}/s for ${D} s; nothing pinned (dnsperf shares the CPUs)"
echo
printf '| mode | workers | flat out kQPS | CPU µs/query at %s/s | CPU %% | per worker: share of queries, CPU µs/query |\n' "$RATE"
echo '|---|---:|---:|---:|---:|---|'
for mode in auth forward; do
	for w in $WS; do
		P=$(port) M=$(port)
		if [ $mode = auth ]; then
			printf 'global:%s {\n  workers %s\n  serviceentries {\n    file %s\n  }\n  prometheus 127.0.0.1:%s\n}\n' \
				"$P" "$w" "$tmp/se.yaml" "$M" >"$tmp/gd.Corefile"
			qf=$tmp/auth.q probe=svc-1.ns1.global
		else
			printf '.:%s {\n  workers %s\n  cache 300\n  forward . 127.0.0.1:%s\n  prometheus 127.0.0.1:%s\n}\n' \
				"$P" "$w" "$UP" "$M" >"$tmp/gd.Corefile"
			qf=$tmp/fwd.q probe=n1.bench.test
		fi
		"$GD" -conf "$tmp/gd.Corefile" -quiet 2>"$tmp/gd.log" &
		gp=$!
		pids="$pids $gp"
		wait_up "$P" "$probe" || { echo "globaldns did not start" >&2; cat "$tmp/gd.log" >&2; exit 1; }
		# warm the cache (forward mode), and everything else once
		dnsperf -s 127.0.0.1 -p "$P" -d "$qf" -n 1 -c 20 -q 500 >/dev/null 2>&1 || true
		flat=$(dnsperf -s 127.0.0.1 -p "$P" -d "$qf" -l "$D" -c 20 -q 500 2>&1 | awk '/Queries per second/ {printf "%.1f", $4 / 1000}')
		metric_w globaldns_worker_queries_total "$M" >"$tmp/q0"
		metric_w globaldns_worker_cpu_seconds_total "$M" >"$tmp/c0"
		t0=$(cpu_ticks "$gp")
		done_q=$(dnsperf -s 127.0.0.1 -p "$P" -d "$qf" -l "$D" -c 20 -Q "$RATE" 2>&1 | awk '/Queries completed/ {print $3}')
		t1=$(cpu_ticks "$gp")
		metric_w globaldns_worker_queries_total "$M" >"$tmp/q1"
		metric_w globaldns_worker_cpu_seconds_total "$M" >"$tmp/c1"
		us=$(awk -v t="$((t1 - t0))" -v hz="$hz" -v q="$done_q" 'BEGIN { printf "%.2f", t / hz * 1e6 / q }')
		pct=$(awk -v t="$((t1 - t0))" -v hz="$hz" -v d="$D" 'BEGIN { printf "%.0f", t / hz / d * 100 }')
		per=$(awk 'FNR == 1 { f++ } f == 1 { q0[$1] = $2 } f == 2 { q1[$1] = $2 } f == 3 { c0[$1] = $2 } f == 4 { c1[$1] = $2 }
			END { for (k in q1) tot += q1[k] - q0[k]
			      for (k = 0; (k "") in q1; k++) { dq = q1[k] - q0[k]; dc = (k in c1) ? c1[k] - c0[k] : -1
			        s = s sprintf("%sw%d %.0f %%, %s", s == "" ? "" : "; ", k, tot ? 100 * dq / tot : 0,
			                      dc >= 0 && dq ? sprintf("%.2f", dc * 1e6 / dq) : "–") }
			      print s }' "$tmp/q0" "$tmp/q1" "$tmp/c0" "$tmp/c1")
		printf '| %s | %s | %s | %s | %s | %s |\n' "$mode" "$w" "$flat" "$us" "$pct" "$per"
		kill "$gp"; wait "$gp" 2>/dev/null || true
	done
done
echo
echo "CPU per query per worker counts a worker's own thread only; worker 0 is the main loop, which also"
echo "runs TCP, timers and (forward mode) the forwarder, so with one worker its figure is the whole process's."
