#!/bin/bash
# answers.sh -- the answer rules of issue 2 item 6, asserted with dig
# against the real binary: A/AAAA, NODATA, NXDOMAIN, apex SOA/NS, TTL,
# ANY, unions, CIDRs, status and default addresses, resolution NONE,
# invalid entries, wildcards, 0x20, REFUSED, zone dispatch on a shared
# port, and SERVFAIL before a source's first load.
#
# One globaldns serves several blocks from tests/data/integration/:
#   P   global          answers.yaml + union.yaml, default ttl, default_address
#   P2  global          wildroot.yaml ("*.global"), ttl 5
#   P3  global          answers.yaml, and bar.global from bar.yaml
#   P4  late.global     a manifest that does not exist yet
#   P6  global          answers.yaml, bind 127.0.0.1 (ns.dns answers it)
# and a second one (P5) serves union-rev.yaml for the "same order" check.
. "$(dirname "$0")/../lib.sh"
need dig python3 ip

DATA=$TESTDATA/integration
pick_ports P P2 P3 P4 P5 P6
LATE=$T_TMP/late.yaml

plan 83

cat >"$T_TMP/nsdns.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: nsdns, namespace: foo}
spec:
  hosts: [ns.dns.global]
  resolution: STATIC
  addresses: [240.0.0.53]
EOF
cat >"$T_TMP/Corefile" <<EOF
global:$P {
	serviceentries {
		file $DATA/answers.yaml $DATA/union.yaml
		default_address 240.0.0.1
	}
}
global:$P2 {
	serviceentries {
		file $DATA/wildroot.yaml
		ttl 5
		ns_address 192.0.2.53 2001:db8::53
	}
}
global:$P3 {
	serviceentries {
		file $DATA/answers.yaml $T_TMP/nsdns.yaml
	}
}
bar.global:$P3 {
	serviceentries {
		file $DATA/bar.yaml
	}
}
late.global:$P4 {
	serviceentries {
		file $LATE
	}
}
global:$P6 {
	bind 127.0.0.1
	serviceentries {
		file $DATA/answers.yaml
	}
}
EOF

# Expected resp output.  noerror RECORD...: NOERROR, AA, exactly these
# answer records.  nodata / nxdomain [ZONE [TTL]]: empty answer, the SOA.
noerror() {
	printf 'NOERROR flags:qr aa qd:1 an:%d ns:0 ar:1' $#
	for r; do printf '\nan %s' "$r"; done
}
nodata() { printf 'NOERROR flags:qr aa qd:1 an:0 ns:1 ar:1\nns %s' "$(soa_line "${1:-global}" "${2:-30}")"; }
nxdomain() { printf 'NXDOMAIN flags:qr aa qd:1 an:0 ns:1 ar:1\nns %s' "$(soa_line "${1:-global}" "${2:-30}")"; }
check() {  # check DESCRIPTION EXPECTED DIG-ARGS...
	local d=$1 want=$2; shift 2
	is "$(resp "$@")" "$want" "$d"
}

PORT=$P
start_globaldns answers "$T_TMP/Corefile" || { echo "Bail out! globaldns did not start"; exit 1; }
MAIN_PID=$GD_PID
LOG=$T_TMP/answers.log

# ---- addresses ----
check "A for an IPv4 host" \
	"$(noerror 'httpbin.bar.global. 30 IN A 240.0.0.2')" httpbin.bar.global A
is "$(flags httpbin.bar.global A)" "qr aa rd" "flags: qr aa, rd copied, no ra"
check "AAAA for an IPv6 host" \
	"$(noerror 'v6.test.global. 30 IN AAAA 2001:db8::6')" v6.test.global AAAA
check "dual stack: A" "$(noerror 'dual.test.global. 30 IN A 240.0.0.3')" dual.test.global A
check "dual stack: AAAA" "$(noerror 'dual.test.global. 30 IN AAAA 2001:db8::3')" dual.test.global AAAA

# ---- NODATA ----
check "NODATA: AAAA of an IPv4-only host, SOA with TTL and minimum 30" \
	"$(nodata)" httpbin.bar.global AAAA
check "NODATA: A of an IPv6-only host" "$(nodata)" v6.test.global A
check "NODATA: MX of an existing host" "$(nodata)" httpbin.bar.global MX
check "NODATA: TXT of an existing host" "$(nodata)" dual.test.global TXT
check "NODATA: empty non-terminal bar.global" "$(nodata)" bar.global A
check "NODATA: empty non-terminal test.global, AAAA" "$(nodata)" test.global AAAA

