#!/bin/bash
# srv_ptr.sh -- `serviceentries { srv; reverse NETWORK... }` on the real
# binary: SRV records for ServiceEntry ports (additional addresses, empty
# non-terminals, NODATA, NXDOMAIN, wildcards, UDP), PTR records for the
# registry's addresses in the configured reverse zones (IPv4 and ip6.arpa,
# apex SOA and NS, empty non-terminals, NXDOMAIN), reverse names outside
# the networks passed on to forward, both off without the properties, the
# Corefile errors, and NSD serving the same records from zone files as the
# reference for the answers' shape.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig python3 nsd

plan 55

pick_ports PORT P2 P3 UA UB NSDP R

M=$T_TMP/se.yaml
cat >"$M" <<'YAML'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: bar}
spec:
  hosts: [httpbin.bar.global]
  addresses: [240.0.0.2, "2001:db8::2"]
  resolution: STATIC
  ports:
  - {name: http1, number: 8000, protocol: HTTP}
  - {name: dns, number: 5353, protocol: UDP}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web2, namespace: foo}
spec:
  hosts: [httpbin.bar.global, other.foo.global]
  addresses: [240.0.0.2]
  resolution: STATIC
  ports:
  - {name: http1, number: 8080, protocol: GRPC}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: wild, namespace: ext}
spec:
  hosts: ["*.ext.global"]
  addresses: [240.0.0.9]
  resolution: STATIC
  ports:
  - {name: https, number: 443, protocol: TLS}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: bad, namespace: ext}
spec:
  hosts: [bad.ext.global]
  addresses: [240.0.0.10]
  ports:
  - {name: Http, number: 80, protocol: HTTP}
YAML
# a host with more addresses than a 512-byte answer holds besides the SRV
{
	echo "---"
	echo "apiVersion: networking.istio.io/v1"
	echo "kind: ServiceEntry"
	echo "metadata: {name: big, namespace: big}"
	echo "spec:"
	echo "  hosts: [big.global]"
	echo "  resolution: STATIC"
	echo "  ports: [{name: tcp, number: 9000}]"
	echo "  addresses:"
	for i in $(seq 1 30); do echo "  - \"2001:db8::1:$i\""; done
} >>"$M"

start_upstream a "$UA" || exit 1
start_upstream b "$UB" || exit 1

cat >"$T_TMP/Corefile" <<COREFILE
global:$PORT in-addr.arpa:$PORT 8.b.d.0.1.0.0.2.ip6.arpa:$PORT {
	ready 127.0.0.1:$R
	serviceentries {
		file $M
		ttl 45
		srv
		reverse 240.0.0.0/4 2001:db8::/32
	}
	forward . 127.0.0.1:$UA
}
.:$PORT {
	forward . 127.0.0.1:$UB
}
global:$P2 {
	serviceentries {
		file $M
	}
}
# a root block: ServiceEntry hosts of any zone, the reverse zones deeper
.:$P3 {
	serviceentries {
		file $M
		reverse 240.0.0.0/4
		fallthrough in-addr.arpa
	}
	forward . 127.0.0.1:$UA
}
COREFILE
start_globaldns gd "$T_TMP/Corefile" || exit 1
like "$(cat "$T_TMP/gd.log")" 'skipping ext/bad: spec\.ports\[0\]\.name: "Http" is not a DNS-1123 label' \
	"a bad port is rejected with namespace/name and the field"

soa=$(soa_line global 45)
soa240=$(soa_line 240.in-addr.arpa 45)

# ---- SRV ----
is "$(resp _http1._tcp.httpbin.bar.global SRV)" "NOERROR flags:qr aa qd:1 an:2 ns:0 ar:3
an _http1._tcp.httpbin.bar.global. 45 IN SRV 0 100 8000 httpbin.bar.global.
an _http1._tcp.httpbin.bar.global. 45 IN SRV 0 100 8080 httpbin.bar.global.
ar httpbin.bar.global. 45 IN A 240.0.0.2
ar httpbin.bar.global. 45 IN AAAA 2001:db8::2" \
	"SRV: one record per port of that name (from both entries), the host's addresses in additional"
is "$(resp _HTTP1._Tcp.HttpBin.bar.global SRV | sed -n 2p)" \
	"an _HTTP1._Tcp.HttpBin.bar.global. 45 IN SRV 0 100 8000 httpbin.bar.global." "names match in any case"
