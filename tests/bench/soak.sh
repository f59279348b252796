#!/bin/bash
# soak.sh -- globaldns under everything at once, on loopback, for a bounded
# time (default 300 s); prints what was sent, answered and correct, and the
# daemon's memory and CPU.  Not part of `make check`; asserts nothing.
#
# One daemon (started with a soft RLIMIT_NOFILE of 256, hard 4096, as
# the issue measured) serves:
#   t.global   manifests in a file, rewritten in place (truncate, write)
#              every 0.3-0.7 s the whole run
#   global     the Kubernetes source against the fake API server
#              (tests/k8s), 200 entries; the server is killed and restarted
#              (same certificates, port, entries) every 60 s
#   .          cache + forward to the scripted upstream, which black-holes
#              for 15 s of every 40
# while dnsload asks (UDP, 800 q/s, and TCP over 4 connections, 80 q/s):
# file hits and misses, Kubernetes hits and misses, forwarded names and
# forwarded misses.  Meanwhile: the Corefile changes (found by `reload`)
# or SIGHUP every 45 s; 300 slowloris clients (one byte every 3 s) from
# 25 % to 45 % of the run; 1,000 idle TCP connections, more than the
# descriptors the daemon may open, from 60 % to 70 %.
#
# Correct means: hits answered with their address, misses NXDOMAIN, and
# forwarded queries either answered (NOERROR with the upstream's address,
# or NXDOMAIN) or SERVFAIL while the upstream is black-holed.
#
# Usage: tests/bench/soak.sh BUILD-DIR [SECONDS] [UDP-RATE]
set -eu
B=${1:?usage: soak.sh BUILD-DIR [SECONDS] [UDP-RATE]}
T=${2:-300}
RATE=${3:-800}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
[ -x "$B/tests/bench/dnsload" ] || make -C "$B" tests/bench/dnsload >/dev/null
tmp=$(mktemp -d)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	sleep 0.5
	for p in $pids; do kill -9 "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
bg() { "$@" & pids="$pids $!"; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s; }
PORT=$(port) MP=$(port) UP=$(port) KP=$(port)

# ---- the upstream, the fake API server, the manifests ----
echo normal >"$tmp/up.mode"
bg python3 "$TOP/tests/upstream/upstream.py" --port "$UP" --control "$tmp/up.mode" \
	--a www.example.test=192.0.2.8 --lifetime $((T + 120)) >"$tmp/up.log" 2>&1
