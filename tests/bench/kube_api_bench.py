#!/usr/bin/env python3
"""kube_api_bench.py -- what one globaldns replica costs the Kubernetes API
server, and how fast and how small it is, against the fake API server
(tests/k8s: HTTP/2 through nghttpx, bookmarks every minute, gzip from
128 KiB, as a real one).  Prints a table; asserts nothing; not part of
`make check`.

For each size N (default 10,000 and 100,000 ServiceEntries):
  first answer   from the start of globaldns until the last entry resolves
  RSS steady     VmRSS once synced, and after the change window
  idle           API bytes per minute (on the wire, TLS included: the
                 fake's relay counts them) and requests per minute, nothing
                 changing, over --window seconds
  10 changes/s   the same while 10 entries per second get a new address;
                 change-to-DNS latency (the change's POST returned -> dig
                 answers the new address), median and p99
  re-lists       (--relists K) K re-lists forced by 410 (history compacted,
                 watches closed): RSS after each, growth over the first

    tests/bench/kube_api_bench.py --globaldns BUILD/globaldns [--sizes 10000,100000]
        [--window 120] [--relists 10] [--label NAME] [--json OUT]

Traffic stays on 127.0.0.1.  Every process it starts is stopped.
"""
import argparse
import json
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAKE = os.path.join(TOP, "tests", "k8s", "fake_apiserver.py")
sys.path.insert(0, os.path.join(TOP, "tests", "k8s"))
from fake_front import free_port  # noqa: E402


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def addr_of(i):
    """The address /bulk gives entry i."""
    n = i + 1
    return "240.%d.%d.%d" % ((n >> 16) & 255, (n >> 8) & 255, n & 255)


def dns_a(port, name, timeout=0.5):
    """A query over UDP: (rcode, [addresses]) or (None, []) on timeout."""
    qid = random.randint(0, 65535)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("127.0.0.1", port))
        r, _ = s.recvfrom(4096)
    except OSError:
        return None, []
    finally:
        s.close()
    if len(r) < 12:
        return None, []
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", r[:12])
    off = 12
    for _ in range(qd):
        while r[off] != 0:
            if r[off] & 0xC0 == 0xC0:
                off += 1
                break
            off += r[off] + 1
        off += 5
    out = []
    for _ in range(an):
        if r[off] & 0xC0 == 0xC0:
            off += 2
        else:
            while r[off] != 0:
                off += r[off] + 1
            off += 1
        rtype, _, _, rdlen = struct.unpack(">HHIH", r[off:off + 10])
        off += 10
        if rtype == 1 and rdlen == 4:
            out.append(".".join(str(b) for b in r[off:off + 4]))
        off += rdlen
    return flags & 15, out


