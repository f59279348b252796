#!/bin/bash
# memory.sh -- globaldns's memory with N ServiceEntries (issue 12 item 3),
# as a table; asserts nothing.  For the empty daemon, 10,000 and 100,000
# entries, from a manifest file and from the fake Kubernetes API:
#   RSS        VmRSS once the last name resolves and the load has settled
#   anon       RssAnon: the process's own pages (heap, stacks, arenas);
#              the rest (RssFile) is shared-library text, the same for
#              every process that maps those libraries
#   heap       the [heap] mapping plus anonymous mappings (glibc arenas)
#   snapshot   registry_bytes from GET /registry, and per name
#   load ms    start to the last name answering
# then dnsmasq's RSS with the same 10,000 names (addn-hosts), the registry
# build time (tests/bench/registry_build), and query latency while the
# 100,000-entry registry is rebuilt (three watch events, a query every 2 ms).
# Run it in a private network namespace: loopback only.
# Usage: tests/bench/memory.sh BUILD-DIR [SIZES...]   (default: 10000 100000)
set -eu
B=${1:?usage: memory.sh BUILD-DIR [SIZES...]}
shift
SIZES=${*:-10000 100000}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null || true; done; rm -rf "$tmp"' EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ms() { date +%s%3N; }
kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
# heap PID: kB of [heap] and anonymous mappings
heap() {
	awk '/^[0-9a-f]+-[0-9a-f]+ / { n = $6 } /^Rss:/ { if (n == "" || n == "[heap]") s += $2 } END { print s + 0 }' "/proc/$1/smaps"
}
# manifest N FILE: N entries, one host each (every 20th also IPv6, every
# 50th a wildcard); hosts FILE.hosts the same names for dnsmasq.
manifest() {
	python3 - "$1" "$2" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w") as f, open(path + ".hosts", "w") as h:
    for i in range(n):
        host = f"svc-{i:06d}.ns{i % 50}.global"
        v4 = f"240.{1 + i // 65536}.{(i // 256) % 256}.{i % 256}"
        addrs = [v4] + ([f"2001:db8::{i:x}"] if i % 20 == 0 else [])
        hosts = [host] + ([f"*.w{i:06d}.global"] if i % 50 == 0 else [])
        f.write(f"---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                f"metadata: {{name: se-{i:06d}, namespace: ns{i % 50}}}\n"
                f"spec:\n  hosts: [{', '.join(repr(x) for x in hosts)}]\n"
                f"  addresses: [{', '.join(repr(a) for a in addrs)}]\n  resolution: STATIC\n")
        for a in addrs:
            h.write(f"{a} {host}\n")
PY
}
answers() { [ "$(dig @127.0.0.1 -p "$1" +short +tries=1 +time=1 "$2" 2>/dev/null)" = "$3" ]; }

# measure LABEL N PROPERTIES...: start globaldns, wait, print a row
measure() {
	local label=$1 n=$2; shift 2
	local p r gd t0 t1 last want
	p=$(port); r=$(port)
	{ echo "global:$p {"; echo " ready 127.0.0.1:$r"; echo " serviceentries {"
	  for x in "$@"; do echo "  $x"; done; echo " }"; echo "}"; } >"$tmp/Corefile.$label"
	t0=$(ms)
	"$B/globaldns" -conf "$tmp/Corefile.$label" -quiet >"$tmp/$label.log" 2>&1 &
	gd=$!
	pids="$pids $gd"
	if [ "$n" -gt 0 ]; then
		last=$(lastname $((n - 1)))
		want=$(python3 -c "i=$n-1; print('240.%d.%d.%d' % ($LASTADDR))")
		for _ in $(seq 1 1200); do answers "$p" "$last" "$want" && break; sleep 0.05; done
	else
		for _ in $(seq 1 100); do curl -sf -m 1 "http://127.0.0.1:$r/ready" >/dev/null && break; sleep 0.05; done
	fi
	t1=$(ms)
	sleep 2         # the load's scratch freed and trimmed
	local bytes bpn rss anon libs hp
	# before GET /registry: its JSON (about 1 kB a name) is transient
	rss=$(kb $gd VmRSS); anon=$(kb $gd RssAnon); libs=$(kb $gd RssFile); hp=$(heap $gd)
	read -r bytes bpn < <(curl -s -m 5 "http://127.0.0.1:$r/registry" | python3 -c \
		'import json,sys; g=json.load(sys.stdin)["registries"][0]; print(g.get("registry_bytes", 0), g.get("bytes_per_name", 0))')
	printf '%-26s %9d %9d %9d %9d %9.1f %7d %8d\n' "$label" "$rss" "$anon" \
		"$libs" "$hp" "$(echo "$bytes" | awk '{print $1/1048576}')" "$bpn" $((t1 - t0))
	kill "$gd"; wait "$gd" 2>/dev/null || true
}

echo "globaldns memory ($(nproc) CPUs, $(uname -r), $(ldd --version | head -1 | sed 's/.* //'))"
printf '%-26s %9s %9s %9s %9s %9s %7s %8s\n' "" "RSS kB" "anon kB" "libs kB" "heap kB" "snap MiB" "B/name" "load ms"
: >"$tmp/empty.yaml"
lastname() { printf 'svc-%06d.ns%d.global' "$1" $(($1 % 50)); }
LASTADDR='1 + i // 65536, (i // 256) % 256, i % 256'
measure "empty" 0 "file $tmp/empty.yaml"
for n in $SIZES; do
	manifest "$n" "$tmp/se$n.yaml"
	measure "file, $n" "$n" "file $tmp/se$n.yaml"
