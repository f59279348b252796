#!/bin/bash
# forward_blackhole.sh -- the default `forward` while its upstream
# black-holes (a UDP socket that never answers), `.global` queries mixed
# in; prints a table, asserts nothing.
#
# For each binary given (the build's, then any others, e.g. an older
# build to compare with), in the same run and with the same load:
# dnsload sends RATE queries/s for SECONDS, 4 of 5 forwarded (to the black
# hole) and 1 of 5 for a `.global` name; the table shows what was
# answered and how, the daemon's CPU time over the run (% of one core) and
# its resident memory before, at its peak and after.
#
# Usage: tests/bench/forward_blackhole.sh BUILD-DIR [RATE] [SECONDS] [OTHER-GLOBALDNS...]
set -eu
B=${1:?usage: forward_blackhole.sh BUILD-DIR [RATE] [SECONDS] [OTHER-GLOBALDNS...]}
RATE=${2:-5000}
SECS=${3:-20}
shift $(( $# >= 3 ? 3 : $# ))
[ -x "$B/tests/bench/dnsload" ] || make -C "$B" tests/bench/dnsload >/dev/null
tmp=$(mktemp -d)
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; rm -rf "$tmp"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# the black hole: bound, never read, never answers
BH=$(port)
python3 -c 'import socket, time, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
time.sleep(3600)' "$BH" &
pids="$pids $!"

cat >"$tmp/se.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: stable, namespace: bench}
spec:
  hosts: [stable.bench.global]
  addresses: [240.0.0.7]
  resolution: STATIC
EOF
: >"$tmp/queries"
for i in $(seq 0 999); do
	for k in 1 2 3 4; do echo "q$i-$k.example.test A SERVFAIL forward" >>"$tmp/queries"; done
	echo "stable.bench.global A NOERROR:240.0.0.7 global" >>"$tmp/queries"
done

rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

run() {  # run LABEL BINARY
	local label=$1 bin=$2 p gd r0 peak r1 c0 c1 t0 t1
	p=$(port)
	printf '.:%s {\n  serviceentries global {\n    file %s\n  }\n  forward . 127.0.0.1:%s\n}\n' \
		"$p" "$tmp/se.yaml" "$BH" >"$tmp/Corefile"
	"$bin" -conf "$tmp/Corefile" -quiet >"$tmp/$label.log" 2>&1 &
	gd=$!
	pids="$pids $gd"
	for _ in $(seq 50); do dig @127.0.0.1 -p "$p" +short +time=1 +tries=1 stable.bench.global >/dev/null 2>&1 && break; sleep 0.1; done
	r0=$(rss $gd); peak=$r0
	c0=$(cpu_ticks $gd)
	t0=$(date +%s%N)
	"$B/tests/bench/dnsload" -p "$p" -r "$RATE" -l "$SECS" -c 8 -w 7 "$tmp/queries" >"$tmp/$label.out" &
	local lp=$!
	while kill -0 $lp 2>/dev/null; do
		r1=$(rss $gd); [ "$r1" -gt "$peak" ] && peak=$r1
		sleep 0.5
	done
	wait $lp || true
	c1=$(cpu_ticks $gd)
	t1=$(date +%s%N)
	r1=$(rss $gd)
	kill $gd 2>/dev/null; wait $gd 2>/dev/null || true
	awk -v l="$label" -v cpu="$(( (c1 - c0) * 100 * 10000 / ($(getconf CLK_TCK) * ((t1 - t0) / 100000)) ))" \
	    -v r0="$r0" -v peak="$peak" -v r1="$r1" '
		$1 == "forward" { fs = $2; fa = $3; fsf = $8; fref = $9 }
		$1 == "global" { gs = $2; ga = $3; gc = $4 }
		END { printf "%-14s %6d %6d %6d %6d %7d %7d %7d %5d%% %6.1f %6.1f %6.1f\n", l, fs, fa, fsf, fref,
			gs, ga, gc, cpu, r0 / 1024, peak / 1024, r1 / 1024 }' "$tmp/$label.out"
}

echo "forward to a black hole: $RATE q/s for $SECS s (4/5 forwarded, 1/5 .global); CPU while loaded, until the last answer (7 s at most)"
printf '%-14s %6s %6s %6s %6s %7s %7s %7s %6s %6s %6s %6s\n' binary fwd:sent answ SERVF REFUS \
	glb:sent answ correct cpu rss0MB peakMB rss1MB
run this "$B/globaldns"
n=1
for other in "$@"; do run "other$n" "$other"; n=$((n + 1)); done
