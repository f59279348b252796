#!/bin/bash
# protocol.sh -- issue 2 item 7 against the real binary: TCP framing and
# several queries per connection, truncation boundaries and the retry over
# TCP, EDNS0 (OPT echo, buffer sizes, BADVERS, DO), malformed packets,
# opcodes, classes, zone transfers and the TCP idle timeout.
#
# Manifest: tests/data/integration/protocol.yaml (hosts n29, n30, n74, n75
# and big sit on the 512 / 1232 byte boundaries; see the file's header).
. "$(dirname "$0")/../lib.sh"
need dig python3

DATA=$TESTDATA/integration
PORT=$(free_port)

plan 53

cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
	serviceentries {
		file $DATA/protocol.yaml
	}
}
EOF

# Raw DNS over UDP/TCP for what dig cannot send.  Prints one line per case.
cat >"$T_TMP/raw.py" <<'PY'
import random, socket, struct, sys, time

port = int(sys.argv[1])
cmd = sys.argv[2]
ADDR = ("127.0.0.1", port)

def qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"

def query(name, qtype=1, qclass=1, qid=0x1234, flags=0x0000, qd=1, extra=b""):
    return struct.pack(">HHHHHH", qid, flags, qd, 0, 0, 0) + qname(name) \
        + struct.pack(">HH", qtype, qclass) + extra

def udp(pkt, timeout=0.5):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(pkt, ADDR)
    try:
        return s.recv(65535)
    except socket.timeout:
        return None
    finally:
        s.close()

def describe(r, qid=None):
    if r is None:
        return "none"
    if len(r) < 12:
        return "short:%d" % len(r)
    rid, fl, qd, an, ns, ar = struct.unpack(">HHHHHH", r[:12])
    s = "rcode=%d qr=%d opcode=%d an=%d" % (fl & 0xF, fl >> 15, (fl >> 11) & 0xF, an)
    if qid is not None:
        s += " id=%s" % ("ok" if rid == qid else "bad")
    return s

def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf

def tcp_read(s):
    h = recv_exact(s, 2)
    if h is None:
        return None
    return recv_exact(s, struct.unpack(">H", h)[0])

def frame(pkt):
    return struct.pack(">H", len(pkt)) + pkt

if cmd == "malformed":
    cases = [
        ("empty", b"", None),
        ("five-bytes", b"\x12\x34\x01\x00\x00", None),
        ("header-only-qd0", struct.pack(">HHHHHH", 0x1111, 0, 0, 0, 0, 0), 0x1111),
        ("qdcount-2", query("httpbin.bar.global", qid=0x2222, qd=2) + qname("x.global") + b"\0\1\0\1", 0x2222),
        ("qr-set", query("httpbin.bar.global", qid=0x3333, flags=0x8000), 0x3333),
        ("truncated-question", struct.pack(">HHHHHH", 0x4444, 0, 1, 0, 0, 0) + b"\x07httpbin\x03ba", 0x4444),
        ("question-no-type", struct.pack(">HHHHHH", 0x5555, 0, 1, 0, 0, 0) + qname("httpbin.bar.global") + b"\0", 0x5555),
        ("compressed-qname", struct.pack(">HHHHHH", 0x6666, 0, 1, 0, 0, 0) + b"\xc0\x0c\0\1\0\1", 0x6666),
        ("arcount-without-record", query("httpbin.bar.global", qid=0x7777)[:10] + b"\0\1" + query("httpbin.bar.global")[12:], 0x7777),
    ]
    for name, pkt, qid in cases:
        print(name, describe(udp(pkt), qid))
