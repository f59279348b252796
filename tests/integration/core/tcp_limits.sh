#!/bin/bash
# tcp_limits.sh -- issue 11 row 1: TCP clients that hold connections open
# (RFC 7766 6.2.3, slowloris) against the real binary:
#   - 1,100 clients from 127.0.0.1 that each send one byte every second
#     and reconnect whenever they are closed, while a normal `dig +tcp`
#     from 127.0.0.2 must get its answers;
#   - a message must arrive whole within 2 s of its first byte however
#     the bytes trickle in; an idle connection is closed 10 s after its
#     last answer (bytes do not restart either deadline), and one that
#     asks every 3 s stays open;
#   - one client (address) holds at most 100 connections: more close its
#     oldest idle one;
#   - with every slot taken by idle connections from many addresses, a new
#     client from another address is served: the oldest idle one goes.
. "$(dirname "$0")/../lib.sh"
need dig python3 ss curl

DATA=$TESTDATA/integration
PORT=$(free_port)
MPORT=$(free_port)

plan 20

# 1,100 connections on our side and 1,000 on the server's
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
	prometheus 127.0.0.1:$MPORT
	serviceentries {
		file $DATA/bar.yaml
	}
}
EOF

cat >"$T_TMP/clients.py" <<'PY'
import selectors, socket, struct, sys, time

port = int(sys.argv[1])
cmd = sys.argv[2]

def query(name, qid=0x4242):
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    m = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1)
    return struct.pack(">H", len(m)) + m

def connect(src):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(2)
    s.connect(("127.0.0.1", port))
    s.setblocking(False)
    return s

def closed(s):
    try:
        return s.recv(4096) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True

if cmd == "slowloris":
    # N clients from SRC, one byte each every second (a message that never
    # ends), reconnecting a second after the server closes one.
    n, seconds, src = int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
    sel = selectors.DefaultSelector()
    conns = {}                      # slot -> socket
    retry = {}                      # slot -> time to reconnect
    t0 = time.monotonic()
    closes = connects = refused = 0
    peak = 0
    samples = []
    nextbyte = t0
    def open_slot(i):
        global connects, refused
        try:
            s = connect(src)
        except OSError:
            refused += 1
            retry[i] = time.monotonic() + 1
            return
        connects += 1
        conns[i] = s
        sel.register(s, selectors.EVENT_READ, i)
    for i in range(n):
        open_slot(i)
    nextsample = t0 + 1
    while time.monotonic() - t0 < seconds:
        for key, _ in sel.select(timeout=0.1):
            i = key.data
            s = conns[i]
            if closed(s):
                sel.unregister(s)
                s.close()
                del conns[i]
                closes += 1
                retry[i] = time.monotonic() + 1
        now = time.monotonic()
        if now >= nextbyte:
            nextbyte = now + 1
            for s in list(conns.values()):
                try:
                    s.send(b"\x00" if s.fileno() % 2 else b"\x01")
                except OSError:
                    pass
        for i, t in list(retry.items()):
            if now >= t:
                del retry[i]
                open_slot(i)
        if now >= nextsample:
            nextsample += 1
            samples.append(len(conns))
            peak = max(peak, len(conns))
    # what the server still holds: a connection it closed shows EOF now
    time.sleep(0.2)
    held = sum(1 for s in conns.values() if not closed(s))
    print("held=%d peak=%d connects=%d closed_by_server=%d samples=%s"
          % (held, peak, connects, closes, ",".join(map(str, samples))))
elif cmd == "trickle":
    # one byte a second of a 40-byte message: when is it closed?
    s = connect("127.0.0.1")
    s.setblocking(True)
    s.settimeout(1)
    t0 = time.monotonic()
    state = "open"
    s.send(b"\x00\x28")
    while time.monotonic() - t0 < 15:
        try:
            if s.recv(100) == b"":
                state = "closed"
                break
        except socket.timeout:
            pass
        except OSError:
            state = "closed"
            break
        try:
            s.send(b"x")
        except OSError:
            state = "closed"
            break
    print("%s %.1f" % (state, time.monotonic() - t0))
