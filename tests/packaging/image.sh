#!/bin/bash
# image.sh -- the OCI image (issue 10 item 4): packaging/image/build.sh builds
# it from Debian's packages with mmdebstrap and umoci (no image registry);
# its config says user 1337:1337 and `globaldns -conf /etc/globaldns/
# Corefile`, as packaging/docker/Dockerfile does; unpacked as a runtime
# unpacks it, the binary carries cap_net_bind_service and the root file
# system has no shell.  runc runs it as the Deployment does (uid 1337, only
# NET_BIND_SERVICE, no_new_privs, read-only root, the config mounted) in a
# network namespace of the test's own: it answers on :53 and /ready; the
# same image with the capability removed cannot bind :53 (so the file
# capability is what makes it work).  Where runc cannot run containers
# here, the rootfs is run with setpriv + chroot as uid 1337 instead (said
# in the test names; GD_TEST_NO_RUNC=1 asks for that path).  Needs root and
# the Debian mirror.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (mmdebstrap, setcap, runc)"
need mmdebstrap umoci dig curl ip python3 getcap setcap
plan 22

VERSION=$(sed -n 's/^AC_INIT(\[globaldns\], \[\([^]]*\)\].*/\1/p' "$TOP_SRCDIR/configure.ac")
OUT=$T_TMP/image
"$TOP_SRCDIR/packaging/image/build.sh" -o "$OUT" -m "$MIRROR" >"$T_TMP/build.log" 2>&1
ok $? "packaging/image/build.sh builds the image (see build.log)"
sed -n 's/^build.sh: size: /# image size: /p' "$T_TMP/build.log"
[ -f "$OUT/oci/index.json" ] && [ -f "$OUT/globaldns-$VERSION.oci.tar" ]
ok $? "an OCI layout (tag $VERSION) and an oci-archive"

# ---- the image's config (what a runtime reads), and the Dockerfile's
cfg() {
	python3 - "$OUT/oci" "$VERSION" "$1" <<'PY'
import json, os, sys
layout, tag, expr = sys.argv[1:]
def blob(d):
    a, h = d["digest"].split(":")
    return json.load(open(os.path.join(layout, "blobs", a, h)))
idx = json.load(open(os.path.join(layout, "index.json")))
m = [d for d in idx["manifests"] if d.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag][0]
man = blob(m)
c = blob(man["config"])
r = eval(expr)
print(json.dumps(r, sort_keys=True) if isinstance(r, (dict, list)) else r)
PY
}
is "$(cfg 'c["config"]["User"]')" "1337:1337" "user 1337:1337"
is "$(cfg 'c["config"]["Entrypoint"] + c["config"]["Cmd"]')" '["/usr/sbin/globaldns", "-conf", "/etc/globaldns/Corefile"]' \
	"entrypoint globaldns -conf /etc/globaldns/Corefile"
is "$(cfg 'sorted(c["config"]["ExposedPorts"])')" '["53/tcp", "53/udp", "8080/tcp", "8181/tcp", "9153/tcp"]' "exposes 53/udp+tcp, 8080, 8181, 9153"
is "$(cfg 'len(man["layers"])')" 1 "one layer"
# the Dockerfile says the same (there is no Docker engine here to build it)
DF=$TOP_SRCDIR/packaging/docker/Dockerfile
df() { sed -n "s/^$1 //p" "$DF" | tail -n 1; }
is "$(df USER)" "$(cfg 'c["config"]["User"]')" "Dockerfile: the same USER"
is "$(python3 -c 'import json,sys; print(json.dumps(json.loads(sys.argv[1]) + json.loads(sys.argv[2])))' "$(df ENTRYPOINT)" "$(df CMD)")" \
	"$(cfg 'c["config"]["Entrypoint"] + c["config"]["Cmd"]')" "Dockerfile: the same ENTRYPOINT and CMD"
is "$(df EXPOSE | tr ' ' '\n' | sort | xargs)" "$(cfg '" ".join(sorted(c["config"]["ExposedPorts"]))')" "Dockerfile: the same ports"
grep -q 'xargs apt-get install .*runtime-packages\|runtime-packages | xargs apt-get install' "$DF" \
	&& grep -q 'setcap cap_net_bind_service=+ep /usr/sbin/globaldns' "$DF" \
	&& grep -q 'conf/examples/kubernetes.Corefile /out/etc/globaldns/Corefile' "$DF"
ok $? "Dockerfile: the same runtime-packages list, file capability and default Corefile"

# ---- unpacked as a runtime does
B=$T_TMP/bundle
umoci unpack --image "$OUT/oci:$VERSION" "$B" >"$T_TMP/unpack.log" 2>&1
ok $? "umoci unpack"
R=$B/rootfs
is "$(getcap "$R/usr/sbin/globaldns" | sed "s|$R||")" "/usr/sbin/globaldns cap_net_bind_service=ep" "the binary carries cap_net_bind_service in the layer"
[ ! -e "$R/bin/sh" ] && [ ! -e "$R/usr/bin/apt-get" ] && [ ! -e "$R/bin" ] && [ ! -e "$R/usr/bin/dpkg" ]
ok $? "no shell, no package manager: /bin does not exist"
cmp -s "$R/etc/globaldns/Corefile" "$TOP_SRCDIR/conf/examples/kubernetes.Corefile"
ok $? "the default Corefile is the ConfigMap's"
# libcurl is not linked but opened when a Kubernetes source is set up
# (src/kube/curl_lazy.c): -validate of the default Corefile gets past it
# to the in-cluster configuration, which a chroot lacks
chroot --userspec=1337:1337 "$R" /usr/sbin/globaldns -validate -conf /etc/globaldns/Corefile >"$T_TMP/kvalidate.log" 2>&1
like "$(cat "$T_TMP/kvalidate.log")" "no Kubernetes configuration: not in a cluster" "the image's libcurl loads (-validate reaches the in-cluster configuration)"
like "$(grep '^globaldns:' "$R/etc/passwd")" "^globaldns:x:1337:1337:" "/etc/passwd names uid 1337"
ls "$R/var/lib/dpkg/status.d/libldns3" >/dev/null 2>&1 && grep -q '^Version: ' "$R/var/lib/dpkg/status.d/libcurl4"
ok $? "/var/lib/dpkg/status.d lists the packages (for scanners)"

