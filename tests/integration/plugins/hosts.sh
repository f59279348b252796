#!/bin/bash
# hosts.sh -- `hosts`, as CoreDNS's plugin/hosts (coredns.io/plugins/hosts):
# A/AAAA from a hosts file and from inline lines (file first), NODATA for a
# known name's other types, SERVFAIL for an unknown name unless
# `fallthrough` sends it on (here to an upstream), PTR answers made from
# the entries (not with no_reverse), `*.zone` matching one label, `ttl`,
# `reload` (a changed file is re-read; a deleted one keeps its entries),
# names outside the zones skipped, `fallthrough_unsupported`, the
# coredns_hosts_* metrics, and FILE:LINE errors.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig curl python3
plan 33

pick_ports PORT UP M
start_upstream up "$UP" --a fromupstream.example.org=192.0.2.99 --a www.example.net=192.0.2.80 || exit 1
HF=$T_TMP/hosts
cat >"$HF" <<'EOF'
# a hosts file: comments, blank lines, aliases, IPv6, a zone index
127.0.0.1   localhost

10.0.0.1    web.example.org web     # the short alias is outside the zones
10.0.0.2    web.example.org
2001:db8::1 web.example.org
fe80::1%eth0 linklocal.example.org
10.0.0.9    *.apps.example.org
10.0.0.3    other.example.net
10.0.9.9    rev.example.net
not-an-ip   broken.example.org
EOF
cat >"$T_TMP/Corefile" <<EOF
example.org:$PORT {
    prometheus 127.0.0.1:$M
    hosts $HF {
        10.1.1.1 inline.example.org
        10.0.0.7 web.example.org
        reload 300ms
    }
}
example.net:$PORT {
    hosts $HF example.net {
        ttl 60
        no_reverse
        fallthrough
        fallthrough_unsupported
    }
    forward . 127.0.0.1:$UP
}
in-addr.arpa:$PORT ip6.arpa:$PORT {
    hosts $HF example.org
}
3.0.0.10.in-addr.arpa:$PORT {
    hosts $HF example.net {
        no_reverse
    }
}
9.9.0.10.in-addr.arpa:$PORT {
    hosts $HF example.net
}
EOF
start_globaldns gd "$T_TMP/Corefile" || exit 1

R=$(resp web.example.org A)
is "$R" "NOERROR flags:qr aa qd:1 an:3 ns:0 ar:1
an web.example.org. 3600 IN A 10.0.0.1
an web.example.org. 3600 IN A 10.0.0.2
an web.example.org. 3600 IN A 10.0.0.7" "A: the file's addresses in order, then the inline one; AA, TTL 3600"
is "$(resp web.example.org AAAA | tail -n +2)" "an web.example.org. 3600 IN AAAA 2001:db8::1" "AAAA from the file"
is "$(resp web.example.org MX)" "NOERROR flags:qr aa qd:1 an:0 ns:0 ar:1" "a known name, another type: NODATA without SOA (a hosts file has none)"
is "$(q +short linklocal.example.org AAAA)" "fe80::1" "an IPv6 zone index is dropped"
is "$(q +short x.apps.example.org)" "10.0.0.9" "*.apps.example.org matches one label"
is "$(rcode a.b.apps.example.org)" "SERVFAIL" "but not two"
is "$(rcode apps.example.org)" "SERVFAIL" "nor the wildcard's parent"
is "$(q +short inline.example.org)" "10.1.1.1" "an inline line"
is "$(rcode nope.example.org)" "SERVFAIL" "an unknown name without fallthrough: SERVFAIL, as CoreDNS (no SOA for an NXDOMAIN)"
is "$(rcode web.example.org)" "NOERROR" "the short alias 'web' was skipped, the rest of its line kept"
is "$(rcode broken.example.org)" "SERVFAIL" "a line whose address is not an IP is skipped"

