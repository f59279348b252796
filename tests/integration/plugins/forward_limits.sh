#!/bin/bash
# forward_limits.sh -- the forwarder under a flood while its upstream
# black-holes (a UDP socket that never answers): the default in-flight cap
# (1000) answers SERVFAIL at once past it, `.global` queries go on being
# answered, and the rejects are counted; `max_concurrent N` answers
# REFUSED past N (CoreDNS); `max_concurrent 0` has no limit.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig python3 curl

plan 11

FLOOD=$TOP_SRCDIR/tests/integration/dnsflood.py
pick_ports PORT P2 P3 MP BH
# the black hole: bound, never read
python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
time.sleep(120)' "$BH" &
T_PIDS="$T_PIDS $!"
cat >"$T_TMP/se.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: stable, namespace: t}
spec:
  hosts: [stable.t.global]
  addresses: [240.0.0.7]
  resolution: STATIC
EOF
cat >"$T_TMP/Corefile" <<EOF
.:$PORT {
	prometheus 127.0.0.1:$MP
	serviceentries global {
		file $T_TMP/se.yaml
	}
	forward . 127.0.0.1:$BH {
		deadline 8s
	}
}
.:$P2 {
	forward . 127.0.0.1:$BH {
		max_concurrent 20
		deadline 8s
	}
}
.:$P3 {
	forward . 127.0.0.1:$BH {
		max_concurrent 0
		deadline 8s
	}
}
EOF
# started by hand: start_globaldns waits for an answer to ". SOA", which
# this server forwards into the black hole
"$GLOBALDNS" -conf "$T_TMP/Corefile" >"$T_TMP/gd.log" 2>&1 &
GD_PID=$!
T_PIDS="$T_PIDS $GD_PID"
up() { [ "$(dig @127.0.0.1 -p "$PORT" +tries=1 +time=1 +short stable.t.global)" = 240.0.0.7 ]; }
wait_until 10 up || { echo "# globaldns did not start"; sed 's/^/#   /' "$T_TMP/gd.log"; exit 1; }
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
metric() { curl -s "http://127.0.0.1:$MP/metrics" | awk -v m="$1" '$1 == m { s += $2 } END { print s + 0 }'; }

# 1,500 queries at once: 1,000 wait for the black hole, the rest are
# answered SERVFAIL at once (before: every one waited for the deadline)
python3 "$FLOOD" --port "$PORT" --count 1500 --rate 3000 --wait 1.5 >"$T_TMP/flood.out" &
fl=$!
sleep 0.3
g_ok=0
for i in 1 2 3 4 5; do
	[ "$(q +short stable.t.global)" = "240.0.0.7" ] && g_ok=$((g_ok + 1))
done
wait $fl
out=$(cat "$T_TMP/flood.out")
echo "# default cap: $out"
s=$(field "$out" servfail) w=$(field "$out" within1s)
[ "$s" -ge 450 ] && [ "$s" -le 520 ]; ok $? "default cap: the queries past 1000 in flight get SERVFAIL ($s)"
[ "$w" -ge 450 ]; ok $? "... at once ($w answered within 1 s)"
is "$(field "$out" refused)" 0 "... SERVFAIL, not REFUSED (no max_concurrent written)"
is "$g_ok" 5 ".global answered during the flood (5 of 5)"
like "$(metric coredns_forward_max_concurrent_rejects_total)" '^(4[5-9][0-9]|50[0-9]|51[0-9]|520)$' \
	"coredns_forward_max_concurrent_rejects_total counts them"
is "$(rcode stable.t.global)" NOERROR ".global answered after the flood"

# max_concurrent written: CoreDNS's REFUSED past it
out=$(python3 "$FLOOD" --port "$P2" --count 60 --wait 1)
echo "# max_concurrent 20: $out"
is "$(field "$out" refused)" 40 "max_concurrent 20: 40 of 60 REFUSED"
is "$(field "$out" servfail)" 0 "... the other 20 still wait for the upstream"

# max_concurrent 0: no limit, every query waits
out=$(python3 "$FLOOD" --port "$P3" --count 1200 --wait 1)
echo "# max_concurrent 0: $out"
is "$(field "$out" answered)" 0 "max_concurrent 0: no limit (1200 in flight, none rejected)"

# the held ones are answered at their deadline, SERVFAIL
out=$(python3 "$FLOOD" --port "$P3" --count 5 --name "late{i}.example.test" --wait 10)
is "$(field "$out" servfail)" 5 "a held query gets SERVFAIL at its deadline"
kill -0 "$GD_PID"
ok $? "still running"
