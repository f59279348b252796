#!/bin/bash
# forward_faults.sh -- the forwarder against misbehaving upstreams (the
# scripted upstream, switched between modes through control files):
# silence and slowness (SERVFAIL within the deadline, never silence),
# answers with the wrong ID or question (dropped), SERVFAIL/REFUSED passed
# on, truncation retried over TCP, failover to the second upstream and back
# after health checks, every upstream down, max_concurrent; an upstream
# whose connect fails at once (c-ares calls back inside ares_send); the
# upstream sees an ID of ours, not the client's.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig python3

plan 31

pick_ports PORT UA UB UC P2 P3 P4 P5
CA=$T_TMP/a.mode CB=$T_TMP/b.mode CC=$T_TMP/c.mode
echo normal >"$CA"; echo normal >"$CB"; echo normal >"$CC"
start_upstream a "$UA" --control "$CA" --delay 1.5 --a www.example.test=192.0.2.1 --big big.example.test=100
start_upstream b "$UB" --control "$CB" --a www.example.test=192.0.2.2
start_upstream c "$UC" --control "$CC" --delay 1.5 --a www.example.test=192.0.2.3 --a slow.example.test=192.0.2.3

# PORT: one upstream (a), short tries.  P2: a then b, sequential, tries
# of 600 ms, health checks every 200 ms.  P3: two ports nobody listens on.  P4: c with
# max_concurrent 2.
DEAD1=$(free_port) DEAD2=$(free_port)
cat >"$T_TMP/Corefile" <<EOF
.:$PORT {
	forward . 127.0.0.1:$UA {
		timeout 400ms
		deadline 1500ms
	}
}
.:$P2 {
	forward . 127.0.0.1:$UA 127.0.0.1:$UB {
		policy sequential
		timeout 600ms
		max_fails 2
		health_check 200ms
	}
}
.:$P3 {
	forward . 127.0.0.1:$DEAD1 127.0.0.1:$DEAD2
}
.:$P4 {
	forward . 127.0.0.1:$UC {
		max_concurrent 2
	}
}
.:$P5 {
	forward . [fe80::1]:53 127.0.0.1:$DEAD1
}
EOF
start_globaldns gd "$T_TMP/Corefile" || exit 1

mode() { echo "$2" >"$1"; }

# ---- one upstream misbehaving ----
mode "$CA" silent
t=$(ms q www.example.test)
is "$(q +time=5 www.example.test | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')" "SERVFAIL" "silent upstream: SERVFAIL, not silence"
ok $(( t >= 700 && t <= 2500 ? 0 : 1 )) "silent upstream: answered at the deadline (took ${t} ms; tries 400 ms, deadline 1500 ms)"
mode "$CA" slow
is "$(rcode +time=5 www.example.test)" "SERVFAIL" "upstream slower than the deadline: SERVFAIL"
mode "$CA" wrongid
is "$(rcode +time=5 www.example.test)" "SERVFAIL" "answer with another ID: dropped (SERVFAIL at the deadline)"
mode "$CA" wrongq
out=$(q +time=5 www.example.test)
like "$out" "status: SERVFAIL" "answer for another question: dropped"
unlike "$out" "wrong\." "the wrong answer never reaches the client"
mode "$CA" servfail
t=$(ms q www.example.test)
is "$(rcode www.example.test)" "SERVFAIL" "upstream SERVFAIL passed on"
ok $(( t < 300 ? 0 : 1 )) "... at once (${t} ms), not retried until the deadline"
mode "$CA" refused
is "$(rcode www.example.test)" "REFUSED" "upstream REFUSED passed on"
mode "$CA" truncate
: >"$T_TMP/a.queries"
is "$(flags +ignore big.example.test)" "qr tc rd ra" "client on UDP: the full answer does not fit its buffer, TC so it retries"
is "$(awk '$2 == "big.example.test." { print $1 }' "$T_TMP/a.queries" | sort | uniq -c | awk '{ printf "%s:%s ", $2, $1 }')" "tcp:1 udp:1 " "upstream truncated the UDP try; globaldns retried over TCP"
is "$(section answer big.example.test | wc -l)" "100" "dig retries over TCP and gets all 100 records"
is "$(section answer +tcp big.example.test | wc -l)" "100" "client on TCP: forwarded over TCP, all 100 records"
mode "$CA" normal
out=$(q www.example.test)
cid=$(printf '%s\n' "$out" | sed -n 's/.*, id: \([0-9]*\)$/\1/p')
uid=$(awk '$2 == "www.example.test." { id = $4 } END { print id }' "$T_TMP/a.queries")
ok $([ -n "$cid" ] && [ -n "$uid" ] && [ "$cid" != "$uid" ]; echo $?) "the upstream sees an ID of ours ($uid), not the client's ($cid)"

