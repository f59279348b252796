#!/bin/bash
# kube_proxy.sh -- kubeconfig and proxies as kubectl does them: a loopback
# proxy (tests/k8s/fake_proxy.py) records the tunnels it is asked for.
#   - HTTPS_PROXY (with or without a scheme) is used for a server by name,
#     never for a loopback server (Go's http.ProxyFromEnvironment), and
#     not for a host NO_PROXY covers;
#   - the cluster's proxy-url is used for every request, loopback too;
#     socks5:// has the proxy resolve the name;
#   - disable-compression: no Accept-Encoding;
#   - as, as-groups, as-uid, as-user-extra: the Impersonate-* headers;
#   - an inline token is read again when the kubeconfig changes.
# The proxy maps the name api.test to 127.0.0.1; without it, the name does
# not resolve at all.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 18

start_fake || exit 1
se default one one.default.global 10.0.0.1
APIPORT=$(cat "$K8S/port")
python3 "$TOP_SRCDIR/tests/k8s/fake_proxy.py" --dir "$T_TMP/proxy" --map api.test=127.0.0.1 \
	>"$T_TMP/proxy.log" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_until 10 test -f "$T_TMP/proxy/ready" || { echo "Bail out! the proxy did not start"; exit 1; }
HP=$(cat "$T_TMP/proxy/http_port") SP=$(cat "$T_TMP/proxy/socks_port")
touch "$T_TMP/proxy/log"
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy NO_PROXY no_proxy ALL_PROXY all_proxy

# kubeconfigs: the fake's, and one naming the server api.test (no CA: insecure)
sed -e "s|server: https://127.0.0.1:|server: https://api.test:|" -e '/certificate-authority/d' \
	-e "s|^    server: \(.*\)|    server: \1\n    insecure-skip-tls-verify: true|" \
	"$K8S/kubeconfig" >"$T_TMP/kc-name"
with_cluster_line() {  # with_cluster_line FROM TO LINE: TO is FROM with LINE in the cluster
	sed "s|^    server: \(.*\)|    server: \1\n    $3|" "$1" >"$2"
}
with_user_lines() {  # with_user_lines FROM TO: TO is FROM with stdin appended to the user
	{ cat "$1"; sed 's/^/    /'; } >"$2"
}
plines() { wc -l <"$T_TMP/proxy/log" | tr -d ' '; }
run() {  # run NAME KUBECONFIG [ENV=VALUE...]: a daemon reading through it
	local name=$1 kc=$2; shift 2
	PORT=$(free_port)
	kube_corefile "$T_TMP/Corefile.$name" "kubeconfig $kc" "timeout 2s" "backoff 200ms 1s"
	env "$@" "$GLOBALDNS" -conf "$T_TMP/Corefile.$name" >"$T_TMP/$name.log" 2>&1 &
	GD_PID=$!
	T_PIDS="$T_PIDS $GD_PID"
	wait_dns "$PORT"
}

# ---- the environment, by Go's rules
L0=$(plines)
run env-loopback "$K8S/kubeconfig" HTTPS_PROXY="http://127.0.0.1:$HP"
wait_a 10 one.default.global 10.0.0.1
is "$(a one.default.global)" 10.0.0.1 "HTTPS_PROXY set, a loopback server: served"
is "$(plines)" "$L0" "... directly, never through the proxy (Go never proxies loopback)"
stop_pid "$GD_PID"

run env-name "$T_TMP/kc-name" HTTPS_PROXY="127.0.0.1:$HP" NO_PROXY="example.com,10.0.0.0/8"
wait_a 10 one.default.global 10.0.0.1
is "$(a one.default.global)" 10.0.0.1 "HTTPS_PROXY without a scheme, a server by name: served"
like "$(tail -n +$((L0 + 1)) "$T_TMP/proxy/log")" "^CONNECT api\.test:$APIPORT" "... through the proxy (CONNECT api.test)"
like "$(cat "$T_TMP/env-name.log")" "through proxy http://127\.0\.0\.1:$HP" "... and says so"
stop_pid "$GD_PID"

L0=$(plines)
run env-noproxy "$T_TMP/kc-name" HTTPS_PROXY="http://127.0.0.1:$HP" NO_PROXY="other.example, .test"
sleep 2
is "$(rcode one.default.global)" SERVFAIL "NO_PROXY covers .test: not proxied (and api.test does not resolve here)"
is "$(plines)" "$L0" "... the proxy was not asked"
stop_pid "$GD_PID"

