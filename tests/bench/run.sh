#!/bin/bash
# run.sh -- globaldns benchmarks; prints tables, asserts nothing.
#   1. bench_query: registry build time and the answer path's cost per
#      query and allocations per query, against ldns doing the same.
#   2. dnsperf (if installed) against the real binary on 127.0.0.1:
#      queries per second and latency over UDP for 5 s, and the daemon's
#      resident memory with 10,000 entries loaded.
# Usage: tests/bench/run.sh BUILD-DIR [ENTRIES]
set -eu
B=${1:?usage: run.sh BUILD-DIR [ENTRIES]}
N=${2:-10000}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
"$B/tests/bench/bench_query" "$N"

command -v dnsperf >/dev/null || { echo "(dnsperf not installed: apt-get install dnsperf for the load test)"; exit 0; }
tmp=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$tmp"' EXIT
python3 - "$tmp/se.yaml" "$N" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        f.write(f"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: se-{i:05d}, namespace: ns{i%50}}}\n"
                f"spec:\n  hosts: [svc-{i:05d}.ns{i%50}.global]\n  addresses: [240.{1+i//65536}.{(i//256)%256}.{i%256}]\n  resolution: STATIC\n")
with open(path + ".queries", "w") as f:
    for i in range(0, n, 7):
        f.write(f"svc-{i:05d}.ns{i%50}.global A\n")
        f.write(f"svc-{i:05d}.ns{i%50}.global AAAA\n")
        f.write(f"missing-{i}.ns{i%50}.global A\n")
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'global:%s {\n  serviceentries {\n    file %s\n  }\n}\n' "$port" "$tmp/se.yaml" > "$tmp/Corefile"
"$B/globaldns" -conf "$tmp/Corefile" -quiet 2>"$tmp/log" &
pid=$!
for _ in $(seq 50); do dig @127.0.0.1 -p "$port" +short +time=1 +tries=1 svc-00000.ns0.global >/dev/null 2>&1 && break; sleep 0.1; done
echo
echo "dnsperf, UDP, 127.0.0.1, 5 s, 20 clients, mix of hits / NODATA / NXDOMAIN:"
dnsperf -s 127.0.0.1 -p "$port" -d "$tmp/se.yaml.queries" -l 5 -c 20 -q 200 2>&1 \
	| grep -E 'Queries (sent|completed|lost)|Queries per second|Average Latency|Latency StdDev' | sed 's/^ */  /'
rss=$(awk '/VmRSS/ {print $2 " " $3}' /proc/$pid/status)
echo "  resident memory with $N entries: $rss"
