#!/bin/bash
# kube_auth.sh -- how globaldns finds and proves itself to the API server:
# in-cluster (token directory, token rotation answered by a re-read after
# 401), kubeconfig with a token, a tokenFile, client certificates (paths
# and inline -data), an exec credential plugin, a merged KUBECONFIG=a:b,
# a wrong CA, tls-server-name; an exec plugin inherits none of the daemon's
# descriptors; and -validate, which checks the kubeconfig without calling
# the API.  The fake speaks HTTP/1.1 itself here (--http1): it checks
# client certificates, which its HTTP/2 front (nghttpx) would end.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 36

start_fake --http1 || exit 1
se default one one.default.global 10.0.0.1
APIPORT=$(cat "$K8S/port")
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT KUBECONFIG GLOBALDNS_SA_DIR

# ---- in-cluster, with the service-account directory overridden
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.ic" "timeout 2s" "backoff 200ms 1s"
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$APIPORT GLOBALDNS_SA_DIR=$K8S
start_globaldns ic "$T_TMP/Corefile.ic" || exit 1
unset KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT GLOBALDNS_SA_DIR
wait_a 10 one.default.global 10.0.0.1
is "$(a one.default.global)" 10.0.0.1 "in-cluster: token + ca.crt from the service-account dir"
like "$(cat "$T_TMP/ic.log")" "from https://127.0.0.1:$APIPORT \(in-cluster, service account $K8S\)" "in-cluster configuration logged"
OLD=$(cat "$K8S/token")
SEQ=$(fake_seq)
ctl rotate-token '{}' >/dev/null
NEW=$(cat "$K8S/token")
# the open watch keeps working; a new request meets 401 and re-reads the file
ctl close-watches '{}' >/dev/null
se default two two.default.global 10.0.0.2
wait_a 10 two.default.global 10.0.0.2
is "$(a two.default.global)" 10.0.0.2 "in-cluster: after the token rotated, changes still arrive"
L=$(ctl log | python3 -c '
import json, sys
for e in json.load(sys.stdin)["entries"]:
    if e["seq"] >= int(sys.argv[1]): print(e["status"], e["token"])' "$SEQ")
like "$L" "401 $OLD" "the old token got 401"
like "$L" "200 $NEW" "then the new token from the re-read file"
unlike "$(grep ERROR "$T_TMP/ic.log")" "401" "a 401 answered by a re-read is not logged as an error"
stop_pid "$GD_PID"

# ---- kubeconfig: tokenFile, client certificates
for kc in kubeconfig-tokenfile kubeconfig-cert; do
	PORT=$(free_port)
	kube_corefile "$T_TMP/Corefile.$kc" "kubeconfig $K8S/$kc" "timeout 2s"
	SEQ=$(fake_seq)
	start_globaldns "$kc" "$T_TMP/Corefile.$kc" || exit 1
	wait_a 10 two.default.global 10.0.0.2
	is "$(a two.default.global)" 10.0.0.2 "$kc: served"
	want=token; [ $kc = kubeconfig-cert ] && want=cert
	like "$(fake_log "$SEQ" | grep -E ' (list|watch) ' | head -1)" "(list|watch) 200 None $want " "$kc: authenticated by $want"
	stop_pid "$GD_PID"
done

# ---- inline -data fields, relative to nothing
b64() { base64 -w0 <"$1"; }
cat >"$T_TMP/kc-data" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://127.0.0.1:$APIPORT
    certificate-authority-data: $(b64 "$K8S/ca.crt")
users:
- name: u
  user:
    client-certificate-data: $(b64 "$K8S/client.crt")
    client-key-data: $(b64 "$K8S/client.key")
contexts:
- name: other
  context: {cluster: nowhere, user: u}
- name: inline
  context: {cluster: c, user: u}
current-context: other
EOF
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.data" "kubeconfig $T_TMP/kc-data inline" "timeout 2s"
SEQ=$(fake_seq)
start_globaldns data "$T_TMP/Corefile.data" || exit 1
wait_a 10 one.default.global 10.0.0.1
is "$(a one.default.global)" 10.0.0.1 "inline -data certificates, context named in the Corefile"
like "$(fake_log "$SEQ" | grep -E ' (list|watch) ' | head -1)" "(list|watch) 200 None cert " "authenticated by the inline client certificate"
stop_pid "$GD_PID"

# ---- exec credential plugin (relative command, env, args)
mkdir -p "$T_TMP/kc"
cat >"$T_TMP/kc/get-token.sh" <<'EOF'
#!/bin/sh
echo run >>"$RUNS"
printf '%s' "$KUBERNETES_EXEC_INFO" >"$RUNS.info"
ls -l /proc/self/fd >"$RUNS.fds" 2>&1
[ "$1" = "--flag" ] || exit 3
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2099-01-01T00:00:00Z"}}\n' "$(cat "$TOKDIR/token")"
EOF
chmod +x "$T_TMP/kc/get-token.sh"
cat >"$T_TMP/kc/config" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: "https://127.0.0.1:$APIPORT"
    certificate-authority: ../k8s/ca.crt
    extensions:
    - name: other.example/ext
      extension: {ignored: true}
    - name: client.authentication.k8s.io/exec
      extension: {audience: mesh, region: [eu, us]}
users:
- name: e
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./get-token.sh
      args: ["--flag"]
      env:
      - {name: TOKDIR, value: "$K8S"}
      - {name: RUNS, value: "$T_TMP/runs"}
      interactiveMode: Never
      provideClusterInfo: true
contexts:
- name: x
  context: {cluster: c, user: e}
current-context: x
EOF
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.exec" "kubeconfig $T_TMP/kc/config" "timeout 2s" "backoff 200ms 1s"
start_globaldns exec "$T_TMP/Corefile.exec" || exit 1
wait_a 10 one.default.global 10.0.0.1
is "$(a one.default.global)" 10.0.0.1 "exec plugin: token from ExecCredential"
is "$(wc -l <"$T_TMP/runs")" 1 "the plugin ran once (the token has not expired)"
# what the plugin was handed: stdin, stdout, stderr, nothing of the daemon's
sed 's/^/# /' "$T_TMP/runs.fds"
is "$(grep -cE 'socket:|anon_inode:|pipe:' "$T_TMP/runs.fds")" 0 \
	"exec plugin: inherits no socket, event or pipe descriptor of the daemon"
is "$(awk '$9 ~ /^[0-9]+$/ && $9 > 3' "$T_TMP/runs.fds" | wc -l)" 0 \
	"exec plugin: no descriptor beyond 0-2 (3 is ls reading /proc/self/fd)"
# KUBERNETES_EXEC_INFO as client-go sets it; provideClusterInfo adds the
# cluster: server, the CA's bytes (read from the file), the exec extension
info() {  # info FILE CA-FILE: the ExecCredential the plugin was given, checked
	python3 - "$@" <<'PY'
import base64, json, sys
i = json.load(open(sys.argv[1]))
c = i["spec"].get("cluster")
out = [i["apiVersion"], i["kind"], "interactive=%s" % i["spec"]["interactive"]]
if c is not None:
    ca = base64.b64decode(c.pop("certificate-authority-data", ""))
    out.append("ca=%s" % (ca == open(sys.argv[2], "rb").read()))
    out.append(json.dumps(c, sort_keys=True))
print(" ".join(out))
PY
}
is "$(info "$T_TMP/runs.info" "$K8S/ca.crt")" \
	"client.authentication.k8s.io/v1 ExecCredential interactive=False ca=True {\"config\": {\"audience\": \"mesh\", \"region\": [\"eu\", \"us\"]}, \"server\": \"https://127.0.0.1:$APIPORT\"}" \
	"provideClusterInfo: KUBERNETES_EXEC_INFO has the cluster (server, CA bytes, the exec extension's config)"
ctl rotate-token '{}' >/dev/null
ctl close-watches '{}' >/dev/null
se default three three.default.global 10.0.0.3
wait_a 10 three.default.global 10.0.0.3
is "$(a three.default.global)" 10.0.0.3 "exec plugin: after a 401 the plugin runs again"
is "$(wc -l <"$T_TMP/runs")" 2 "ran a second time"
stop_pid "$GD_PID"

# ---- an exec plugin whose credential has already expired: used anyway
# (the API server decides), the plugin is not re-run in a loop; the plugin
# starts with SIGPIPE at its default
cat >"$T_TMP/kc/get-expired.sh" <<'EOF'
#!/bin/sh
echo run >>"$RUNS"
printf '%s' "$KUBERNETES_EXEC_INFO" >"$RUNS.info"
# read by the shell itself: a child (grep) would race dash, which blocks
# every signal around its vfork until the child has exec'd
while IFS= read -r l; do case $l in SigBlk:*|SigIgn:*) echo "$l" ;; esac; done </proc/$$/status >"$RUNS.sig"
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2000-01-01T00:00:00Z"}}\n' "$(cat "$TOKDIR/token")"
EOF
chmod +x "$T_TMP/kc/get-expired.sh"
sed -e 's|./get-token.sh|./get-expired.sh|' -e "s|$T_TMP/runs|$T_TMP/runs-exp|" -e '/provideClusterInfo/d' \
	"$T_TMP/kc/config" >"$T_TMP/kc/config-expired"
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.expired" "kubeconfig $T_TMP/kc/config-expired" "timeout 2s" "backoff 200ms 1s" "resync 1s"
start_globaldns expired "$T_TMP/Corefile.expired" || exit 1
wait_a 10 three.default.global 10.0.0.3
is "$(a three.default.global)" 10.0.0.3 "exec plugin, credential already expired: still served"
sleep 5
RUNS=$(wc -l <"$T_TMP/runs-exp")
ok $([ "$RUNS" -ge 1 ] && [ "$RUNS" -le 6 ]; echo $?) "the plugin ran only a few times in 5 s ($RUNS)"
is "$(grep -c 'already expired' "$T_TMP/expired.log")" 1 "the expired credential is logged once"
is "$(info "$T_TMP/runs-exp.info" /dev/null)" "client.authentication.k8s.io/v1 ExecCredential interactive=False" \
	"without provideClusterInfo: no cluster in KUBERNETES_EXEC_INFO"
