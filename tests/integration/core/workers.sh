#!/bin/bash
# workers.sh -- a worker per core (workers.h) on the real binary: with
# `workers 2` a thread answers UDP beside the main loop, each on its own
# SO_REUSEPORT socket.  Every worker answers (clients from many source
# ports spread over both), every answer is right; names forwarded from a
# worker go through the main loop's forwarder and come back; a registry
# swap is seen by every worker at once; reloads (with listeners opened and
# closed) and a shutdown with queries in flight lose nothing and leave no
# sanitizer report; `workers 1` starts no thread and shares no port, and
# a reload to another number says it waits for the next start;
# `workers auto` follows the CPU affinity; bad lines name FILE:LINE.
. "$(dirname "$0")/../lib.sh"
need dig python3 curl

plan 29

pick_ports PORT UP MPORT XPORT
gen() {  # gen FILE ADDRESS-PREFIX: 200 entries h-I.t.global -> PREFIX.I
	python3 - "$1" "$2" <<'PY'
import os, sys
path, pre = sys.argv[1], sys.argv[2]
with open(path + ".tmp", "w") as f:
    for i in range(200):
        f.write("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                f"metadata: {{name: h{i}, namespace: t}}\nspec:\n  hosts: [h-{i}.t.global]\n"
                f"  addresses: [{pre}.{i}]\n  resolution: STATIC\n")
os.rename(path + ".tmp", path)
PY
}
gen "$T_TMP/se.yaml" 240.0.1

# the upstream: a second globaldns, one worker, with static names
cat >"$T_TMP/up.Corefile" <<EOF
example:$UP {
	workers 1
	hosts {
$(for i in $(seq 0 49); do echo "		10.9.0.$i u-$i.example"; done)
	}
}
EOF
PORT=$UP start_globaldns up "$T_TMP/up.Corefile" || exit 1

corefile() {  # corefile TTL [EXTRA-BLOCK]
	cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
	workers 2
	serviceentries {
		file $T_TMP/se.yaml
		ttl $1
	}
	prometheus 127.0.0.1:$MPORT
}
.:$PORT {
	cache 30
	forward . 127.0.0.1:$UP
}
${2:-}
EOF
}
corefile 30
start_globaldns gd "$T_TMP/Corefile" || exit 1
like "$(cat "$T_TMP/gd.log")" "workers: 2 \(the main loop and 1 thread\)" "the log says how many workers answer"

metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
is "$(metric globaldns_workers)" 2 "globaldns_workers 2"

# mq.py PORT NAME-FORMAT COUNT EXPECT-FORMAT: COUNT queries for NAME % i,
# each from a socket of its own (a source port of its own); prints
# "answered right wrong": right when the A record is EXPECT % i
cat >"$T_TMP/mq.py" <<'PY'
import random, select, socket, struct, sys, time
port, namef, count, expf = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
def query(qid, name):
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1)
def first_a(m):
    an = struct.unpack(">H", m[6:8])[0]
    p = 12
    while m[p]: p += m[p] + 1
    p += 5
    for _ in range(an):
        if m[p] >= 0xc0: p += 2
        else:
            while m[p]: p += m[p] + 1
            p += 1
        t, _, _, rl = struct.unpack(">HHIH", m[p:p + 10]); p += 10
        if t == 1: return ".".join(str(b) for b in m[p:p + 4])
        p += rl
    return None
socks = {}
for i in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setblocking(False)
    qid = random.randint(0, 65535)
    s.sendto(query(qid, namef % i), ("127.0.0.1", port))
    socks[s] = (i, qid)
answered = right = wrong = 0
deadline = time.time() + 5
while socks and time.time() < deadline:
    r, _, _ = select.select(list(socks)[:500], [], [], 0.2)
    for s in r:
        m = s.recv(4096)
        i, qid = socks.pop(s); s.close()
        answered += 1
        if struct.unpack(">H", m[:2])[0] == qid and first_a(m) == expf % i: right += 1
        else: wrong += 1
print(answered, right, wrong)
PY
mq() { python3 "$T_TMP/mq.py" "$PORT" "$@"; }

