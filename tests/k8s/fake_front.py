"""The network in front of the fake API server (tests/k8s/fake_apiserver.py).

    client --TCP--> Front (a relay, this file) --> nghttpx (HTTP/2, TLS) --> fake (HTTP/1.1, TLS)
                                               \-> fake (HTTP/1.1, TLS), with --http1

The Front accepts the connections clients make to the published port and
relays their bytes, so tests can do to a connection what a network does:

  - silence it: stop relaying in both directions while both sockets stay
    open (packets dropped, nothing closed: a NAT entry gone, a dead path).
    The client's kernel still sees a live TCP peer; only the client's own
    probes (an HTTP/2 PING, a read deadline) can find out.
  - drop it: close it at once (a proxy or the server restarting).
  - hold it: accept TCP and never relay (a TLS handshake that never ends).
  - count its bytes: what the client sent and received on the wire (TLS,
    HTTP/2 framing and gzip included), for the benchmarks.

Accepted sockets get TCP_NODELAY, as Go's net/http server sets it.

nghttpx (Debian's nghttp2-proxy) speaks HTTP/2 to the client and HTTP/1.1
to the fake.  Python's standard library has no HTTP/2 server; the `h2`
package exists in Debian only for the system interpreter (tests run
whatever python3 comes first in PATH) and would mean writing our own
connection handling (flow control, PING, SETTINGS) on top of it.  nghttpx
is a complete HTTP/2 server already used by the tests, and answers PINGs
itself, as a real server does.
"""
import os
import select
import signal
import socket
import subprocess
import threading
import time

CHUNK = 65536


def _pdeathsig():
    """In the child: die with the parent (prctl PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_listening(port, seconds=10.0):
    end = time.time() + seconds
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class H2Proxy:
    """nghttpx in front of the fake's TLS port: HTTP/2 (and HTTP/1.1) to clients."""

    def __init__(self, directory, backend_port):
        self.dir = directory
        self.backend_port = backend_port
        self.port = None
        self.proc = None

    def start(self):
        exe = None
        for d in os.environ.get("PATH", "").split(":") + ["/usr/sbin", "/usr/bin"]:
            if d and os.access(os.path.join(d, "nghttpx"), os.X_OK):
                exe = os.path.join(d, "nghttpx")
                break
        if exe is None:
            return False
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [exe, "--conf=/dev/null", "--single-process", "--workers=1", "--no-ocsp",
                 f"--frontend=127.0.0.1,{self.port}",
                 f"--backend=127.0.0.1,{self.backend_port};;tls", "-k",
                 "--backend-read-timeout=1h", "--frontend-read-timeout=1h",
                 "--backend-write-timeout=1h", "--frontend-write-timeout=1h",
                 "--frontend-keep-alive-timeout=1h",
                 "--backend-keep-alive-timeout=1h",
                 "--frontend-http2-max-concurrent-streams=1000",
                 f"--accesslog-file={self.dir}/access.log",
                 f"--errorlog-file={self.dir}/nghttpx.log",
                 os.path.join(self.dir, "server.key"), os.path.join(self.dir, "server.crt")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=_pdeathsig)
            if wait_listening(self.port, 10):
                return True
            self.stop()
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Conn:
    """One relayed connection: client <-> backend."""

    def __init__(self, front, cid, client, peer):
        self.front = front
        self.id = cid
        self.client = client
        self.peer = peer
        self.backend = None
        self.up = 0          # bytes client -> server
        self.down = 0        # bytes server -> client
        self.silent = False
        self.held = False
        self.closed = False
        self.opened = time.time()
        self.lock = threading.Lock()

    def info(self):
        try:
            nodelay = bool(self.client.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        except OSError:
            nodelay = None
        return {"id": self.id, "peer": "%s:%d" % self.peer, "up": self.up, "down": self.down,
                "nodelay": nodelay,
                "silent": self.silent, "held": self.held, "age": round(time.time() - self.opened, 3)}

    def close(self, abort=False):
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for s in (self.client, self.backend):
            if s is None:
                continue
            try:
                if abort:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        self.front.forget(self)

    def pump(self, src, dst, up):
        """Copy src -> dst until EOF; while silent, neither read nor write."""
        try:
            while not self.closed:
                if self.silent or self.held:
                    time.sleep(0.05)
                    continue
                r, _, _ = select.select([src], [], [], 0.2)
                if not r or self.silent:
                    continue
                data = src.recv(CHUNK)
                if not data:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                while self.silent and not self.closed:
                    time.sleep(0.05)   # read just before the silence: held, not delivered
                dst.sendall(data)
                with self.lock:
                    if up:
                        self.up += len(data)
                        self.front.total_up += len(data)
                    else:
                        self.down += len(data)
                        self.front.total_down += len(data)
        except OSError:
            pass
        finally:
            if not up or self.closed:
                self.close()
            else:
                # the client finished sending: let the answer come back
                pass


class Front:
    """The published port: relays every connection to the backend port."""

    def __init__(self, port, backend_port, faults, log):
        self.backend_port = backend_port
        self.faults = faults          # hang_tls is taken here
        self.log = log
        self.lock = threading.Lock()
        self.conns = {}
        self.next_id = 1
        self.accepted = 0
        self.total_up = 0
        self.total_down = 0
        self.silence_new = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.stopping = False

    def serve_forever(self):
        while not self.stopping:
            try:
                c, peer = self.sock.accept()
            except OSError:
                if self.stopping:
                    return
                continue
            threading.Thread(target=self.handle, args=(c, peer), daemon=True).start()

    def handle(self, c, peer):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.lock:
            conn = Conn(self, self.next_id, c, peer)
            self.next_id += 1
            self.accepted += 1
            self.conns[conn.id] = conn
            conn.silent = self.silence_new
        hit = self.faults.take("all", "", tls=True)
        if hit:   # accept TCP, never let the TLS handshake happen
            self.log.add(method=None, path=None, kind="tls", status=0, fault="hang_tls")
            conn.held = True
            end = time.time() + float(hit.get("seconds", 30))
            while time.time() < end and not conn.closed:
                time.sleep(0.1)
            conn.close()
            return
        try:
            b = socket.create_connection(("127.0.0.1", self.backend_port), timeout=10)
            b.settimeout(None)
            b.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            conn.close(abort=True)
            return
        conn.backend = b
        threading.Thread(target=conn.pump, args=(b, c, False), daemon=True).start()
        conn.pump(c, b, True)

    def forget(self, conn):
        with self.lock:
            self.conns.pop(conn.id, None)

    def open_conns(self):
        with self.lock:
            return list(self.conns.values())

    # --- control
    def silence(self, on=True, new=False):
        """Silence every open connection (and, with new, those accepted later)."""
        n = 0
        for c in self.open_conns():
            c.silent = on
            n += 1
        self.silence_new = bool(on and new)
        return n

    def drop(self):
        n = 0
        for c in self.open_conns():
            c.close(abort=True)
            n += 1
        return n

    def traffic(self):
        conns = [c.info() for c in self.open_conns()]
        return {"accepted": self.accepted, "open": len(conns), "bytes_up": self.total_up,
                "bytes_down": self.total_down, "connections": conns}

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        for c in self.open_conns():
            c.close()
