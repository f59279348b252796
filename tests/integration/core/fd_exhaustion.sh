#!/bin/bash
# fd_exhaustion.sh -- issue 11 row 5: descriptors run out.  The server is
# started with a soft RLIMIT_NOFILE of 64 and a hard one of 160: it raises
# the soft limit to 160 and says so.  Then 200 TCP clients from two
# addresses take every descriptor: accept() fails with EMFILE, and the
# listener must pause instead of spinning -- a handful of log lines, not
# thousands, and little CPU -- while UDP is still answered; the HTTP
# endpoint backs off too.  When the clients go, TCP is accepted again and
# the log says so.
. "$(dirname "$0")/../lib.sh"
need dig python3 curl

DATA=$TESTDATA/integration
PORT=$(free_port)
HPORT=$(free_port)

plan 13

cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
	health 127.0.0.1:$HPORT
	serviceentries {
		file $DATA/bar.yaml
	}
}
EOF

cat >"$T_TMP/hold.py" <<'PY'
import socket, sys, time
port, per_addr = int(sys.argv[1]), int(sys.argv[2])
socks = []
for src in sys.argv[3:]:
    for _ in range(per_addr):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((src, 0))
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            socks.append(s)
        except OSError:
            s.close()
print("connected=%d" % len(socks))
sys.stdout.flush()
sys.stdin.readline()                # hold them until told
PY

# the limits apply to the server only
(ulimit -Sn 64 && ulimit -Hn 160 && exec "$GLOBALDNS" -conf "$T_TMP/Corefile") >"$T_TMP/fd.log" 2>&1 &
GD_PID=$!
T_PIDS="$T_PIDS $GD_PID"
wait_dns "$PORT" || { echo "Bail out! globaldns did not start"; sed 's/^/#   /' "$T_TMP/fd.log"; exit 1; }

like "$(grep 'open files limit' "$T_TMP/fd.log")" 'open files limit raised from 64 to 160 \(the hard limit\)' \
	"the soft RLIMIT_NOFILE is raised to the hard one, and logged"
is "$(awk '/^Max open files/ { print $4, $5 }' "/proc/$GD_PID/limits")" "160 160" "/proc/PID/limits: 160 160"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$GD_PID/stat"; }

mkfifo "$T_TMP/hold.in"
python3 "$T_TMP/hold.py" "$PORT" 100 127.0.0.1 127.0.0.2 <"$T_TMP/hold.in" >"$T_TMP/hold.out" 2>&1 &
HOLD=$!
exec 7>"$T_TMP/hold.in"
wait_until 20 grep -q connected= "$T_TMP/hold.out"
echo "# $(cat "$T_TMP/hold.out")"
exhausted() { grep -q 'accept: Too many open files' "$T_TMP/fd.log"; }
wait_until 5 exhausted
ok $? "the server ran out of descriptors (EMFILE logged)"
# the HTTP endpoint cannot accept either
curl -s -m 1 "http://127.0.0.1:$HPORT/health" >/dev/null 2>&1

lines0=$(wc -l <"$T_TMP/fd.log")
cpu0=$(cpu_ticks)
t0=$(date +%s.%N)
udp=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ "$(dig @127.0.0.1 -p "$PORT" +tries=1 +time=1 +short httpbin.bar.global A)" = 240.0.1.2 ] && udp=$((udp + 1))
	sleep 0.3
done
t1=$(date +%s.%N)
cpu1=$(cpu_ticks)
lines1=$(wc -l <"$T_TMP/fd.log")
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
cpu_pct=$(awk -v c0="$cpu0" -v c1="$cpu1" -v hz="$(getconf CLK_TCK)" -v s="$secs" 'BEGIN { printf "%.0f", (c1 - c0) / hz * 100 / s }')
echo "# exhausted for $secs s: $((lines1 - lines0)) log lines, CPU $cpu_pct %"
is "$udp" 10 "UDP still answered: 10 of 10"
ok "$([ $((lines1 - lines0)) -le 2 ]; echo $?)" "at most 2 log lines while exhausted ($((lines1 - lines0)))"
ok "$([ "$cpu_pct" -lt 30 ]; echo $?)" "CPU below 30 % while exhausted ($cpu_pct %)"
is "$(grep -c 'listen tcp 127.0.0.1:\|listen tcp :' "$T_TMP/fd.log")" 1 "one warning for the DNS listener"
like "$(grep 'listen tcp' "$T_TMP/fd.log")" "listen tcp :$PORT: accept: Too many open files \(open files limit 160\); not accepting for 100 ms to 1000 ms" \
	"it names the address, the error and the limit"
is "$(grep -c "http 127.0.0.1:$HPORT: accept" "$T_TMP/fd.log")" 1 "one warning for the HTTP endpoint"

# the clients go: TCP works again
echo >&7
exec 7>&-
wait "$HOLD"
tcp_back() { [ "$(dig @127.0.0.1 -p "$PORT" +tcp +tries=1 +time=2 +short httpbin.bar.global A)" = 240.0.1.2 ]; }
wait_until 10 tcp_back
ok $? "after the clients close, TCP is answered again"
# (logged once accepting has lasted 2 s: a flapping listener is one episode)
wait_until 6 grep -q "listen tcp :$PORT: accepting connections again" "$T_TMP/fd.log"
like "$(grep 'accepting connections again' "$T_TMP/fd.log")" "listen tcp :$PORT: accepting connections again after [0-9.]+ s \([0-9]+ accept\(\) calls failed\)" \
	"the recovery is logged once"
is "$(curl -s -m 3 "http://127.0.0.1:$HPORT/health")" OK "the HTTP endpoint answers again"
ok "$(kill -0 "$GD_PID" 2>/dev/null; echo $?)" "process alive"