# ---- failover and back ----
PORT_SAVE=$PORT; PORT=$P2
is "$(q +short www.example.test)" "192.0.2.1" "sequential: the first upstream answers"
mode "$CA" silent
t=$(ms q www.example.test)
is "$(q +short www.example.test)" "192.0.2.2" "first upstream silent: the second answers"
ok $(( t < 2000 ? 0 : 1 )) "failover took one try timeout (${t} ms)"
sleep 1
: >"$T_TMP/a.queries"
t=$(ms q www.example.test)
ok $(( t < 450 ? 0 : 1 )) "marked down after max_fails: the second answers without a try of the first (${t} ms < 600 ms timeout)"
sleep 1.5
is "$(seen a www.example.test.)" "0" "a down upstream gets no queries..."
n=$(seen a .)
ok $(( n >= 1 ? 0 : 1 )) "... only health checks (. NS) ($n in 1.5 s)"
mode "$CA" normal
wait_until 5 sh -c "[ \"\$(dig @127.0.0.1 -p $P2 +tries=1 +time=1 +short www.example.test)\" = 192.0.2.1 ]"
ok $? "health check answered: back to the first upstream"
like "$(cat "$T_TMP/gd.log")" "127\.0\.0\.1:$UA: marked down after 2 failures.*" "one log line when it went down"
like "$(cat "$T_TMP/gd.log")" "127\.0\.0\.1:$UA: up again \(health check answered\)" "one log line when it came back"
PORT=$PORT_SAVE

# ---- every upstream down ----
PORT=$P3
t=$(ms q www.example.test)
is "$(rcode www.example.test)" "SERVFAIL" "no upstream listening: SERVFAIL"
ok $(( t < 5500 ? 0 : 1 )) "within the default deadline (${t} ms)"
# [fe80::1] without a scope: connect fails inside ares_send, whose
# callback tries the next upstream and answers before ares_send returns
PORT=$P5
t=$(ms q www.example.test)
is "$(rcode www.example.test)" "SERVFAIL" "upstreams that fail at connect: SERVFAIL"
ok $(( t < 5500 ? 0 : 1 )) "within the deadline (${t} ms)"
for _ in 1 2 3 4 5; do q www.example.test >/dev/null; done
kill -0 "$GD_PID" && ! grep -q 'AddressSanitizer\|runtime error' "$T_TMP/gd.log"
ok $? "the server survives them (and the sanitizers are quiet)"
PORT=$PORT_SAVE

# ---- max_concurrent ----
PORT=$P4
mode "$CC" slow
dig @127.0.0.1 -p "$P4" +tries=1 +time=4 slow.example.test >"$T_TMP/c1.out" 2>&1 &
d1=$!
dig @127.0.0.1 -p "$P4" +tries=1 +time=4 slow.example.test >"$T_TMP/c2.out" 2>&1 &
d2=$!
sleep 0.4
is "$(rcode www.example.test)" "REFUSED" "max_concurrent 2: a third query in flight is REFUSED"
wait "$d1" "$d2"
is "$(grep -c 'status: NOERROR' "$T_TMP/c1.out" "$T_TMP/c2.out" | awk -F: '{ s += $2 } END { print s }')" "2" "the two in flight are answered"
mode "$CC" normal
is "$(q +short www.example.test)" "192.0.2.3" "below the limit again: forwarded"
PORT=$PORT_SAVE
