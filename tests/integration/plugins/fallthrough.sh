#!/bin/bash
# fallthrough.sh -- block dispatch and `serviceentries { fallthrough }`:
# which names reach the forwarder's upstream and which never do.  The
# scripted upstreams log every query they receive; `.global` is a real
# public TLD, so names such as x.ns.svc.cluster.local.global (from the
# pods' `global` search domain) must not leak unless fallthrough says so.
# Last, dnsmasq plays the cluster DNS (kube-dns stubDomains): `global` to
# globaldns, everything else to NSD.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig python3 nsd dnsmasq

plan 26

M=$TESTDATA/forward/mesh.yaml
pick_ports PORT P2 P3 P4 UA UB UC UD NSD DM
for u in a:$UA b:$UB c:$UC d:$UD; do
	start_upstream "${u%%:*}" "${u#*:}" --a www.example.test=192.0.2.1 --a x.corp.example=192.0.2.6 || exit 1
done
start_nsd "$NSD" || exit 1

cat >"$T_TMP/Corefile" <<COREFILE
# the istiocoredns shape: a global block and a forwarding root block
global:$PORT {
	serviceentries {
		file $M
	}
}
.:$PORT {
	forward . 127.0.0.1:$UA
}
# one block for every zone, unknown names fall through to forward
.:$P2 {
	serviceentries {
		file $M
		fallthrough
	}
	forward . 127.0.0.1:$UB
}
# fallthrough only for some zones
.:$P3 {
	serviceentries {
		file $M
		fallthrough example.test corp.example
	}
	forward . 127.0.0.1:$UC
}
# serviceentries for global only, in a root block
.:$P4 {
	forward . 127.0.0.1:$UD
	serviceentries global {
		file $M
	}
}
COREFILE
start_globaldns gd "$T_TMP/Corefile" || exit 1
leaks() { grep -ci 'global\. ' "$T_TMP/$1.queries"; }
soa_global="ns global. 30 IN SOA ns.dns.global. hostmaster.global. SERIAL 7200 1800 86400 30"

# ---- two blocks on one port ----
is "$(resp httpbin.bar.global)" "NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1
an httpbin.bar.global. 30 IN A 240.0.0.2" "global block: a ServiceEntry host"
is "$(resp x.ns.svc.cluster.local.global)" "NXDOMAIN flags:qr aa qd:1 an:0 ns:1 ar:1
$soa_global" "global block: a search-domain name is NXDOMAIN from globaldns"
is "$(rcode httpbin.bar.svc.cluster.local.global)" "NXDOMAIN" "another search-domain expansion: NXDOMAIN"
is "$(rcode global SOA)" "NOERROR" "the apex: answered by the global block"
is "$(q +short www.example.test)" "192.0.2.1" "root block: other names are forwarded"
is "$(leaks a)" "0" "no .global name ever reached the upstream"

# ---- one block, fallthrough for every zone ----
PORT_SAVE=$PORT; PORT=$P2
is "$(q +short httpbin.bar.global)" "240.0.0.2" "fallthrough: known .global host answered by serviceentries"
is "$(q +short db.corp.example)" "240.0.0.5" "serviceentries in a . block serves hosts of any domain"
like "$(flags db.corp.example)" "aa" "... authoritatively"
is "$(q +short www.example.test)" "192.0.2.1" "an unknown name falls through to forward"
is "$(resp httpbin.bar.global AAAA | head -1)" "NOERROR flags:qr aa qd:1 an:0 ns:1 ar:1" "NODATA of a known name: answered, not passed on"
is "$(seen b httpbin.bar.global.)" "0" "... and never forwarded"
q unknown.bar.global >/dev/null
is "$(seen b unknown.bar.global.)" "1" "fallthrough without zones: unknown .global names are forwarded too (as configured)"
PORT=$PORT_SAVE

# ---- fallthrough for some zones ----
PORT=$P3
is "$(q +short www.example.test)" "192.0.2.1" "fallthrough example.test: forwarded"
is "$(q +short x.corp.example)" "192.0.2.6" "fallthrough corp.example: unknown name forwarded"
is "$(q +short db.corp.example)" "240.0.0.5" "known name in a fallthrough zone: still answered"
is "$(rcode x.ns.svc.cluster.local.global)" "NXDOMAIN" "outside the fallthrough zones: NXDOMAIN"
like "$(flags x.ns.svc.cluster.local.global)" "aa" "... from serviceentries (AA)"
is "$(rcode other.invalid)" "NXDOMAIN" "other zones outside fallthrough: NXDOMAIN, not forwarded"
is "$(leaks c):$(seen c other.invalid.)" "0:0" "the upstream saw neither"
PORT=$PORT_SAVE

# ---- serviceentries global inside a root block ----
PORT=$P4
is "$(q +short httpbin.bar.global)" "240.0.0.2" "serviceentries global in a . block: answered"
is "$(rcode x.ns.svc.cluster.local.global)" "NXDOMAIN" "unknown .global: NXDOMAIN"
is "$(q +short www.example.test):$(leaks d)" "192.0.2.1:0" "other names forwarded, .global never"
PORT=$PORT_SAVE

# ---- dnsmasq as cluster DNS: stubDomains global -> globaldns ----
dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --user=root \
	--listen-address=127.0.0.1 --bind-interfaces --port="$DM" --cache-size=0 \
	--server="/global/127.0.0.1#$PORT" --server="127.0.0.1#$NSD" >"$T_TMP/dnsmasq.log" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_dns "$DM" || echo "# dnsmasq did not start"
PORT=$DM
is "$(q +short httpbin.bar.global)" "240.0.0.2" "through dnsmasq: .global from globaldns"
is "$(rcode x.ns.svc.cluster.local.global)" "NXDOMAIN" "through dnsmasq: unknown .global is NXDOMAIN"
is "$(q +short www.example.test)" "192.0.2.10" "through dnsmasq: the rest from NSD"
PORT=$PORT_SAVE