elif cmd == "garbage":
    rnd = random.Random(20260602)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sent = {}
    for i in range(500):
        n = rnd.choice([rnd.randint(0, 40), rnd.randint(12, 600)])
        pkt = bytearray(rnd.getrandbits(8) for _ in range(n))
        if n >= 12 and i % 2 == 0:
            pkt[4:6] = b"\0\1"          # QDCOUNT 1: reach the question parser
        if n >= 2:
            pkt[0:2] = struct.pack(">H", i)
        sent[i] = bytes(pkt)
        s.sendto(bytes(pkt), ADDR)
        if i % 50 == 49:
            time.sleep(0.01)
    s.settimeout(1.0)
    replies = bad = 0
    while True:
        try:
            r = s.recv(65535)
        except socket.timeout:
            break
        replies += 1
        if len(r) < 12:
            bad += 1
            continue
        rid, fl = struct.unpack(">HH", r[:4])
        p = sent.get(rid)
        if p is None or len(p) < 12 or p[2] & 0x80 or not fl & 0x8000:
            bad += 1
    print("replies=%d bad=%d" % (replies, bad))
elif cmd == "tcp-pipeline":
    s = socket.create_connection(ADDR, timeout=3)
    names = ["httpbin.bar.global", "dual.test.global", "nosuch.global"]
    s.sendall(b"".join(frame(query(n, qid=0x100 + i)) for i, n in enumerate(names)))
    out = []
    for i in range(3):
        out.append(describe(tcp_read(s), 0x100 + i))
    # one more query, split inside the length prefix and inside the body
    m = frame(query("httpbin.bar.global", qid=0x200))
    s.sendall(m[:1]); time.sleep(0.2)
    s.sendall(m[1:9]); time.sleep(0.2)
    s.sendall(m[9:])
    out.append(describe(tcp_read(s), 0x200))
    s.close()
    print(" | ".join(out))
elif cmd == "axfr":
    s = socket.create_connection(ADDR, timeout=3)
    s.sendall(frame(query("global", qtype=252, qid=0x252)))
    print(describe(tcp_read(s), 0x252))
    s.close()
elif cmd == "ixfr":
    print(describe(udp(query("global", qtype=251, qid=0x251)), 0x251))
elif cmd == "opcode":
    op = int(sys.argv[3])
    print(describe(udp(query("httpbin.bar.global", qid=0x0909, flags=op << 11)), 0x0909))
elif cmd == "idle":
    s = socket.create_connection(ADDR, timeout=15)
    s.sendall(b"\x00")          # half a length prefix, then silence
    t0 = time.monotonic()
    try:
        data = s.recv(100)
        state = "closed" if data == b"" else "data"
    except socket.timeout:
        state = "open"
    except ConnectionResetError:
        state = "closed"
    print("%s %.1f" % (state, time.monotonic() - t0))
PY
raw() { python3 "$T_TMP/raw.py" "$PORT" "$@"; }

start_globaldns protocol "$T_TMP/Corefile" || { echo "Bail out! globaldns did not start"; exit 1; }

# The idle-timeout probe runs in the background while the rest goes on.
raw idle >"$T_TMP/idle.out" 2>&1 &
IDLE_PID=$!

HTTPBIN='NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1
an httpbin.bar.global. 30 IN A 240.0.0.2'

# ---- TCP ----
is "$(resp httpbin.bar.global A)" "$HTTPBIN" "UDP answer"
is "$(resp +tcp httpbin.bar.global A)" "$HTTPBIN" "TCP gives the same answer"
like "$(q +tcp httpbin.bar.global A)" 'SERVER: 127\.0\.0\.1#[0-9]+\(127\.0\.0\.1\) \(TCP\)' "the answer came over TCP"
out=$(q +tcp +keepopen +norec httpbin.bar.global A dual.test.global AAAA n29.test.global A)
is "$(printf '%s\n' "$out" | grep -c 'status: NOERROR')" 3 "+keepopen: three queries answered on one connection"
is "$(printf '%s\n' "$out" | awk '!/^;/ && NF == 5 {print $1, $4, $5}' | sort -u | grep -c .)" 31 \
	"+keepopen: all records of the three answers (1 + 1 + 29)"