class Fake:
    def __init__(self, tmp, args):
        self.dir = os.path.join(tmp, "k8s")
        self.log = open(os.path.join(tmp, "fake.log"), "w")
        cmd = [sys.executable, FAKE, "serve", "--dir", self.dir]
        if args.http1:
            cmd.append("--http1")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            if os.path.exists(os.path.join(self.dir, "ready")):
                break
            time.sleep(0.05)
        else:
            raise SystemExit("the fake API server did not start")
        self.cport = int(open(os.path.join(self.dir, "control_port")).read())

    def ctl(self, endpoint, data=None, timeout=600):
        url = f"http://127.0.0.1:{self.cport}/{endpoint}"
        if data is None and endpoint.split("?")[0] in ("log", "state", "traffic"):
            req = urllib.request.Request(url)
        else:
            req = urllib.request.Request(url, data=json.dumps(data or {}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def stop(self):
        stop(self.proc)


class Daemon:
    def __init__(self, tmp, binary, kubeconfig, extra):
        self.port = free_port()
        self.mport = free_port()
        conf = os.path.join(tmp, "Corefile")
        with open(conf, "w") as f:
            f.write(f"global:{self.port} {{\n    prometheus 127.0.0.1:{self.mport}\n"
                    f"    serviceentries {{\n        kubeconfig {kubeconfig}\n")
            for e in extra:
                f.write(f"        {e}\n")
            f.write("    }\n}\n")
        self.logf = open(os.path.join(tmp, "globaldns.log"), "w")
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen([binary, "-conf", conf], stdout=self.logf, stderr=subprocess.STDOUT)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def metric(self, name):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.mport}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return None
        total = None
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total = (total or 0) + float(line.rsplit(" ", 1)[1])
        return total

    def stop(self):
        stop(self.proc)


def requests_by_kind(fake, since_seq):
    kinds = {}
    last = since_seq
    for e in fake.ctl("log?since=%d" % since_seq)["entries"]:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        last = max(last, e["seq"])
    return kinds, last


def last_seq(fake):
    es = fake.ctl("log")["entries"]
    return es[-1]["seq"] if es else 0


def window(fake, daemon, seconds, rate, n):
    """Traffic over a window; with rate > 0, that many changes per second and their latencies."""
    seq0 = last_seq(fake)
    b0 = fake.ctl("traffic")["bytes_down"]
    t0 = time.monotonic()
    lat = []
    missed = 0
    pending = {}          # name -> (address, t_posted)
    lock = threading.Lock()
    stop = threading.Event()

    def poller():
        while not stop.is_set() or pending:
            with lock:
                items = list(pending.items())
            if not items:
                time.sleep(0.002)
                continue
            for name, (want, t) in items:
                _, got = dns_a(daemon.port, name)
                now = time.monotonic()
                if want in got:
                    with lock:
                        pending.pop(name, None)
                    lat.append((now - t) * 1000)
                elif now - t > 60:
                    with lock:
                        pending.pop(name, None)
            if stop.is_set() and time.monotonic() - t0 > seconds + 60:
                return

    th = None
    if rate > 0:
        th = threading.Thread(target=poller, daemon=True)
        th.start()
    k = 0
    while time.monotonic() - t0 < seconds:
        if rate <= 0:
            time.sleep(0.5)
            continue
        nxt = t0 + k / rate
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
        i = random.randrange(n)
        addr = "10.%d.%d.%d" % ((k >> 16) & 255, (k >> 8) & 255, k & 255)
        name = f"svc-{i:05d}.default.global"
        spec = {"hosts": [name], "location": "MESH_INTERNAL", "resolution": "STATIC",
                "addresses": [addr], "ports": [{"name": "http", "number": 80, "protocol": "HTTP"}]}
        with lock:
            if name in pending:
                k += 1
                continue
        fake.ctl("entries", {"kind": "ServiceEntry", "metadata": {"name": f"se-{i:05d}", "namespace": "default"},
                             "spec": spec})
        with lock:
            pending[name] = (addr, time.monotonic())
        k += 1
    elapsed = time.monotonic() - t0
    b1 = fake.ctl("traffic")["bytes_down"]
    if th:
        stop.set()
        th.join(70)
        missed = len(pending)
    kinds, _ = requests_by_kind(fake, seq0)
    per_min = 60.0 / elapsed
    res = {"bytes_per_min": (b1 - b0) * per_min, "seconds": elapsed,
           "requests_per_min": {k: v * per_min for k, v in kinds.items()}}
    if rate > 0:
        lat.sort()
        res["changes"] = k
        res["latency_ms_median"] = statistics.median(lat) if lat else None
        res["latency_ms_p99"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None
        res["latency_ms_max"] = lat[-1] if lat else None
        res["missed"] = missed
    return res


def wait_lists(daemon, want, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = daemon.metric("globaldns_kubernetes_lists_total")
        if v is not None and v >= want:
            return True
        time.sleep(0.2)
    return False


def run_size(args, n):
    tmp = tempfile.mkdtemp(prefix="kube-api-bench.")
    fake = Fake(tmp, args)
    out = {"n": n}
    daemon = None
    try:
        t = time.monotonic()
        for start in range(0, n, 20000):
            fake.ctl("bulk", {"count": min(20000, n - start), "start": start})
        sys.stderr.write(f"# {n} entries created in {time.monotonic() - t:.1f} s\n")
        daemon = Daemon(tmp, args.globaldns, os.path.join(fake.dir, "kubeconfig"), args.prop or [])
        last = f"svc-{n - 1:05d}.default.global"
        want = addr_of(n - 1)
        first = None
        while time.monotonic() - daemon.t0 < 120:
            rc, got = dns_a(daemon.port, last, 0.2)
            if want in got:
                first = time.monotonic() - daemon.t0
                break
            time.sleep(0.01)
        out["first_answer_s"] = first
        time.sleep(5)
        out["rss_synced_kib"] = daemon.rss_kib()
        sys.stderr.write(f"# first answer {first} s, RSS {out['rss_synced_kib']} KiB\n")
        out["idle"] = window(fake, daemon, args.window, 0, n)
        out["rss_idle_kib"] = daemon.rss_kib()
        sys.stderr.write(f"# idle: {out['idle']}\n")
        out["changes"] = window(fake, daemon, args.window, args.rate, n)
        out["rss_changes_kib"] = daemon.rss_kib()
        sys.stderr.write(f"# changes: {out['changes']}\n")
        if args.relists and n >= args.relist_min:
            rss = [daemon.rss_kib()]
            base = daemon.metric("globaldns_kubernetes_lists_total") or 0
            times = []
            for k in range(args.relists):
                t = time.monotonic()
                # the watch held off (500) while a change is made and the
                # history compacted past it: its next watch gets 410
                fid = fake.ctl("fault", {"kind": "watch", "code": 500})["fault"]["id"]
                fake.ctl("close-watches", {})
                fake.ctl("entries", {"kind": "ServiceEntry",
                                     "metadata": {"name": "bench-bump", "namespace": "default"},
                                     "spec": {"hosts": ["bench-bump.default.global"], "resolution": "STATIC",
                                              "addresses": ["10.255.0.%d" % (k + 1)]}})
                fake.ctl("compact", {"keep": 0})
                fake.ctl("clear", {"id": fid})
                if not wait_lists(daemon, base + k + 1, 300):
                    sys.stderr.write("# re-list %d did not complete\n" % (k + 1))
                    break
                times.append(time.monotonic() - t)
                time.sleep(2)
                rss.append(daemon.rss_kib())
            out["relist_rss_kib"] = rss
            out["relist_s"] = times
            sys.stderr.write(f"# re-lists: RSS {rss}\n")
    finally:
        if daemon:
            daemon.stop()
        fake.stop()
    return out


def mib(kib):
    return "%.1f" % (kib / 1024.0) if kib else "-"


def table(label, results):
    print(f"\n{label}")
    hdr = ("entries", "first ans s", "RSS MiB", "B/name", "idle MB/min", "idle req/min",
           "10/s MB/min", "10/s req/min", "lat med ms", "lat p99 ms", "missed", "RSS after MiB",
           "relist RSS MiB (before..after 10)", "growth %", "vs synced %")
    print(" | ".join(hdr))
    for r in results:
        idle, ch = r["idle"], r["changes"]
        rel = r.get("relist_rss_kib")
        growth = "%.1f" % ((rel[-1] - rel[0]) * 100.0 / rel[0]) if rel and len(rel) > 1 else "-"
        vs = "%.1f" % ((rel[-1] - r["rss_synced_kib"]) * 100.0 / r["rss_synced_kib"]) if rel and len(rel) > 1 else "-"

        def req(w):
            return " ".join(f"{k}:{v:.1f}" for k, v in sorted(w["requests_per_min"].items()))
        print(" | ".join(str(x) for x in (
            r["n"], "%.2f" % r["first_answer_s"] if r["first_answer_s"] else "-",
            mib(r["rss_synced_kib"]), "%.0f" % (r["rss_synced_kib"] * 1024.0 / r["n"]),
            "%.3f" % (idle["bytes_per_min"] / 1e6), req(idle),
            "%.3f" % (ch["bytes_per_min"] / 1e6), req(ch),
            "%.0f" % ch["latency_ms_median"] if ch.get("latency_ms_median") is not None else "-",
            "%.0f" % ch["latency_ms_p99"] if ch.get("latency_ms_p99") is not None else "-",
            ch.get("missed"), mib(r["rss_changes_kib"]),
            "%s..%s" % (mib(rel[0]), mib(rel[-1])) if rel else "-", growth, vs)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--globaldns", required=True)
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--window", type=float, default=120)
    p.add_argument("--rate", type=float, default=10)
    p.add_argument("--relists", type=int, default=10)
    p.add_argument("--relist-min", type=int, default=100000, help="force re-lists only from this size up")
    p.add_argument("--label", default="globaldns")
    p.add_argument("--prop", action="append", help="an extra serviceentries property")
    p.add_argument("--http1", action="store_true", help="the fake without its HTTP/2 front")
    p.add_argument("--json")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    results = [run_size(args, int(n)) for n in args.sizes.split(",")]
    table(args.label, results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"label": args.label, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
