#!/bin/bash
# kube_http2.sh -- the Kubernetes source over HTTP/2, as it talks to a real
# API server (libcurl negotiates h2 by ALPN; the fake speaks it through
# nghttpx, its default front): streaming lists and watches of three
# namespaces share one connection as streams; watch events arrive through
# it; streams the server ends, a rotated token and the whole connection
# dropped are all survived.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
need nghttpx ss
plan 14

start_fake || exit 1   # bookmarks about a minute apart, as a real API server
se default one one.default.global 10.0.0.1
se other two two.other.global 10.0.0.2
H2=$(cat "$K8S/port")
is "$(cat "$K8S/protocol")" h2 "the fake speaks HTTP/2 (nghttpx in front)"
is "$(curl -sS --http2 --cacert "$K8S/ca.crt" -H "Authorization: Bearer $(cat "$K8S/token")" \
	-o /dev/null -w '%{http_version} %{http_code}' \
	"https://127.0.0.1:$H2/apis/networking.istio.io/v1/serviceentries")" "2 200" \
	"the proxy speaks HTTP/2 and reaches the fake"

PORT=$(free_port)
kube_corefile "$T_TMP/Corefile" "kubeconfig $K8S/kubeconfig-tokenfile" "namespaces default other third" \
	"timeout 2s" "backoff 200ms 1s"
start_globaldns gd "$T_TMP/Corefile" || exit 1
wait_a 10 two.other.global 10.0.0.2
is "$(a one.default.global) $(a two.other.global)" "10.0.0.1 10.0.0.2" "served from three namespaces through HTTP/2"

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
# (nghttpx logs a stream when it ends)
like "$(grep 'globaldns/' "$K8S/access.log")" \
	'"GET /apis/networking\.istio\.io/v1/namespaces/third/serviceentries\?watch=1&sendInitialEvents=true[^"]* HTTP/2" 200 .*globaldns/' \
	"... the streaming lists had gone as HTTP/2 requests"

# a rotated token: 401 on the next request, the token file re-read
ctl rotate-token '{}' >/dev/null
ctl close-watches '{}' >/dev/null
se other five five.other.global 10.0.0.5
wait_a 10 five.other.global 10.0.0.5
is "$(a five.other.global)" 10.0.0.5 "token rotated: re-read, the change arrives"

# the whole connection dropped: every stream fails at once
SEQ=$(fake_seq)
ctl drop-connections '{}' >/dev/null
se third six six.third.global 10.0.0.6
wait_a 10 six.third.global 10.0.0.6
is "$(a six.third.global)" 10.0.0.6 "connection dropped: reconnected, the change made meanwhile arrives"
is "$(a one.default.global)" 10.0.0.1 "... the other answers kept"
sleep 0.5
is "$(conns)" 1 "... again over one connection"
is "$(fake_log "$SEQ" | grep -cE ' list |sendInitialEvents')" 0 "... resumed from the resourceVersions: no list"
kill -0 "$GD_PID"
ok $? "the server is still running"