# ---- NXDOMAIN ----
check "NXDOMAIN with SOA: unknown name in the zone" "$(nxdomain)" nosuch.global A
check "NXDOMAIN with SOA: unknown name, deeper" "$(nxdomain)" a.nosuch.test.global AAAA
check "NXDOMAIN with SOA: name below a host" "$(nxdomain)" x.httpbin.bar.global A
check "NXDOMAIN: MX of an unknown name" "$(nxdomain)" nosuch.bar.global MX

# ---- apex ----
check "SOA at the apex" \
	"$(printf 'NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1\nan %s' "$(soa_line global 30)")" global SOA
like "$(section answer global SOA)" \
	'^global\. 30 IN SOA ns\.dns\.global\. hostmaster\.global\. [1-9][0-9]* 7200 1800 86400 30$' \
	"apex SOA: serial is a positive number"
is "$(section answer global NS)" "global. 30 IN NS ns.dns.global." "NS at the apex"
check "NODATA: A at the apex" "$(nodata)" global A

# ---- ANY (RFC 8482) ----
check "ANY for a dual-stack host: only the A set" \
	"$(noerror 'dual.test.global. 30 IN A 240.0.0.3')" dual.test.global ANY
check "ANY for an IPv6-only host: the AAAA set" \
	"$(noerror 'v6.test.global. 30 IN AAAA 2001:db8::6')" v6.test.global ANY

# ---- union of entries ----
UNION_A="$(noerror 'union.test.global. 30 IN A 240.0.0.9' 'union.test.global. 30 IN A 240.0.0.20' \
	'union.test.global. 30 IN A 240.0.0.30' 'union.test.global. 30 IN A 240.0.0.100')"
UNION_AAAA="$(noerror 'union.test.global. 30 IN AAAA 2001:db8::1' 'union.test.global. 30 IN AAAA 2001:db8::2' \
	'union.test.global. 30 IN AAAA 2001:db8::10')"
check "same host in two entries: A union, deduplicated, numeric order" "$UNION_A" union.test.global A
check "same host in two entries: AAAA union, deduplicated, numeric order" "$UNION_AAAA" union.test.global AAAA
check "union: same order on a second query" "$UNION_A" union.test.global A

# ---- CIDRs ----
check "CIDR /32 counts, /24 skipped" "$(noerror 'cidr.test.global. 30 IN A 240.0.0.40')" cidr.test.global A
check "CIDR /128 counts, /64 skipped" "$(noerror 'cidr.test.global. 30 IN AAAA 2001:db8::40')" cidr.test.global AAAA
check "only a /24 with resolution NONE: not served" "$(nxdomain)" cidr24.test.global A

# ---- status.addresses, default_address, resolution NONE ----
check "status.addresses used when spec.addresses is empty (resolution DNS)" \
	"$(noerror 'status.test.global. 30 IN A 240.240.0.5')" status.test.global A
check "default_address when neither spec nor status has one" \
	"$(noerror 'default.test.global. 30 IN A 240.0.0.1')" default.test.global A
check "resolution absent (NONE): no status address, no default: NXDOMAIN" \
	"$(nxdomain)" noneabsent.test.global A
check "resolution NONE: no status address, no default: NXDOMAIN" \
	"$(nxdomain)" none.test.global A
check "resolution NONE with explicit addresses: served from spec only" \
	"$(noerror 'noneexplicit.test.global. 30 IN A 240.0.0.50')" noneexplicit.test.global A

# ---- invalid entries ----
check "invalid host name: entry skipped" "$(nxdomain)" bad_host.test.global A
check "unknown resolution: entry skipped" "$(nxdomain)" badres.test.global A
check "valid entry after invalid ones in the same file is served" \
	"$(noerror 'after.test.global. 30 IN A 240.0.0.62')" after.test.global A
like "$(cat "$LOG")" 'answers\.yaml: skipping broken/bad-host: spec\.hosts\[0\]: "bad_host\.test\.global"' \
	"log names namespace/name and reason of an invalid host"
like "$(cat "$LOG")" 'answers\.yaml: skipping broken/bad-resolution: spec\.resolution: unknown value "MAGIC"' \
	"log names namespace/name and reason of an unknown resolution"
unlike "$(cat "$LOG")" 'skipping foo/' "no valid entry is logged as skipped"

# ---- wildcards ----
check "*.ext.global answers a.ext.global" \
	"$(noerror 'a.ext.global. 30 IN A 240.0.0.10')" a.ext.global A
check "*.ext.global answers a.b.c.ext.global (any depth)" \
	"$(noerror 'a.b.c.ext.global. 30 IN A 240.0.0.10')" a.b.c.ext.global A
