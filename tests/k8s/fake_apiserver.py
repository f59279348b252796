#!/usr/bin/env python3
"""Fake Kubernetes API server serving Istio ServiceEntries, for globaldns tests.

Faithful to /work/shared/K8S-API.md (the contract).  Standard library only,
plus nghttpx (Debian's nghttp2-proxy) in front for HTTP/2 (fake_front.py).

    fake_apiserver.py serve --dir DIR [--port N] [--control-port N] ...
    fake_apiserver.py ctl DIR ENDPOINT [JSON|@file|-]

See tests/k8s/README.md for the control interface.
"""
import argparse
import base64
import bisect
import gzip
import http.client
import http.server
import json
import os
import random
import secrets
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_discovery import PUBLIC, discovery, table, wants_table  # noqa: E402
from fake_front import Front, H2Proxy  # noqa: E402

GROUP = "networking.istio.io"
ALL_VERSIONS = ("v1", "v1beta1", "v1alpha3")
DEFAULT_USER = "system:serviceaccount:istio-system:istiocoredns"
EXPIRED_MSG = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list.")
WRONG_SPEC = {"hosts_number": ("hosts", 42), "hosts_item_number": ("hosts", [42]),
              "addresses_number": ("addresses", 7), "resolution_number": ("resolution", 3)}
TRUE_WORDS = ("1", "t", "T", "true", "TRUE", "True")
DEFAULT_CONFIG = {
    "bookmark_interval": 60.0,   # seconds between BOOKMARK events (the watch cache's minute)
    "bookmark_jitter": 1.0,      # up to this many seconds more (the cacher's 1 s buckets)
    "watch_list": True,          # sendInitialEvents accepted (the WatchList feature gate)
    "max_page": 0,               # cap on list page size (0 = none)
    "continue_ttl": 300.0,       # seconds before a continue token expires
    "history_size": 1000,        # watch events kept
    "chunk_mode": "event",       # event | split | pack | mixed
    "split_delay": 0.05,         # delay between the two halves (split/mixed)
    "pack": 3,                   # events per chunk (pack/mixed)
    "gzip_min": 131072,          # gzip bodies >= this many bytes if accepted (the API server's 128 KiB)
    "user": DEFAULT_USER,        # user name of token holders (RBAC messages)
    "watch_timeout": 1800,       # watch length when timeoutSeconds is absent
}


def dumps(obj, sort=True):
    """Compact JSON; custom resources (unstructured) come with sorted keys."""
    return json.dumps(obj, sort_keys=sort, separators=(",", ":"))


def event_line(etype, obj, sort=True):
    """A watch event: metav1.WatchEvent is a Go struct, so "type" comes first."""
    return ('{"type":"%s","object":%s}\n' % (etype, dumps(obj, sort))).encode()


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def status_obj(code, reason, message, details=None):
    """metav1.Status, in the Go struct's field order (not sorted)."""
    st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
          "message": message, "reason": reason}
    if details is not None:
        st["details"] = details
    st["code"] = code
    return st


def invalid_options(errors):
    """422 Invalid for ListOptions, as handlers/get.go words it."""
    causes = [{"reason": "FieldValueForbidden" if kind == "Forbidden" else "FieldValueNotSupported",
               "message": f"{kind}: {msg}", "field": field} for field, kind, msg in errors]
    text = "; ".join(f"{field}: {kind}: {msg}" for field, kind, msg in errors)
    if len(errors) > 1:
        text = "[" + ", ".join(f"{field}: {kind}: {msg}" for field, kind, msg in errors) + "]"
    return status_obj(422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: {text}',
                      {"group": "meta.k8s.io", "kind": "ListOptions", "causes": causes})