elif cmd == "idle-after-answer":
    # a query, its answer, then silence: when is it closed?
    s = connect("127.0.0.1")
    s.setblocking(True)
    s.settimeout(20)
    s.sendall(query("httpbin.bar.global"))
    got = s.recv(4096)
    t0 = time.monotonic()
    try:
        state = "closed" if s.recv(100) == b"" else "data"
    except socket.timeout:
        state = "open"
    except OSError:
        state = "closed"
    print("%s %.1f answered=%d" % (state, time.monotonic() - t0, len(got) > 2))
elif cmd == "active":
    # a query every 3 s on one connection for 15 s: is it still open?
    s = connect("127.0.0.1")
    s.setblocking(True)
    s.settimeout(5)
    t0 = time.monotonic()
    answered = 0
    state = "open"
    try:
        for i in range(6):
            if i:
                time.sleep(3)
            s.sendall(query("httpbin.bar.global", i))
            hdr = b""
            while len(hdr) < 2:
                b = s.recv(2 - len(hdr))
                if not b:
                    raise OSError("closed")
                hdr += b
            body, need = b"", struct.unpack(">H", hdr)[0]
            while len(body) < need:
                b = s.recv(need - len(body))
                if not b:
                    raise OSError("closed")
                body += b
            answered += 1
    except OSError:
        state = "closed"
    print("%s %.1f answered=%d" % (state, time.monotonic() - t0, answered))
elif cmd == "idle":
    # COUNT idle connections from each of the addresses given; for each
    # line on stdin (seconds to wait) print which of them the server has
    # closed, in the order they were opened; exit at end of input
    count = int(sys.argv[3])
    socks = []
    for src in sys.argv[4:]:
        for _ in range(count):
            socks.append(connect(src))
            time.sleep(0.001)
    for line in sys.stdin:
        if not line.strip():
            break
        time.sleep(float(line))
        flags = "".join("c" if closed(s) else "o" for s in socks)
        print("open=%d closed=%d first_open=%d" % (flags.count("o"), flags.count("c"), flags.find("o")))
        sys.stdout.flush()
PY
clients() { python3 "$T_TMP/clients.py" "$PORT" "$@"; }
digtcp() { dig @127.0.0.1 -p "$PORT" -b "$1" +tcp +tries=1 +time=3 +short httpbin.bar.global A 2>&1; }
held_by_server() { ss -Htn state established "( sport = :$PORT )" | grep -c .; }
held_by() { ss -Htn state established "( sport = :$PORT and dst $1 )" | grep -c .; }

start_globaldns tcp "$T_TMP/Corefile" || { echo "Bail out! globaldns did not start"; exit 1; }

# ---- slowloris: 1,100 slow clients and one normal one ----
clients slowloris 1100 14 127.0.0.1 >"$T_TMP/slowloris.out" 2>&1 &
ATTACK=$!
sleep 4
answers=0 peak=0 samples=""
for i in 1 2 3 4 5; do
	a=$(digtcp 127.0.0.2)
	[ "$a" = 240.0.1.2 ] && answers=$((answers + 1))
	n=$(held_by 127.0.0.1)
	samples="$samples $n"
	[ "$n" -gt "$peak" ] && peak=$n
	sleep 1.5
done
wait "$ATTACK"
attack=$(cat "$T_TMP/slowloris.out")
echo "# slowloris (client side): $attack"
echo "# connections the server holds for 127.0.0.1, sampled:$samples"
is "$answers" 5 "during the attack a dig +tcp from 127.0.0.2 gets all 5 answers"
ok "$([ "$peak" -le 100 ]; echo $?)" "the attacking address never holds more than 100 connections (peak $peak)"
ok "$([ "$peak" -ge 50 ]; echo $?)" "the attack was on: it held connections ($peak)"
like "$attack" 'closed_by_server=[0-9]{4,}' "the server keeps closing the slow connections"
is "$(digtcp 127.0.0.1)" 240.0.1.2 "after the attack the attacking address is served again"

