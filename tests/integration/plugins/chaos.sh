#!/bin/bash
# chaos.sh -- issue 11: the `chaos` plugin as in CoreDNS
# (`chaos [VERSION] [AUTHORS...]`): version.bind, version.server,
# authors.bind, hostname.bind and id.server in class CH, TTL 0, not
# authoritative -- the shape NSD gives (it is started beside, for
# comparison); other CH names go to the next plugin; off unless
# configured (a CH query then goes where its zone sends it).
. "$(dirname "$0")/../lib.sh"
need dig nsd

pick_ports PORT P2 P3 NSDP
plan 21

cat >"$T_TMP/Corefile" <<EOF
.:$PORT {
	chaos 1.2.3-test "Alice Example" bob
}
.:$P2 {
	chaos
	forward . 127.0.0.1:$NSDP
}
global:$P3 {
	serviceentries {
		file $TESTDATA/integration/bar.yaml
	}
}
EOF
mkdir -p "$T_TMP/nsd"
cat >"$T_TMP/nsd/nsd.conf" <<EOF
server:
  ip-address: 127.0.0.1@$NSDP
  username: ""
  pidfile: "$T_TMP/nsd/nsd.pid"
  database: ""
  xfrdfile: "$T_TMP/nsd/xfrd.state"
  zonelistfile: "$T_TMP/nsd/zone.list"
  logfile: "$T_TMP/nsd/nsd.log"
  chroot: ""
  server-count: 1
  rrl-ratelimit: 0
remote-control:
  control-enable: no
EOF
nsd -d -c "$T_TMP/nsd/nsd.conf" >"$T_TMP/nsd.log" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_dns "$NSDP" || { echo "Bail out! nsd did not start"; exit 1; }
start_globaldns chaos "$T_TMP/Corefile" || exit 1

HOST=$(uname -n)
is "$(resp version.bind CH TXT)" 'NOERROR flags:qr qd:1 an:1 ns:0 ar:1
an version.bind. 0 CH TXT "1.2.3-test"' "version.bind: VERSION, TTL 0, class CH, not authoritative"
is "$(section answer version.server CH TXT)" 'version.server. 0 CH TXT "1.2.3-test"' "version.server: VERSION"
is "$(section answer authors.bind CH TXT)" 'authors.bind. 0 CH TXT "Alice Example"
authors.bind. 0 CH TXT "bob"' "authors.bind: one TXT per author, in order"
is "$(section answer hostname.bind CH TXT)" "hostname.bind. 0 CH TXT \"$HOST\"" "hostname.bind: the host name"
is "$(section answer id.server CH TXT)" "id.server. 0 CH TXT \"$HOST\"" "id.server: the host name"
is "$(section answer VERSION.Bind CH TXT)" 'VERSION.Bind. 0 CH TXT "1.2.3-test"' "any case, echoed as asked"
is "$(resp +noedns version.bind CH TXT | head -n 1)" 'NOERROR flags:qr qd:1 an:1 ns:0 ar:0' "without EDNS: no OPT"
like "$(flags +rd version.bind CH TXT)" '^qr rd$' "RD is copied, no RA, no AA"
# the same shape as NSD's own answer (its version string aside)
nsd_shape=$(dig @127.0.0.1 -p "$NSDP" +norec +tries=1 +time=2 version.bind CH TXT | sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p')
is "$(flags +norec version.bind CH TXT)" "$nsd_shape" "the flags NSD gives ($nsd_shape)"
is "$(rcode foo.bind CH TXT)" SERVFAIL "another CH name: the next plugin (none here: SERVFAIL, as CoreDNS)"
is "$(rcode version.bind CH A)" SERVFAIL "version.bind CH A: not chaos's"
is "$(rcode version.bind TXT)" SERVFAIL "version.bind IN TXT: not chaos's"

# `chaos` without arguments, forward behind it
PORT=$P2
is "$(section answer version.bind CH TXT)" "version.bind. 0 CH TXT \"globaldns-$("$GLOBALDNS" -version | sed 's/^globaldns-//')\"" \
	"without VERSION: globaldns-<version>"
is "$(section answer id.server CH TXT)" "id.server. 0 CH TXT \"$HOST\"" "id.server"
nsd_rcode() { dig @127.0.0.1 -p "$NSDP" +tries=1 +time=2 "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }
is "$(rcode authors.bind CH TXT)" "$(nsd_rcode authors.bind CH TXT)" \
	"no AUTHORS: authors.bind goes on to forward, which relays NSD's answer ($(nsd_rcode authors.bind CH TXT))"
is "$(rcode foo.bind CH TXT)" "$(nsd_rcode foo.bind CH TXT)" "another CH name: forwarded too"

# without chaos: as before
PORT=$P3
is "$(rcode version.bind CH TXT)" REFUSED "without chaos: version.bind CH REFUSED (no block for it)"
is "$(rcode httpbin.bar.global CH TXT)" REFUSED "without chaos: CH in a serviceentries zone REFUSED"

# configuration errors
cat >"$T_TMP/bad.Corefile" <<EOF
.:$PORT {
	chaos 1.0 {
		version 2
	}
}
EOF
"$GLOBALDNS" -conf "$T_TMP/bad.Corefile" -validate >"$T_TMP/bad.log" 2>&1
is "$?" 1 "chaos with a block: rejected"
like "$(cat "$T_TMP/bad.log")" 'bad\.Corefile:3: chaos: takes no properties' "with FILE:LINE"
long=$(printf 'v%.0s' $(seq 1 300))
cat >"$T_TMP/long.Corefile" <<EOF
.:$P3 {
	chaos $long
}
EOF
stop_pid "$GD_PID"
start_globaldns long "$T_TMP/long.Corefile" || exit 1
is "$(q +short version.bind CH TXT | tr -d '"' | wc -c)" 256 "a VERSION over 255 bytes is cut to 255"