is "$(mq h-%d.t.global 200 240.0.1.%d)" "200 200 0" "200 clients, each from its own port: every answer right"
w0=$(metric 'globaldns_worker_queries_total{worker="0"}'); w1=$(metric 'globaldns_worker_queries_total{worker="1"}')
[ "${w0:-0}" -gt 0 ] && [ "${w1:-0}" -gt 0 ]; ok $? "both workers answered (main loop $w0, thread $w1)"
[ "$(( ${w0:-0} + ${w1:-0} ))" -ge 200 ]; ok $? "the workers' counters add up to what was sent"

# forwarded from a worker: through the main loop's forwarder and back;
# the second time from the cache, in the worker
is "$(mq u-%d.example 50 10.9.0.%d)" "50 50 0" "50 forwarded names from 50 ports: every answer right"
is "$(mq u-%d.example 50 10.9.0.%d)" "50 50 0" "the same again, from the cache"
hits=$(curl -s "http://127.0.0.1:$MPORT/metrics" | awk '/^coredns_cache_hits_total/ && /type="success"/ { s += $2 } END { print s + 0 }')
[ "$hits" -ge 50 ]; ok $? "the cache answered them ($hits hits)"

# a registry swap: every worker sees the new snapshot
gen "$T_TMP/se.yaml" 240.0.2
wait_until 10 sh -c "dig @127.0.0.1 -p $PORT +short h-7.t.global | grep -qx 240.0.2.7"
ok $? "the rewritten manifest is served"
is "$(mq h-%d.t.global 200 240.0.2.%d)" "200 200 0" "200 clients from 200 ports: none sees the old snapshot"

# TCP stays on the main loop and answers while UDP is busy
python3 "$T_TMP/mq.py" "$PORT" h-%d.t.global 200 240.0.2.%d >/dev/null &
bg=$!
is "$(dig @127.0.0.1 -p "$PORT" +tcp +short h-3.t.global)" 240.0.2.3 "TCP answers beside a UDP burst"
wait $bg

# flood.py PORT SECONDS: queries from 64 sockets for SECONDS; prints
# "sent answered wrong" (wrong: an answer that is not one of the two
# address sets or not for its ID; an ID is not reused on a socket while a
# query with it is in flight)
cat >"$T_TMP/flood.py" <<'PY'
import random, select, socket, struct, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(64)]
for s in socks: s.setblocking(False)
pending = {}
sent = answered = wrong = 0
end = time.time() + secs
i = 0
while time.time() < end + 2:
    if time.time() < end:
        for s in socks:
            n = i % 200; qid = random.randint(0, 65535)
            while (s.fileno(), qid) in pending:   # an ID still in flight on this socket
                qid = random.randint(0, 65535)
            name = f"h-{n}.t.global"
            q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
            s.sendto(struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1), ("127.0.0.1", port))
            pending[(s.fileno(), qid)] = n; sent += 1; i += 1
    elif not pending:
        break
    r, _, _ = select.select(socks, [], [], 0.01)
    for s in r:
        while True:
            try: m = s.recv(4096)
            except BlockingIOError: break
            qid = struct.unpack(">H", m[:2])[0]
            n = pending.pop((s.fileno(), qid), None)
            if n is None: continue
            answered += 1
            if m[-4:] not in (bytes([240, 0, 2, n]), bytes([240, 0, 3, n])): wrong += 1
    time.sleep(0.002)
print(sent, answered, wrong)
PY

# reloads with queries in flight: a changed block (new instances), a
# listener opened and closed again, a registry swap in the middle
python3 "$T_TMP/flood.py" "$PORT" 6 >"$T_TMP/flood1.out" &
fl=$!
sleep 1
corefile 20 ".:$XPORT {
	chaos globaldns-test
}"
kill -HUP "$GD_PID"
sleep 1
gen "$T_TMP/se.yaml" 240.0.3
sleep 1
is "$(PORT=$XPORT; dig @127.0.0.1 -p "$XPORT" +short +tries=1 +time=2 version.bind CH TXT)" '"globaldns-test"' "a listener opened by the reload answers"
corefile 30
kill -HUP "$GD_PID"
sleep 1
wait $fl
read -r sent answered wrong <"$T_TMP/flood1.out"
[ "$sent" -gt 1000 ] && [ "$answered" -ge $((sent * 99 / 100)) ]; ok $? "reloads and a swap under load: $answered of $sent answered"
is "$wrong" 0 "no answer wrong or for another query"
is "$(grep -c 'Reloading complete' "$T_TMP/gd.log")" 2 "both reloads completed"
is "$(dig @127.0.0.1 -p "$XPORT" +short +tries=1 +time=1 version.bind CH TXT 2>&1 | grep -c globaldns-test)" 0 "the listener the second reload closed is gone"
is "$(mq h-%d.t.global 200 240.0.3.%d)" "200 200 0" "after the reloads: 200 clients, every answer right"
kill -0 "$GD_PID"; ok $? "still running"