# ---- deadlines ----
clients idle-after-answer >"$T_TMP/idle.out" 2>&1 &
IDLE=$!
clients active >"$T_TMP/active.out" 2>&1 &
ACTIVE=$!
t=$(clients trickle)
echo "# one byte a second: $t s"
like "$t" '^closed [2-4]\.[0-9]$' "a message trickling in a byte a second is closed 2 s after its first byte"
wait "$IDLE"
idle=$(cat "$T_TMP/idle.out")
echo "# idle after an answer: $idle"
like "$idle" '^closed (9|1[0-2])\.[0-9] answered=1$' "an idle connection is closed 10 s after its answer"
wait "$ACTIVE"
active=$(cat "$T_TMP/active.out")
echo "# a query every 3 s: $active"
# before the lean TCP path the idle deadline ran from when the connection first went
# idle, and closed it at 10 s with 3 answers given
like "$active" '^open 1[5-9]\.[0-9] answered=6$' "a connection asking every 3 s is still open after 15 s: each answer restarts the idle deadline"

# ---- per-client cap: one address opens 150 ----
mkfifo "$T_TMP/cap.in"
clients idle 150 127.0.0.3 <"$T_TMP/cap.in" >"$T_TMP/cap.out" 2>&1 &
CAP=$!
exec 7>"$T_TMP/cap.in"
echo 1 >&7
wait_until 10 grep -q open= "$T_TMP/cap.out"
cap=$(cat "$T_TMP/cap.out")
echo "# 150 from one address: $cap"
is "$cap" "open=100 closed=50 first_open=50" "150 idle connections from one address: 100 stay, its 50 oldest are closed"
is "$(digtcp 127.0.0.3)" 240.0.1.2 "that address is still served (its oldest idle connection goes)"
echo >&7
exec 7>&-
wait "$CAP"

# ---- a full table of idle connections from 20 addresses ----
none_held() { [ "$(held_by_server)" = 0 ]; }
wait_until 10 none_held
srcs=""
for i in $(seq 10 29); do srcs="$srcs 127.0.0.$i"; done
mkfifo "$T_TMP/full.in"
# shellcheck disable=SC2086
clients idle 50 $srcs <"$T_TMP/full.in" >"$T_TMP/full.out" 2>&1 &
FULL=$!
exec 8>"$T_TMP/full.in"
echo 1 >&8
wait_until 20 grep -q open= "$T_TMP/full.out"
is "$(cat "$T_TMP/full.out")" "open=1000 closed=0 first_open=0" "1,000 idle connections from 20 addresses fill the table"
is "$(held_by_server)" 1000 "the server holds 1,000"
is "$(digtcp 127.0.0.2)" 240.0.1.2 "a new client from 127.0.0.2 is served"
is "$(digtcp 127.0.0.2)" 240.0.1.2 "and again"
held_999() { [ "$(held_by_server)" = 999 ]; }
wait_until 5 held_999
is "$(held_by_server)" 999 "one idle connection was closed to make room"
echo 0.2 >&8
twice() { [ "$(grep -c open= "$T_TMP/full.out")" = 2 ]; }
wait_until 10 twice
is "$(tail -n 1 "$T_TMP/full.out")" "open=999 closed=1 first_open=1" "it was the oldest"
echo >&8
exec 8>&-
wait "$FULL"
is "$(dig @127.0.0.1 -p "$PORT" +short httpbin.bar.global A)" 240.0.1.2 "UDP answered throughout"
metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" 'index($0, m) == 1 { print $2 }'; }
m=$(metric "globaldns_tcp_closed_total{server=\"dns://:$PORT\",reason=\"read_timeout\"}")
ok "$([ "${m:-0}" -ge 100 ]; echo $?)" "globaldns_tcp_closed_total{reason=read_timeout} counts slow messages ($m)"
e=$(metric "globaldns_tcp_closed_total{server=\"dns://:$PORT\",reason=\"evicted\"}")
ok "$([ "${e:-0}" -ge 52 ]; echo $?)" "globaldns_tcp_closed_total{reason=evicted} counts idle connections closed for new ones ($e)"
ok "$(kill -0 "$GD_PID" 2>/dev/null; echo $?)" "process alive"