# ---- the kubeconfig's proxy-url: for every request, loopback too
with_cluster_line "$K8S/kubeconfig" "$T_TMP/kc-purl" "proxy-url: http://127.0.0.1:$HP"
L0=$(plines)
run purl "$T_TMP/kc-purl" NO_PROXY="*"
wait_a 10 one.default.global 10.0.0.1
is "$(a one.default.global)" 10.0.0.1 "proxy-url http://: served"
like "$(tail -n +$((L0 + 1)) "$T_TMP/proxy/log")" "^CONNECT 127\.0\.0\.1:$APIPORT" \
	"... through the proxy, the loopback server too (NO_PROXY is for the environment's proxies)"
stop_pid "$GD_PID"

with_cluster_line "$T_TMP/kc-name" "$T_TMP/kc-socks" "proxy-url: socks5://127.0.0.1:$SP"
L0=$(plines)
run socks "$T_TMP/kc-socks"
wait_a 10 one.default.global 10.0.0.1
is "$(a one.default.global)" 10.0.0.1 "proxy-url socks5://: served"
like "$(tail -n +$((L0 + 1)) "$T_TMP/proxy/log")" "^SOCKS5 api\.test:$APIPORT" "... the name resolved by the proxy"
stop_pid "$GD_PID"

with_cluster_line "$K8S/kubeconfig" "$T_TMP/kc-ftp" "proxy-url: ftp://127.0.0.1:$HP"
kube_corefile "$T_TMP/Corefile.ftp" "kubeconfig $T_TMP/kc-ftp"
"$GLOBALDNS" -validate -conf "$T_TMP/Corefile.ftp" >"$T_TMP/ftp.out" 2>&1
like "$(cat "$T_TMP/ftp.out")" 'proxy-url "ftp://.*": unsupported scheme, must be http, https, or socks5' \
	"proxy-url with another scheme: a clear error"

# ---- disable-compression, impersonation
with_cluster_line "$K8S/kubeconfig" "$T_TMP/kc-nogzip" "disable-compression: true"
with_user_lines "$T_TMP/kc-nogzip" "$T_TMP/kc-as" <<'EOF'
as: jane
as-uid: "1234"
as-groups: [devs, "system:authenticated"]
as-user-extra:
  scopes.example.com/x: [one, two]
  key with space: [v]
EOF
SEQ=$(fake_seq)
run as "$T_TMP/kc-as"
wait_a 10 one.default.global 10.0.0.1
is "$(a one.default.global)" 10.0.0.1 "impersonating: served"
E=$(ctl log | python3 -c '
import json, sys
es = [e for e in json.load(sys.stdin)["entries"] if e["seq"] >= int(sys.argv[1]) and e["kind"] in ("list", "watch")]
e = es[0]
print(e["accept_encoding"])
print(json.dumps(e["impersonate"], sort_keys=True))' "$SEQ")
is "$(echo "$E" | head -1)" None "disable-compression: no Accept-Encoding"
is "$(echo "$E" | tail -1)" \
	'{"extra": {"key with space": ["v"], "scopes.example.com/x": ["one", "two"]}, "groups": ["devs", "system:authenticated"], "uid": "1234", "user": "jane"}' \
	"Impersonate-User, -Uid, -Group (each), -Extra-KEY (%-escaped, each value), as the API server reads them"
stop_pid "$GD_PID"

# ---- an inline token, rotated: the kubeconfig is read again
run inline "$K8S/kubeconfig"
wait_a 10 one.default.global 10.0.0.1
ctl rotate-token '{}' >/dev/null
ctl close-watches '{}' >/dev/null
se default two two.default.global 10.0.0.2
wait_a 10 two.default.global 10.0.0.2
is "$(a two.default.global)" 10.0.0.2 "inline token rotated in the kubeconfig: the change arrives"
like "$(cat "$T_TMP/inline.log")" "the kubeconfig's token changed" "... the new token read from the file"
is "$(ctl log | python3 -c '
import json, sys
es = json.load(sys.stdin)["entries"]
print(es[-1]["token"] == open(sys.argv[1]).read().strip() and es[-1]["auth_ok"])' "$K8S/token")" True \
	"... and used"
stop_pid "$GD_PID"
