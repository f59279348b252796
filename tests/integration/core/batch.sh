#!/bin/bash
# batch.sh -- batched I/O on the real binary (listen.h): UDP queries
# arrive in bursts read with recvmmsg and are answered with sendmmsg, each
# from its own slot; TCP answers go straight to the socket, the answers to
# pipelined queries together, and what the socket does not take is
# buffered.  Every answer must reach the client that asked, carry its ID
# and its own records; a dropped query (acl drop) or a non-query in the
# middle of a burst sends nothing and takes nothing from its neighbours;
# a truncated answer (TC) in a burst stays truncated alone.
. "$(dirname "$0")/../lib.sh"
need dig python3
python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.3", 0))' 2>/dev/null \
	|| skip_all "no 127.0.0.3 on loopback"

plan 16

PORT=$(free_port)
python3 - "$T_TMP/se.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(300):
        f.write("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                f"metadata: {{name: h{i}, namespace: t}}\nspec:\n  hosts: [h-{i}.t.global]\n"
                f"  addresses: [240.0.{i // 256}.{i % 256}]\n  resolution: STATIC\n")
    # 100 addresses: truncated over UDP, about 1.6 kB over TCP
    f.write("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
            "metadata: {name: big, namespace: t}\nspec:\n  hosts: [big.t.global]\n"
            "  addresses: [" + ", ".join(f"240.1.0.{i}" for i in range(1, 101)) + "]\n  resolution: STATIC\n")
PY
cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
	acl {
		drop net 127.0.0.3
		allow net 127.0.0.0/8
	}
	serviceentries {
		file $T_TMP/se.yaml
	}
}
EOF
start_globaldns batch "$T_TMP/Corefile" || exit 1

cat >"$T_TMP/client.py" <<'PY'
import select, socket, struct, sys, threading, time

port = int(sys.argv[1]); mode = sys.argv[2]

def query(qid, name, qr=0):
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100 | (qr << 15), 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1)

def parse(m):
    """id, flags, the A addresses of the answer section"""
    qid, flags, qd, an = struct.unpack(">HHHH", m[:8])
    p = 12
    def skip_name(p):
        while True:
            l = m[p]
            if l == 0: return p + 1
            if l >= 0xc0: return p + 2
            p += 1 + l
    for _ in range(qd):
        p = skip_name(p) + 4
    addrs = []
    for _ in range(an):
        p = skip_name(p)
        t, c, ttl, rdl = struct.unpack(">HHIH", m[p:p + 10]); p += 10
        if t == 1: addrs.append(socket.inet_ntoa(m[p:p + 4]))
        p += rdl
    return qid, flags, addrs

def read_answers(s, n, timeout):
    """up to n parsed answers from TCP socket s, until it closes or is
    quiet for timeout seconds"""
    s.settimeout(timeout)
    buf, answers = b"", []
    try:
        while len(answers) < n:
            d = s.recv(65536)
            if not d: break
            buf += d
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
                l = struct.unpack(">H", buf[:2])[0]
                answers.append(parse(buf[2:2 + l])); buf = buf[2 + l:]
    except socket.timeout:
        pass
    return answers

def want(i):
    return f"240.0.{i // 256}.{i % 256}"

if mode == "udp":
    ok = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); ok.bind(("127.0.0.1", 0))
    dropped = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); dropped.bind(("127.0.0.3", 0))
    for s in (ok, dropped):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sent = {}
    got, wrong, dup, tc_ok, from_dropped = {}, 0, 0, 0, 0
    def collect(until):
        global wrong, dup, tc_ok, from_dropped
        end = time.monotonic() + 3
        while time.monotonic() < end and not all(k in got for k in until):
            r, _, _ = select.select([ok, dropped], [], [], 0.5)
            for s in r:
                m = s.recv(65535)
                if s is dropped: from_dropped += 1; continue
                qid, flags, addrs = parse(m)
                if qid in got: dup += 1
                got[qid] = 1
                if sent.get(qid) == "TC":
                    tc_ok += bool(flags & 0x0200) and not addrs
                elif addrs != [sent.get(qid)]:
                    wrong += 1
    # bursts of about 70 datagrams (well within the server's receive
    # buffer, so a busy machine loses none), interleaved: an allowed
    # query, now and then a dropped one, a non-query (QR=1, never
    # answered) or a query whose answer is truncated
    for start in range(0, 300, 50):
        burst = []
        for i in range(start, start + 50):
            ok.sendto(query(i, f"h-{i}.t.global"), ("127.0.0.1", port)); sent[i] = want(i); burst.append(i)
            if i % 3 == 0: dropped.sendto(query(i, f"h-{i}.t.global"), ("127.0.0.1", port))
            if i % 10 == 0: ok.sendto(query(1000 + i, f"h-{i}.t.global", qr=1), ("127.0.0.1", port))
            if i % 15 == 0: ok.sendto(query(2000 + i, "big.t.global"), ("127.0.0.1", port)); sent[2000 + i] = "TC"; burst.append(2000 + i)
        collect(burst)
    time.sleep(0.3)
    for s in (ok, dropped):
        s.setblocking(False)
        try:
            while True:
                s.recv(65535)
                from_dropped += s is dropped
                dup += s is ok
        except BlockingIOError:
            pass
    print(len(sent), len(got), wrong, dup, tc_ok, from_dropped)