start_fake() {  # start_fake [--reuse-certs]
	python3 "$TOP/tests/k8s/fake_apiserver.py" serve --dir "$tmp/k8s" --port "$KP" \
		--initial-rv $(( $(now) * 10 )) "$@" >>"$tmp/fake.log" 2>&1 &
	FAKE=$!
	pids="$pids $FAKE"
	for _ in $(seq 1 100); do [ -f "$tmp/k8s/ready" ] && break; sleep 0.1; done
	curl -sS --max-time 30 -X POST --data-binary '{"count":200}' \
		"http://127.0.0.1:$(cat "$tmp/k8s/control_port")/bulk" >/dev/null
}
start_fake
python3 - "$tmp/full.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(200):
        f.write("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                "metadata: {name: se-%d, namespace: t}\nspec:\n  hosts: [svc-%d.t.global]\n"
                "  addresses: [240.9.%d.%d]\n  resolution: STATIC\n" % (i, i, i // 256, i % 256 + 1))
PY
cp "$tmp/full.yaml" "$tmp/se.yaml"

corefile() {  # corefile TTL
	cat >"$tmp/Corefile.new" <<EOF
t.global:$PORT {
    reload 2s 1s
    prometheus 127.0.0.1:$MP
    serviceentries {
        file $tmp/se.yaml
        ttl $1
    }
}
global:$PORT {
    serviceentries {
        kubeconfig $tmp/k8s/kubeconfig
    }
}
.:$PORT {
    cache 30
    forward . 127.0.0.1:$UP {
        max_fails 0
    }
}
EOF
	mv "$tmp/Corefile.new" "$tmp/Corefile"
}
corefile 30

# ---- the queries ----
python3 - "$tmp/queries" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    # 4000 rounds: forwarded misses are all different names, so most of
    # them pass the cache (30 s) and reach the upstream
    for r in range(4000):
        i = r % 200
        f.write("svc-%d.t.global A NOERROR:240.9.%d.%d file-hit\n" % (i, i // 256, i % 256 + 1))
        f.write("nope-%d.t.global A NXDOMAIN file-miss\n" % r)
        n = i + 1
        f.write("svc-%05d.default.global A NOERROR:240.%d.%d.%d kube-hit\n" % (i, n >> 16 & 255, n >> 8 & 255, n & 255))
        f.write("nope-%d.default.global A NXDOMAIN kube-miss\n" % r)
        f.write("www.example.test A NOERROR:192.0.2.8|SERVFAIL forward\n")
        f.write("nope-%d.example.test A NXDOMAIN|SERVFAIL fwd-miss\n" % r)
PY

# ---- the daemon ----
# the log through `uniq -c`: a line repeated millions of times (an accept
# loop on EMFILE) takes one line
prlimit --nofile=256:4096 -- "$B/globaldns" -conf "$tmp/Corefile" -quiet > >(uniq -c >"$tmp/gd.log") 2>&1 &
GD=$!
pids="$pids $GD"
for _ in $(seq 1 100); do
	[ "$(dig @127.0.0.1 -p "$PORT" +short +tries=1 +time=1 svc-00001.default.global)" = "240.0.0.2" ] && break
	sleep 0.1
done
rss() { awk '/VmRSS/ {print $2}' "/proc/$GD/status" 2>/dev/null || echo 0; }
cpu() { awk '{print $14 + $15}' "/proc/$GD/stat" 2>/dev/null || echo 0; }
R0=$(rss); C0=$(cpu); T0=$(now)
echo "soak: $T s on 127.0.0.1:$PORT, daemon pid $GD (RLIMIT_NOFILE 256:4096), UDP $RATE q/s + TCP $((RATE / 10)) q/s"

# ---- load ----
bg "$B/tests/bench/dnsload" -p "$PORT" -r "$RATE" -l "$T" -c 8 -w 8 "$tmp/queries" >"$tmp/udp.out"
UDPL=$!
bg "$B/tests/bench/dnsload" -t -p "$PORT" -r $((RATE / 10)) -l "$T" -c 4 -w 8 "$tmp/queries" >"$tmp/tcp.out"
TCPL=$!

# the manifest rewritten in place, the whole run (the script in a file:
# a background command's stdin is /dev/null)
cat >"$tmp/rewrite.py" <<'PY'
import random, sys, time
path, full, secs = sys.argv[1], open(sys.argv[2]).read(), float(sys.argv[3])
stop = time.time() + secs
n = 0
while time.time() < stop:
    n += 1
    with open(path, "w") as f:
        cut = random.randrange(1, len(full))
        f.write(full[:cut]); f.flush()
        time.sleep(random.uniform(0, 0.05))
        f.write(full[cut:])
    time.sleep(random.uniform(0.3, 0.7))
print(n)
PY
python3 "$tmp/rewrite.py" "$tmp/se.yaml" "$tmp/full.yaml" "$T" >"$tmp/rewrites.out" &
pids="$pids $!"

# clients that hold connections: slowloris (a byte every few seconds) or
# idle, N of them from START to STOP seconds into the run
clients() {  # clients N BYTE-INTERVAL DURATION
	python3 - "$PORT" "$1" "$2" "$3" <<'PY'
import socket, sys, time
port, n, every, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
socks = []
stop = time.time() + secs
for i in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        socks.append(s)
    except OSError:
        pass
last = 0
while time.time() < stop:
    if every > 0 and time.time() - last >= every:
        last = time.time()
        for s in list(socks):
            try:
                s.send(b"\x00")     # a length byte, never the message
            except OSError:
                socks.remove(s)
    time.sleep(0.2)
print(len(socks))
PY
}

# a new TCP client every 5 s: answered or not, by phase
probe() {  # probe PHASE
	local ok=0
	[ "$(dig @127.0.0.1 -p "$PORT" +tcp +short +tries=1 +time=3 svc-1.t.global)" = "240.9.0.2" ] && ok=1
	echo "$1 $ok" >>"$tmp/probes"
}
: >"$tmp/probes"
peak=$R0
loris_at=$((T / 4)) loris_for=$((T / 5)) fd_at=$((T * 6 / 10)) fd_for=$((T / 10))
events=""
for s in $(seq 1 "$T"); do
	sleep 1
	r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
	case $((s % 40)) in
	10) echo silent >"$tmp/up.mode"; events="$events up-silent@$s" ;;
	25) echo normal >"$tmp/up.mode"; events="$events up-back@$s" ;;
	esac
	if [ $((s % 60)) -eq 30 ]; then
		kill "$FAKE" 2>/dev/null; events="$events api-down@$s"
	fi
	if [ $((s % 60)) -eq 40 ]; then
		rm -f "$tmp/k8s/ready"; start_fake --reuse-certs; events="$events api-up@$s"
	fi
	if [ $((s % 45)) -eq 20 ]; then
		if [ $((s % 90)) -eq 20 ]; then corefile 31; else corefile 30; fi
		events="$events corefile@$s"
	fi
	if [ $((s % 45)) -eq 35 ]; then
		kill -HUP "$GD" 2>/dev/null; events="$events hup@$s"
	fi
	[ "$s" -eq "$loris_at" ] && { clients 300 3 "$loris_for" >"$tmp/loris.out" & pids="$pids $!"; events="$events slowloris@$s"; }
	[ "$s" -eq "$fd_at" ] && { clients 1000 0 "$fd_for" >"$tmp/fds.out" & pids="$pids $!"; events="$events fd-exhaust@$s"; }
	if [ $((s % 5)) -eq 2 ]; then
		if [ "$s" -gt "$loris_at" ] && [ "$s" -lt $((loris_at + loris_for)) ]; then phase=slowloris
		elif [ "$s" -gt "$fd_at" ] && [ "$s" -lt $((fd_at + fd_for)) ]; then phase=fd-exhausted
		else phase=other; fi
		probe "$phase" &
	fi
	kill -0 "$GD" 2>/dev/null || { echo "soak: the daemon died at $s s"; break; }
done
echo normal >"$tmp/up.mode"
wait "$UDPL" "$TCPL" 2>/dev/null || true
C1=$(cpu); T1=$(now)
sleep 10
R1=$(rss)
alive=yes; kill -0 "$GD" 2>/dev/null || alive=no

echo "events:$events"
echo
echo "UDP ($RATE q/s):"; cat "$tmp/udp.out"
echo
echo "TCP ($((RATE / 10)) q/s, 4 connections, reconnecting):"; cat "$tmp/tcp.out"
echo
printf 'slowloris connections held: %s; idle connections opened: %s\n' \
	"$(cat "$tmp/loris.out" 2>/dev/null || echo ?)" "$(cat "$tmp/fds.out" 2>/dev/null || echo ?)"
printf 'manifest rewritten in place: %s times\n' "$(cat "$tmp/rewrites.out" 2>/dev/null || echo ?)"
printf 'a new TCP client every 5 s, answered:'
for ph in other slowloris fd-exhausted; do
	printf ' %s %s/%s;' "$ph" "$(awk -v p="$ph" '$1 == p && $2 == 1' "$tmp/probes" | wc -l)" \
		"$(awk -v p="$ph" '$1 == p' "$tmp/probes" | wc -l)"
done
echo
printf 'daemon: alive at the end: %s; CPU %s%% of a core over the run; RSS before %d MB, peak %d MB, after %d MB\n' \
	"$alive" "$(( (C1 - C0) * 100 / ($(getconf CLK_TCK) * (T1 - T0 > 0 ? T1 - T0 : 1)) ))" \
	$((R0 / 1024)) $((peak / 1024)) $((R1 / 1024))
curl -s -m 5 "http://127.0.0.1:$MP/metrics" | grep -E '^coredns_reload_failed_total|^coredns_forward_max_concurrent_rejects_total|^globaldns_source_syncs_total' \
	| sed 's/^/metric: /' || true
kill "$GD" 2>/dev/null; sleep 1
awk '{ n += $1 } / \[ERROR\] / { e += $1 } END { printf "log lines: %d in all; %d errors; the most frequent:\n", n, e }' "$tmp/gd.log"
awk '{ n = $1; $1 = ""; gsub(/[0-9]+/, "N"); c[$0] += n } END { for (l in c) printf "%9d%s\n", c[l], l }' "$tmp/gd.log" \
	| sort -rn | head -8
