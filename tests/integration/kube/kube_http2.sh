#!/bin/bash
# kube_http2.sh -- the Kubernetes source over HTTP/2, as it talks to a real
# API server (libcurl negotiates h2 by ALPN; the fake speaks HTTP/1.1
# only, so nghttpx, a real HTTP/2 proxy, stands in front of it): lists and
# watches of three namespaces share one connection as streams; watch
# events arrive through it; streams the server ends, a rotated token and
# the whole connection dropped (the proxy restarted) are all survived.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
need nghttpx ss
plan 13

start_fake --bookmark-interval 60 || exit 1   # about a minute, as a real API server
se default one one.default.global 10.0.0.1
se other two two.other.global 10.0.0.2
H2=$(free_port)

# the proxy: TLS with the fake's certificate in front, TLS to the fake
# behind (not verified: loopback to the fake)
start_proxy() {
	nghttpx --conf=/dev/null --frontend="127.0.0.1,$H2" \
		--backend="127.0.0.1,$(cat "$K8S/port");;tls" -k --no-ocsp --workers=1 \
		--backend-read-timeout=1h --frontend-read-timeout=1h \
		--accesslog-file="$T_TMP/access.log" --errorlog-file="$T_TMP/nghttpx.log" \
		"$K8S/server.key" "$K8S/server.crt" >>"$T_TMP/nghttpx.out" 2>&1 &
	PROXY_PID=$!
	T_PIDS="$T_PIDS $PROXY_PID"
	wait_until 10 curl -s -o /dev/null --cacert "$K8S/ca.crt" "https://127.0.0.1:$H2/"
}
start_proxy || { echo "Bail out! nghttpx did not start"; exit 1; }
is "$(curl -sS --http2 --cacert "$K8S/ca.crt" -H "Authorization: Bearer $(cat "$K8S/token")" \
	-o /dev/null -w '%{http_version} %{http_code}' \
	"https://127.0.0.1:$H2/apis/networking.istio.io/v1/serviceentries")" "2 200" \
	"the proxy speaks HTTP/2 and reaches the fake"

sed "s|server: https://127.0.0.1:[0-9]*|server: https://127.0.0.1:$H2|" "$K8S/kubeconfig-tokenfile" >"$T_TMP/kc-h2"
PORT=$(free_port)
kube_corefile "$T_TMP/Corefile" "kubeconfig $T_TMP/kc-h2" "namespaces default other third" \
	"timeout 2s" "backoff 200ms 1s"
start_globaldns gd "$T_TMP/Corefile" || exit 1
wait_a 10 two.other.global 10.0.0.2
is "$(a one.default.global) $(a two.other.global)" "10.0.0.1 10.0.0.2" "served from three namespaces through HTTP/2"
like "$(grep 'globaldns/' "$T_TMP/access.log")" \
	'"GET /apis/networking\.istio\.io/v1/namespaces/third/serviceentries\?limit=500 HTTP/2" 200 .*globaldns/' \
	"the lists went as HTTP/2 requests"

# three lists and three watches: one connection (streams), as client-go
conns() { ss -tnp state established "( dport = :$H2 )" | grep -c "pid=$GD_PID,"; }
sleep 0.5
is "$(conns)" 1 "one TCP connection for the three namespaces' lists and watches"

se third three three.third.global 10.0.0.3
wait_a 3 three.third.global 10.0.0.3
is "$(a three.third.global)" 10.0.0.3 "a change arrives by watch, as an HTTP/2 stream"
wait_log 5 'watch 200 .*/namespaces/third/serviceentries\?.*watch=(1|true)'
ok $? "... the fake saw the watch requests"

# the server ends every watch stream; the connection stays, new streams follow
ctl close-watches '{}' >/dev/null
se default four four.default.global 10.0.0.4
wait_a 5 four.default.global 10.0.0.4
is "$(a four.default.global)" 10.0.0.4 "streams ended by the server: watched again, the change arrives"

# a rotated token: 401 on the next request, the token file re-read
ctl rotate-token '{}' >/dev/null
ctl close-watches '{}' >/dev/null
se other five five.other.global 10.0.0.5
wait_a 10 five.other.global 10.0.0.5
is "$(a five.other.global)" 10.0.0.5 "token rotated: re-read, the change arrives"

# the whole connection dropped: every stream fails at once
kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null
se third six six.third.global 10.0.0.6
sleep 1
is "$(a one.default.global)" 10.0.0.1 "proxy gone: the last good answers are served"
start_proxy || { echo "Bail out! nghttpx did not restart"; exit 1; }
wait_a 10 six.third.global 10.0.0.6
is "$(a six.third.global)" 10.0.0.6 "proxy back: reconnected, the change made meanwhile arrives"
sleep 0.5
is "$(conns)" 1 "... again over one connection"
# every namespace's watch failed; each says it recovered once its new
# stream is up (not only when an event or a bookmark comes)
recovered() { [ "$(grep -o 'kubernetes [a-z]*: recovered' "$T_TMP/gd.log" | sort -u | wc -l)" -eq 3 ]; }
wait_until 5 recovered
ok $? "each namespace logs that it recovered ($(grep -o 'kubernetes [a-z]*: recovered' "$T_TMP/gd.log" | sort | uniq | awk '{ printf "%s ", $2 }'))"
kill -0 "$GD_PID"
ok $? "the server is still running"
