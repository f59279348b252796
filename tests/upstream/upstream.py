#!/usr/bin/env python3
"""upstream.py -- a scripted, misbehaving DNS upstream for the forwarder's
tests (Python 3 standard library only).

Listens on 127.0.0.1 (UDP and TCP) and answers from a small table.  How it
answers is its *mode*, given with --mode or, if --control FILE is given,
read from that file on every query (so a test can change it while it runs;
a missing or empty file means --mode):

  normal    answer from the table: A records given with --a NAME=IP, a big
            answer with --big NAME=COUNT (COUNT A records; near 64 KiB the
            OPT is left out rather than overflow the message); other names get
            NXDOMAIN with a SOA (minimum --negttl); `. NS` gets NOERROR
  silent    never answer
  slow      answer after --delay seconds (other queries are not held up)
  truncate  over UDP: header and question with TC; over TCP: the answer
  wrongid   the answer with another ID
  wrongq    the answer for another name
  servfail  SERVFAIL
  refused   REFUSED

Every query received is logged to --log FILE, one line:
  "udp|tcp NAME TYPE ID FLAGS PORT" (NAME as received, TYPE numeric, FLAGS
  hex, PORT the sender's source port)
The process prints "ready" on stdout once both sockets listen.  It runs
until killed, or at most --lifetime seconds (default 120).
"""
import argparse
import os
import socket
import struct
import sys
import threading
import time

LOCK = threading.Lock()


def parse_name(msg, off):
    labels = []
    while True:
        n = msg[off]
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n])
        off += n
    return labels, off


def wire_name(labels):
    return b"".join(bytes([len(l)]) + l for l in labels) + b"\0"


def text_name(labels):
    return ".".join(l.decode("ascii", "replace") for l in labels) + "."


