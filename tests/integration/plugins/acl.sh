#!/bin/bash
# acl.sh -- the `acl` directive on the real binary, with dig from
# different loopback sources (127.0.0.1, .2, .3, .4): allow, block
# (REFUSED, EDE 15), filter (NOERROR empty, EDE 17), drop (no answer, UDP
# and TCP), rules in order, by type and network; an acl for a zone below
# the block's; CoreDNS's metrics; a bad rule names FILE:LINE; the
# forwarder behind the shipped Kubernetes Corefile's acl is not an open
# resolver.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig python3 curl
python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.2", 0))' 2>/dev/null \
	|| skip_all "no 127.0.0.2 on loopback"

plan 28

pick_ports PORT P2 P3 MP UP
start_upstream up "$UP" --a www.example.test=192.0.2.8 || exit 1
cat >"$T_TMP/se.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: a, namespace: t}
spec:
  hosts: [a.t.global, x.blocked.global]
  addresses: [240.0.0.7]
  resolution: STATIC
EOF
cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
	prometheus 127.0.0.1:$MP
	acl {
		allow net 127.0.0.1
		block type AAAA net 127.0.0.2
		filter type TXT net 127.0.0.2
		drop net 127.0.0.3
		block net 127.0.0.0/8
	}
	serviceentries {
		file $T_TMP/se.yaml
	}
}
.:$P2 {
	acl blocked.global {
		block
	}
	serviceentries global {
		file $T_TMP/se.yaml
	}
	forward . 127.0.0.1:$UP
}
.:$P3 {
	acl a.t.global {
		allow net 127.0.0.2
	}
	acl global {
		block type AAAA
	}
	acl {
		drop net 127.0.0.3
	}
	serviceentries global {
		file $T_TMP/se.yaml
	}
	forward . 127.0.0.1:$UP
}
EOF
start_globaldns acl "$T_TMP/Corefile" || exit 1
from() { local src=$1; shift; dig @127.0.0.1 -p "$PORT" -b "$src" +tries=1 +time=2 "$@"; }
st() { from "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }
metric() { curl -s "http://127.0.0.1:$MP/metrics" | awk -v m="$1" 'index($0, m " ") == 1 { print $NF }'; }

is "$(from 127.0.0.1 +short a.t.global)" "240.0.0.7" "allow net 127.0.0.1: answered"
is "$(st 127.0.0.1 a.t.global AAAA)" NOERROR "... every type (the first rule allows: later ones not checked)"
out=$(from 127.0.0.2 a.t.global AAAA)
like "$out" "status: REFUSED" "block type AAAA from 127.0.0.2: REFUSED"
like "$out" "EDE: 15 \\(Blocked\\)" "... with EDE 15 (Blocked)"
out=$(from 127.0.0.2 a.t.global TXT)
like "$out" "status: NOERROR" "filter type TXT from 127.0.0.2: NOERROR"
like "$out" "ANSWER: 0, AUTHORITY: 0" "... with no records"
like "$out" "EDE: 17 \\(Filtered\\)" "... and EDE 17 (Filtered)"
is "$(st 127.0.0.2 a.t.global A)" REFUSED "A from 127.0.0.2: no type rule matches, the last rule blocks"
unlike "$(from 127.0.0.2 +noedns a.t.global A)" "OPT PSEUDOSECTION" "no EDNS in the query: no OPT in the answer (RFC 6891)"
out=$(from 127.0.0.3 +tries=1 +time=1 a.t.global A 2>&1)
like "$out" "timed out|no servers could be reached" "drop net 127.0.0.3: no answer over UDP"
out=$(from 127.0.0.3 +tcp +tries=1 +time=1 a.t.global A 2>&1)
unlike "$out" "status:" "... nor over TCP"
is "$(st 127.0.0.4 a.t.global A)" REFUSED "block net 127.0.0.0/8: 127.0.0.4 REFUSED"

# an acl for a zone below the block's
P1=$PORT
PORT=$P2
is "$(st 127.0.0.1 x.blocked.global A)" REFUSED "acl blocked.global { block }: a name in it is REFUSED"
is "$(from 127.0.0.1 +short a.t.global A)" "240.0.0.7" "... a name outside it is answered"
is "$(from 127.0.0.1 +short www.example.test A)" "192.0.2.8" "... and forwarded"

# several acl lines in one block, checked in the order written, each for
# its own zones: an allow in the first ends the checks; a line whose rules
# all miss hands the query to the next
PORT=$P3
is "$(st 127.0.0.2 a.t.global AAAA)" NOERROR "several acls: allowed by the first (a.t.global), the second not checked"
is "$(st 127.0.0.1 a.t.global AAAA)" REFUSED "... the first's rules miss for 127.0.0.1: the second blocks AAAA"
is "$(from 127.0.0.1 +short a.t.global A)" "240.0.0.7" "... A passes all three"
out=$(from 127.0.0.3 +tries=1 +time=1 www.example.test A 2>&1)
like "$out" "timed out|no servers could be reached" "... the third (every zone of the block) drops 127.0.0.3"
is "$(from 127.0.0.1 +short www.example.test A)" "192.0.2.8" "... and lets 127.0.0.1 through to forward"
like "$(metric 'coredns_acl_blocked_requests_total{server="dns://:'"$PORT"'",zone="global.",view=""}')" '^1$' \
	"... one sample per zone, counted by the line that decided"
PORT=$P1

# metrics (CoreDNS's names and labels)
like "$(metric 'coredns_acl_blocked_requests_total{server="dns://:'"$PORT"'",zone="global.",view=""}')" '^[3-9]$' \
	"coredns_acl_blocked_requests_total{server,zone,view}"
is "$(metric 'coredns_acl_filtered_requests_total{server="dns://:'"$PORT"'",zone="global.",view=""}')" 1 \
	"coredns_acl_filtered_requests_total"
is "$(metric 'coredns_acl_dropped_requests_total{server="dns://:'"$PORT"'",zone="global.",view=""}')" 2 \
	"coredns_acl_dropped_requests_total"
like "$(metric 'coredns_acl_allowed_requests_total{server="dns://:'"$PORT"'",view=""}')" '^[2-9]$' \
	"coredns_acl_allowed_requests_total{server,view}"

# a bad rule
printf 'global:%s {\n  acl {\n    allow net 10.0.0.0/33\n  }\n}\n' "$PORT" >"$T_TMP/bad.Corefile"
like "$("$GLOBALDNS" -validate -conf "$T_TMP/bad.Corefile" 2>&1)" "bad.Corefile:3: acl: illegal CIDR notation \"10.0.0.0/33\"" \
	"a bad network: FILE:LINE and the token"
printf 'global:%s {\n  acl {\n    permit net 10.0.0.0/8\n  }\n}\n' "$PORT" >"$T_TMP/bad.Corefile"
like "$("$GLOBALDNS" -validate -conf "$T_TMP/bad.Corefile" 2>&1)" "bad.Corefile:3: acl: unexpected token \"permit\"" \
	"an unknown action: FILE:LINE"

# the shipped Kubernetes Corefile: its acl answers and forwards for
# cluster networks only (127.0.0.1 is one of them; others: test_acl.c)
awk '/^  Corefile: \|/ { on = 1; next } on && /^[^ ]/ { on = 0 } on' "$TOP_SRCDIR/packaging/kubernetes/base/configmap.yaml" \
	| sed 's/^    //' | awk '/^ *acl *\{/ { on = 1 } on { print } on && /^ *\}/ { exit }' >"$T_TMP/shipped.acl"
like "$(cat "$T_TMP/shipped.acl")" "block" "the shipped Corefile has an acl ending in a block rule"
