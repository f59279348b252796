#!/bin/bash
# any.sh -- `any`, as CoreDNS's plugin/any (coredns.io/plugins/any, RFC
# 8482): every ANY query of the block gets NOERROR with one record,
# `NAME 8482 IN HINFO "ANY obsoleted" "See RFC 8482"`, before serviceentries
# or forward see it; other types pass on.  Without `any`, serviceentries
# answers ANY with one RRset itself.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig python3
plan 8

pick_ports PORT P2 UP
start_upstream up "$UP" --a www.example.org=192.0.2.1 || exit 1
cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
    any
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
.:$PORT {
    any
    forward . 127.0.0.1:$UP
}
global:$P2 {
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
EOF
start_globaldns gd "$T_TMP/Corefile" || exit 1

is "$(resp httpbin.bar.global ANY)" 'NOERROR flags:qr qd:1 an:1 ns:0 ar:1
an httpbin.bar.global. 8482 IN HINFO "ANY obsoleted" "See RFC 8482"' "ANY in a serviceentries block: the HINFO, as CoreDNS (no AA)"
is "$(resp nothing.bar.global ANY | tail -n +2)" 'an nothing.bar.global. 8482 IN HINFO "ANY obsoleted" "See RFC 8482"' "whatever the name"
is "$(q +short httpbin.bar.global A)" "240.0.1.2" "other types pass on to serviceentries"
is "$(resp www.example.org ANY | tail -n +2)" 'an www.example.org. 8482 IN HINFO "ANY obsoleted" "See RFC 8482"' "ANY in a forwarding block: answered here"
is "$(grep -c ' 255 ' "$T_TMP/up.queries")" 0 "and never sent upstream"
is "$(q +short www.example.org A)" "192.0.2.1" "other types are forwarded"
is "$(PORT=$P2 resp httpbin.bar.global ANY | tail -n +2)" "an httpbin.bar.global. 30 IN A 240.0.1.2" "without any: serviceentries answers ANY with one RRset"
printf '.:%s {\n    any x\n}\n' "$PORT" >"$T_TMP/Corefile.bad"
like "$("$GLOBALDNS" -validate -conf "$T_TMP/Corefile.bad" 2>&1)" "Corefile.bad:2: any: takes no arguments" "any with an argument: FILE:LINE error"