check "*.ext.global does not answer ext.global itself: NODATA" "$(nodata)" ext.global A
check "wildcard host without the asked type: NODATA" "$(nodata)" a.ext.global AAAA
check "longest wildcard wins: a.deep.ext.global" \
	"$(noerror 'a.deep.ext.global. 30 IN A 240.0.0.11')" a.deep.ext.global A
check "longest wildcard wins: x.y.deep.ext.global" \
	"$(noerror 'x.y.deep.ext.global. 30 IN A 240.0.0.11')" x.y.deep.ext.global A
check "an exact name beats the wildcard" \
	"$(noerror 'exact.ext.global. 30 IN A 240.0.0.12')" exact.ext.global A

# ---- 0x20 ----
out=$(q +norec HttpBin.BAR.global A | awk '{$1=$1; print}')
like "$out" '^;HttpBin\.BAR\.global\. IN A$' "0x20: question echoed in the asked case"
like "$out" '^HttpBin\.BAR\.global\. 30 IN A 240\.0\.0\.2$' "0x20: answer owner in the asked case"
check "0x20: a mixed-case wildcard name matches" \
	"$(noerror 'Some.EXT.Global. 30 IN A 240.0.0.10')" Some.EXT.Global A

# ---- outside the zone ----
REFUSED='REFUSED flags:qr qd:1 an:0 ns:0 ar:1'
check "a name outside the zone: REFUSED" "$REFUSED" example.com A
check "a name ending in the zone's text but not at a label: REFUSED" "$REFUSED" fooglobal A
check "the root: REFUSED" "$REFUSED" . SOA

# ---- ttl 5 and *.global (P2) ----
PORT=$P2
check "ttl 5: answer TTL" "$(noerror 'httpbin.bar.global. 5 IN A 240.0.0.2')" httpbin.bar.global A
check "ttl 5: NODATA SOA TTL and minimum" "$(nodata global 5)" httpbin.bar.global MX
check "ttl 5: apex SOA" \
	"$(printf 'NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1\nan %s' "$(soa_line global 5)")" global SOA
check "ttl 5: NS TTL, ns_address as glue" \
	"$(printf 'NOERROR flags:qr aa qd:1 an:1 ns:0 ar:3\nan %s\nar %s\nar %s' \
		'global. 5 IN NS ns.dns.global.' 'ns.dns.global. 5 IN A 192.0.2.53' \
		'ns.dns.global. 5 IN AAAA 2001:db8::53')" global NS
check "*.global answers any name" "$(noerror 'anything.global. 5 IN A 240.0.0.99')" anything.global A
check "*.global answers a deeper name" "$(noerror 'a.b.c.global. 5 IN A 240.0.0.99')" a.b.c.global A
check "*.global: the apex is not a wildcard match (NODATA)" "$(nodata global 5)" global A
PORT=$P

# ---- two blocks on one port (P3) ----
PORT=$P3
check "shared port: bar.global block answers names below bar.global" \
	"$(noerror 'httpbin.bar.global. 30 IN A 240.0.1.2')" httpbin.bar.global A
check "shared port: global block answers the rest" \
	"$(noerror 'dual.test.global. 30 IN A 240.0.0.3')" dual.test.global A
check "shared port: bar.global apex SOA" \
	"$(printf 'NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1\nan %s' "$(soa_line bar.global 30)")" bar.global SOA
check "shared port: NXDOMAIN below bar.global carries bar.global's SOA" \
	"$(nxdomain bar.global)" nosuch.bar.global A
check "shared port: global apex SOA" \
	"$(printf 'NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1\nan %s' "$(soa_line global 30)")" global SOA
check "shared port: outside both zones REFUSED" "$REFUSED" example.org A

# ---- a source before its first load (P4) ----
PORT=$P4
is "$(rcode x.late.global A)" SERVFAIL "missing manifest: a name answers SERVFAIL"
is "$(rcode late.global SOA)" SERVFAIL "missing manifest: the apex answers SERVFAIL"
is "$(rcode nosuch.late.global AAAA)" SERVFAIL "missing manifest: never NXDOMAIN"
cat >"$LATE.tmp" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: late, namespace: foo}
spec:
  hosts: [x.late.global]
  resolution: STATIC
  addresses: [240.0.0.77]
EOF
mv "$LATE.tmp" "$LATE"
late_ok() { [ "$(rcode x.late.global A)" = NOERROR ]; }
wait_until 5 late_ok
check "manifest created: answers within 5 s" \
	"$(noerror 'x.late.global. 30 IN A 240.0.0.77')" x.late.global A
