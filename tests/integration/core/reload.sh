#!/bin/bash
# reload.sh -- `reload` and SIGHUP (issue 5 items 4 and 8).  The Corefile is
# a Kubernetes ConfigMap volume (Corefile -> ..data/Corefile, ..data ->
# ..vN, updated by swapping ..data).  While a bounded query loop runs
# (UDP, and TCP every tenth query), the configuration is reloaded: on
# SIGHUP, on a content change found by the reload timer, with a bad
# Corefile (rejected, counted, the old one keeps serving), with one
# that fails to start, and with one whose manifest files are missing
# (checked as -validate checks it: rejected).  Not one query may fail; an unchanged
# serviceentries directive keeps its registry (no re-read).  Then, on a
# second server: `bind` added to and removed from a block whose port stays
# in use (the old wildcard listener and the new specific one collide).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig curl python3

pick_ports PORT H H2 M PB UB
SE=$T_TMP/se.yaml
CM=$T_TMP/cm
plan 35

cp "$TESTDATA/integration/bar.yaml" "$SE"
mkdir -p "$CM"
# version N: write the Corefile (stdin) as ..vN and swap ..data to it
version() {
	mkdir "$CM/..v$1"
	cat >"$CM/..v$1/Corefile"
	ln -s "..v$1" "$CM/..data.tmp" && mv -T "$CM/..data.tmp" "$CM/..data"
	[ -e "$CM/Corefile" ] || ln -s ..data/Corefile "$CM/Corefile"
}
corefile() {  # corefile HEALTH-PORT TTL [EXTRA DIRECTIVE]
	cat <<EOF
global:$PORT {
    reload 2s 1s
    health 127.0.0.1:$1
    prometheus 127.0.0.1:$M
    ${3:-}
    serviceentries {
        file $SE
        ttl $2
    }
}
EOF
}
corefile "$H" 30 | version 1