is "$(resp _http1._tcp.httpbin.bar.global ANY | head -2)" "NOERROR flags:qr aa qd:1 an:2 ns:0 ar:3
an _http1._tcp.httpbin.bar.global. 45 IN SRV 0 100 8000 httpbin.bar.global." "ANY at an SRV name: the SRV set"
is "$(resp _dns._udp.httpbin.bar.global SRV | head -2)" "NOERROR flags:qr aa qd:1 an:1 ns:0 ar:3
an _dns._udp.httpbin.bar.global. 45 IN SRV 0 100 5353 httpbin.bar.global." "a UDP port under _udp"
is "$(resp _dns._tcp.httpbin.bar.global SRV)" "NXDOMAIN flags:qr aa qd:1 an:0 ns:1 ar:1
ns $soa" "... and not under _tcp"
is "$(resp _http1._tcp.httpbin.bar.global A)" "NOERROR flags:qr aa qd:1 an:0 ns:1 ar:1
ns $soa" "another type at an SRV name: NODATA, the SOA with the block's ttl"
is "$(resp _tcp.httpbin.bar.global SRV)" "NOERROR flags:qr aa qd:1 an:0 ns:1 ar:1
ns $soa" "_tcp.HOST: an empty non-terminal (NODATA)"
is "$(resp _udp.httpbin.bar.global A)" "NOERROR flags:qr aa qd:1 an:0 ns:1 ar:1
ns $soa" "_udp.HOST with a UDP port: an empty non-terminal"
is "$(resp _udp.other.foo.global SRV | head -1)" "NXDOMAIN flags:qr aa qd:1 an:0 ns:1 ar:1" \
	"_udp.HOST without a UDP port: NXDOMAIN"
is "$(rcode _http1._tcp.other.foo.global SRV)" "NOERROR" "the second entry's other host has its port"
is "$(rcode _x.httpbin.bar.global SRV)" "NXDOMAIN" "another underscore name: NXDOMAIN"
is "$(rcode _x._y.httpbin.bar.global SRV)" "NXDOMAIN" "... with two underscore labels too"
is "$(rcode _http1._tcp.nobody.bar.global SRV)" "NXDOMAIN" "a port name of a host not served: NXDOMAIN"
is "$(rcode _http1._tcp.bar.global SRV)" "NXDOMAIN" "under an empty non-terminal: NXDOMAIN"
is "$(resp _https._tcp.a.b.ext.global SRV)" "NOERROR flags:qr aa qd:1 an:1 ns:0 ar:2
an _https._tcp.a.b.ext.global. 45 IN SRV 0 100 443 a.b.ext.global.
ar a.b.ext.global. 45 IN A 240.0.0.9" "under a wildcard host: the wildcard's ports, the asked host as target"
is "$(resp _x._tcp.a.ext.global SRV | head -1)" "NXDOMAIN flags:qr aa qd:1 an:0 ns:1 ar:1" \
	"under a wildcard: an underscore name without such a port is NXDOMAIN (not the wildcard's A)"
is "$(resp httpbin.bar.global A | sed -n 2p)" "an httpbin.bar.global. 45 IN A 240.0.0.2" "plain names answer as before"
is "$(resp _tcp.big.global SRV | head -1)" "NOERROR flags:qr aa qd:1 an:0 ns:1 ar:1" \
	"a port without protocol is under _tcp"
is "$(resp _tcp._tcp.big.global SRV +noedns)" "NOERROR flags:qr aa qd:1 an:1 ns:0 ar:0
an _tcp._tcp.big.global. 45 IN SRV 0 100 9000 big.global." \
	"512 bytes: the SRV without the 30 addresses that do not fit, not truncated"
is "$(resp _tcp._tcp.big.global SRV +noedns +tcp | head -1)" "NOERROR flags:qr aa qd:1 an:1 ns:0 ar:30" \
	"over TCP the addresses come along"