check "manifest created: unknown names are NXDOMAIN now" "$(nxdomain late.global)" nosuch.late.global A
PORT=$P3
check "the other blocks were never affected" \
	"$(noerror 'httpbin.bar.global. 30 IN A 240.0.1.2')" httpbin.bar.global A

# ---- deterministic order across runs (P5) ----
cat >"$T_TMP/Corefile.rev" <<EOF
global:$P5 {
	serviceentries {
		file $DATA/union-rev.yaml
	}
}
EOF
PORT=$P5
if start_globaldns union-rev "$T_TMP/Corefile.rev"; then
	check "second run, entries in the other order: same A answer" "$UNION_A" union.test.global A
	check "second run, entries in the other order: same AAAA answer" "$UNION_AAAA" union.test.global AAAA
else
	ok 1 "second run started"
	ok 1 "second run started"
fi

# ---- the apex NS target ----
PORT=$P2
check "ns_address: ns.dns.<zone> A (before the *.global wildcard)" "$(noerror "ns.dns.global. 5 IN A 192.0.2.53")" ns.dns.global A
check "ns_address: ns.dns.<zone> AAAA" "$(noerror "ns.dns.global. 5 IN AAAA 2001:db8::53")" ns.dns.global AAAA
check "ns_address: other types NODATA" "$(nodata global 5)" ns.dns.global TXT
# without ns_address: where the server listens -- its bind address (P6),
# else the host's addresses that are up, neither loopback nor IPv6
# link-local (loopback ones if there is no other), as CoreDNS's
# kubernetes plugin answers its own pod IPs
PORT=$P6
check "no ns_address, bind 127.0.0.1: ns.dns.<zone> answers the bind address" \
	"$(noerror 'ns.dns.global. 30 IN A 127.0.0.1')" ns.dns.global A
check "... and has no AAAA (NODATA)" "$(nodata)" ns.dns.global AAAA
check "... the apex NS carries it as glue" \
	"$(printf 'NOERROR flags:qr aa qd:1 an:1 ns:0 ar:2\nan %s\nar %s' \
		'global. 30 IN NS ns.dns.global.' 'ns.dns.global. 30 IN A 127.0.0.1')" global NS
PORT=$P
host_addrs() {  # host_addrs 4|6: the addresses ns.dns should answer, sorted
	local all
	all=$(ip -o addr show up | awk '$3 == "inet" || $3 == "inet6" { sub(/\/.*/, "", $4); print $3, $4, ($0 ~ / scope host/) ? "loop" : ($0 ~ / scope link/ && $3 == "inet6") ? "link" : "global" }')
	if printf '%s\n' "$all" | grep -q ' global$'; then
		printf '%s\n' "$all" | awk -v f="$1" '$3 == "global" && $1 == (f == 4 ? "inet" : "inet6") { print $2 }'
	else
		printf '%s\n' "$all" | awk -v f="$1" '$3 == "loop" && $1 == (f == 4 ? "inet" : "inet6") { print $2 }'
	fi | sort
}
PORT=$P3
check "a ServiceEntry for ns.dns.<zone> itself wins over the defaults" \
	"$(noerror 'ns.dns.global. 30 IN A 240.0.0.53')" ns.dns.global A
PORT=$P
H4=$(host_addrs 4) H6=$(host_addrs 6)
# within_host GOT WANT: GOT is WANT, or (a host with more than 8 of a
# family) 8 of WANT's addresses
within_host() {
	[ "$1" = "$2" ] && { echo same; return; }
	[ "$(printf '%s\n' "$2" | wc -l)" -gt 8 ] && [ "$(printf '%s\n' "$1" | wc -l)" -eq 8 ] \
		&& [ -z "$(comm -23 <(printf '%s\n' "$1") <(printf '%s\n' "$2"))" ] && { echo same; return; }
	printf 'got %s, host has %s' "$(echo $1)" "$(echo $2)"
}
is "$(within_host "$(q +short ns.dns.global A | sort)" "$H4")" same \
	"no ns_address, no bind: ns.dns.<zone> A is the host's IPv4 addresses ($(echo $H4))"
is "$(within_host "$(q +short ns.dns.global AAAA | sort)" "$H6")" same \
	"... AAAA the host's IPv6 addresses ($(echo $H6))"
is "$(section additional global NS | awk '{ print $5 }' | sort)" \
	"$( (q +short ns.dns.global A; q +short ns.dns.global AAAA) | sort)" "... the same as glue of the apex NS"

PORT=$P
kill -0 "$MAIN_PID" 2>/dev/null
ok $? "the first server is still running"
