#!/bin/bash
# loadbalance.sh -- `loadbalance [round_robin] { prefer CIDR... }`, as
# CoreDNS's plugin/loadbalance (coredns.io/plugins/loadbalance): the A and
# AAAA records of every NOERROR answer come out in a random order --
# forwarded answers (NSD serving tests/data/plugins/lb.test.zone is the
# upstream, and sends them in one fixed order), the cache's hits, and
# serviceentries' answers; a CNAME stays in front; `prefer` puts the
# addresses of the listed subnets first; other rcodes are left alone.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig nsd python3
plan 17

pick_ports NSD P0 PORT P2 P3 P4
start_nsd "$NSD" lb.test "$TESTDATA/plugins/lb.test.zone" || exit 1
cat >"$T_TMP/se.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: multi, namespace: lb}
spec:
  hosts: [multi.lb.global]
  addresses: [240.1.0.1, 240.1.0.2, 240.1.0.3, 240.1.0.4, 240.1.0.5]
  resolution: STATIC
EOF
cat >"$T_TMP/Corefile" <<EOF
.:$P0 {
    forward . 127.0.0.1:$NSD
}
.:$PORT {
    loadbalance
    forward . 127.0.0.1:$NSD
}
.:$P2 {
    loadbalance round_robin
    cache 300
    forward . 127.0.0.1:$NSD
}
.:$P3 {
    loadbalance {
        prefer 198.51.100.0/24
    }
    forward . 127.0.0.1:$NSD
}
global:$P4 {
    loadbalance
    serviceentries {
        file $T_TMP/se.yaml
    }
}
EOF
start_globaldns gd "$T_TMP/Corefile" || exit 1

# orders PORT NAME TYPE N: N answers, one line each (addresses joined by ",")
orders() {
	for _ in $(seq 1 "$4"); do
		dig @127.0.0.1 -p "$1" +tries=1 +time=2 +noall +answer "$2" "$3" | awk '{ print $5 }' | paste -sd, -
	done
}
sorted_set() { tr ',' '\n' | sort -u | paste -sd, -; }

o=$(orders "$P0" many.lb.test A 20)
is "$(echo "$o" | sort -u | wc -l)" 1 "without loadbalance: the upstream's one order, every time"

o=$(orders "$PORT" many.lb.test A 40)
n=$(echo "$o" | sort -u | wc -l)
ok $([ "$n" -ge 10 ]; echo $?) "with loadbalance: the order changes ($n different orders of 6 records in 40 answers)"
is "$(echo "$o" | sorted_set)" "192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4,198.51.100.5,198.51.100.6" "the same six records"
is "$(echo "$o" | awk -F, '{ print NF }' | sort -u)" 6 "every answer has all six"
first=$(echo "$o" | cut -d, -f1 | sort -u | wc -l)
ok $([ "$first" -ge 4 ]; echo $?) "the first address varies ($first different)"

o=$(orders "$PORT" many.lb.test AAAA 30)
ok $([ "$(echo "$o" | sort -u | wc -l)" -ge 3 ]; echo $?) "AAAA records are shuffled too"

o=$(for _ in $(seq 1 30); do dig @127.0.0.1 -p "$PORT" +tries=1 +time=2 +noall +answer alias.lb.test A | awk '{ print $4 }' | paste -sd, -; done)
is "$(echo "$o" | sort -u)" "CNAME,A,A,A,A,A,A" "a CNAME stays in front of the addresses"
o=$(for _ in $(seq 1 30); do dig @127.0.0.1 -p "$PORT" +tries=1 +time=2 +noall +answer alias.lb.test A | awk '$4 == "A" { print $5 }' | paste -sd, -; done)
ok $([ "$(echo "$o" | sort -u | wc -l)" -ge 5 ]; echo $?) "and the addresses behind it are shuffled"
is "$(orders "$PORT" lb.test MX 10 | sort -u)" "10,20" "MX records keep their order (their names may be compression targets)"
is "$(rcode nothing.lb.test)" "NXDOMAIN" "NXDOMAIN passes untouched"

# the cache: hits are shuffled (loadbalance watches the final answer)
first=$(orders "$P2" many.lb.test A 1)
is "$(echo "$first" | sorted_set)" "192.0.2.1,192.0.2.2,192.0.2.3,192.0.2.4,198.51.100.5,198.51.100.6" "through the cache: the answer"
kill "$(cat "$T_TMP/nsd/nsd.pid")" 2>/dev/null
sleep 0.5
o=$(orders "$P2" many.lb.test A 30)
is "$(echo "$o" | awk -F, '{ print NF }' | sort -u)" 6 "the upstream stopped: every answer comes from the cache"
ok $([ "$(echo "$o" | sort -u | wc -l)" -ge 8 ]; echo $?) "and cache hits come out shuffled"

# prefer: shuffled, then the preferred subnet first
start_nsd "$NSD" lb.test "$TESTDATA/plugins/lb.test.zone" || exit 1
o=$(orders "$P3" many.lb.test A 30)
is "$(echo "$o" | cut -d, -f1,2 | tr ',' '\n' | sort -u | paste -sd, -)" "198.51.100.5,198.51.100.6" "prefer: the 198.51.100.0/24 addresses always first"
ok $([ "$(echo "$o" | cut -d, -f3- | sort -u | wc -l)" -ge 5 ]; echo $?) "the others shuffled behind them"

# serviceentries' answers
o=$(orders "$P4" multi.lb.global A 30)
ok $([ "$(echo "$o" | sort -u | wc -l)" -ge 8 ]; echo $?) "serviceentries answers are shuffled too"

# errors
printf '.:%s {\n    loadbalance weighted /tmp/w\n}\n' "$P0" >"$T_TMP/Corefile.bad"
like "$("$GLOBALDNS" -validate -conf "$T_TMP/Corefile.bad" 2>&1)" "Corefile.bad:2: loadbalance: the weighted policy is not supported; use round_robin" \
	"weighted: a FILE:LINE error"