# ---- PTR ----
is "$(resp -x 240.0.0.2)" "NOERROR flags:qr aa qd:1 an:2 ns:0 ar:1
an 2.0.0.240.in-addr.arpa. 45 IN PTR httpbin.bar.global.
an 2.0.0.240.in-addr.arpa. 45 IN PTR other.foo.global." "PTR: every host with the address, in order"
is "$(resp -x 240.0.0.9)" "NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1
an 9.0.0.240.in-addr.arpa. 45 IN PTR *.ext.global." "a wildcard host's address names the wildcard"
is "$(resp -x 240.0.0.3)" "NXDOMAIN flags:qr aa qd:1 an:0 ns:1 ar:1
ns $soa240" "an address nobody holds: NXDOMAIN with the reverse zone's SOA"
is "$(resp -x 240.0.0.10 | head -1)" "NXDOMAIN flags:qr aa qd:1 an:0 ns:1 ar:1" "a rejected entry's address: NXDOMAIN"
is "$(resp 0.0.240.in-addr.arpa PTR)" "NOERROR flags:qr aa qd:1 an:0 ns:1 ar:1
ns $soa240" "an empty non-terminal: NODATA"
is "$(resp 2.0.0.240.in-addr.arpa A)" "NOERROR flags:qr aa qd:1 an:0 ns:1 ar:1
ns $soa240" "another type at an address: NODATA"
is "$(resp 02.0.0.240.in-addr.arpa PTR | head -1)" "NXDOMAIN flags:qr aa qd:1 an:0 ns:1 ar:1" \
	"a label that is no octet: NXDOMAIN"
is "$(resp 240.in-addr.arpa SOA)" "NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1
an $soa240" "the apex SOA"
is "$(resp 250.in-addr.arpa NS)" "NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1
an 250.in-addr.arpa. 45 IN NS ns.dns.250.in-addr.arpa." "every zone of the /4 has its apex NS"
is "$(resp -x 255.255.255.255 | tail -1)" "ns $(soa_line 255.in-addr.arpa 45)" "... and its SOA"
is "$(resp -x 2001:db8::2)" "NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1
an 2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 45 IN PTR httpbin.bar.global." \
	"ip6.arpa: PTR for an IPv6 address"
is "$(resp -x 2001:db8::1:7 | sed -n 2p)" "an 7.0.0.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 45 IN PTR big.global." \
	"... each of a host's addresses"
is "$(resp -x 2001:db8::3 | tail -1)" "ns $(soa_line 8.b.d.0.1.0.0.2.ip6.arpa 45)" "ip6.arpa NXDOMAIN: the zone's SOA"
is "$(seen a 3.0.0.240.in-addr.arpa.)" "0" "reverse names inside the networks are never forwarded"
q -x 10.0.0.1 >/dev/null
is "$(seen a 1.0.0.10.in-addr.arpa.)" "1" "outside the networks, in the block's zones: passed on to the block's forward"
q -x 2001:db9::1 >/dev/null
is "$(seen b 1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.9.b.d.0.1.0.0.2.ip6.arpa.)" "1" \
	"outside the block's zones: the root block, as without reverse"

# ---- GET /registry ----
reg() { curl -s -m 3 "http://127.0.0.1:$R/registry" | python3 -c "import json, sys; r = [x for x in json.load(sys.stdin)['registries'] if 'global.' in x['zones']][0]; print($1)"; }
is "$(reg "r['srv'], r['srv_records'], r['zones']")" "True 6 ['global.']" \
	"/registry: srv on, its records (3 of httpbin, 1 of other, 1 of the wildcard, 1 of big), the forward zones"
is "$(reg "len(r['reverse_zones']), r['reverse_zones'][0], r['reverse_zones'][16], r['ptr_addresses']")" \
	"17 240.in-addr.arpa. 8.b.d.0.1.0.0.2.ip6.arpa. 33" "/registry: the reverse zones and the addresses with PTR records"

# ---- off unless configured ----
PORT_SAVE=$PORT; PORT=$P2
is "$(rcode _http1._tcp.httpbin.bar.global SRV)" "NXDOMAIN" "without srv: no SRV names (today's answers)"
PORT=$PORT_SAVE

# ---- a root block with fallthrough for the reverse zones ----
PORT_SAVE=$PORT; PORT=$P3
is "$(resp -x 240.0.0.2 | sed -n 2p)" "an 2.0.0.240.in-addr.arpa. 30 IN PTR httpbin.bar.global." \
	"in a root block the reverse zone answers (deeper than .)"
is "$(rcode httpbin.bar.global)" "NOERROR" "... and the hosts as before"
q -x 240.0.0.4 >/dev/null
is "$(seen a 4.0.0.240.in-addr.arpa.)" "1" "fallthrough in-addr.arpa: an address nobody holds goes to forward"
is "$(resp 240.in-addr.arpa SOA | head -1)" "NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1" "... the apex still answered"
PORT=$PORT_SAVE

