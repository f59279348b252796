#!/bin/bash
# loop.sh -- `loop`, CoreDNS's forwarding-loop detection: a server that
# forwards to itself, or to a resolver (dnsmasq) that forwards back, logs
# CoreDNS's fatal message and exits 1; a server whose upstream answers
# sends one HINFO probe <random>.<random>.<zone> there, keeps running, and
# from then on lets HINFO queries for that name through.  CoreDNS's
# plugin/loop README gives the message: `plugin/loop: Loop (127.0.0.1:55953
# -> :1053) detected for zone ".", see https://coredns.io/plugins/loop#troubleshooting.
# Query: "HINFO 4547991504243258144.3688648895315093531."`
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig python3 dnsmasq ss
plan 14

# wait_exit PID SECS: until the process is gone; its exit status in RC
# ("running" if it is still there)
wait_exit() {
	local p=$1 n=$(($2 * 10))
	for _ in $(seq 1 "$n"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$p" 2>/dev/null; then RC=running; return; fi
	wait "$p"; RC=$?
}

FATAL_RE='^\[FATAL\] plugin/loop: Loop \((127\.0\.0\.1|\[::1\]):[0-9]+ -> '

# ---- forwarding to itself ----
pick_ports PORT
cat >"$T_TMP/Corefile.self" <<EOF
.:$PORT {
    loop
    forward . 127.0.0.1:$PORT
}
EOF
"$GLOBALDNS" -conf "$T_TMP/Corefile.self" >"$T_TMP/self.log" 2>&1 &
P=$!
T_PIDS="$T_PIDS $P"
wait_exit "$P" 20
is "$RC" 1 "forwarding to itself: the process exits 1 (CoreDNS's log.Fatalf)"
L=$(grep FATAL "$T_TMP/self.log")
like "$L" "${FATAL_RE}:$PORT\) detected for zone \"\.\", see https://coredns\.io/plugins/loop#troubleshooting\. Query: \"HINFO [0-9]+\.[0-9]+\.\"$" \
	"CoreDNS's message: client -> :PORT, zone \".\", the HINFO probe name"
is "$(grep -c FATAL "$T_TMP/self.log")" 1 "one fatal line"

# ---- a block with bind, and a zone: the probe goes to the bind address ----
pick_ports PORT
cat >"$T_TMP/Corefile.bind" <<EOF
example.org:$PORT {
    bind 127.0.0.1
    loop
    forward . 127.0.0.1:$PORT
}
EOF
"$GLOBALDNS" -conf "$T_TMP/Corefile.bind" >"$T_TMP/bind.log" 2>&1 &
P=$!
T_PIDS="$T_PIDS $P"
wait_exit "$P" 20
is "$RC" 1 "bind 127.0.0.1, zone example.org: exits 1"
like "$(grep FATAL "$T_TMP/bind.log")" "-> 127\.0\.0\.1:$PORT\) detected for zone \"example\.org\.\".*Query: \"HINFO [0-9]+\.[0-9]+\.example\.org\.\"$" \
	"the bind address in the message, the probe below the block's first zone"

# ---- a loop through another resolver: dnsmasq forwards back ----
pick_ports PORT DM
dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --user=root \
	--listen-address=127.0.0.1 --bind-interfaces --port="$DM" --cache-size=0 \
	--server="127.0.0.1#$PORT" >"$T_TMP/dnsmasq.log" 2>&1 &
T_PIDS="$T_PIDS $!"
# globaldns must not start before dnsmasq listens: a probe the forwarder
# cannot deliver comes back SERVFAIL, an answer, and the plugin stands
# down (as CoreDNS's does) -- the loop then goes unseen (CI, loaded)
dm_listening() { ss -Hlun "( sport = :$DM )" | grep -q .; }
wait_until 10 dm_listening
cat >"$T_TMP/Corefile.dm" <<EOF
.:$PORT {
    loop
    forward . 127.0.0.1:$DM
}
EOF
"$GLOBALDNS" -conf "$T_TMP/Corefile.dm" >"$T_TMP/dm.log" 2>&1 &
P=$!
T_PIDS="$T_PIDS $P"
wait_exit "$P" 25
is "$RC" 1 "forwarding to dnsmasq, which forwards back: exits 1"
like "$(grep FATAL "$T_TMP/dm.log")" "${FATAL_RE}:$PORT\) detected for zone \"\.\"" "the loop through dnsmasq is reported"

# ---- no loop: the upstream answers ----
pick_ports PORT UP
start_upstream up "$UP" --a www.example.test=192.0.2.1 || exit 1
cat >"$T_TMP/Corefile.ok" <<EOF
.:$PORT {
    loop
    forward . 127.0.0.1:$UP
}
EOF
start_globaldns ok "$T_TMP/Corefile.ok" || exit 1
wait_until 10 grep -q ' 13 ' "$T_TMP/up.queries"
sleep 1
probes=$(awk '$3 == 13 { print $2 }' "$T_TMP/up.queries")
is "$(echo "$probes" | grep -c .)" 1 "one HINFO probe reached the upstream"
like "$probes" '^[0-9]+\.[0-9]+\.$' "the probe is <random>.<random>.<zone>"
is "$(q +short www.example.test)" "192.0.2.1" "the server keeps answering"
# the probe name again, now that loop has disabled itself: forwarded, harmless
for _ in 1 2 3 4; do q "$probes" HINFO >/dev/null; done
ok "$(kill -0 "$GD_PID" 2>/dev/null; echo $?)" "HINFO queries for the probe name later do not stop it"
is "$(awk '$3 == 13' "$T_TMP/up.queries" | wc -l)" 5 "and go to the upstream like any query"

# ---- configuration errors ----
cat >"$T_TMP/Corefile.bad" <<EOF
.:$PORT {
    loop 5
}
EOF
out=$("$GLOBALDNS" -validate -conf "$T_TMP/Corefile.bad" 2>&1)
like "$out" "Corefile.bad:2: loop: takes no arguments" "loop with an argument: FILE:LINE error"
cat >"$T_TMP/Corefile.twice" <<EOF
.:$PORT {
    loop
    loop
}
EOF
out=$("$GLOBALDNS" -validate -conf "$T_TMP/Corefile.twice" 2>&1)
like "$out" "Corefile.twice:3: loop: used twice in one server block" "loop twice: refused (CoreDNS: once per block)"
