#!/bin/bash
# registry_access.sh -- issue 11 row 7: GET /registry hands out the whole
# inventory, so by default it is answered to clients on the host only
# (loopback); `ready ADDRESS { registry ADDRESS }` serves it elsewhere.
# /ready stays where it is.
#
# A client from another address is needed: the script runs itself in a
# network namespace of its own (unshare -rn) where 192.0.2.10 is a
# non-loopback address of the host.
if [ -z "${REGISTRY_NETNS:-}" ]; then
	# as a user (a user namespace), or as root without one
	for how in -rn -n; do
		if unshare "$how" true 2>/dev/null; then
			REGISTRY_NETNS=1 exec unshare "$how" "$0" "$@"
		fi
	done
	. "$(dirname "$0")/../lib.sh"
	skip_all "cannot create a network namespace (unshare -rn or -n)"
fi
. "$(dirname "$0")/../lib.sh"
need dig curl ip
ip link set lo up && ip addr add 192.0.2.10/32 dev lo || skip_all "cannot add 192.0.2.10 in the namespace"

pick_ports PORT R R2
plan 12

corefile() {
	cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
    ready :$R $1
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
EOF
}
# get FROM URL: "CODE BODY-START"
get() {
	curl -s -m 3 --interface "$1" -o "$T_TMP/body" -w '%{http_code}' "$2"
	printf ' %s' "$(head -c 60 "$T_TMP/body" | tr '\n' ' ')"
}

corefile ""
start_globaldns default "$T_TMP/Corefile" || exit 1
like "$(get 127.0.0.1 "http://127.0.0.1:$R/registry")" '^200 \{' "default: /registry answered to 127.0.0.1"
like "$(get 192.0.2.10 "http://192.0.2.10:$R/registry")" '^403 GET /registry is answered to clients on this host only' \
	"default: a client from 192.0.2.10 gets 403"
like "$(cat "$T_TMP/body")" 'ready \[ADDRESS\] \{ registry ADDRESS \}' "the 403 says how to serve it elsewhere"
is "$(get 192.0.2.10 "http://192.0.2.10:$R/ready")" "200 OK" "default: /ready is answered to anyone"
stop_pid "$GD_PID"

corefile "{
        registry 192.0.2.10:$R2
    }"
start_globaldns own "$T_TMP/Corefile" || exit 1
like "$(get 192.0.2.10 "http://192.0.2.10:$R2/registry")" '^200 \{' "registry 192.0.2.10:PORT: served there to anyone"
like "$(get 192.0.2.10 "http://192.0.2.10:$R/registry")" '^404 ' "and no longer on ready's address"
is "$(get 192.0.2.10 "http://192.0.2.10:$R/ready")" "200 OK" "/ready stays on ready's address"
stop_pid "$GD_PID"

corefile "{
        registry :$R
    }"
start_globaldns same "$T_TMP/Corefile" || exit 1
like "$(get 192.0.2.10 "http://192.0.2.10:$R/registry")" '^200 \{' "registry on ready's own address: served to anyone"
stop_pid "$GD_PID"

corefile "{
        registry
    }"
"$GLOBALDNS" -conf "$T_TMP/Corefile" -validate >"$T_TMP/bad1.log" 2>&1
is "$?" 1 "registry without an address: rejected"
like "$(cat "$T_TMP/bad1.log")" 'Corefile:3: ready: registry: needs one ADDRESS' "with FILE:LINE"
corefile "{
        everyone
    }"
"$GLOBALDNS" -conf "$T_TMP/Corefile" -validate >"$T_TMP/bad2.log" 2>&1
like "$(cat "$T_TMP/bad2.log")" 'Corefile:3: ready: unknown property "everyone"; supported: registry' "an unknown property: rejected"
corefile "{
        registry 999.1.1.1:80
    }"
"$GLOBALDNS" -conf "$T_TMP/Corefile" -validate >"$T_TMP/bad3.log" 2>&1
like "$(cat "$T_TMP/bad3.log")" 'Corefile:3: ready: registry: "999\.1\.1\.1": not an IP address' "a bad address: rejected"