elif mode == "split":
    # an empty message, then three queries cut at awkward places (inside a
    # length, inside a message, between a length's two bytes), 50 ms
    # apart: which answers come back, and are they right?
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect(("127.0.0.1", port))
    stream = b"\0\0" + b"".join(struct.pack(">H", len(m)) + m
                               for m in (query(i, f"h-{i}.t.global") for i in (1, 2, 3)))
    l1 = len(query(1, "h-1.t.global")) + 2
    cuts = [3, 3 + 7, 2 + l1 + l1 + 1, len(stream)]
    prev = 0
    for c in cuts:
        s.sendall(stream[prev:c]); prev = c
        time.sleep(0.05)
    answers = read_answers(s, 3, 3)
    print(" ".join("%d=%s" % (a[0], ",".join(a[2]) if a[2] else "-") for a in answers) or "none")
else:
    # tcp N BIG RCVBUF DELAY: N queries pipelined in one write, every 5th
    # for the 100-address name when BIG is 1; read after DELAY seconds
    n, big, rcvbuf, delay = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf: s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    msgs, expect = [], []
    for i in range(n):
        if big and i % 5 == 0:
            m = query(i, "big.t.global"); expect.append(100)
        else:
            m = query(i, f"h-{i % 300}.t.global"); expect.append(want(i % 300))
        msgs.append(struct.pack(">H", len(m)) + m)
    # sent from a thread: a server that stops reading until its answers
    # are taken must not stall the reading below
    sender = threading.Thread(target=s.sendall, args=(b"".join(msgs),), daemon=True)
    sender.start()
    time.sleep(delay)
    answers = read_answers(s, n, 5)
    sender.join(5)
    ids = [a[0] for a in answers]
    wrong = sum(1 for qid, fl, addrs in answers
                if not (len(addrs) == 100 if expect[qid] == 100 else addrs == [expect[qid]]))
    print(len(answers), int(ids == list(range(n))), wrong)
PY

read -r nsent ngot wrong dup tc from_dropped < <(python3 "$T_TMP/client.py" "$PORT" udp)
echo "# UDP burst: sent=$nsent answered=$ngot wrong=$wrong duplicates=$dup truncated=$tc to-dropped=$from_dropped"
is "$ngot" "$nsent" "UDP bursts, $nsent queries amid dropped ones and non-queries: every one answered"
is "$wrong" 0 "... each answer carries its own query's address"
is "$dup" 0 "... exactly once"
is "$tc" 20 "... the 20 answers too big for UDP come truncated, without records"
is "$from_dropped" 0 "... the source acl drops gets nothing back"

read -r n inorder wrong < <(python3 "$T_TMP/client.py" "$PORT" tcp 300 0 0 0)
is "$n" 300 "TCP: 300 pipelined queries in one write: 300 answers"
is "$inorder" 1 "... in the order asked (all answered at once)"
is "$wrong" 0 "... each with its own address"

# 300 queries, 60 of them with 1.6 kB answers: more than one staging buffer
read -r n inorder wrong < <(python3 "$T_TMP/client.py" "$PORT" tcp 300 1 0 0)
is "$n:$inorder:$wrong" "300:1:0" "TCP: answers past the staging buffer's size: all, in order, right"

# a client that reads late with a small window: the socket takes part, the
# rest waits in the connection's buffer
read -r n inorder wrong < <(python3 "$T_TMP/client.py" "$PORT" tcp 1000 1 4096 1)
is "$n:$inorder:$wrong" "1000:1:0" "TCP: a client that reads late through a 4 kB window gets all 1,000 answers, in order"

# more than the server reads at once (6,000 queries, 216 kB) and more
# answers than it keeps for a client (2.1 MB): it stops reading while the
# answers wait, keeps what it read, and goes on where it stopped
read -r n inorder wrong < <(python3 "$T_TMP/client.py" "$PORT" tcp 6000 1 4096 1)
is "$n:$inorder:$wrong" "6000:1:0" "TCP: 6,000 pipelined queries to a client that reads late: all answered, in order, right"

# framing: a message split across reads is kept and completed; an empty
# one is dropped and the connection goes on
is "$(python3 "$T_TMP/client.py" "$PORT" split)" "1=240.0.0.1 2=240.0.0.2 3=240.0.0.3" \
	"TCP: an empty message, then 3 queries cut inside a length and inside a message: all 3 answered, right"

is "$(q +short h-7.t.global)" "240.0.0.7" "dig over UDP afterwards"
is "$(q +short +tcp h-299.t.global)" "240.0.1.43" "dig over TCP afterwards"
is "$(q +tcp +short big.t.global | grep -c "^240\.1\.0\.")" 100 "dig +tcp big.t.global: 100 records"
stop_pid "$GD_PID"
is "$?" 0 "clean exit on SIGTERM"
