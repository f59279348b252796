#!/bin/bash
# snapshot.sh -- the cost of the serviceentries disk snapshot with N
# entries from the fake API server (default 10,000 and 100,000): the file's
# size, how long a write takes on its thread, how long the DNS loop stalls
# while entries change every second (the snapshot written each time, or
# not configured), and a start from the snapshot with the API down to the
# first answer.  Prints a table, asserts nothing.  DEBUG=1 traces and
# keeps the temporary directory.
#
# Usage: tests/bench/snapshot.sh BUILD-DIR [N...]
set -eu
[ -n "${DEBUG:-}" ] && set -x
B=${1:?usage: snapshot.sh BUILD-DIR [N...]}
shift
[ $# -gt 0 ] || set -- 10000 100000
TOP=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; [ -n "${DEBUG:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ms() { date +%s%3N; }

# stall SECS PORT CTL: UDP queries every 5 ms for SECS while an entry
# changes every second; prints "p99 max" latency in ms
stall() {
	python3 - "$@" <<'PY'
import json, socket, struct, sys, threading, time, urllib.request
secs, port, ctl = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def change():
    i = 0
    end = time.time() + secs
    while time.time() < end:
        i += 1
        body = json.dumps({"metadata": {"name": "moving", "namespace": "bench"},
            "spec": {"hosts": ["moving.bench.global"], "addresses": ["10.9.%d.%d" % (i // 256 % 256, i % 256)],
                     "resolution": "STATIC"}}).encode()
        urllib.request.urlopen(urllib.request.Request(ctl + "/entries", body, {"Content-Type": "application/json"}), timeout=5).read()
        time.sleep(1)
t = threading.Thread(target=change); t.start()
q = struct.pack(">HHHHHH", 1, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l for l in b"svc-00001.default.global".split(b".")) + b"\0\0\1\0\1"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5)
lat = []
end = time.time() + secs
while time.time() < end:
    t0 = time.monotonic(); s.sendto(q, ("127.0.0.1", port))
    try:
        s.recv(4096)
    except socket.timeout:
        print("timeout", file=sys.stderr)
    lat.append((time.monotonic() - t0) * 1000); time.sleep(0.005)
t.join(); lat.sort()
print("%.1f %.1f" % (lat[int(len(lat) * 0.99)], lat[-1]))
PY
}

printf '%-8s %-10s %-9s %-22s %-22s %s\n' entries file_MB write_ms "stall p99/max (snap)" "stall p99/max (none)" cold_start_ms
for n in "$@"; do
	d=$tmp/$n; mkdir -p "$d/state"
	python3 "$TOP/tests/k8s/fake_apiserver.py" serve --dir "$d/k8s" >"$d/fake.log" 2>&1 &
	fp=$!; pids="$pids $fp"
	for _ in $(seq 1 150); do [ -f "$d/k8s/ready" ] && break; sleep 0.1; done
	ctl=http://127.0.0.1:$(cat "$d/k8s/control_port")
	curl -sS -X POST -H 'Content-Type: application/json' --data-binary "{\"count\":$n}" "$ctl/bulk" >/dev/null
	res=""
	for mode in snap none; do
		p=$(port) h=$(port)
		snap=""
		[ $mode = snap ] && snap="snapshot $d/state/g.json {
            interval 1s
        }"
		printf 'global:%s {\n    ready 127.0.0.1:%s\n    serviceentries {\n        kubeconfig %s\n        %s\n    }\n}\n' \
			"$p" "$h" "$d/k8s/kubeconfig" "$snap" >"$d/Corefile.$mode"
		"$B/globaldns" -conf "$d/Corefile.$mode" >"$d/gd.$mode.log" 2>&1 &
		gp=$!; pids="$pids $gp"
		for _ in $(seq 1 600); do [ -n "$(dig @127.0.0.1 -p "$p" +short +tries=1 +time=1 svc-00001.default.global 2>/dev/null)" ] && break; sleep 0.1; done
		res="$res $(stall 10 "$p" "$ctl")"
		if [ $mode = snap ]; then
			wms=$(curl -s "http://127.0.0.1:$h/registry" | python3 -c 'import json,sys; print("%.0f" % json.load(sys.stdin)["registries"][0]["snapshot"]["last_write_ms"])')
		fi
		kill "$gp"; wait "$gp" 2>/dev/null || true
	done
	size=$(python3 -c "import os; print('%.1f' % (os.path.getsize('$d/state/g.json') / 1e6))")
	kill "$fp"; wait "$fp" 2>/dev/null || true
	p=$(grep -o 'global:[0-9]*' "$d/Corefile.snap" | cut -d: -f2)
	t0=$(ms)
	"$B/globaldns" -conf "$d/Corefile.snap" >"$d/gd.cold.log" 2>&1 &
	gp=$!; pids="$pids $gp"
	for _ in $(seq 1 600); do [ -n "$(dig @127.0.0.1 -p "$p" +short +tries=1 +time=1 svc-00001.default.global 2>/dev/null)" ] && break; sleep 0.02; done
	cold=$(( $(ms) - t0 ))
	kill "$gp"; wait "$gp" 2>/dev/null || true
	set -- $res
	printf '%-8s %-10s %-9s %-22s %-22s %s\n' "$n" "$size" "$wms" "$1/$2" "$3/$4" "$cold"
done