# ---- run it as the Deployment would: runc, uid 1337, only NET_BIND_SERVICE
make_netns || exit 1
mkdir -p "$T_TMP/conf"
cat >"$T_TMP/conf/Corefile" <<'EOF'
.:53 {
    health :8080
    ready :8181
    serviceentries global {
        file /etc/globaldns/bar.yaml
    }
}
EOF
cp "$TESTDATA/integration/bar.yaml" "$T_TMP/conf/"
chmod 755 "$T_TMP" "$T_TMP/conf"; chmod 644 "$T_TMP/conf/"*

spec() {  # spec BUNDLE: the Kubernetes securityContext of packaging/kubernetes
	python3 - "$1/config.json" "$NSPATH" "$T_TMP/conf" <<'PY'
import json, sys
path, netns, conf = sys.argv[1:]
c = json.load(open(path))
p = c["process"]
p["terminal"] = False
caps = ["CAP_NET_BIND_SERVICE"]      # drop: [ALL], add: [NET_BIND_SERVICE]
p["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps,
                     "inheritable": [], "ambient": []}
p["noNewPrivileges"] = True           # allowPrivilegeEscalation: false
c["root"]["readonly"] = True          # readOnlyRootFilesystem: true
for ns in c["linux"]["namespaces"]:
    if ns["type"] == "network":
        ns["path"] = netns
c["mounts"].append({"destination": "/etc/globaldns", "type": "bind", "source": conf,
                    "options": ["rbind", "ro"]})
json.dump(c, open(path, "w"), indent=1)
PY
}
spec "$B"
CID=gd-image-$$
RUNNER=runc
if [ -z "${GD_TEST_NO_RUNC:-}" ] && command -v runc >/dev/null && runc run -d --pid-file "$T_TMP/runc.pid" -b "$B" "$CID" >"$T_TMP/runc.log" 2>&1 </dev/null; then
	T_CLEANUP="${T_CLEANUP:-} runc delete -f $CID;"
	GPID=$(cat "$T_TMP/runc.pid")
	T_PIDS="$T_PIDS $GPID"
else
	why=$(sed -n 's/.*msg="\([^"]*\)".*/\1/p' "$T_TMP/runc.log" 2>/dev/null | tail -n 1)
	RUNNER="setpriv+chroot (runc ${GD_TEST_NO_RUNC:+not tried}${why:+cannot run here: $why})"
	chmod 755 "$B"
	mount --bind "$T_TMP/conf" "$R/etc/globaldns" && T_CLEANUP="${T_CLEANUP:-} umount $R/etc/globaldns;"
	nsenter --net="$NSPATH" setpriv --inh-caps=-all --bounding-set=-all,+net_bind_service,+sys_chroot,+setuid,+setgid \
		chroot --userspec=1337:1337 "$R" /usr/sbin/globaldns -conf /etc/globaldns/Corefile >"$T_TMP/chroot.log" 2>&1 &
	GPID=$!
	T_PIDS="$T_PIDS $GPID"
fi
wait_ns_dns 53
is "$(nq +short httpbin.bar.global A)" 240.0.1.2 "$RUNNER: the image answers on :53"
is "$(in_ns curl -s --max-time 5 http://127.0.0.1:8181/ready)" OK "$RUNNER: /ready"
st=$(awk '$1 == "Uid:" || $1 == "CapEff:" || $1 == "CapAmb:" { print $2 }' "/proc/$GPID/status" | xargs)
is "$st" "1337 0000000000000400 0000000000000000" "$RUNNER: uid 1337, only NET_BIND_SERVICE, none ambient"
if [ "$RUNNER" = runc ]; then
	runc kill "$CID" TERM 2>/dev/null
	for _ in $(seq 1 100); do [ "$(runc state "$CID" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null)" = stopped ] && break; sleep 0.1; done
	runc delete -f "$CID" >/dev/null 2>&1
else
	stop_pid "$GPID"
fi

# ---- without the file capability it cannot bind :53: the capability matters
setcap -r "$R/usr/sbin/globaldns"
if [ "$RUNNER" = runc ]; then
	runc run -b "$B" "$CID-nocap" >"$T_TMP/nocap.log" 2>&1 </dev/null
	rc=$?
	runc delete -f "$CID-nocap" >/dev/null 2>&1
else
	nsenter --net="$NSPATH" setpriv --inh-caps=-all --bounding-set=-all,+net_bind_service,+sys_chroot,+setuid,+setgid \
		chroot --userspec=1337:1337 "$R" /usr/sbin/globaldns -conf /etc/globaldns/Corefile >"$T_TMP/nocap.log" 2>&1
	rc=$?
fi
is "$rc" 1 "without cap_net_bind_service on the file: exit 1"
like "$(cat "$T_TMP/nocap.log")" "Permission denied.*setcap cap_net_bind_service" "and the message says why"
