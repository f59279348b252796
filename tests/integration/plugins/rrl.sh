#!/bin/bash
# rrl.sh -- response rate limiting on the real binary: a flood from one
# source (127.0.0.2) gets one second's worth of answers, then mostly
# nothing and every 4th answer truncated (slip); a normal client beside it
# (127.0.0.1) keeps getting its answers, and the flooder itself still gets
# answers over TCP; metrics by client; a block without rrl is not limited.
. "$(dirname "$0")/../lib.sh"
need dig python3 curl
python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.2", 0))' 2>/dev/null \
	|| skip_all "no 127.0.0.2 on loopback"

plan 11

FLOOD=$TOP_SRCDIR/tests/integration/dnsflood.py
pick_ports PORT P2 MP
cat >"$T_TMP/se.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a, namespace: t}
spec:
  hosts: [a.t.global]
  addresses: [240.0.0.7]
  resolution: STATIC
EOF
cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
	prometheus 127.0.0.1:$MP
	rrl {
		responses-per-second 10
		ipv4-prefix-length 32
		slip-ratio 4
	}
	serviceentries {
		file $T_TMP/se.yaml
	}
}
global:$P2 {
	serviceentries {
		file $T_TMP/se.yaml
	}
}
EOF
start_globaldns rrl "$T_TMP/Corefile" || exit 1
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
metric() { curl -s "http://127.0.0.1:$MP/metrics" | awk -v m="$1" 'index($0, m " ") == 1 { print $NF }'; }

# the flood: 1000 queries in 2 s from 127.0.0.2; beside it, a normal
# client on 127.0.0.1 asks 20 times, and the flooder once over TCP
python3 "$FLOOD" --port "$PORT" --source 127.0.0.2 --name a.t.global --count 1000 --rate 500 --wait 1 \
	>"$T_TMP/flood.out" &
fl=$!
sleep 0.3
good=0
for _ in $(seq 1 20); do
	[ "$(q +short a.t.global)" = "240.0.0.7" ] && good=$((good + 1))
	sleep 0.05
done
tcp=$(dig @127.0.0.1 -p "$PORT" -b 127.0.0.2 +tcp +short +tries=1 +time=2 a.t.global)
wait $fl
out=$(cat "$T_TMP/flood.out")
echo "# flood from 127.0.0.2: $out"
sent=$(field "$out" sent) ans=$(field "$out" answered) tc=$(field "$out" tc)
full=$((ans - tc))
is "$sent" 1000 "the flooder sent 1000 queries"
[ "$full" -ge 8 ] && [ "$full" -le 30 ]; ok $? "the flooder got one second's worth of full answers, then none ($full)"
[ "$tc" -ge 200 ] && [ "$tc" -le 270 ]; ok $? "every 4th answer over the limit slipped out truncated ($tc TC)"
[ $((sent - ans)) -ge 700 ]; ok $? "the rest were dropped ($((sent - ans)))"
is "$good" 20 "a normal client beside the flood got all its answers (20 of 20)"
is "$tcp" "240.0.0.7" "the flooder still gets answers over TCP"
like "$(metric 'coredns_rrl_responses_exceeded_total{client_ip="127.0.0.2"}')" '^(9[0-9][0-9])$' \
	"coredns_rrl_responses_exceeded_total{client_ip=\"127.0.0.2\"} counts the flooder"
is "$(metric 'coredns_rrl_responses_exceeded_total{client_ip="127.0.0.1"}')" "" "... and not the normal client"
is "$(metric 'globaldns_rrl_slipped_total{server="dns://:'"$PORT"'"}')" "$tc" "globaldns_rrl_slipped_total: the slips"

# off unless configured
out=$(python3 "$FLOOD" --port "$P2" --source 127.0.0.2 --name a.t.global --count 300 --rate 500 --wait 1)
is "$(field "$out" noerror)/$(field "$out" tc)" "300/0" "a block without rrl answers every query"
kill -0 "$GD_PID"
ok $? "still running"
