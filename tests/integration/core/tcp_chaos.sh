#!/bin/bash
# tcp_chaos.sh -- the TCP path against clients that misbehave at random,
# on the real binary (with the sanitizers in CI): 4 clients, 5 s, up to 50
# connections each, sending good queries, garbage, flipped bytes, lengths
# that lie and messages cut anywhere, half-closing, closing and resetting
# at random.  Afterwards the server must be alive, answer UDP and TCP,
# hold no connection the clients gave up, and exit cleanly (no sanitizer
# report: lib.sh checks the log).
. "$(dirname "$0")/../lib.sh"
need dig python3 ss

DATA=$TESTDATA/integration
PORT=$(free_port)
plan 6

cat >"$T_TMP/Corefile" <<EOF2
global:$PORT {
	serviceentries {
		file $DATA/bar.yaml
	}
}
EOF2

cat >"$T_TMP/chaos.py" <<'PY'
import random, select, socket, struct, sys, time

port, secs, seed = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)

def query(i, name):
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    qtype = rnd.choice([1, 28, 255, 16, 6, 252])
    return struct.pack(">HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", qtype, 1)

def message():
    k = rnd.random()
    if k < 0.6:
        m = query(rnd.randrange(65536), rnd.choice(
            ["httpbin.bar.global", "nx.global", "global", "x" * 63 + ".global", "a.b.c.d.e.global"]))
    elif k < 0.8:
        m = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40)))
    else:
        m = bytearray(query(1, "httpbin.bar.global"))
        for _ in range(rnd.randrange(1, 5)):
            m[rnd.randrange(len(m))] = rnd.randrange(256)
        m = bytes(m)
    # now and then a length that lies
    n = len(m) if rnd.random() < 0.95 else rnd.randrange(65536)
    return struct.pack(">H", n) + m

stop = time.monotonic() + secs
conns, opened, sent = [], 0, 0
while time.monotonic() < stop:
    if len(conns) < 50:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.setblocking(False)
            conns.append(s)
            opened += 1
        except OSError:
            pass
    if not conns:
        continue
    s = rnd.choice(conns)
    a = rnd.random()
    try:
        if a < 0.6:
            data = b"".join(message() for _ in range(rnd.randrange(1, 20)))
            cut = rnd.randrange(len(data) + 1) if rnd.random() < 0.3 else len(data)
            s.send(data[:cut])
            sent += 1
        elif a < 0.8:
            if select.select([s], [], [], 0)[0]:
                s.recv(65536)
        elif a < 0.9:
            s.shutdown(socket.SHUT_WR)
        elif a < 0.95:
            s.close()
            conns.remove(s)
        else:                           # a reset: linger 0
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            conns.remove(s)
    except OSError:
        s.close()
        conns.remove(s)
for s in conns:
    s.close()
print(opened, sent)
PY

start_globaldns chaos "$T_TMP/Corefile" || { echo "Bail out! globaldns did not start"; exit 1; }

CPIDS=""
for seed in 1 2 3 4; do
	python3 "$T_TMP/chaos.py" "$PORT" 5 "$seed" >"$T_TMP/chaos.$seed" 2>&1 &
	CPIDS="$CPIDS $!"
done
for p in $CPIDS; do wait "$p"; done
read -r opened sent <"$T_TMP/chaos.1"
echo "# client 1: $opened connections, $sent writes"
ok "$([ "${opened:-0}" -ge 100 ] && [ "${sent:-0}" -ge 100 ]; echo $?)" "the clients ran ($opened connections, $sent writes from one)"
ok "$(kill -0 "$GD_PID" 2>/dev/null; echo $?)" "the server is alive"
is "$(q +short httpbin.bar.global)" 240.0.1.2 "it answers over UDP"
is "$(q +short +tcp httpbin.bar.global)" 240.0.1.2 "it answers over TCP"
held() { ss -Htn state established "( sport = :$PORT )" | grep -c .; }
none_held() { [ "$(held)" = 0 ]; }
wait_until 5 none_held
is "$(held)" 0 "no connection is held once the clients are gone"
stop_pid "$GD_PID"
is "$?" 0 "clean exit on SIGTERM"