def validate_list_options(q, watch, config):
    """ValidateListOptions (apimachinery meta/internalversion/validation): a Status or None."""
    errs = []
    match = q.get("resourceVersionMatch", "")
    sie = q.get("sendInitialEvents")
    if watch:
        if sie is not None:
            if match != "NotOlderThan":
                errs.append(("resourceVersionMatch", "Forbidden",
                             "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
            if not config.get("watch_list", True):
                errs.append(("sendInitialEvents", "Forbidden",
                             "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"))
        if match:
            if sie is None:
                errs.append(("resourceVersionMatch", "Forbidden",
                             "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
            if match != "NotOlderThan":
                errs.append(("resourceVersionMatch", "Unsupported value",
                             f'"{match}": supported values: "NotOlderThan"'))
            if q.get("continue"):
                errs.append(("resourceVersionMatch", "Forbidden",
                             "resourceVersionMatch is forbidden when continue is provided"))
    else:
        if match:
            if not q.get("resourceVersion"):
                errs.append(("resourceVersionMatch", "Forbidden",
                             "resourceVersionMatch is forbidden unless resourceVersion is provided"))
            if q.get("continue"):
                errs.append(("resourceVersionMatch", "Forbidden",
                             "resourceVersionMatch is forbidden when continue is provided"))
            if match not in ("Exact", "NotOlderThan"):
                errs.append(("resourceVersionMatch", "Unsupported value",
                             f'"{match}": supported values: "Exact", "NotOlderThan", ""'))
            if match == "Exact" and q.get("resourceVersion") == "0":
                errs.append(("resourceVersionMatch", "Forbidden",
                             'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
        if sie is not None:
            errs.append(("sendInitialEvents", "Forbidden", "sendInitialEvents is forbidden for list"))
    return invalid_options(errs) if errs else None


# ---------------------------------------------------------------- certificates

def generate_certs(d, key_type="ec", reuse=False):
    """CA, server cert (127.0.0.1/localhost) and client cert, via openssl CLI."""
    names = ["ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key"]
    if reuse and all(os.path.exists(os.path.join(d, n)) for n in names):
        return
    ext = os.path.join(d, "openssl-ext.cnf")
    with open(ext, "w") as f:
        f.write("[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
                "subjectKeyIdentifier=hash\n"
                "[server]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
                "[client]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    keyopt = (["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_type == "ec"
              else ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])

    def run(*args):
        r = subprocess.run(["openssl", *args], cwd=d, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode:
            sys.exit(f"fake-apiserver: openssl {args[0]} failed: {r.stderr.strip()}")

    for name in ("ca", "server", "client"):
        run("genpkey", *keyopt, "-out", name + ".key")
        os.chmod(os.path.join(d, name + ".key"), 0o600)
    run("req", "-x509", "-new", "-key", "ca.key", "-out", "ca.crt", "-days", "3",
        "-subj", "/CN=fake-kubernetes-ca", "-config", ext, "-extensions", "ca")
    for name, subj in (("server", "/CN=kube-apiserver"),
                       ("client", "/O=system:masters/CN=globaldns-test")):
        run("req", "-new", "-key", name + ".key", "-out", name + ".csr", "-subj", subj,
            "-config", ext)
        run("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-set_serial", str(secrets.randbits(63)), "-days", "3", "-out", name + ".crt",
            "-extfile", ext, "-extensions", name)
        os.unlink(os.path.join(d, name + ".csr"))


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- store

def obj_key(o):
    return o["metadata"]["namespace"] + "/" + o["metadata"]["name"]


class Store:
    """ServiceEntries, the resourceVersion counter, watch history, list snapshots.

    Objects are never mutated once stored (replaced instead), so snapshots and
    history can share them."""

    def __init__(self, config, initial_rv=1):
        self.config = config
        self.cond = threading.Condition()
        self.rv = initial_rv         # global resourceVersion counter
        self.objects = {}            # key "ns/name" -> object (without apiVersion)
        self.history = []            # [(rv, type, object)]
        self.oldest_rv = initial_rv  # every event with rv > oldest_rv is in history
        self.snapshots = {}          # (rv, ns) -> (created, keys, items)
        self.continue_epoch = 0      # bumped by expire_continue()
        self.watch_gen = 0           # bumped to end every watch
        self.bookmark_gen = 0        # bumped to send a bookmark now
        self.abort_watches = False

    def _record(self, etype, obj):
        self.history.append((self.rv, etype, obj))
        limit = max(int(self.config["history_size"]), 1)
        if len(self.history) > limit:
            drop = len(self.history) - limit
            self.oldest_rv = self.history[drop - 1][0]
            del self.history[:drop]

    def put(self, obj):
        """Create or replace. Returns the stored object."""
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise ValueError("object needs metadata")
        meta = dict(obj["metadata"])
        if not meta.get("name"):
            raise ValueError("metadata.name is required")
        meta.setdefault("namespace", "default")
        new = {k: v for k, v in obj.items() if k not in ("apiVersion", "metadata")}
        new["kind"] = obj.get("kind", "ServiceEntry")
        with self.cond:
            key = meta["namespace"] + "/" + meta["name"]
            old = self.objects.get(key)
            self.rv += 1
            if old:
                om = old["metadata"]
                meta.setdefault("uid", om["uid"])
                meta.setdefault("creationTimestamp", om["creationTimestamp"])
                gen = om.get("generation", 1)
                meta.setdefault("generation", gen + 1 if old.get("spec") != new.get("spec") else gen)
            else:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", now_iso())
                meta.setdefault("generation", 1)
            meta.setdefault("managedFields", [{
                "apiVersion": GROUP + "/v1", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {".": {}}}, "manager": "fake-apiserver",
                "operation": "Update", "time": now_iso()}])
            meta["resourceVersion"] = str(self.rv)
            new["metadata"] = meta
            self.objects[key] = new
            self._record("MODIFIED" if old else "ADDED", new)
            self.cond.notify_all()
            return new

    def delete(self, namespace, name):
        with self.cond:
            old = self.objects.pop(namespace + "/" + name, None)
            if old is None:
                return False
            self.rv += 1
            last = dict(old, metadata=dict(old["metadata"], resourceVersion=str(self.rv)))
            self._record("DELETED", last)
            self.cond.notify_all()
            return True

    def snapshot(self, ns):
        """Sorted (keys, items) of the current state, plus the list RV."""
        with self.cond:
            items = sorted((o for o in self.objects.values()
                            if ns is None or o["metadata"]["namespace"] == ns), key=obj_key)
            return self.rv, [obj_key(o) for o in items], items

    def save_snapshot(self, rv, ns, keys, items):
        with self.cond:
            self.snapshots[(rv, ns)] = (time.time(), keys, items)
            while len(self.snapshots) > 32:
                oldest = min(self.snapshots, key=lambda k: self.snapshots[k][0])
                del self.snapshots[oldest]

    def get_snapshot(self, rv, ns):
        with self.cond:
            return self.snapshots.get((rv, ns))

    def expire_continue(self):
        with self.cond:
            self.continue_epoch += 1
            self.snapshots.clear()

    def events_after(self, rv):
        """Events with resourceVersion > rv, or None when rv is too old."""
        if rv < self.oldest_rv:
            return None
        i = bisect.bisect_right(self.history, rv, key=lambda e: e[0])
        return self.history[i:]

    def compact(self, keep=0):
        """Forget history, keeping the last `keep` events."""
        with self.cond:
            drop = max(len(self.history) - int(keep), 0)
            self.oldest_rv = self.history[drop - 1][0] if drop else self.oldest_rv
            if drop:
                del self.history[:drop]
            if not self.history:
                self.oldest_rv = self.rv
            self.cond.notify_all()

    def end_watches(self, abort=False):
        with self.cond:
            self.watch_gen += 1
            self.abort_watches = abort
            self.cond.notify_all()

    def reset(self):
        with self.cond:
            self.objects.clear()
            self.history.clear()
            self.oldest_rv = self.rv
            self.snapshots.clear()
            self.continue_epoch += 1
        self.end_watches()


# ---------------------------------------------------------------- auth / rbac

class Auth:
    def __init__(self, directory, token=None):
        self.dir = directory
        self.lock = threading.Lock()
        self.tokens = {token or secrets.token_hex(16)}
        self.current = next(iter(self.tokens))
        self.rbac = {"mode": "allow", "namespaces": []}
        self.write_files()

    def write_files(self, port=None):
        write_atomic(os.path.join(self.dir, "token"), self.current + "\n")
        if port is None:
            p = os.path.join(self.dir, "port")
            if not os.path.exists(p):
                return
            port = int(open(p).read())
        d = os.path.abspath(self.dir)
        head = ("apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n"
                f"    server: https://127.0.0.1:{port}\n    certificate-authority: {d}/ca.crt\n"
                "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake-user\n"
                "    namespace: default\ncurrent-context: fake\nusers:\n- name: fake-user\n  user:\n")
        write_atomic(os.path.join(d, "kubeconfig"), head + f"    token: {self.current}\n")
        write_atomic(os.path.join(d, "kubeconfig-tokenfile"), head + f"    tokenFile: {d}/token\n")
        write_atomic(os.path.join(d, "kubeconfig-cert"), head +
                     f"    client-certificate: {d}/client.crt\n    client-key: {d}/client.key\n")

    def rotate(self, token=None, keep_old=False):
        with self.lock:
            new = token or secrets.token_hex(16)
            self.tokens = (self.tokens | {new}) if keep_old else {new}
            self.current = new
            self.write_files()
            return new

    def authenticate(self, headers, peercert, user):
        """Returns (user or None, auth kind, presented token)."""
        h = headers.get("Authorization") or ""
        token = h[7:].strip() if h[:7].lower() == "bearer " else None
        kind = []
        who = None
        if token is not None or h:
            kind.append("token")
            with self.lock:
                if token in self.tokens:
                    who = user
        if peercert:
            kind.append("cert")
            if who is None:
                who = dict(x[0] for x in peercert.get("subject", ())).get("commonName")
        return who, "+".join(kind) or "none", token if token is not None else (h or None)

    def forbidden(self, user, verb, ns, name):
        with self.lock:
            mode, allowed = self.rbac["mode"], set(self.rbac.get("namespaces") or ())
        if mode == "allow" or (mode == "namespaces" and ns is not None and ns in allowed):
            return None
        return forbidden_status(user, verb, ns, name)


def forbidden_status(user, verb, ns, name=None, message=None):
    """403 exactly as the API server words it."""
    scope = f'in the namespace "{ns}"' if ns is not None else "at the cluster scope"
    what = f'serviceentries.{GROUP} "{name}"' if name else f"serviceentries.{GROUP}"
    msg = message or (f'{what} is forbidden: User "{user}" cannot {verb} resource "serviceentries" '
                      f'in API group "{GROUP}" {scope}')
    details = {"group": GROUP, "kind": "serviceentries"}
    if name:
        details["name"] = name
    return status_obj(403, "Forbidden", msg, details)


def impersonation(headers):
    """The Impersonate-* headers as the API server reads them (header names are
    case-insensitive, and lowercase over HTTP/2; extra keys are %-unescaped)."""
    from urllib.parse import unquote
    out = {}
    for k in sorted(set(headers.keys())):
        lk = k.lower()
        vals = headers.get_all(k)
        if lk == "impersonate-user":
            out["user"] = vals[0]
        elif lk == "impersonate-uid":
            out["uid"] = vals[0]
        elif lk == "impersonate-group":
            out.setdefault("groups", []).extend(vals)
        elif lk.startswith("impersonate-extra-"):
            out.setdefault("extra", {}).setdefault(unquote(lk[len("impersonate-extra-"):]), []).extend(vals)
    return out or None


# ---------------------------------------------------------------- faults / log

class Faults:
    """Injected faults: a list of rules, the first matching one with count left wins."""
    def __init__(self):
        self.lock = threading.Lock()
        self.rules = []
        self.next_id = 1

    def add(self, rule):
        rule = dict(rule)
        if "action" not in rule:
            rule["action"] = "status" if "code" in rule else None
        if not rule["action"]:
            raise ValueError("fault needs an action (or a code)")
        rule.setdefault("kind", "all")
        rule.setdefault("count", None)
        with self.lock:
            rule["id"] = self.next_id
            self.next_id += 1
            self.rules.append(rule)
        return rule

    def take(self, kind, path, tls=False):
        with self.lock:
            for r in self.rules:
                if (r["action"] == "hang_tls") != tls:
                    continue
                if not tls and r["kind"] not in ("all", kind):
                    continue
                if r.get("match") and r["match"] not in path:
                    continue
                if r["count"] is not None:
                    if r["count"] <= 0:
                        continue
                    r["count"] -= 1
                hit = dict(r)
                self.rules = [x for x in self.rules if x["count"] is None or x["count"] > 0]
                return hit
        return None

    def clear(self, fid=None):
        with self.lock:
            self.rules = [r for r in self.rules if fid is not None and r["id"] != fid]

    def list(self):
        with self.lock:
            return [dict(r) for r in self.rules]


class RequestLog:
    def __init__(self):
        self.lock = threading.Lock()
        self.entries = []
        self.seq = 0

    FIELDS = ("method", "path", "kind", "auth", "auth_ok", "token", "user", "status", "fault",
              "gzip", "accept", "accept_encoding", "user_agent", "impersonate")

    def add(self, **e):
        e = dict(dict.fromkeys(self.FIELDS), **e)
        with self.lock:
            self.seq += 1
            e["seq"] = self.seq
            e["time"] = time.time()
            self.entries.append(e)
            del self.entries[:-10000]
            return e

    def since(self, seq=0):
        with self.lock:
            return [dict(e) for e in self.entries if e["seq"] > seq]

    def clear(self):
        with self.lock:
            self.entries.clear()


# ---------------------------------------------------------------- API handler

class Disconnected(Exception):
    pass


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-kube-apiserver/1.0"
    sys_version = ""
    timeout = 120

    # --- plumbing
    def setup(self):
        app = self.server.app
        self.dead, self.peercert = True, None
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request.settimeout(10)
        try:
            self.request.do_handshake()
            self.peercert = self.request.getpeercert() or None
            self.dead = False
        except (OSError, ssl.SSLError):
            pass
        super().setup()

    def handle(self):
        if self.dead:
            self.close_connection = True
            return
        try:
            super().handle()
        except (Disconnected, ConnectionError, ssl.SSLError, socket.timeout, BrokenPipeError):
            self.close_connection = True

    def log_message(self, fmt, *args):
        if self.server.app.verbose:
            sys.stderr.write("fake-apiserver: " + (fmt % args) + "\n")

    def client_gone(self):
        """True if the peer closed the connection (non-blocking check)."""
        sock = self.request
        try:
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return False
            sock.setblocking(False)
            try:
                return sock.recv(1) == b""
            except (ssl.SSLWantReadError, BlockingIOError):
                return False
            finally:
                sock.settimeout(self.timeout)
        except (OSError, ValueError):
            return True

    def wait_or_disconnect(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            time.sleep(min(0.2, max(end - time.time(), 0)))
            if self.client_gone():
                return

    def abort(self):
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True
        raise Disconnected()

    def common_headers(self):
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")

    def send_body(self, code, body, ctype="application/json", extra=None, fault=None):
        """Send a complete response; `fault` may trickle, stall or cut the body."""
        fault = fault or {}
        gz = False
        if (ctype == "application/json" and "gzip" in (self.headers.get("Accept-Encoding") or "")
                and len(body) >= int(self.app.config["gzip_min"])):
            body, gz = gzip.compress(body, 1), True
        self.entry["status"] = code
        self.entry["gzip"] = gz
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if ctype.startswith("text/plain"):
            self.send_header("X-Content-Type-Options", "nosniff")
        self.common_headers()
        for k, v in (extra or {}).items():
            self.send_header(k, str(v))
        if gz:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        action = fault.get("action")
        if action == "stall":
            self.wait_or_disconnect(float(fault.get("seconds", 30)))
            self.abort()
        if action == "cut_list":
            at = fault.get("bytes")
            at = int(at) if at is not None else int(len(body) * float(fault.get("fraction", 0.5)))
            self.wfile.write(body[:at])
            self.abort()
        if action == "trickle":
            step, delay = max(int(fault.get("bytes", 64)), 1), float(fault.get("delay", 0.1))
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                if i + step < len(body):
                    time.sleep(delay)
            return
        self.wfile.write(body)

    def send_json(self, code, obj, sort=True, **kw):
        self.send_body(code, (dumps(obj, sort) + "\n").encode(), **kw)

    def send_status(self, st, extra=None):
        self.send_json(st["code"], st, sort=False, extra=extra)

    def not_found_plain(self):
        self.send_body(404, b"404 page not found\n", ctype="text/plain; charset=utf-8")

    # --- routing
    def do_GET(self):
        self.app = app = self.server.app
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [p for p in url.path.split("/") if p]
        if (url.path.rstrip("/") or "/") in PUBLIC:   # system:public-info-viewer: no credentials needed
            self.entry = app.log.add(method=self.command, path=self.path, kind="discovery",
                                     user_agent=self.headers.get("User-Agent"),
                                     accept=self.headers.get("Accept"))
            doc = discovery(url.path, app.versions)
            if isinstance(doc, str):
                return self.send_body(200, doc.encode(), ctype="text/plain; charset=utf-8")
            return self.send_json(200, doc, sort=False)
        # /apis/networking.istio.io/V/serviceentries | .../namespaces/NS/serviceentries[/NAME]
        route = None
        if len(parts) >= 4 and parts[0] == "apis" and parts[1] == GROUP:
            rest = parts[3:]
            if rest == ["serviceentries"]:
                route = (parts[2], None, None)
            elif len(rest) in (3, 4) and rest[0] == "namespaces" and rest[2] == "serviceentries":
                route = (parts[2], rest[1], rest[3] if len(rest) == 4 else None)
        watch = q.get("watch") in TRUE_WORDS
        kind = "other" if route is None else "watch" if watch else "get" if route[2] else "list"
        user, akind, token = app.auth.authenticate(self.headers, self.peercert, app.config["user"])
        self.entry = app.log.add(
            method=self.command, path=self.path, kind=kind, auth=akind, auth_ok=user is not None,
            token=token, user=user, status=None, fault=None, gzip=False,
            accept=self.headers.get("Accept"), accept_encoding=self.headers.get("Accept-Encoding"),
            user_agent=self.headers.get("User-Agent"),
            impersonate=impersonation(self.headers))
        if user is None:
            return self.send_status(status_obj(401, "Unauthorized", "Unauthorized"))
        fault = app.faults.take(kind, self.path)
        if fault:
            self.entry["fault"] = fault["action"]
            if self.apply_early_fault(fault, route, kind, user):
                return
        if route is None:
            doc = discovery(url.path, app.versions)
            if doc is not None:
                self.entry["kind"] = "discovery"
                return self.send_json(200, doc, sort=False)
            return self.not_found_plain()
        version, ns, name = route
        verb = "watch" if watch else "get" if name else "list"
        denied = app.auth.forbidden(user, verb, ns, name)
        if denied:
            return self.send_status(denied)
        if version not in app.versions:
            return self.not_found_plain()
        api_version = GROUP + "/" + version
        invalid = validate_list_options(q, watch, app.config)
        if invalid:
            return self.send_status(invalid)
        if watch:
            return self.serve_watch(api_version, ns, name, q, fault or {})
        if name:
            return self.serve_get(api_version, ns, name, fault or {})
        return self.serve_list(api_version, ns, q, fault or {})

    def do_POST(self):
        self.app = self.server.app
        self.entry = self.app.log.add(method=self.command, path=self.path, kind="other",
                                      auth=None, status=None)
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        self.send_status(status_obj(405, "MethodNotAllowed",
                                    "the server does not allow this method on the requested resource"))

    do_PUT = do_DELETE = do_PATCH = do_POST

    # --- faults that replace the response
    def apply_early_fault(self, f, route, kind, user):
        a = f["action"]
        if a == "delay":
            time.sleep(float(f.get("seconds", 1)))
            return False
        if a == "hang":
            self.entry["status"] = 0
            self.wait_or_disconnect(float(f.get("seconds", 30)))
            self.abort()
        if a == "status":
            self.fault_status(f, route, kind, user)
            return True
        if a == "invalid_json":
            body = f.get("body", '{"kind":"ServiceEntryList","items":[{"metadata":')
            if kind == "watch":
                self.start_stream()
                self.write_chunk((body + "\n").encode())
                self.end_stream()
            else:
                self.send_body(200, body.encode())
            return True
        if a == "stall" and kind == "watch":
            self.start_stream()
            self.wait_or_disconnect(float(f.get("seconds", 30)))
            self.abort()
        if a == "close_watch" and kind == "watch":
            self.start_stream()
            self.end_stream()
            return True
        return False

    def fault_status(self, f, route, kind, user):
        code = int(f.get("code", 500))
        ra = f.get("retry_after", 1)
        send_ra = ra is not None and (code in (429, 503) or "retry_after" in f)
        extra = {"Retry-After": ra} if send_ra else {}
        msg = f.get("message")
        if code == 404 and not f.get("json"):
            return self.not_found_plain()
        if code == 429 and f.get("plain"):
            return self.send_body(429, (msg or "Too many requests, please try again later.").encode()
                                  + b"\n", ctype="text/plain; charset=utf-8", extra=extra)
        if code == 403:
            verb = kind if kind in ("watch", "get") else "list"
            return self.send_status(forbidden_status(user, verb, route[1] if route else None,
                                                     route[2] if route else None, msg))
        table = {
            401: ("Unauthorized", "Unauthorized", None),
            404: ("NotFound", "the server could not find the requested resource", {}),
            410: ("Expired", EXPIRED_MSG, None),
            429: ("TooManyRequests", "Too many requests, please try again later.",
                  {"retryAfterSeconds": ra} if ra is not None else {}),
            500: ("InternalError", "Internal error occurred: injected fault", {}),
            503: ("ServiceUnavailable", "the server is currently unable to handle the request",
                  {"retryAfterSeconds": ra} if ra is not None else {}),
            504: ("Timeout", "Timeout: request did not complete within the allotted timeout", {}),
        }
        reason, default_msg, details = table.get(code, ("InternalError", "injected fault", None))
        self.send_status(status_obj(code, f.get("reason", reason), msg or default_msg, details),
                         extra=extra)

    # --- objects
    def render(self, obj, api_version, fault, first=False):
        o = dict(obj, apiVersion=api_version)
        a = fault.get("action")
        if first and a == "huge":
            pad = "x" * int(float(fault.get("mb", 1)) * 1024 * 1024)
            ann = dict(o["metadata"].get("annotations") or {}, **{"fake.test/padding": pad})
            o["metadata"] = dict(o["metadata"], annotations=ann)
        if first and a == "wrong_types":
            v = fault.get("variant", "hosts_number")
            spec = dict(o["spec"]) if isinstance(o.get("spec"), dict) else {}
            field, value = WRONG_SPEC.get(v, (None, None))
            if field:
                spec[field] = value
            o["spec"] = "not-an-object" if v == "spec_string" else spec
            if v == "metadata_string":
                o["metadata"] = "not-an-object"
            elif v == "rv_number":
                o["metadata"] = dict(o["metadata"], resourceVersion=int(o["metadata"]["resourceVersion"]))
        return o

    def serve_get(self, api_version, ns, name, fault):
        obj = self.app.store.objects.get(ns + "/" + name)
        if obj is None:
            return self.send_status(status_obj(
                404, "NotFound", f'serviceentries.{GROUP} "{name}" not found',
                {"name": name, "group": GROUP, "kind": "serviceentries"}))
        tv = wants_table(self.headers.get("Accept"))
        if tv:
            return self.send_json(200, table(tv, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}))
        self.send_json(200, self.render(obj, api_version, fault, first=True), fault=fault)

    def serve_list(self, api_version, ns, q, fault):
        app, store = self.app, self.app.store
        limit = q.get("limit", "")
        cont = q.get("continue", "")
        rv_param = q.get("resourceVersion", "")
        try:
            limit = int(limit) if limit else 0
        except ValueError:
            return self.send_status(status_obj(400, "BadRequest", f"invalid limit: {limit}"))
        if cont:
            if rv_param:
                return self.send_status(status_obj(
                    400, "BadRequest", "specifying resource version is not allowed when using continue"))
            try:
                tok = json.loads(base64.b64decode(cont, validate=True))
                list_rv, start, epoch, issued = int(tok["rv"]), tok["start"], tok["e"], tok["t"]
                if tok.get("ns") != ns:
                    raise ValueError("continue token is for another scope")
            except (ValueError, KeyError, TypeError) as e:
                return self.send_status(status_obj(400, "BadRequest", f"continue key is not valid: {e}"))
            snap = store.get_snapshot(list_rv, ns)
            if (snap is None or epoch != store.continue_epoch
                    or time.time() - issued > float(app.config["continue_ttl"])):
                return self.send_status(status_obj(410, "Expired", EXPIRED_MSG))
            _, keys, items = snap
            pos = bisect.bisect_left(keys, start)
        else:
            if rv_param and rv_param != "0":
                try:
                    want = int(rv_param)
                except ValueError:
                    return self.send_status(status_obj(400, "BadRequest",
                                                       f"invalid resource version: {rv_param}"))
                if want > store.rv:
                    return self.send_status(status_obj(
                        504, "Timeout", f"Too large resource version: {want}, current: {store.rv}",
                        {"causes": [{"reason": "ResourceVersionTooLarge",
                                     "message": "Too large resource version"}],
                         "retryAfterSeconds": 1}))
            list_rv, keys, items = store.snapshot(ns)
            pos = 0
            if rv_param and rv_param != "0" and q.get("resourceVersionMatch") == "Exact" and int(rv_param) != list_rv:
                # no MVCC here: only the current state can be read exactly
                return self.send_status(status_obj(
                    410, "Expired", f"too old resource version: {rv_param} ({list_rv})"))
            if rv_param == "0":
                limit = 0
        n = len(items) - pos
        if limit > 0:
            n = min(n, limit)
        cap = int(app.config["max_page"])
        if cap > 0 and limit > 0:
            n = min(n, cap)
        if fault.get("action") == "empty_page":
            n = 0
        end = pos + n
        meta = {"resourceVersion": str(list_rv), "continue": ""}
        if end < len(items):
            if not cont:
                store.save_snapshot(list_rv, ns, keys, items)
            tok = {"v": "meta.k8s.io/v1", "rv": list_rv, "start": keys[end], "ns": ns,
                   "e": store.continue_epoch, "t": time.time() if not cont else issued}
            meta["continue"] = base64.b64encode(dumps(tok).encode()).decode()
            meta["remainingItemCount"] = len(items) - end
        tv = wants_table(self.headers.get("Accept"))
        if not fault and not tv:
            # the common case, fast: each object's JSON rendered once (cached)
            body = b'{"apiVersion":%s,"items":[%s],"kind":"ServiceEntryList","metadata":%s}\n' % (
                dumps(api_version).encode(),
                b",".join(self.app.rendered(o, api_version) for o in items[pos:end]),
                dumps(meta).encode())
            return self.send_body(200, body)
        page = [self.render(o, api_version, fault, first=(i == 0))
                for i, o in enumerate(items[pos:end])]
        body = {"apiVersion": api_version, "kind": "ServiceEntryList", "metadata": meta, "items": page}
        if tv:
            self.entry["table"] = True
            body = table(tv, items[pos:end], meta, q.get("includeObject", "Metadata"))
        if fault.get("action") == "wrong_types":
            v = fault.get("variant", "hosts_number")
            if v == "items_string":
                body["items"] = "not-a-list"
            elif v == "items_null":
                body["items"] = None
            elif v == "continue_number":
                meta["continue"] = 5
        self.send_json(200, body, fault=fault)

    # --- watch
    def start_stream(self):
        self.entry["status"] = 200
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.common_headers()
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def write_chunk(self, data):
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")

    def write_events(self, lines, fault, state):
        """Write encoded event lines honouring chunk_mode and stream faults."""
        a = fault.get("action")
        cfg = fault if a == "chunking" else {}  # per-request chunking overrides the config
        cfg = {k: cfg.get(k, v) for k, v in self.app.config.items()}
        mode, delay = cfg["chunk_mode"], float(cfg["split_delay"])
        if a == "cut_watch":
            after = int(fault.get("after", 0))
            for line in lines:
                if state["sent"] >= after:
                    self.write_chunk(line[:max(len(line) // 2, 1)])
                    if fault.get("clean"):
                        self.end_stream()
                        self.close_connection = True
                        raise Disconnected()
                    self.abort()
                self.write_chunk(line)
                state["sent"] += 1
            return
        if a == "trickle":
            step, tdelay = max(int(fault.get("bytes", 64)), 1), float(fault.get("delay", 0.1))
            for line in lines:
                for i in range(0, len(line), step):
                    self.write_chunk(line[i:i + step])
                    time.sleep(tdelay)
            return
        if mode in ("pack", "mixed"):
            k = max(int(cfg["pack"]), 1)
            for i in range(0, len(lines), k):
                data = b"".join(lines[i:i + k])
                if mode == "mixed" and len(lines[i:i + k]) > 1:
                    cut = len(data) - len(lines[min(i + k, len(lines)) - 1]) // 2
                    self.write_chunk(data[:cut])
                    time.sleep(delay)
                    self.write_chunk(data[cut:])
                else:
                    self.write_chunk(data)
        elif mode == "split":
            for line in lines:
                cut = max(len(line) // 2, 1)
                self.write_chunk(line[:cut])
                time.sleep(delay)
                self.write_chunk(line[cut:])
        else:
            for line in lines:
                self.write_chunk(line)
        state["sent"] += len(lines)

    def serve_watch(self, api_version, ns, name, q, fault):
        store, cfg = self.app.store, self.app.config
        rv_param = q.get("resourceVersion", "")
        try:
            start_rv = int(rv_param) if rv_param else 0
            timeout = float(q.get("timeoutSeconds") or cfg["watch_timeout"])
        except ValueError:
            return self.send_status(status_obj(400, "BadRequest",
                                               f"invalid resource version: {rv_param}"))
        bookmarks = q.get("allowWatchBookmarks") in TRUE_WORDS
        deadline = time.time() + timeout

        def wanted(o):
            m = o["metadata"]
            return (ns is None or m["namespace"] == ns) and (name is None or m["name"] == name)

        def line(etype, o, first=False):
            if not fault:
                return b'{"type":"%s","object":%s}\n' % (etype.encode(), self.app.rendered(o, api_version))
            return event_line(etype, self.render(o, api_version, fault, first))

        sie = q.get("sendInitialEvents")
        initial_events = sie in TRUE_WORDS
        with store.cond:
            gen, bm_gen = store.watch_gen, store.bookmark_gen
            too_old, oldest = False, store.oldest_rv
            if initial_events and start_rv > store.rv:
                too_large = store.rv
            else:
                too_large = None
            if initial_events or (start_rv == 0 and sie is None):
                # the state now (NotOlderThan any RV asked for), as ADDED events
                initial = sorted((o for o in store.objects.values() if wanted(o)), key=obj_key)
                pos = store.rv
            elif start_rv == 0:
                initial, pos = [], store.rv
            else:
                initial, pos = [], start_rv
                too_old = store.events_after(start_rv) is None
        if too_large is not None:
            return self.send_status(status_obj(
                504, "Timeout", f"Too large resource version: {start_rv}, current: {too_large}",
                {"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}],
                 "retryAfterSeconds": 1}))
        self.entry["initial_events"] = initial_events
        self.start_stream()
        state = {"sent": 0}
        if too_old:
            st = status_obj(410, "Expired", f"too old resource version: {start_rv} ({oldest})")
            self.write_chunk(event_line("ERROR", st, sort=False))
            self.end_stream()
            return
        if len(initial) > 100 and not fault and self.app.config["chunk_mode"] == "event":
            # a backlog goes out as the API server sends it: many events per
            # write (it flushes only when no more events are queued)
            buf, size = [], 0
            for i, o in enumerate(initial):
                b = line("ADDED", o, i == 0)
                buf.append(b)
                size += len(b)
                if size >= 65536:
                    self.write_chunk(b"".join(buf))
                    buf, size = [], 0
            self.write_chunk(b"".join(buf))
            state["sent"] += len(initial)
        else:
            self.write_events([line("ADDED", o, i == 0) for i, o in enumerate(initial)], fault, state)
        if initial_events and bookmarks:
            # the end of the initial events: a bookmark with the annotation
            self.write_chunk(event_line("BOOKMARK", {
                "apiVersion": api_version, "kind": "ServiceEntry",
                "metadata": {"resourceVersion": str(pos),
                             "annotations": {"k8s.io/initial-events-end": "true"}}}))
        interval = float(cfg["bookmark_interval"])
        pre_deadline = deadline - 2 if q.get("timeoutSeconds") else None

        def next_bookmark():
            # roughly every interval (plus the cacher's bucket jitter), and
            # once 2 s before the watch's deadline
            t = time.time() + interval + random.uniform(0, float(cfg.get("bookmark_jitter", 0)))
            if pre_deadline is not None and time.time() < pre_deadline < t:
                t = pre_deadline
            return t
        next_bm = next_bookmark()
        while True:
            with store.cond:
                while True:
                    now = time.time()
                    if store.watch_gen != gen:
                        if store.abort_watches:
                            self.abort()
                        self.end_stream()
                        self.close_connection = True
                        return
                    events = store.events_after(pos)
                    if events is None or events or now >= deadline:
                        break
                    if bookmarks and (now >= next_bm or store.bookmark_gen != bm_gen):
                        break
                    store.cond.wait(max(min(0.5, deadline - now, (next_bm - now) if bookmarks else 1), 0.01))
                    if self.client_gone():
                        raise Disconnected()
                cur_rv, oldest = store.rv, store.oldest_rv
                events = list(events) if events is not None else None
            if events is None:  # fell behind a compaction
                st = status_obj(410, "Expired", f"too old resource version: {pos} ({oldest})")
                self.write_chunk(event_line("ERROR", st, sort=False))
                break
            if events:
                lines = [line(t, o, state["sent"] == 0) for _, t, o in events if wanted(o)]
                self.write_events(lines, fault, state)
                pos = events[-1][0]
                continue
            if time.time() >= deadline:
                break
            # bookmark: everything up to cur_rv has been delivered
            bm_gen = store.bookmark_gen
            next_bm = next_bookmark()
            pos = max(pos, cur_rv)
            self.write_chunk(event_line("BOOKMARK", {
                "apiVersion": api_version, "kind": "ServiceEntry",
                "metadata": {"resourceVersion": str(cur_rv)}}))
        self.end_stream()


# ---------------------------------------------------------------- control

class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], (OSError, Disconnected)):
            super().handle_error(request, client_address)


class ControlHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, code, obj):
        body = (dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.dispatch(None)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            data = json.loads(raw) if raw.strip() else {}
        except ValueError as e:
            return self.reply(400, {"error": f"bad JSON: {e}"})
        self.dispatch(data)

    def dispatch(self, data):
        app = self.server.app
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        fn = getattr(app, "ctl_" + url.path.strip("/").replace("/", "_").replace("-", "_"), None)
        if fn is None:
            return self.reply(404, {"error": f"unknown endpoint {url.path}"})
        try:
            self.reply(200, fn(data if data is not None else {}, q))
        except (ValueError, KeyError, TypeError) as e:
            self.reply(400, {"error": f"{type(e).__name__}: {e}"})


class App:
    def __init__(self, args):
        self.dir = args.dir
        self.verbose = args.verbose
        self.config = dict(DEFAULT_CONFIG)
        self.config["bookmark_interval"] = args.bookmark_interval
        self.config["history_size"] = args.history
        self.config["continue_ttl"] = args.continue_ttl
        self.config["max_page"] = args.max_page
        self.config["bookmark_jitter"] = args.bookmark_jitter
        self.config["gzip_min"] = args.gzip_min
        self.config["watch_list"] = not args.no_watch_list
        self.versions = set(args.versions.split(","))
        self.store = Store(self.config, args.initial_rv)
        token = args.token
        tfile = os.path.join(self.dir, "token")
        if not token and args.reuse_certs and os.path.exists(tfile):
            token = open(tfile).read().strip() or None  # restart: keep the token
        self.auth = Auth(self.dir, token)
        self.faults = Faults()
        self.log = RequestLog()
        self.protocol = "http/1.1"
        self.front = None
        self.render_cache = {}

    def rendered(self, obj, api_version):
        """An object's JSON as served (sorted keys), rendered once per version:
        stored objects are never changed, only replaced."""
        m = obj["metadata"]
        k = (m["namespace"], m["name"], m["resourceVersion"], api_version)
        b = self.render_cache.get(k)
        if b is None:
            if len(self.render_cache) > 400000:
                self.render_cache.clear()
            b = self.render_cache[k] = dumps(dict(obj, apiVersion=api_version)).encode()
        return b

    # every ctl_X(data, query) is the control endpoint /X (with - or / as _)
    def ctl_state(self, d, q):
        s = self.store
        with s.cond:
            st = {"resourceVersion": s.rv, "oldest_rv": s.oldest_rv, "count": len(s.objects),
                  "history": len(s.history), "snapshots": len(s.snapshots)}
        return dict(st, config=self.config, versions=sorted(self.versions), rbac=self.auth.rbac,
                    faults=self.faults.list(), token=self.auth.current, protocol=self.protocol)

    def ctl_silence(self, d, q):
        """Stop relaying on every open client connection (both ways), sockets kept open;
        {"new": true} silences connections made later too; {"off": true} ends it."""
        n = self.front.silence(not d.get("off"), bool(d.get("new")))
        return {"silenced": n, "off": bool(d.get("off"))}

    def ctl_drop_connections(self, d, q):
        """Close every open client connection at once (a proxy or server restart)."""
        return {"dropped": self.front.drop()}

    def ctl_traffic(self, d, q):
        """Bytes relayed to and from clients on the wire, and the open connections."""
        return self.front.traffic()

    def ctl_entries(self, d, q):
        items = d if isinstance(d, list) else d.get("items", [d]) if isinstance(d, dict) else None
        if items is None:
            raise ValueError("expected an object, a list or {items: [...]}")
        out = [self.store.put(o) for o in items]
        return {"resourceVersion": self.store.rv,
                "items": [{"namespace": o["metadata"]["namespace"], "name": o["metadata"]["name"],
                           "resourceVersion": o["metadata"]["resourceVersion"]} for o in out]}

    def ctl_entries_delete(self, d, q):
        if d.get("all"):
            with self.store.cond:
                keys = [k for k in self.store.objects
                        if not d.get("namespace") or k.split("/")[0] == d["namespace"]]
            items = [dict(zip(("namespace", "name"), k.split("/", 1))) for k in keys]
        else:
            items = d if isinstance(d, list) else d.get("items", [d])
        deleted = sum(1 for i in items if self.store.delete(i.get("namespace", "default"), i["name"]))
        return {"deleted": deleted, "resourceVersion": self.store.rv}

    def ctl_bulk(self, d, q):
        n, start = int(d.get("count", 100)), int(d.get("start", 0))
        ns, prefix = d.get("namespace", "default"), d.get("prefix", "se")
        for i in range(start, start + n):
            spec = {"hosts": [f"svc-{i:05d}.{ns}.global"], "location": "MESH_INTERNAL",
                    "resolution": d.get("resolution", "STATIC"),
                    "addresses": [f"240.{(i + 1 >> 16) & 255}.{(i + 1 >> 8) & 255}.{(i + 1) & 255}"],
                    "ports": [{"name": "http", "number": 80, "protocol": "HTTP"}]}
            o = self.store.put({"kind": "ServiceEntry", "spec": spec,
                                "metadata": {"name": f"{prefix}-{i:05d}", "namespace": ns}})
            # serialized once, ahead, as the watch cache keeps serialized objects
            self.rendered(o, GROUP + "/v1")
        return {"created": n, "resourceVersion": self.store.rv}

    def ctl_fault(self, d, q):
        return {"fault": self.faults.add(d)}

    def ctl_clear(self, d, q):
        self.faults.clear(d.get("id"))
        return {"faults": self.faults.list()}

    def ctl_rbac(self, d, q):
        mode = d.get("mode", "allow")
        if mode not in ("allow", "deny", "namespaces"):
            raise ValueError("mode: allow | deny | namespaces")
        self.auth.rbac = {"mode": mode, "namespaces": list(d.get("namespaces") or [])}
        if d.get("user"):
            self.config["user"] = d["user"]
        return {"rbac": self.auth.rbac}

    def ctl_versions(self, d, q):
        served = d.get("served", list(ALL_VERSIONS))
        if not set(served) <= set(ALL_VERSIONS):
            raise ValueError(f"versions must be among {ALL_VERSIONS}")
        self.versions = set(served)
        return {"versions": sorted(self.versions)}

    def ctl_rotate_token(self, d, q):
        return {"token": self.auth.rotate(d.get("token"), bool(d.get("keep_old")))}

    def ctl_expire_continue(self, d, q):
        self.store.expire_continue()
        return {"expired": True}

    def ctl_compact(self, d, q):
        self.store.compact(int(d.get("keep", 0)))
        return {"oldest_rv": self.store.oldest_rv, "resourceVersion": self.store.rv}

    def ctl_close_watches(self, d, q):
        self.store.end_watches(bool(d.get("abort")))
        return {"closed": True}

    def ctl_bookmark(self, d, q):
        with self.store.cond:
            self.store.bookmark_gen += 1
            self.store.cond.notify_all()
        return {"bookmark": True}

    def ctl_config(self, d, q):
        for k, v in d.items():
            if k not in DEFAULT_CONFIG:
                raise ValueError(f"unknown config key {k}; known: {sorted(DEFAULT_CONFIG)}")
            self.config[k] = v
        with self.store.cond:
            self.store.cond.notify_all()
        return {"config": self.config}

    def ctl_log(self, d, q):
        return {"entries": self.log.since(int(q.get("since", d.get("since", 0)) or 0))}

    def ctl_log_clear(self, d, q):
        self.log.clear()
        return {"cleared": True}

    def ctl_reset(self, d, q):
        self.faults.clear()
        self.store.reset()
        self.log.clear()
        self.auth.rbac = {"mode": "allow", "namespaces": []}
        self.versions = set(ALL_VERSIONS)
        keep = {k: self.config[k] for k in ("bookmark_interval", "bookmark_jitter", "history_size",
                                              "continue_ttl", "max_page", "gzip_min", "watch_list")}
        self.config.clear()
        self.config.update(DEFAULT_CONFIG, **keep)
        return {"reset": True, "resourceVersion": self.store.rv}

    def ctl_shutdown(self, d, q):
        threading.Thread(target=self.shutdown, daemon=True).start()
        return {"shutdown": True}

    def shutdown(self):
        time.sleep(0.1)
        self.api.shutdown()


def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    d = args.dir
    for f in ("ready", "port", "control_port", "backend_port", "protocol"):
        if os.path.exists(os.path.join(d, f)):
            os.unlink(os.path.join(d, f))
    generate_certs(d, args.key_type, args.reuse_certs)
    app = App(args)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.crt"), os.path.join(d, "server.key"))
    ctx.load_verify_locations(os.path.join(d, "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    # the fake itself: HTTP/1.1 over TLS on a port of its own (backend_port)
    api = QuietServer(("127.0.0.1", 0), Handler)
    api.socket = ctx.wrap_socket(api.socket, server_side=True, do_handshake_on_connect=False)
    api.app = app
    app.api = api
    backend = api.server_address[1]
    proxy = None
    if not args.http1:
        proxy = H2Proxy(d, backend)
        if proxy.start():
            backend = proxy.port
            app.protocol = "h2"
        else:
            sys.stderr.write("fake-apiserver: nghttpx not found or did not start: HTTP/1.1 only\n")
            proxy = None
    # the published port: the relay (fake_front.py)
    front = Front(args.port, backend, app.faults, app.log)
    app.front = front
    ctl = QuietServer(("127.0.0.1", args.control_port), ControlHandler)
    ctl.app = app
    port, cport = front.port, ctl.server_address[1]
    write_atomic(os.path.join(d, "port"), f"{port}\n")
    write_atomic(os.path.join(d, "backend_port"), f"{api.server_address[1]}\n")
    write_atomic(os.path.join(d, "protocol"), f"{app.protocol}\n")
    if proxy:
        write_atomic(os.path.join(d, "nghttpx_pid"), f"{proxy.proc.pid}\n")
    write_atomic(os.path.join(d, "control_port"), f"{cport}\n")
    write_atomic(os.path.join(d, "pid"), f"{os.getpid()}\n")
    app.auth.write_files(port)
    threading.Thread(target=ctl.serve_forever, daemon=True).start()
    threading.Thread(target=front.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=api.shutdown, daemon=True).start())
    write_atomic(os.path.join(d, "ready"), f"https://127.0.0.1:{port}\n")
    try:
        api.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        front.stop()
        if proxy:
            proxy.stop()
        for f in ("ready",):
            try:
                os.unlink(os.path.join(d, f))
            except OSError:
                pass


# ---------------------------------------------------------------- client

class Control:
    """Tiny client for the control interface: Control(dir).call("fault", {...})."""
    def __init__(self, directory):
        self.port = int(open(os.path.join(directory, "control_port")).read())

    def call(self, endpoint, data=None, timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        path = "/" + endpoint.lstrip("/")
        if data is None and endpoint.split("?")[0].strip("/") in ("log", "state"):
            conn.request("GET", path)
        else:
            body = data if isinstance(data, (str, bytes)) else dumps(data if data is not None else {})
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        return resp.status, text


def ctl_main(args):
    data = None
    if args.json is not None:
        data = sys.stdin.read() if args.json == "-" else (
            open(args.json[1:]).read() if args.json.startswith("@") else args.json)
        json.loads(data)  # fail early on bad JSON
    try:
        code, text = Control(args.dir).call(args.endpoint, data)
    except OSError as e:
        sys.stderr.write(f"fake_apiserver ctl: cannot reach the control port in {args.dir}: {e}\n")
        return 2
    sys.stdout.write(text)
    return 0 if code < 400 else 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run the fake API server")
    s.add_argument("--dir", required=True, help="state directory (certs, port, token, kubeconfig)")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--control-port", type=int, default=0)
    s.add_argument("--token", help="initial token (default: random)")
    s.add_argument("--versions", default=",".join(ALL_VERSIONS))
    s.add_argument("--bookmark-interval", type=float, default=60.0,
                   help="seconds between BOOKMARKs (60, the watch cache's; small values for fast tests)")
    s.add_argument("--bookmark-jitter", type=float, default=1.0,
                   help="up to this many seconds added to each bookmark interval")
    s.add_argument("--gzip-min", type=int, default=131072,
                   help="smallest body gzipped (the API server's 128 KiB)")
    s.add_argument("--no-watch-list", action="store_true",
                   help="sendInitialEvents answered 422, as with the WatchList feature gate off")
    s.add_argument("--http1", action="store_true",
                   help="no nghttpx in front: the client speaks HTTP/1.1 to the fake itself")
    s.add_argument("--history", type=int, default=1000)
    s.add_argument("--continue-ttl", type=float, default=300.0)
    s.add_argument("--max-page", type=int, default=0)
    s.add_argument("--initial-rv", type=int, default=1,
                   help="first resourceVersion (e.g. higher than before a simulated restart)")
    s.add_argument("--key-type", choices=("ec", "rsa"), default="ec")
    s.add_argument("--reuse-certs", action="store_true",
                   help="keep existing certificates in --dir (server restart)")
    s.add_argument("--verbose", action="store_true")
    c = sub.add_parser("ctl", help="call a control endpoint")
    c.add_argument("dir")
    c.add_argument("endpoint")
    c.add_argument("json", nargs="?", help="JSON body, @file or - for stdin; no body: GET for log/state")
    args = p.parse_args(argv)
    if args.cmd == "serve":
        serve(args)
        return 0
    return ctl_main(args)


if __name__ == "__main__":
    sys.exit(main())