done

# the fake Kubernetes API: its /bulk entries are svc-%05d.default.global
python3 "$TOP/tests/k8s/fake_apiserver.py" serve --dir "$tmp/k8s" >"$tmp/fake.log" 2>&1 &
pids="$pids $!"
for _ in $(seq 1 100); do [ -f "$tmp/k8s/ready" ] && break; sleep 0.1; done
CP=$(cat "$tmp/k8s/control_port")
ctl() { curl -sS --max-time 120 -X POST --data-binary "${2:-{\}}" "http://127.0.0.1:$CP/$1" >/dev/null; }
lastname() { printf 'svc-%05d.default.global' "$1"; }
LASTADDR='(i + 1 >> 16) & 255, (i + 1 >> 8) & 255, (i + 1) & 255'
have=0
for n in $SIZES; do
	ctl bulk "{\"count\":$((n - have)),\"start\":$have}"
	have=$n
	measure "kubernetes, $n" "$n" "kubeconfig $tmp/k8s/kubeconfig"
done

if command -v dnsmasq >/dev/null; then
	for n in $SIZES; do
		[ "$n" -le 10000 ] || continue
		p=$(port)
		dnsmasq -k -p "$p" --listen-address=127.0.0.1 --bind-interfaces --no-resolv --no-hosts \
			--addn-hosts="$tmp/se$n.yaml.hosts" -C /dev/null --pid-file= --user=root \
			--log-facility=- >"$tmp/dnsmasq.log" 2>&1 &
		dm=$!
		pids="$pids $dm"
		last=$(printf 'svc-%06d.ns%d.global' $((n - 1)) $(((n - 1) % 50)))
		for _ in $(seq 1 200); do [ -n "$(dig @127.0.0.1 -p "$p" +short +tries=1 +time=1 "$last" 2>/dev/null)" ] && break; sleep 0.05; done
		sleep 1
		printf '%-26s %9d %9d %9d %9s %9s %7s %8s\n' "dnsmasq $(dnsmasq -v | head -1 | awk '{print $3}'), $n hosts" \
			"$(kb $dm VmRSS)" "$(kb $dm RssAnon)" "$(kb $dm RssFile)" "$(heap $dm)" - - -
		kill "$dm"; wait "$dm" 2>/dev/null || true
	done
fi
echo "(heap: [heap] + anonymous mappings; snap: the registry snapshot, one allocation; B/name: its bytes per served name)"

echo
max=0
for n in $SIZES; do [ "$n" -gt "$max" ] && max=$n; done
[ -x "$B/tests/bench/registry_build" ] || make -C "$B" tests/bench/registry_build >/dev/null
"$B/tests/bench/registry_build" "$max" | tail -5

# query latency while the largest registry is rebuilt (kubernetes)
echo
p=$(port)
printf 'global:%s {\n serviceentries {\n  kubeconfig %s/k8s/kubeconfig\n }\n}\n' "$p" "$tmp" >"$tmp/Corefile.stall"
"$B/globaldns" -conf "$tmp/Corefile.stall" >"$tmp/stall.log" 2>&1 &
gd=$!
pids="$pids $gd"
for _ in $(seq 1 1200); do grep -q "names from" "$tmp/stall.log" && break; sleep 0.05; done
probe() {  # probe SECONDS: one query every 2 ms; max / p99 / p50 RTT
	python3 - "$p" "$1" <<'PY'
import socket, struct, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
q = b'\x09svc-00001\x07default\x06global\x00\x00\x01\x00\x01'
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
rtts, lost, qid = [], 0, 0
end = time.monotonic() + secs
while time.monotonic() < end:
    qid = (qid + 1) & 0xffff
    t0 = time.monotonic()
    s.sendto(struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0) + q, ('127.0.0.1', port))
    try:
        while struct.unpack('>H', s.recv(4096)[:2])[0] != qid:
            pass
        rtts.append((time.monotonic() - t0) * 1000)
    except socket.timeout:
        lost += 1
    time.sleep(0.002)
rtts.sort()
n = len(rtts)
print("%6d queries  max %7.1f ms  p99 %6.2f ms  p50 %5.2f ms  lost %d" % (n, rtts[-1], rtts[int(n * .99)], rtts[n // 2], lost))
PY
}
echo "query latency, $max names from the Kubernetes API:"
printf '  %-22s %s\n' "idle" "$(probe 3)"
probe 6 >"$tmp/busy" &
pr=$!
for i in 1 2 3; do
	sleep 1.5
	ctl entries "{\"metadata\":{\"name\":\"m-$i\"},\"spec\":{\"hosts\":[\"m-$i.default.global\"],\"addresses\":[\"10.99.0.$i\"],\"resolution\":\"STATIC\"}}"
done
wait "$pr"
printf '  %-22s %s\n' "3 rebuilds of $max" "$(cat "$tmp/busy")"
