#!/bin/bash
# kube_srv_ptr.sh -- SRV and PTR records from the Kubernetes source: ports
# read from the API (through the compact store), a watched change of a
# port number alone answered and moving the SOA serial, a delete removing
# both the SRV and the PTR names, and an entry with a bad port skipped with
# namespace/name and the field.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
plan 9

# sep NS NAME HOST ADDR PORTS-JSON: a STATIC entry with spec.ports
sep() {
	ctl entries "{\"metadata\":{\"name\":\"$2\",\"namespace\":\"$1\"},\"spec\":{\"hosts\":[\"$3\"],\"addresses\":[\"$4\"],\"resolution\":\"STATIC\",\"ports\":$5}}" >/dev/null
}
srv() { q +short SRV "$1" | sort | tr '\n' ' ' | sed 's/ $//'; }
wait_srv() {
	local t=$1 name=$2 want=$3 n
	n=$((t * 20))
	for _ in $(seq 1 "$n"); do
		[ "$(srv "$name")" = "$want" ] && return 0
		sleep 0.05
	done
	return 1
}
serial() { q +short SOA global | awk '{print $3}'; }

start_fake || exit 1
sep ns1 web web.ns1.global 240.0.0.7 '[{"name":"http","number":8080,"protocol":"HTTP"},{"name":"dns","number":53,"protocol":"UDP"}]'

PORT=$(free_port)
cat >"$T_TMP/Corefile" <<COREFILE
global:$PORT 240.in-addr.arpa:$PORT {
    serviceentries {
        kubeconfig $K8S/kubeconfig
        timeout 2s
        srv
        reverse 240.0.0.0/8
    }
}
COREFILE
start_globaldns gd "$T_TMP/Corefile" || exit 1
wait_a 10 web.ns1.global 240.0.0.7

is "$(srv _http._tcp.web.ns1.global)" "0 100 8080 web.ns1.global." "SRV from a port read from the API"
is "$(srv _dns._udp.web.ns1.global)" "0 100 53 web.ns1.global." "... a UDP one under _udp"
is "$(q +short -x 240.0.0.7)" "web.ns1.global." "PTR for its address"

s1=$(serial)
sep ns1 web web.ns1.global 240.0.0.7 '[{"name":"http","number":9090,"protocol":"HTTP"},{"name":"dns","number":53,"protocol":"UDP"}]'
wait_srv 10 _http._tcp.web.ns1.global "0 100 9090 web.ns1.global."
is "$(srv _http._tcp.web.ns1.global)" "0 100 9090 web.ns1.global." "a watched change of the port number alone is answered"
ok "$([ "$(serial)" != "$s1" ]; echo $?)" "... and moves the SOA serial"

# a bad port: the entry is skipped, namespace/name and the field logged
sep ns1 bad bad.ns1.global 240.0.0.8 '[{"name":"http","number":70000}]'
sep ns1 after after.ns1.global 240.0.0.9 '[]'
wait_a 10 after.ns1.global 240.0.0.9
like "$(cat "$T_TMP/gd.log")" "skipping ns1/bad: spec\\.ports\\[0\\]\\.number: not a port number from 1 to 65535" \
	"a bad port: skipped with namespace/name and the field"
is "$(rcode -x 240.0.0.8)" "NXDOMAIN" "... and its address has no PTR"

del ns1 web
wait_rcode 10 web.ns1.global NXDOMAIN
is "$(rcode _http._tcp.web.ns1.global SRV)" "NXDOMAIN" "deleted: the SRV name is gone"
is "$(rcode -x 240.0.0.7)" "NXDOMAIN" "... and the PTR"