# PTR, made from the entries, file first
is "$(q +short -x 10.0.0.1)" "web.example.org." "PTR from the file"
is "$(q +short -x 2001:db8::1)" "web.example.org." "PTR under ip6.arpa"
is "$(q +short -x 10.0.0.9)" "" "a wildcard makes no PTR"
is "$(rcode -x 10.0.0.3)" "SERVFAIL" "names outside the block's zones make no PTR either"

# the example.net block: ttl, no_reverse, fallthrough to the upstream
is "$(section answer other.example.net A)" "other.example.net. 60 IN A 10.0.0.3" "ttl 60"
is "$(q +short www.example.net)" "192.0.2.80" "fallthrough: an unknown name goes to forward"
is "$(grep -c 'other.example.net. 16 ' "$T_TMP/up.queries")" 0 "a known name is not forwarded"
q +short other.example.net TXT >/dev/null
is "$(grep -c 'other.example.net. 16 ' "$T_TMP/up.queries")" 1 "fallthrough_unsupported: TXT of a known name goes on too"
is "$(rcode -x 10.0.0.3)" "SERVFAIL" "no_reverse: no PTR"
is "$(q +short -x 10.0.9.9)" "rev.example.net." "the same entries without no_reverse: PTR"

# reload: a changed file is read again, a deleted one keeps its entries
sed -i 's/^10.0.0.2 /10.0.0.22 /' "$HF"
echo "10.0.0.50   new.example.org" >>"$HF"
wait_until 10 sh -c "dig @127.0.0.1 -p $PORT +short new.example.org | grep -q 10.0.0.50"
is "$(q +short new.example.org)" "10.0.0.50" "reload: a name added to the file is answered"
is "$(q +short web.example.org | sort | tr '\n' ' ')" "10.0.0.1 10.0.0.22 10.0.0.7 " "reload: a changed address too"
rm -f "$HF"
sleep 1
is "$(q +short new.example.org)" "10.0.0.50" "a deleted file keeps the entries read (CoreDNS: it cannot be opened, nothing changes)"

# metrics
scrape=$(curl -s -m 3 "http://127.0.0.1:$M/metrics")
like "$scrape" "coredns_hosts_entries\{hostsfile=\"$HF\"\} [0-9]+" "coredns_hosts_entries{hostsfile}"
like "$scrape" "# TYPE coredns_hosts_reload_timestamp_seconds gauge" "coredns_hosts_reload_timestamp_seconds"

# a missing file: a warning, the inline lines served
cat >"$T_TMP/Corefile.missing" <<EOF
example.org:$PORT {
    hosts $T_TMP/nothing-here {
        10.2.2.2 only.example.org
    }
}
EOF
stop_pid "$GD_PID"
start_globaldns missing "$T_TMP/Corefile.missing" || exit 1
like "$(cat "$T_TMP/missing.log")" "\[WARNING\] plugin/hosts: File does not exist: $T_TMP/nothing-here" "missing file: a warning"
is "$(q +short only.example.org)" "10.2.2.2" "and the inline lines are served"

# errors name FILE:LINE
bad() {
	printf 'example.org:%s {\n    hosts %s {\n%s\n    }\n}\n' "$PORT" "$T_TMP/nothing-here" "$1" >"$T_TMP/Corefile.bad"
	"$GLOBALDNS" -validate -conf "$T_TMP/Corefile.bad" 2>&1
}
like "$(bad '        ttl 0')" "Corefile.bad:3: hosts: ttl provided is invalid" "ttl 0: invalid"
like "$(bad '        ttl x')" "Corefile.bad:3: hosts: ttl needs a number of second" "ttl x: not a number"
like "$(bad '        fallthrough_unsupported')" "Corefile.bad:2: hosts: fallthrough_unsupported requires fallthrough" "fallthrough_unsupported alone"
like "$(bad '        fallthrough
        10.0.0.1 late.example.org')" "Corefile.bad:4: hosts: unknown property \"10.0.0.1\"" "an inline line after fallthrough is an unknown property (as CoreDNS)"
like "$(bad '        reload soon')" "Corefile.bad:3: hosts: invalid duration for reload 'soon'" "reload needs a duration"
