#!/usr/bin/env python3
"""A tiny loopback proxy for tests: HTTP CONNECT on one port, SOCKS5 on another.

    fake_proxy.py --dir DIR [--map HOST=IP ...]

Writes DIR/http_port, DIR/socks_port and DIR/ready; appends one line per
tunnel to DIR/log:  "CONNECT host:port" or "SOCKS5 host:port" (a domain
name as the client sent it; an IP as text).  Names are resolved here: a
--map entry first, else the system resolver; only loopback targets are
ever connected to (anything else is refused).  Standard library only.
"""
import argparse
import ipaddress
import os
import select
import socket
import struct
import sys
import threading


def relay(a, b):
    socks = [a, b]
    try:
        while True:
            r, _, _ = select.select(socks, [], [], 300)
            if not r:
                return
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                (b if s is a else a).sendall(data)
    except OSError:
        return
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


class Proxy:
    def __init__(self, d, mapping):
        self.dir = d
        self.map = mapping
        self.lock = threading.Lock()

    def record(self, line):
        with self.lock, open(os.path.join(self.dir, "log"), "a") as f:
            f.write(line + "\n")

    def target(self, host, port):
        ip = self.map.get(host.lower())
        if ip is None:
            try:
                ip = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
            except OSError:
                return None
        if not ipaddress.ip_address(ip).is_loopback:
            return None         # tests stay on loopback
        try:
            return socket.create_connection((ip, port), timeout=5)
        except OSError:
            return None

    def http(self, c):
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = c.recv(4096)
            if not data:
                c.close()
                return
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        line = head.split(b"\r\n")[0].decode("latin-1")
        parts = line.split()
        if len(parts) != 3 or parts[0] != "CONNECT":
            self.record("REFUSED " + line)
            c.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            c.close()
            return
        host, _, port = parts[1].rpartition(":")
        self.record("CONNECT " + parts[1])
        t = self.target(host.strip("[]"), int(port))
        if t is None:
            c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            c.close()
            return
        c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        if rest:
            t.sendall(rest)
        relay(c, t)

    def socks(self, c):
        def read(n):
            b = b""
            while len(b) < n:
                d = c.recv(n - len(b))
                if not d:
                    raise OSError("closed")
                b += d
            return b
        try:
            ver, n = read(2)
            read(n)
            c.sendall(b"\x05\x00")                          # no authentication
            ver, cmd, _, atyp = read(4)
            if atyp == 1:
                host = socket.inet_ntoa(read(4))
            elif atyp == 3:
                host = read(read(1)[0]).decode()
            elif atyp == 4:
                host = socket.inet_ntop(socket.AF_INET6, read(16))
            else:
                raise OSError("address type")
            port = struct.unpack(">H", read(2))[0]
        except (OSError, ValueError):
            c.close()
            return
        self.record("SOCKS5 %s:%d" % (host, port))
        t = self.target(host, port) if cmd == 1 else None
        if t is None:
            c.sendall(b"\x05\x05\x00\x01\0\0\0\0\0\0")
            c.close()
            return
        c.sendall(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
        relay(c, t)

    def serve(self, sock, fn):
        while True:
            c, _ = sock.accept()
            threading.Thread(target=fn, args=(c,), daemon=True).start()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", required=True)
    p.add_argument("--map", action="append", default=[], help="HOST=IP")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    proxy = Proxy(a.dir, dict(m.lower().split("=", 1) for m in a.map))
    socks = []
    for name, fn in (("http_port", proxy.http), ("socks_port", proxy.socks)):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        with open(os.path.join(a.dir, name), "w") as f:
            f.write("%d\n" % s.getsockname()[1])
        socks.append((s, fn))
    for s, fn in socks[1:]:
        threading.Thread(target=proxy.serve, args=(s, fn), daemon=True).start()
    open(os.path.join(a.dir, "ready"), "w").close()
    try:
        proxy.serve(*socks[0])
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
