#!/bin/bash
# kube_curl_lazy.sh -- libcurl is loaded only when a Kubernetes source
# needs it (src/kube/curl_lazy.c): a Corefile of manifest files never maps
# it (about 3.8 MiB of shared libraries less); a reload that adds a
# Kubernetes source loads it and the source answers; and where libcurl
# cannot be loaded (hidden by a bind mount in a mount namespace of the
# test's own) the Kubernetes block is refused with the reason and FILE:LINE,
# at start and at a reload, while the running configuration keeps
# answering.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 10

cat >"$T_TMP/se.yaml" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: f, namespace: t}
spec:
  hosts: [f.t.global]
  addresses: [240.9.0.1]
  resolution: STATIC
YAML
start_fake || exit 1
se ns1 web web.ns1.global 10.1.0.1

PORT=$(free_port)
files_only() {
	cat >"$T_TMP/Corefile" <<EOF
t.global:$PORT {
	serviceentries {
		file $T_TMP/se.yaml
	}
}
EOF
}
with_kube() {
	files_only
	cat >>"$T_TMP/Corefile" <<EOF
global:$PORT {
	serviceentries {
		kubeconfig $K8S/kubeconfig
	}
}
EOF
}
curl_mapped() { grep -c 'libcurl' "/proc/$1/maps"; }

files_only
start_globaldns gd "$T_TMP/Corefile" || exit 1
is "$(a f.t.global)" 240.9.0.1 "manifest files: answered"
is "$(curl_mapped "$GD_PID")" 0 "manifest files only: libcurl not loaded"
echo "# VmRSS with one entry from a file: $(awk '/^VmRSS/ { print $2 }' "/proc/$GD_PID/status") kB"

with_kube
kill -HUP "$GD_PID"
wait_a 10 web.ns1.global 10.1.0.1
is "$(a web.ns1.global)" 10.1.0.1 "a reload adds a Kubernetes source: it answers"
[ "$(curl_mapped "$GD_PID")" -gt 0 ]; ok $? "... and libcurl is loaded now"
stop_pid "$GD_PID"

# libcurl missing: only as root, in a mount namespace of our own
LIB=$(ldconfig -p 2>/dev/null | awk '/libcurl\.so\.4 / { print $NF; exit }')
LIB=$(readlink -f "${LIB:-/nonexistent}")
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null || [ ! -f "$LIB" ] \
   || ! unshare -m -- sh -c 'mount --bind /dev/null "$1"' sh "$LIB" >"$T_TMP/probe.log" 2>&1; then
	sed 's/^/# /' "$T_TMP/probe.log" 2>/dev/null
	for _ in 5 6 7 8 9 10; do ok 0 "# SKIP needs root, a mount namespace of its own and libcurl.so.4"; done
	exit 0
fi
hidden() {  # hidden NAME COREFILE: globaldns with libcurl.so.4 hidden; sets GD_PID
	unshare -m -- sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' sh "$LIB" \
		"$GLOBALDNS" -conf "$2" >"$T_TMP/$1.log" 2>&1 &
	GD_PID=$!
	T_PIDS="$T_PIDS $GD_PID"
}
hidden nocurl "$T_TMP/Corefile"
for _ in $(seq 1 50); do kill -0 "$GD_PID" 2>/dev/null || break; sleep 0.1; done
wait "$GD_PID"
is "$?" 1 "libcurl missing, a Kubernetes block: the start fails (exit 1)"
like "$(cat "$T_TMP/nocurl.log")" "Corefile:[0-9]+.*needs libcurl: cannot load libcurl.so.4" "... with FILE:LINE and the reason"

files_only
hidden nocurl2 "$T_TMP/Corefile"
wait_dns "$PORT"
is "$(a f.t.global)" 240.9.0.1 "libcurl missing, manifest files only: answered"
with_kube
kill -HUP "$GD_PID"
wait_until 5 grep -q "reload failed" "$T_TMP/nocurl2.log"
like "$(cat "$T_TMP/nocurl2.log")" "reload failed.*needs libcurl" "a reload adding a Kubernetes source is refused with the reason"
is "$(a f.t.global)" 240.9.0.1 "... and the running configuration keeps answering"
kill -0 "$GD_PID"; ok $? "still running"
stop_pid "$GD_PID"