like "$out" 'dual\.test\.global\.[[:space:]]+30[[:space:]]+IN[[:space:]]+AAAA[[:space:]]+2001:db8::3' "+keepopen: the second answer"
is "$(raw tcp-pipeline)" \
	"rcode=0 qr=1 opcode=0 an=1 id=ok | rcode=0 qr=1 opcode=0 an=1 id=ok | rcode=3 qr=1 opcode=0 an=0 id=ok | rcode=0 qr=1 opcode=0 an=1 id=ok" \
	"TCP: three pipelined queries in one write, then one split across writes"

# ---- truncation and retry over TCP ----
is "$(resp +ignore big.test.global A)" 'NOERROR flags:qr aa tc qd:1 an:0 ns:0 ar:1' \
	"100 addresses over UDP: TC, no answer records"
out=$(q big.test.global A)
like "$out" 'Truncated, retrying in TCP mode' "plain dig sees TC and retries over TCP"
is "$(printf '%s\n' "$out" | awk '!/^;/ && $4 == "A"' | grep -c .)" 100 "the TCP retry gets all 100 A records"
is "$(q +tcp +noall +answer big.test.global A | awk '{print $5}' | tr '\n' ' ')" \
	"$(for i in $(seq 1 100); do printf '240.1.100.%d ' "$i"; done)" "over TCP: the 100 addresses in numeric order"

first() { resp +ignore "$@" | head -n 1; }
msgsize() { q +norec +ignore "$@" | sed -n 's/.*MSG SIZE  rcvd: //p'; }
is "$(first n74.test.global A)" 'NOERROR flags:qr aa qd:1 an:74 ns:0 ar:1' "EDNS default 1232: 74 records fit"
is "$(msgsize n74.test.global A)" 1228 "EDNS default 1232: 1228 bytes"
is "$(first n75.test.global A)" 'NOERROR flags:qr aa tc qd:1 an:0 ns:0 ar:1' "EDNS default 1232: 75 records truncated"
is "$(first +bufsize=4096 n75.test.global A)" 'NOERROR flags:qr aa tc qd:1 an:0 ns:0 ar:1' \
	"+bufsize=4096 is capped at 1232: 75 records truncated"
is "$(first +bufsize=512 n29.test.global A)" 'NOERROR flags:qr aa qd:1 an:29 ns:0 ar:1' "+bufsize=512: 29 records fit"
is "$(msgsize +bufsize=512 n29.test.global A)" 508 "+bufsize=512: 508 bytes"
is "$(first +bufsize=512 n30.test.global A)" 'NOERROR flags:qr aa tc qd:1 an:0 ns:0 ar:1' "+bufsize=512: 30 records truncated"
is "$(first +bufsize=100 n29.test.global A)" 'NOERROR flags:qr aa qd:1 an:29 ns:0 ar:1' "+bufsize=100 counts as 512"
is "$(first +noedns n29.test.global A)" 'NOERROR flags:qr aa qd:1 an:29 ns:0 ar:0' "no EDNS: 29 records fit 512"
is "$(msgsize +noedns n29.test.global A)" 497 "no EDNS: 497 bytes"
is "$(first +noedns n30.test.global A)" 'NOERROR flags:qr aa tc qd:1 an:0 ns:0 ar:0' "no EDNS: 30 records (513 bytes) truncated"
is "$(first +noedns +tcp n75.test.global A)" 'NOERROR flags:qr aa qd:1 an:75 ns:0 ar:0' "no EDNS over TCP: no 512 limit"

# ---- EDNS ----
out=$(q +norec httpbin.bar.global A)
like "$out" '; EDNS: version: 0, flags:; udp: 1232$' "EDNS: OPT echoed, version 0, udp 1232"
like "$(q +norec +bufsize=512 httpbin.bar.global A)" '; EDNS: version: 0, flags:; udp: 1232$' \
	"EDNS: our own size 1232 in the OPT, whatever the client's"