# shutdown with queries in flight
python3 "$T_TMP/flood.py" "$PORT" 3 >/dev/null 2>&1 &
fl=$!
sleep 1
stop_pid "$GD_PID"
is "$?" 0 "SIGTERM while a worker answers: exit status 0"
wait $fl
! kill -0 "$GD_PID" 2>/dev/null; ok $? "stopped"

# workers 1: no thread, no shared port
sed -i 's/workers 2/workers 1/' "$T_TMP/Corefile"
start_globaldns one "$T_TMP/Corefile" || exit 1
is "$(metric globaldns_workers)" 1 "workers 1: globaldns_workers 1"
is "$(curl -s "http://127.0.0.1:$MPORT/metrics" | grep -c '^globaldns_worker_queries_total{worker="1"}')" 0 "workers 1: no thread's counter"
python3 - "$PORT" <<'PY' >"$T_TMP/reuse.out" 2>&1
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
try:
    s.bind(("::", int(sys.argv[1]))); print("bound")
except OSError as e:
    print("refused", e.errno)
PY
like "$(cat "$T_TMP/reuse.out")" "^refused" "workers 1: no other socket can join the port (no SO_REUSEPORT)"
# a reload that changes the number: said, and kept until the next start
sed -i 's/workers 1/workers 2/' "$T_TMP/Corefile"
kill -HUP "$GD_PID"
wait_until 5 grep -q "Reloading complete" "$T_TMP/one.log"
like "$(cat "$T_TMP/one.log")" "workers: the Corefile now says 2 \(.*Corefile:2\); 1 keep answering until the next start" "a reload to workers 2: logged, kept until the next start"
is "$(metric globaldns_workers)" 1 "... and still 1 worker"
stop_pid "$GD_PID"
sed -i 's/workers 2/workers 1/' "$T_TMP/Corefile"

# workers auto: the CPUs the process may use
if command -v taskset >/dev/null; then
	sed -i 's/workers 1/workers auto/' "$T_TMP/Corefile"
	printf '#!/bin/sh\nexec taskset -c 0 "%s" "$@"\n' "$GLOBALDNS" >"$T_TMP/one-cpu"
	chmod +x "$T_TMP/one-cpu"
	GLOBALDNS=$T_TMP/one-cpu start_globaldns auto "$T_TMP/Corefile" || exit 1
	is "$(metric globaldns_workers)" 1 "workers auto on one CPU (taskset): 1"
	stop_pid "$GD_PID"
else
	ok 0 "# SKIP no taskset"
fi

# bad lines
cat >"$T_TMP/bad.Corefile" <<EOF
global:$PORT {
	workers 0
	serviceentries {
		file $T_TMP/se.yaml
	}
}
EOF
out=$("$GLOBALDNS" -validate -conf "$T_TMP/bad.Corefile" 2>&1); rc=$?
[ $rc -ne 0 ]; ok $? "workers 0: refused"
like "$out" "bad.Corefile:2: workers: \"0\": needs auto or a number from 1 to 64" "the error names FILE:LINE"
cat >"$T_TMP/bad2.Corefile" <<EOF
global:$PORT {
	workers 2
	serviceentries {
		file $T_TMP/se.yaml
	}
}
.:$PORT {
	workers 3
	forward . 127.0.0.1:$UP
}
EOF
out=$("$GLOBALDNS" -validate -conf "$T_TMP/bad2.Corefile" 2>&1)
like "$out" "bad2.Corefile:8: workers: 3 here, but .*bad2.Corefile:2 says" "two blocks that disagree: both lines named"