class Upstream:
    def __init__(self, args):
        self.args = args
        self.table = {}
        for item in args.a:
            name, ip = item.split("=", 1)
            self.table.setdefault(name.lower().rstrip(".") + ".", []).append(ip)
        for item in args.big:
            name, count = item.split("=", 1)
            self.table[name.lower().rstrip(".") + "."] = [
                "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255) for i in range(int(count))]
        self.logf = open(args.log, "a", buffering=1) if args.log else None

    def mode(self):
        if self.args.control:
            try:
                with open(self.args.control) as f:
                    m = f.read().split()
                if m:
                    return m[0]
            except OSError:
                pass
        return self.args.mode

    def log(self, proto, labels, qtype, qid, flags, port):
        if self.logf:
            with LOCK:
                self.logf.write("%s %s %d %d %04x %d\n" % (proto, text_name(labels), qtype, qid, flags, port))

    def answer(self, msg, tcp, port=0):
        """Returns (response bytes or None, delay seconds)."""
        if len(msg) < 12:
            return None, 0
        qid, flags, qd, an, ns, ar = struct.unpack("!6H", msg[:12])
        if flags & 0x8000 or qd != 1:
            return None, 0
        labels, off = parse_name(msg, 12)
        qtype, qclass = struct.unpack("!HH", msg[off:off + 4])
        qend = off + 4
        self.log("tcp" if tcp else "udp", labels, qtype, qid, flags, port)
        edns = ar >= 1 and len(msg) >= qend + 11 and msg[qend] == 0 \
            and struct.unpack("!H", msg[qend + 1:qend + 3])[0] == 41
        do = edns and (struct.unpack("!I", msg[qend + 5:qend + 9])[0] & 0x8000) != 0
        mode = self.mode()
        if mode == "silent":
            return None, 0
        question = msg[12:qend]
        rflags = 0x8000 | 0x0080 | (flags & 0x0110)  # QR RA, RD CD copied
        rcode = 0
        answers = []
        authority = []
        name = text_name(labels).lower()
        if mode == "wrongq":
            question = wire_name([b"wrong"] + labels) + struct.pack("!HH", qtype, qclass)
        if mode == "servfail":
            rcode = 2
        elif mode == "refused":
            rcode = 5
        elif name == "." or (qtype in (1, 255) and name in self.table):
            if name != ".":
                for ip in self.table[name]:
                    answers.append(struct.pack("!HHHIH", 0xC00C, 1, 1, self.args.ttl, 4)
                                   + socket.inet_aton(ip))
        elif name in self.table:
            pass  # NODATA
        else:
            rcode = 3
        if rcode == 3 or (rcode == 0 and not answers and name != "."):
            zone = wire_name(labels[-1:]) if labels else b"\0"
            soa = wire_name([b"ns", b"upstream"]) + wire_name([b"hostmaster", b"upstream"]) \
                + struct.pack("!IIIII", 1, 3600, 600, 86400, self.args.negttl)
            authority.append(zone + struct.pack("!HHIH", 6, 1, self.args.negttl, len(soa)) + soa)
        if mode == "truncate" and not tcp:
            answers, authority = [], []
            rflags |= 0x0200
        rid = (qid + 1) & 0xFFFF if mode == "wrongid" else qid
        opt = b""
        if edns:
            opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0x8000 if do else 0, 0)
        body = question + b"".join(answers) + b"".join(authority)
        if len(body) + 12 + len(opt) > 65535:
            opt = b""  # a near-64 KiB answer: no room for the OPT
        out = struct.pack("!6H", rid, rflags | rcode, 1, len(answers), len(authority),
                          1 if opt else 0) + body + opt
        if not tcp and len(out) > 512 and not edns or (not tcp and edns and len(out) > 1232):
            out = struct.pack("!6H", rid, rflags | rcode | 0x0200, 1, 0, 0, 1 if edns else 0) + question + opt
        return out, (self.args.delay if mode == "slow" else 0)

    def serve_udp(self, sock):
        while True:
            msg, peer = sock.recvfrom(65535)
            try:
                out, delay = self.answer(msg, False, peer[1])
            except Exception as e:  # a test upstream must not die on junk
                print("error: %s" % e, file=sys.stderr)
                continue
            if out is None:
                continue
            if delay:
                threading.Timer(delay, sock.sendto, (out, peer)).start()
            else:
                sock.sendto(out, peer)

    def serve_tcp_conn(self, conn):
        conn.settimeout(10)
        port = conn.getpeername()[1]
        try:
            while True:
                hdr = conn.recv(2)
                if len(hdr) < 2:
                    return
                n = struct.unpack("!H", hdr)[0]
                msg = b""
                while len(msg) < n:
                    chunk = conn.recv(n - len(msg))
                    if not chunk:
                        return
                    msg += chunk
                out, delay = self.answer(msg, True, port)
                if out is None:
                    continue
                if delay:
                    time.sleep(delay)
                conn.sendall(struct.pack("!H", len(out)) + out)
        except OSError:
            pass
        finally:
            conn.close()

    def serve_tcp(self, sock):
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=self.serve_tcp_conn, args=(conn,), daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", default="normal",
                   choices=["normal", "silent", "slow", "truncate", "wrongid", "wrongq", "servfail", "refused"])
    p.add_argument("--control")
    p.add_argument("--log")
    p.add_argument("--a", action="append", default=[], metavar="NAME=IP")
    p.add_argument("--big", action="append", default=[], metavar="NAME=COUNT")
    p.add_argument("--ttl", type=int, default=300)
    p.add_argument("--negttl", type=int, default=60)
    p.add_argument("--delay", type=float, default=3.0)
    p.add_argument("--lifetime", type=float, default=120.0)
    args = p.parse_args()
    up = Upstream(args)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", args.port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", args.port))
    tcp.listen(64)
    threading.Thread(target=up.serve_udp, args=(udp,), daemon=True).start()
    threading.Thread(target=up.serve_tcp, args=(tcp,), daemon=True).start()
    print("ready", flush=True)
    time.sleep(args.lifetime)
    os._exit(0)


if __name__ == "__main__":
    main()
