#!/bin/bash
# signals.sh -- SIGTERM/SIGINT and lameduck (issue 5 items 1, 5 and 8):
# during `health { lameduck }` DNS (UDP and an open TCP connection) and
# /health keep answering while /ready says 503; then the process exits 0
# and removes its pidfile.  Without lameduck it stops at once; a second
# signal cuts the lameduck short.  Also `bind` and IPv6 listeners.  A
# forwarded query in flight at SIGTERM (a slow upstream) is still answered.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig curl python3

pick_ports PORT H R P6 P7 US
plan 21

cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
    health 127.0.0.1:$H {
        lameduck 3s
    }
    ready 127.0.0.1:$R
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
EOF
code() { curl -s -m 1 -o /dev/null -w '%{http_code}' "$1"; }

start_globaldns sig "$T_TMP/Corefile" -pidfile "$T_TMP/gd.pid" || exit 1
ready_ok() { [ "$(code "http://127.0.0.1:$R/ready")" = 200 ]; }
wait_until 5 ready_ok
ok $? "ready before the signal"

# a TCP connection opened before the signal, used during the lameduck
python3 - "$PORT" "$T_TMP/go" >"$T_TMP/tcp.out" 2>&1 <<'PY' &
import os, socket, struct, sys, time
port, go = int(sys.argv[1]), sys.argv[2]
name = b"\x07httpbin\x03bar\x06global\x00"
s = socket.create_connection(("127.0.0.1", port), timeout=5)
for _ in range(100):
    if os.path.exists(go): break
    time.sleep(0.05)
m = struct.pack(">HHHHHH", 77, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
s.sendall(struct.pack(">H", len(m)) + m)
buf = b""
while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
    c = s.recv(4096)
    if not c: break
    buf += c
print("answered" if len(buf) > 14 and struct.unpack(">H", buf[2:4])[0] == 77 else "no answer", flush=True)
rest = s.recv(10)
print("closed" if rest == b"" else "open")
PY
TCP=$!
sleep 0.3

t0=$(date +%s.%N)
kill -TERM "$GD_PID"
sleep 0.5
is "$(q +short httpbin.bar.global A)" "240.0.1.2" "lameduck: UDP still answered"
is "$(code "http://127.0.0.1:$H/health")" 200 "lameduck: /health still 200"
is "$(code "http://127.0.0.1:$R/ready")" 503 "lameduck: /ready 503"
like "$(curl -s -m 1 "http://127.0.0.1:$R/ready")" "lameduck" "the 503 says why"
touch "$T_TMP/go"
tcp_done() { [ -s "$T_TMP/tcp.out" ]; }
wait_until 3 tcp_done
is "$(head -1 "$T_TMP/tcp.out")" answered "lameduck: a query on a TCP connection opened before is answered"
sleep 1
kill -0 "$GD_PID" 2>/dev/null
ok $? "still running after 1.5 s of a 3 s lameduck"
like "$(grep 'lameduck' "$T_TMP/sig.log")" "Going into lameduck mode for 3" "the lameduck is logged"
for _ in $(seq 1 60); do kill -0 "$GD_PID" 2>/dev/null || break; sleep 0.1; done
wait "$GD_PID"
rc=$?
t1=$(date +%s.%N)
is "$rc" 0 "exits 0 after the lameduck"
python3 -c "import sys; d = float(sys.argv[2]) - float(sys.argv[1]); sys.exit(0 if 2.9 <= d <= 6 else 1)" "$t0" "$t1"
ok $? "after the lameduck's 3 s (and at most 6 s)"
wait "$TCP"
is "$(sed -n 2p "$T_TMP/tcp.out")" closed "the TCP connection was closed by the server"
ok $([ -e "$T_TMP/gd.pid" ]; echo $((! $?))) "the pidfile is removed"

# a second signal cuts the lameduck short
start_globaldns sig2 "$T_TMP/Corefile" || exit 1
t0=$(date +%s.%N)
kill -INT "$GD_PID"; sleep 0.3; kill -INT "$GD_PID"
for _ in $(seq 1 30); do kill -0 "$GD_PID" 2>/dev/null || break; sleep 0.1; done
wait "$GD_PID"
is "$?" 0 "a second SIGINT stops at once, exit 0"
t1=$(date +%s.%N)
python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) - float(sys.argv[1]) < 2 else 1)" "$t0" "$t1"
ok $? "within 2 s"

# without lameduck: stop at once; bind to IPv4 and IPv6 loopback
cat >"$T_TMP/Corefile2" <<EOF
global:$PORT {
    bind 127.0.0.1 ::1
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
EOF
start_globaldns sig3 "$T_TMP/Corefile2" || exit 1
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	is "$(dig @::1 -p "$PORT" +tries=1 +time=2 +short httpbin.bar.global A)" "240.0.1.2" "bind ::1: answered over IPv6"
else
	ok 0 "# SKIP no IPv6 loopback"
fi
n=$(python3 - "$PORT" <<'PY'
import sys
port = int(sys.argv[1])
addrs = set()
for path in ("/proc/net/udp", "/proc/net/udp6"):
    try:
        lines = open(path).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        a, p = line.split()[1].rsplit(":", 1)
        if int(p, 16) == port:
            addrs.add(a)
print(" ".join(sorted(addrs)))
PY
)
like "$n" '^(0100007F|00000000000000000000000001000000)( (0100007F|00000000000000000000000001000000))?$' "bind: UDP sockets on 127.0.0.1 and ::1 only, not on every address"
t0=$(date +%s.%N)
kill -TERM "$GD_PID"
for _ in $(seq 1 30); do kill -0 "$GD_PID" 2>/dev/null || break; sleep 0.1; done
wait "$GD_PID"
is "$?" 0 "without lameduck SIGTERM exits 0"
t1=$(date +%s.%N)
python3 -c "import sys; sys.exit(0 if float(sys.argv[2]) - float(sys.argv[1]) < 1.5 else 1)" "$t0" "$t1"
ok $? "at once"

# a forwarded query still in flight at SIGTERM: the drain waits for it
# (up to the forward deadline), not only for TCP connections
echo normal >"$T_TMP/s.mode"
start_upstream s "$US" --control "$T_TMP/s.mode" --delay 1.5 --a slow.example.test=192.0.2.9 || exit 1
cat >"$T_TMP/Corefile3" <<EOF
.:$P7 {
    forward . 127.0.0.1:$US
}
EOF
PORT=$P7
start_globaldns sig4 "$T_TMP/Corefile3" || exit 1
echo slow >"$T_TMP/s.mode"
dig @127.0.0.1 -p "$P7" +tries=1 +time=5 +short slow.example.test >"$T_TMP/slow.out" 2>&1 &
DIG=$!
sleep 0.3
t0=$(date +%s.%N)
kill -TERM "$GD_PID"
wait "$DIG"
is "$(cat "$T_TMP/slow.out")" "192.0.2.9" "SIGTERM with a forwarded query in flight (upstream answers after 1.5 s): it is still answered"
for _ in $(seq 1 70); do kill -0 "$GD_PID" 2>/dev/null || break; sleep 0.1; done
wait "$GD_PID"
is "$?" 0 "then exits 0"
t1=$(date +%s.%N)
python3 -c "import sys; d = float(sys.argv[2]) - float(sys.argv[1]); sys.exit(0 if 0.8 <= d <= 3 else 1)" "$t0" "$t1"
ok $? "as soon as it is answered (not at the 5 s deadline)"