like "$(q +norec +dnssec httpbin.bar.global A)" '; EDNS: version: 0, flags: do; udp: 1232$' "EDNS: DO bit echoed"
unlike "$(q +norec httpbin.bar.global A)" 'flags: do' "EDNS: no DO when not asked"
out=$(q +norec +edns=1 +noednsnegotiation httpbin.bar.global A)
like "$out" 'status: BADVERS' "+edns=1: BADVERS"
like "$out" '; EDNS: version: 0,' "BADVERS: OPT with version 0"
out=$(q +norec +noedns httpbin.bar.global A)
unlike "$out" 'OPT PSEUDOSECTION' "+noedns: no OPT in the answer"
is "$(resp +noedns httpbin.bar.global A)" 'NOERROR flags:qr aa qd:1 an:1 ns:0 ar:0
an httpbin.bar.global. 30 IN A 240.0.0.2' "+noedns: the answer, ADDITIONAL 0"

# ---- malformed packets ----
out=$(raw malformed)
getcase() { printf '%s\n' "$out" | sed -n "s/^$1 //p"; }
is "$(getcase empty)" none "empty packet: no answer"
is "$(getcase five-bytes)" none "5 bytes: no answer"
is "$(getcase header-only-qd0)" "rcode=1 qr=1 opcode=0 an=0 id=ok" "QDCOUNT=0: FORMERR"
is "$(getcase qdcount-2)" "rcode=1 qr=1 opcode=0 an=0 id=ok" "QDCOUNT=2: FORMERR"
is "$(getcase qr-set)" none "QR=1: dropped, no answer"
is "$(getcase truncated-question)" "rcode=1 qr=1 opcode=0 an=0 id=ok" "truncated question name: FORMERR"
is "$(getcase question-no-type)" "rcode=1 qr=1 opcode=0 an=0 id=ok" "question without type and class: FORMERR"
is "$(getcase compressed-qname)" "rcode=1 qr=1 opcode=0 an=0 id=ok" "compression pointer in the question: FORMERR"
is "$(getcase arcount-without-record)" "rcode=1 qr=1 opcode=0 an=0 id=ok" "ARCOUNT=1 without the record: FORMERR"
out=$(raw garbage)
like "$out" '^replies=[0-9]+ bad=0$' "500 random packets: every reply is a response to a query ($out)"
is "$(resp httpbin.bar.global A)" "$HTTPBIN" "after the garbage: still answers"
ok "$(kill -0 "$GD_PID" 2>/dev/null; echo $?)" "after the garbage: process alive"

# ---- opcodes, classes, transfers ----
is "$(rcode +opcode=notify global SOA)" NOTIMP "opcode NOTIFY: NOTIMP"
like "$(q +opcode=notify global SOA)" 'opcode: NOTIFY' "NOTIMP echoes the opcode"
is "$(rcode +opcode=update global SOA)" NOTIMP "opcode UPDATE: NOTIMP"
is "$(raw opcode 2)" "rcode=4 qr=1 opcode=2 an=0 id=ok" "opcode STATUS: NOTIMP"
is "$(rcode httpbin.bar.global CH TXT)" REFUSED "class CH for a name in the zone: REFUSED"
is "$(rcode version.bind CH TXT)" REFUSED "class CH version.bind: REFUSED"
is "$(raw axfr)" "rcode=5 qr=1 opcode=0 an=0 id=ok" "AXFR over TCP: REFUSED"
is "$(raw ixfr)" "rcode=5 qr=1 opcode=0 an=0 id=ok" "IXFR: REFUSED"

# ---- TCP idle timeout ----
for _ in $(seq 1 170); do kill -0 "$IDLE_PID" 2>/dev/null || break; sleep 0.1; done
kill "$IDLE_PID" 2>/dev/null
wait "$IDLE_PID" 2>/dev/null
idle=$(cat "$T_TMP/idle.out")
echo "# idle connection: $idle s"
like "$idle" '^closed ([0-9]|1[0-4])\.[0-9]$' "a TCP connection with half a message is closed within 15 s"
is "$(resp +tcp httpbin.bar.global A)" "$HTTPBIN" "after the idle close: still answers over TCP"