# ---- Corefile errors ----
bad() {  # bad PROPERTY-LINES: the -validate error of a global block with them
	printf 'global:%s {\n\tserviceentries {\n\t\tfile %s\n%s\n\t}\n}\n' "$P2" "$M" "$1" >"$T_TMP/bad.Corefile"
	timeout 10 "$GLOBALDNS" -validate -conf "$T_TMP/bad.Corefile" 2>&1 | grep -v '^\[INFO\]\|^\[WARNING\]' | head -1
}
like "$(bad '		reverse 240.0.0.0/4')" "bad\\.Corefile:4: serviceentries: reverse: the zone 240\\.in-addr\\.arpa\\. is not inside the server block's zones" \
	"a reverse zone outside the block key: FILE:LINE and what to add"
like "$(bad '		reverse 240.1.0.0/4')" "bad\\.Corefile:4: serviceentries: reverse: \"240\\.1\\.0\\.0/4\": address bits set beyond the /4 prefix" \
	"a network with host bits: FILE:LINE"
like "$(bad '		srv yes')" "bad\\.Corefile:4: serviceentries: srv: takes no arguments" "srv with an argument: FILE:LINE"

# ---- NSD serving the same records: the reference shape ----
# NSD (without minimal-responses, so that it adds the SRV target's
# addresses) also puts the zone's NS in the authority section of positive
# answers; globaldns, as CoreDNS, does not: that record is left out.
no_auth_ns() {
	awk 'NR == 1 { h = $0; next }
		/^ns [^ ]+ [0-9]+ IN NS / { d++; next }
		{ r[++n] = $0 }
		END {
			if (d && match(h, /ns:[0-9]+/))
				h = substr(h, 1, RSTART - 1) "ns:" (substr(h, RSTART + 3, RLENGTH - 3) - d) substr(h, RSTART + RLENGTH)
			print h
			for (i = 1; i <= n; i++) print r[i]
		}'
}
mkdir -p "$T_TMP/nsdz"
cat >"$T_TMP/nsdz/global.zone" <<'ZONE'
$TTL 45
global. IN SOA ns.dns.global. hostmaster.global. 1 7200 1800 86400 45
global. IN NS ns.dns.global.
httpbin.bar.global. IN A 240.0.0.2
httpbin.bar.global. IN AAAA 2001:db8::2
_http1._tcp.httpbin.bar.global. IN SRV 0 100 8000 httpbin.bar.global.
_http1._tcp.httpbin.bar.global. IN SRV 0 100 8080 httpbin.bar.global.
_dns._udp.httpbin.bar.global. IN SRV 0 100 5353 httpbin.bar.global.
ZONE
cat >"$T_TMP/nsdz/240.zone" <<'ZONE'
$TTL 45
240.in-addr.arpa. IN SOA ns.dns.240.in-addr.arpa. hostmaster.240.in-addr.arpa. 1 7200 1800 86400 45
240.in-addr.arpa. IN NS ns.dns.240.in-addr.arpa.
2.0.0.240.in-addr.arpa. IN PTR httpbin.bar.global.
2.0.0.240.in-addr.arpa. IN PTR other.foo.global.
ZONE
cat >"$T_TMP/nsdz/nsd.conf" <<NSD
server:
  ip-address: 127.0.0.1@$NSDP
  username: ""
  zonesdir: "$T_TMP/nsdz"
  pidfile: "$T_TMP/nsdz/nsd.pid"
  database: ""
  xfrdfile: "$T_TMP/nsdz/xfrd.state"
  zonelistfile: "$T_TMP/nsdz/zone.list"
  logfile: "$T_TMP/nsdz/nsd.log"
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: global
  zonefile: global.zone
zone:
  name: 240.in-addr.arpa
  zonefile: 240.zone
NSD
nsd -d -c "$T_TMP/nsdz/nsd.conf" >"$T_TMP/nsd.out" 2>&1 &
T_PIDS="$T_PIDS $!"
wait_dns "$NSDP" || { echo "# nsd did not start"; sed 's/^/#   /' "$T_TMP/nsd.out" "$T_TMP/nsdz/nsd.log"; }
for query in "_http1._tcp.httpbin.bar.global SRV" "_dns._udp.httpbin.bar.global SRV" \
	"_tcp.httpbin.bar.global SRV" "_http1._tcp.httpbin.bar.global TXT" "_x._tcp.httpbin.bar.global SRV" \
	"-x 240.0.0.2" "-x 240.0.0.3" "0.0.240.in-addr.arpa PTR"; do
	# shellcheck disable=SC2086
	ours=$(resp $query)
	# shellcheck disable=SC2086
	theirs=$(PORT=$NSDP resp $query | no_auth_ns)
	is "$ours" "$theirs" "as NSD answers: $query"
done