SIG=$(python3 -c '
import sys
d = dict(l.split(":") for l in open(sys.argv[1]).read().split("\n") if l)
print("ok" if not int(d["SigIgn"], 16) & (1 << 12) and not int(d["SigBlk"], 16) else d)' "$T_TMP/runs-exp.sig")
is "$SIG" ok "the plugin starts with SIGPIPE at its default (not ignored as in the server) and no signal blocked"
stop_pid "$GD_PID"

# ---- KUBECONFIG=a:b merged (first definition wins; relative paths per file)
mkdir -p "$T_TMP/ka" "$T_TMP/kb"
cp "$K8S/ca.crt" "$T_TMP/kb/ca.crt"
cat >"$T_TMP/ka/config" <<EOF
apiVersion: v1
kind: Config
current-context: merged
contexts:
- name: merged
  context: {cluster: cb, user: ua}
users:
- name: ua
  user: {token: "$(cat "$K8S/token")"}
EOF
cat >"$T_TMP/kb/config" <<EOF
apiVersion: v1
kind: Config
current-context: wrong
clusters:
- name: cb
  cluster: {server: "https://127.0.0.1:$APIPORT", certificate-authority: ca.crt}
users:
- name: ua
  user: {token: "not-the-token"}
contexts:
- name: merged
  context: {cluster: nowhere, user: ua}
EOF
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.merge" "timeout 2s"
export KUBECONFIG="$T_TMP/missing:$T_TMP/ka/config:$T_TMP/kb/config"
SEQ=$(fake_seq)
start_globaldns merge "$T_TMP/Corefile.merge" || exit 1
unset KUBECONFIG
wait_a 10 three.default.global 10.0.0.3
is "$(a three.default.global)" 10.0.0.3 "KUBECONFIG=missing:a:b merged: served"
like "$(fake_log "$SEQ" | grep -E ' (list|watch) ' | head -1)" "(list|watch) 200 None token " "user from a (b's same name ignored), cluster from b"
stop_pid "$GD_PID"

# ---- a CA that does not match: TLS error, SERVFAIL, one log line
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other \
	-keyout "$T_TMP/other.key" -out "$T_TMP/other.crt" -days 1 >/dev/null 2>&1
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.ca" "kubeconfig $K8S/kubeconfig" "tls_ca $T_TMP/other.crt" "timeout 2s" "backoff 200ms 300ms"
start_globaldns badca "$T_TMP/Corefile.ca" || exit 1
sleep 1.5
is "$(rcode one.default.global)" SERVFAIL "wrong CA: never trusted, SERVFAIL"
is "$(grep -c 'list: TLS' "$T_TMP/badca.log")" 1 "wrong CA: one TLS error line for many retries"
stop_pid "$GD_PID"

# ---- tls-server-name: the certificate (127.0.0.1, localhost) is checked
# against that name, not the URL's host; the connection still goes to the URL
tls_name_kc() {
	sed "s|^    server: \(.*\)|    server: \1\n    tls-server-name: $1|" "$K8S/kubeconfig" >"$T_TMP/kc-sni-$1"
}
tls_name_kc localhost
tls_name_kc wrong.example
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.sni" "kubeconfig $T_TMP/kc-sni-localhost" "timeout 2s"
start_globaldns sni "$T_TMP/Corefile.sni" || exit 1
wait_a 10 one.default.global 10.0.0.1
is "$(a one.default.global)" 10.0.0.1 "tls-server-name localhost: verified, served from 127.0.0.1"
stop_pid "$GD_PID"
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile.sni2" "kubeconfig $T_TMP/kc-sni-wrong.example" "timeout 2s" "backoff 200ms 300ms"
start_globaldns sni2 "$T_TMP/Corefile.sni2" || exit 1
sleep 1.5
is "$(rcode one.default.global)" SERVFAIL "tls-server-name not in the certificate: SERVFAIL"
like "$(grep 'list: TLS' "$T_TMP/sni2.log")" "wrong.example" "the TLS error names the server name"
stop_pid "$GD_PID"

# ---- -validate checks the kubeconfig, never the API
SEQ=$(fake_seq)
"$GLOBALDNS" -validate -conf "$T_TMP/Corefile.exec" >"$T_TMP/v1.log" 2>&1
ok $? "-validate: good kubeconfig passes"
is "$(fake_log "$SEQ" | wc -l)" 0 "-validate made no API request"
printf 'clusters: [\n' >"$T_TMP/broken"
kube_corefile "$T_TMP/Corefile.broken" "kubeconfig $T_TMP/broken"
"$GLOBALDNS" -validate -conf "$T_TMP/Corefile.broken" >"$T_TMP/v2.log" 2>&1
is "$?" 1 "-validate: a broken kubeconfig fails"
like "$(cat "$T_TMP/v2.log")" "Corefile.broken:3: serviceentries: kubernetes: $T_TMP/broken: line" "error names the Corefile line and the kubeconfig"
kube_corefile "$T_TMP/Corefile.both" "file $T_TMP/broken" "namespaces a"
"$GLOBALDNS" -validate -conf "$T_TMP/Corefile.both" >"$T_TMP/v3.log" 2>&1
like "$(cat "$T_TMP/v3.log")" "namespaces: a Kubernetes API property, but this block reads \"file\"" "file with API properties: a clear error"
