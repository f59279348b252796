#!/bin/bash
# lifetimes.sh -- what a connection or a listener owes the queries it has
# taken: a TCP client that never reads cannot grow the server's memory; a
# half-closed TCP client still gets its answers, also those that arrive
# later from an upstream; a UDP query held by the forwarder survives a
# reload that closes its listener (no use-after-free; ASan would abort).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig python3
plan 11

pick_ports PORT UP PORT2 UP2
cat >"$T_TMP/Corefile" <<CF
global:$PORT {
    serviceentries {
        file $TESTDATA/integration/protocol.yaml
    }
}
example:$PORT {
    forward . 127.0.0.1:$UP
}
silent:$PORT {
    forward . 127.0.0.1:$UP2 {
        deadline 4s
    }
}
CF
start_upstream slow "$UP" --mode slow --delay 1.5 --a slow.example=192.0.2.7
start_upstream mute "$UP2" --mode silent
start_globaldns gd "$T_TMP/Corefile"

rss() { awk '/^VmRSS/ {print $2}' "/proc/$GD_PID/status"; }

# 1. A client pipelines 20,000 queries for a 1.6 KB answer and never reads.
before=$(rss)
python3 - "$PORT" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
def q(i):
    name = b"".join(bytes([len(l)]) + l for l in b"big.test.global".split(b".")) + b"\0"
    return struct.pack(">HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
s.settimeout(0.2)
data = b"".join(struct.pack(">H", len(m)) + m for m in (q(i) for i in range(20000)))
sent, deadline = 0, time.time() + 8
while sent < len(data) and time.time() < deadline:
    try:
        sent += s.send(data[sent:sent + 65536])
    except socket.timeout:
        pass
time.sleep(1)
print("# sent %d of %d bytes of queries without reading" % (sent, len(data)))
s.close()
PY
after=$(rss)
growth=$(( (after - before) / 1024 ))
echo "# resident memory: ${before} kB before, ${after} kB after (${growth} MB more)"
ok $([ "$growth" -lt 32 ] && echo 0 || echo 1) "a TCP client that never reads does not grow the server (grew ${growth} MB)"
is "$(rcode big.test.global)" NOERROR "the server still answers afterwards"

# 1b. 3,000 UDP queries held by the forwarder at once (a silent upstream):
# each held copy is sized for its client, not for a 64 KiB TCP answer.
before=$(rss)
python3 - "$PORT" <<'PY'
import socket, struct, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(3000):
    name = b"".join(bytes([len(l)]) + l for l in (b"q%d.silent" % i).split(b".")) + b"\0"
    s.sendto(struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1), ("127.0.0.1", port))
    if i % 500 == 499:
        time.sleep(0.05)
time.sleep(0.5)
PY
during=$(rss)
growth=$(( (during - before) / 1024 ))
echo "# resident memory with 3,000 forwarded queries held: ${before} kB -> ${during} kB (${growth} MB)"
ok $([ "$growth" -lt 48 ] && echo 0 || echo 1) "3,000 held UDP queries cost less than 48 MB (${growth} MB)"
sleep 4
is "$(rcode +time=6 x.silent)" SERVFAIL "the held queries end in SERVFAIL at the deadline, and the server answers"

# 2. Half-close: two queries, then shutdown(SHUT_WR); both answers come back,
# the forwarded one 1.5 s later.
got=$(python3 - "$PORT" <<'PY'
import socket, struct, sys
port = int(sys.argv[1])
def q(i, n):
    name = b"".join(bytes([len(l)]) + l for l in n.split(b".")) + b"\0"
    m = struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
    return struct.pack(">H", len(m)) + m
s = socket.create_connection(("127.0.0.1", port), timeout=6)
s.sendall(q(1, b"httpbin.bar.global") + q(2, b"slow.example"))
s.shutdown(socket.SHUT_WR)
buf = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
except socket.timeout:
    pass
ids, off = [], 0
while off + 2 <= len(buf):
    n = struct.unpack(">H", buf[off:off+2])[0]
    ids.append(struct.unpack(">H", buf[off+2:off+4])[0])
    off += 2 + n
print(" ".join(str(i) for i in sorted(ids)))
PY
)
is "$got" "1 2" "a half-closed TCP client gets the local and the forwarded answer"

# Classes other than IN are forwarded like CoreDNS does (only the
# authoritative zones refuse them).
q -c CH TXT version.example >/dev/null 2>&1
ok $([ "$(seen slow version.example.)" -ge 1 ] && echo 0 || echo 1) "a CH query in a forward block reaches the upstream"

# 3. A UDP query held by the forwarder while a reload moves the block to
# another port: the listener it came in on closes under it.
dig @127.0.0.1 -p "$PORT" +tries=1 +time=4 slow.example >"$T_TMP/held.out" 2>&1 &
digpid=$!
sleep 0.3
sed -i "s/:$PORT {/:$PORT2 {/" "$T_TMP/Corefile"
kill -HUP "$GD_PID"
wait $digpid
sleep 2
ok $(kill -0 "$GD_PID" 2>/dev/null && echo 0 || echo 1) "the server is alive after the held query's listener closed"
unlike "$(cat "$T_TMP/gd.log")" "AddressSanitizer|runtime error" "no sanitizer report"
PORT=$PORT2
wait_dns "$PORT2"
is "$(rcode httpbin.bar.global)" NOERROR "the new port answers"
is "$(section answer slow.example)" "slow.example. 300 IN A 192.0.2.7" "forwarding works on the new port"
ok $(grep -q "reload" "$T_TMP/gd.log" && echo 0 || echo 1) "the reload was logged"
