#!/usr/bin/env python3
"""dnsflood.py -- send many UDP queries from one socket and count the
answers, for the integration tests of limits (forward's in-flight cap,
rrl).  Python 3 standard library only; loopback only.

  dnsflood.py --port P [--server 127.0.0.1] [--source ADDR] --count N
              [--name NAME] [--type A] [--rate QPS] [--wait SECONDS]

NAME may hold "{i}" (the query's number).  RATE 0 (the default) sends as
fast as the socket takes them.  After the last query it waits WAIT
seconds (default 2) for answers.  Prints one line of KEY=VALUE:
  sent answered noerror nxdomain servfail refused other tc within1s
(within1s: answers that came less than one second after their query).
"""
import argparse
import select
import socket
import struct
import time


def query(qid, name, qtype):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", qtype, 1)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--server", default="127.0.0.1")
    p.add_argument("--source")
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--name", default="q{i}.example.test")
    p.add_argument("--type", default="A")
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--wait", type=float, default=2.0)
    a = p.parse_args()
    qtype = {"A": 1, "AAAA": 28, "TXT": 16, "NS": 2, "SOA": 6}.get(a.type, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    if a.source:
        s.bind((a.source, 0))
    s.setblocking(False)
    sent_at = {}
    counts = dict(sent=0, answered=0, noerror=0, nxdomain=0, servfail=0,
                  refused=0, other=0, tc=0, within1s=0)
    names = {0: "noerror", 3: "nxdomain", 2: "servfail", 5: "refused"}

    def drain(deadline):
        while True:
            left = max(0.0, deadline - time.monotonic())
            r, _, _ = select.select([s], [], [], left)
            if not r:
                return
            while True:
                try:
                    m = s.recv(65535)
                except BlockingIOError:
                    break
                if len(m) < 12:
                    continue
                qid, flags = struct.unpack(">HH", m[:4])
                t0 = sent_at.pop(qid, None)
                if t0 is None:
                    continue
                counts["answered"] += 1
                counts[names.get(flags & 0xF, "other")] += 1
                if flags & 0x0200:
                    counts["tc"] += 1
                if time.monotonic() - t0 < 1.0:
                    counts["within1s"] += 1
            if time.monotonic() >= deadline:
                return

    start = time.monotonic()
    for i in range(a.count):
        if a.rate > 0:
            due = start + i / a.rate
            if due > time.monotonic():
                drain(due)
        qid = i % 65536
        pkt = query(qid, a.name.format(i=i), qtype)
        while True:
            try:
                s.sendto(pkt, (a.server, a.port))
                break
            except BlockingIOError:
                drain(time.monotonic() + 0.01)
        sent_at[qid] = time.monotonic()
        counts["sent"] += 1
        if a.rate <= 0 and i % 64 == 63:
            drain(time.monotonic())
    drain(time.monotonic() + a.wait)
    print(" ".join("%s=%d" % kv for kv in counts.items()))


if __name__ == "__main__":
    main()