LOG=$T_TMP/rl.log
start_globaldns rl "$CM/Corefile" || exit 1
scrape() { curl -s -m 3 "http://127.0.0.1:$M/metrics"; }
val() { scrape | awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'; }
ttl() { q +noall +answer httpbin.bar.global A | awk '{print $2}'; }

# the query loop: at most 6000 queries or 40 s, until $T_TMP/stop exists
python3 - "$PORT" "$T_TMP/stop" >"$T_TMP/loop.out" 2>&1 <<'PY' &
import os, socket, struct, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
def query(qid):
    name = b"".join(bytes([len(l)]) + l for l in b"httpbin.bar.global".split(b".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
def ok(qid, resp):
    if len(resp) < 12: return False
    rid, flags, qd, an = struct.unpack(">HHHH", resp[:8])
    return rid == qid and flags & 0x000f == 0 and an == 1
sent = fails = 0
t0 = time.time()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(1.0)
while sent < 6000 and time.time() - t0 < 40 and not os.path.exists(stop):
    sent += 1
    qid = sent & 0xffff
    try:
        if sent % 10 == 0:
            t = socket.create_connection(("127.0.0.1", port), timeout=1.0)
            m = query(qid)
            t.sendall(struct.pack(">H", len(m)) + m)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
                chunk = t.recv(4096)
                if not chunk: break
                buf += chunk
            t.close()
            good = ok(qid, buf[2:])
        else:
            u.sendto(query(qid), ("127.0.0.1", port))
            good = ok(qid, u.recv(4096))
    except OSError:
        good = False
    if not good:
        fails += 1
    time.sleep(0.004)
print(sent, fails)
PY
LOOP=$!

# 1. SIGHUP, an unrelated directive added: serviceentries keeps its registry
corefile "$H" 30 log | version 2
kill -HUP "$GD_PID"
reloaded() { [ "$(grep -c 'Reloading complete' "$LOG")" -ge "$1" ]; }
wait_until 5 reloaded 1
ok $? "SIGHUP reloads the Corefile"
is "$(grep -c 'names from' "$LOG")" 1 "an unchanged serviceentries directive is not re-read (one load in the log)"
is "$(val 'globaldns_source_syncs_total{zone="global.",source="file",result="success"}')" 1 "and its source has synced once"
q httpbin.bar.global A >/dev/null
logged() { grep -q '"A IN httpbin.bar.global. udp' "$LOG"; }
wait_until 3 logged
ok $? "the new directive (log) is in force"

# 2. a bad Corefile through the ConfigMap swap, found by the reload timer
corefile "$H" 30 bogus_directive | version 3
failed() { [ "$(val coredns_reload_failed_total)" = "$1" ]; }
wait_until 6 failed 1
ok $? "a bad Corefile is rejected and counted in coredns_reload_failed_total"
like "$(grep 'reload failed' "$LOG" | head -1)" "Corefile:[0-9]+: unknown directive \"bogus_directive\"" "its error names FILE:LINE"
is "$(ttl)" 30 "the running configuration keeps serving"
sleep 3
is "$(val coredns_reload_failed_total)" 1 "the same bad file is reported once, not every interval"

# 3. a good change found by the timer (no signal)
corefile "$H" 42 log | version 4
ttl42() { [ "$(ttl)" = 42 ]; }
wait_until 6 ttl42
ok $? "a changed Corefile is picked up by the reload timer (ttl 42)"
is "$(grep -c 'names from' "$LOG")" 2 "a changed serviceentries directive loads again"

# 4. the health listener moves
corefile "$H2" 42 log | version 5
health2() { [ "$(curl -s -m 1 "http://127.0.0.1:$H2/health")" = OK ]; }
wait_until 6 health2
ok $? "a new health address is opened"
curl -s -m 1 "http://127.0.0.1:$H/health" >/dev/null
ok $((! $?)) "the old health address is closed"

# 5. a Corefile that parses but cannot start (a DNS address this host does not have)
{ corefile "$H2" 42 log | sed 's/^    log$/    bind 192.0.2.77/'; } | version 6
kill -HUP "$GD_PID"
wait_until 5 failed 2
ok $? "a Corefile that cannot start is rejected and counted"
like "$(grep 'reload failed' "$LOG" | tail -1)" "192\.0\.2\.77" "its error names the address"
is "$(ttl)" 42 "and the running configuration keeps serving"
is "$(curl -s -m 1 "http://127.0.0.1:$H2/health")" OK "with its health listener"

# 6. a Corefile whose manifest files are missing: checked as -validate
# checks it (the files read, every problem reported), rejected, counted
{ corefile "$H2" 42 log | sed "s|file $SE|file $T_TMP/missing-a.yaml $T_TMP/missing-b.yaml|"; } | version 7
kill -HUP "$GD_PID"
wait_until 5 failed 3
ok $? "a Corefile whose manifest file is missing is rejected and counted"
like "$(grep 'reload failed' "$LOG" | tail -1)" "Corefile:[0-9]+: serviceentries: .*missing-a\.yaml: No such file" \
	"its error names FILE:LINE and the file"
grep -q "missing-b\.yaml: No such file" "$LOG"
ok $? "every problem is reported (the second missing file too)"
is "$(ttl)" 42 "the running configuration keeps serving (no SERVFAIL)"
"$GLOBALDNS" -validate -conf "$CM/Corefile" >/dev/null 2>&1
is $? 1 "-validate rejects the same Corefile"

touch "$T_TMP/stop"
wait "$LOOP"
read -r sent fails <"$T_TMP/loop.out"
like "$sent" '^[0-9]+$' "the query loop ran ($sent queries)"
ok $((sent < 300)) "at least 300 queries went through the reloads"
is "$fails" 0 "no query failed during the reloads"
kill -0 "$GD_PID"
ok $? "the server is still running"

# 7. bind added, then removed, on a port that stays in use
start_upstream b "$UB" --a www.example.test=192.0.2.8 || exit 1
bindconf() {  # bindconf [BIND-DIRECTIVE]
	cat >"$T_TMP/Corefile.bind" <<EOF
.:$PB {
    ${1:-}
    forward . 127.0.0.1:$UB
}
EOF
}
udp_addrs() {  # the local addresses of UDP sockets on port $PB, hex as in /proc (each once: every worker has a socket of its own)
	awk -v p="$(printf ':%04X' "$PB")" 'FNR > 1 && substr($2, length($2) - 4) == p { print substr($2, 1, length($2) - 5) }' \
		/proc/net/udp /proc/net/udp6 2>/dev/null | sort -u | tr '\n' ' '
}
bindconf
PORT=$PB
start_globaldns bd "$T_TMP/Corefile.bind" || exit 1
bindconf "bind 127.0.0.1"
kill -HUP "$GD_PID"
breloaded() { [ "$(grep -c 'Reloading complete' "$T_TMP/bd.log")" -ge "$1" ]; }
wait_until 5 breloaded 1
ok $? "bind 127.0.0.1 added to .:$PB: the reload succeeds"
unlike "$(cat "$T_TMP/bd.log")" "reload failed" "no address-in-use error"
is "$(q +short www.example.test)" "192.0.2.8" "answered on 127.0.0.1 after the reload"
is "$(udp_addrs)" "0100007F " "only 127.0.0.1 is bound now"
like "$(grep 'closing' "$T_TMP/bd.log")" "closing :$PB before opening 127\.0\.0\.1:$PB" "the brief gap is logged"
bindconf
kill -HUP "$GD_PID"
wait_until 5 breloaded 2
ok $? "bind removed again: the reload succeeds"
is "$(q +short www.example.test)" "192.0.2.8" "answered on every address again"

# 8. blocks told apart by bind only: a reload matches instances by bind
# too (ns.dns.<zone> answers the bind address; the two blocks' states
# never cross when their order changes)
if python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.2", 0))' 2>/dev/null; then
	stop_pid "$GD_PID"
	PN=$(free_port)
	# answers.yaml's first entry alone: its invalid ones would refuse
	# the reload, as -validate refuses them
	sed '/^---/,$d' "$TESTDATA/integration/answers.yaml" >"$T_TMP/first.yaml"
	twoconf() {  # twoconf FIRST-BIND SECOND-BIND: FIRST serves first.yaml, SECOND bar.yaml
		cat >"$T_TMP/Corefile.two" <<EOF
global:$PN {
    bind $1
    serviceentries {
        file $T_TMP/first.yaml
    }
}
global:$PN {
    bind $2
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
EOF
	}
	at() { dig @"$1" -p "$PN" +tries=1 +time=2 +short "$2" A | tr '\n' ' '; }
	twoconf 127.0.0.1 127.0.0.2
	PORT=$PN start_globaldns two "$T_TMP/Corefile.two" || exit 1
	treloaded() { [ "$(grep -c 'Reloading complete' "$T_TMP/two.log")" -ge "$1" ]; }
	is "$(at 127.0.0.1 httpbin.bar.global)|$(at 127.0.0.2 httpbin.bar.global)" "240.0.0.2 |240.0.1.2 " \
		"two blocks, one zone and port, bind 127.0.0.1 and 127.0.0.2: each answers from its own entries"
	twoconf 127.0.0.2 127.0.0.1
	kill -HUP "$GD_PID"
	wait_until 5 treloaded 1
	is "$(at 127.0.0.1 httpbin.bar.global)|$(at 127.0.0.2 httpbin.bar.global)" "240.0.1.2 |240.0.0.2 " \
		"binds swapped by a reload: each address answers from its new block's entries"
	is "$(at 127.0.0.1 ns.dns.global)|$(at 127.0.0.2 ns.dns.global)" "127.0.0.1 |127.0.0.2 " \
		"... and ns.dns.global answers each block's own bind address"
else
	for _ in 1 2 3; do ok 0 "bind on 127.0.0.2 # SKIP 127.0.0.2 not usable here"; done
fi
