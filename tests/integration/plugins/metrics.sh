#!/bin/bash
# metrics.sh -- `prometheus` (issue 5 items 2 and 8): /metrics speaks the
# Prometheus text format with CoreDNS's names and labels, and the counters
# move with real queries: requests by proto/family/type, responses by
# rcode and plugin, the duration and size histograms, queries no block
# took (zone "dropped"), plugin_enabled, build_info, the health histogram,
# the registry's globaldns_* gauges, and the forwarder's counters (a block
# of the same process forwards to the serviceentries block).
. "$(dirname "$0")/../lib.sh"
need dig curl python3 promtool ss sha512sum

pick_ports PORT P2 M H
plan 56

cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
    prometheus 127.0.0.1:$M
    health 127.0.0.1:$H
    serviceentries {
        file $TESTDATA/integration/bar.yaml $TESTDATA/integration/invalid-entry.yaml
    }
}
.:$P2 {
    prometheus 127.0.0.1:$M
    cache 30
    forward . 127.0.0.1:$PORT
}
EOF

scrape() { curl -s -m 3 "http://127.0.0.1:$M/metrics"; }
# val FILE 'name{labels}': the sample's value, or 0 if absent
val() { awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$1"; }
# delta 'name{labels}': after minus before
delta() { python3 -c "import sys; print(int(float(sys.argv[2]) - float(sys.argv[1])))" "$(val "$T_TMP/m1" "$1")" "$(val "$T_TMP/m2" "$1")"; }

start_globaldns m "$T_TMP/Corefile" || exit 1
scrape >"$T_TMP/m1"
ok $? "GET /metrics answers"

S="server=\"dns://:$PORT\",zone=\"global.\",view=\"\""
for _ in 1 2 3 4 5; do q +short httpbin.bar.global A >/dev/null; done
for _ in 1 2 3; do q +short nope.bar.global A >/dev/null; done
for _ in 1 2; do q +tcp +short httpbin.bar.global AAAA >/dev/null; done
q +short httpbin.bar.global MX >/dev/null
q +short outside.example A >/dev/null
scrape >"$T_TMP/m2"

is "$(delta "coredns_dns_requests_total{$S,proto=\"udp\",family=\"1\",type=\"A\"}")" 8 "requests_total: 8 UDP IPv4 A queries"
is "$(delta "coredns_dns_requests_total{$S,proto=\"tcp\",family=\"1\",type=\"AAAA\"}")" 2 "requests_total: 2 TCP AAAA queries"
is "$(delta "coredns_dns_requests_total{$S,proto=\"udp\",family=\"1\",type=\"MX\"}")" 1 "requests_total: MX has its own type label"
is "$(delta "coredns_dns_responses_total{$S,rcode=\"NOERROR\",plugin=\"serviceentries\"}")" 8 "responses_total: 8 NOERROR (5 A, 2 AAAA NODATA, 1 MX NODATA) from serviceentries"
is "$(delta "coredns_dns_responses_total{$S,rcode=\"NXDOMAIN\",plugin=\"serviceentries\"}")" 3 "responses_total: 3 NXDOMAIN"
is "$(delta "coredns_dns_request_duration_seconds_count{$S}")" 11 "request_duration_seconds_count moves with every query of the zone (no type label, as CoreDNS since 1.9)"
is "$(delta "coredns_dns_request_duration_seconds_bucket{$S,le=\"+Inf\"}")" 11 "the +Inf bucket equals the count"
like "$(grep -c "coredns_dns_request_duration_seconds_bucket{$S,le=" "$T_TMP/m2")" "^17$" "CoreDNS's 16 duration buckets plus +Inf"
like "$(grep -o 'le="[^"]*"' "$T_TMP/m2" | sed -n 1,3p | tr '\n' ' ')" '^le="0.00025" le="0.0005" le="0.001"' "bucket bounds printed as CoreDNS does (0.00025, 0.0005, ...)"
is "$(delta "coredns_dns_request_size_bytes_count{$S,proto=\"udp\"}")" 9 "request_size_bytes counts the 9 UDP queries of the zone"
is "$(delta "coredns_dns_response_size_bytes_count{$S,proto=\"tcp\"}")" 2 "response_size_bytes counts TCP answers"
got=$(delta "coredns_dns_requests_total{server=\"dns://:$PORT\",zone=\"dropped\",view=\"\",proto=\"udp\",family=\"1\",type=\"A\"}")
is "$got" 1 "a query outside every zone counts under zone=\"dropped\""
is "$(val "$T_TMP/m2" "coredns_plugin_enabled{$S,name=\"serviceentries\"}")" 1 "plugin_enabled: serviceentries"
is "$(val "$T_TMP/m2" "coredns_plugin_enabled{$S,name=\"prometheus\"}")" 1 "plugin_enabled: prometheus"
like "$(grep '^coredns_build_info' "$T_TMP/m2")" '^coredns_build_info\{version="[0-9.]+",revision="[^"]*",goversion="[^"]*"\} 1$' "build_info"
is "$(val "$T_TMP/m2" coredns_reload_failed_total)" 0 "reload_failed_total is exported (0)"
is "$(val "$T_TMP/m2" "globaldns_registry_names{zone=\"global.\"}")" 2 "globaldns_registry_names: two names from the two files"
like "$(grep '^globaldns_registry_rejected_entries' "$T_TMP/m2")" 'reason="[^"]+"\} [1-9]' "globaldns_registry_rejected_entries by reason"
is "$(val "$T_TMP/m2" "globaldns_source_syncs_total{zone=\"global.\",source=\"file\",result=\"success\"}")" 1 "globaldns_source_syncs_total{result=success}"

# health asks its own /health once a second, as CoreDNS's does
sleep 2.5
scrape >"$T_TMP/m3"
like "$(val "$T_TMP/m3" coredns_health_request_duration_seconds_count)" '^[2-9]' "health_request_duration_seconds: the self-check, once a second"
is "$(val "$T_TMP/m3" coredns_health_request_failures_total)" 0 "health_request_failures_total: none failed"

# the forwarder, through the same process
is "$(dig @127.0.0.1 -p "$P2" +tries=1 +time=2 +short httpbin.bar.global A)" "240.0.1.2" "a forwarded query is answered"
scrape >"$T_TMP/m4"
is "$(val "$T_TMP/m4" "coredns_proxy_healthcheck_failures_total{proxy_name=\"forward\",to=\"127.0.0.1:$PORT\"}")" 0 "coredns_proxy_healthcheck_failures_total{proxy_name,to}"
like "$(val "$T_TMP/m4" "coredns_proxy_request_duration_seconds_count{proxy_name=\"forward\",to=\"127.0.0.1:$PORT\",rcode=\"NOERROR\"}")" '^[1-9]' "coredns_proxy_request_duration_seconds{proxy_name=forward,to,rcode}"
is "$(val "$T_TMP/m4" coredns_forward_healthcheck_broken_total)" 0 "coredns_forward_healthcheck_broken_total"
is "$(val "$T_TMP/m4" "coredns_dns_responses_total{server=\"dns://:$P2\",zone=\".\",view=\"\",rcode=\"NOERROR\",plugin=\"forward\"}")" 1 "responses_total names plugin=forward"

# the cache in front of the forwarder
dig @127.0.0.1 -p "$P2" +tries=1 +time=2 +short httpbin.bar.global A >/dev/null
scrape >"$T_TMP/m5"
C="server=\"dns://:$P2\",zones=\".\",view=\"\""
is "$(val "$T_TMP/m5" "coredns_cache_hits_total{$C,type=\"success\"}")" 1 "coredns_cache_hits_total: the second forwarded query is a hit"
is "$(val "$T_TMP/m5" "coredns_cache_entries{$C,type=\"success\"}")" 1 "coredns_cache_entries{type=success}"
like "$(val "$T_TMP/m5" "coredns_cache_misses_total{$C}")" '^[1-9]' "coredns_cache_misses_total"

# the whole exposition is well-formed: every family's samples in one group
# under one TYPE, every sample line parses
python3 - "$T_TMP/m5" >"$T_TMP/fmt" 2>&1 <<'PY'
import re, sys
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$')
typed, done, cur = {}, set(), None
for line in open(sys.argv[1]).read().splitlines():
    if line.startswith("# TYPE "):
        _, _, name, t = line.split(" ", 3)
        if name in typed: sys.exit("TYPE twice: " + name)
        typed[name] = t
        if cur: done.add(cur)
        cur = name
        continue
    if line.startswith("#"):
        continue
    m = sample.match(line)
    if not m: sys.exit("bad line: " + line)
    base = m.group(1)
    fam = next((f for f in (base, re.sub(r'_(bucket|sum|count)$', '', base)) if f in typed), base)
    if fam in done: sys.exit("family split: " + fam)
    if fam != cur:
        if cur: done.add(cur)
        cur = fam
print("ok")
PY
is "$(cat "$T_TMP/fmt")" ok "the exposition parses: one group and one TYPE per family"

# ---- today's CoreDNS families (issue 10) ----
promtool check metrics <"$T_TMP/m5" >"$T_TMP/promtool.out" 2>&1
is "$?:$(grep -v '^$' "$T_TMP/promtool.out" | head -5)" "0:" "promtool check metrics: no problem in the exposition"
is "$(val "$T_TMP/m5" coredns_panics_total)" 0 "coredns_panics_total"
for f in process_cpu_seconds_total process_resident_memory_bytes process_virtual_memory_bytes \
	process_open_fds process_max_fds process_start_time_seconds; do
	like "$(grep "^$f " "$T_TMP/m5")" "^$f [0-9.e+]+$" "$f"
done
is "$(grep '^# TYPE process_cpu_seconds_total' "$T_TMP/m5")" "# TYPE process_cpu_seconds_total counter" "process_cpu_seconds_total is a counter"
start=$(val "$T_TMP/m5" process_start_time_seconds)
ok $(python3 -c "import sys, time; sys.exit(0 if abs(time.time() - float(sys.argv[1])) < 120 else 1)" "$start"; echo $?) \
	"process_start_time_seconds is this process's start ($start)"
q +dnssec +short httpbin.bar.global A >/dev/null
q +dnssec +short httpbin.bar.global A >/dev/null
scrape >"$T_TMP/m6"
is "$(val "$T_TMP/m6" "coredns_dns_do_requests_total{server=\"dns://:$PORT\",view=\"\",zone=\"global.\"}")" 2 "coredns_dns_do_requests_total{server,view,zone}: 2 queries with DO"
is "$(val "$T_TMP/m6" "coredns_cache_drops_total{$C}")" 0 "coredns_cache_drops_total{server,zones,view}"
is "$(val "$T_TMP/m6" "coredns_cache_evictions_total{$C,type=\"success\"}")" 0 "coredns_cache_evictions_total{server,zones,view,type}"
for gone in coredns_forward_requests_total coredns_forward_responses_total coredns_forward_request_duration_seconds \
	coredns_forward_healthcheck_failures_total globaldns_cache_evictions_total coredns_dns_request_count_total coredns_cache_size; do
	is "$(grep -c "^$gone" "$T_TMP/m6")" 0 "gone, as in CoreDNS today: $gone"
done
is "$(grep -c '^coredns_cache_hits_total{.*zone=' "$T_TMP/m6")" 0 "the cache's label is zones, not zone"

# reload: the Corefile's SHA-512; a bare prometheus binds localhost:9153
pick_ports P3
cat >"$T_TMP/Corefile.bare" <<EOF
global:$P3 {
    prometheus
    reload 2s
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
EOF
stop_pid "$GD_PID"
PORT=$P3 start_globaldns bare "$T_TMP/Corefile.bare" || exit 1
b=$(curl -s -m 3 http://127.0.0.1:9153/metrics)
like "$b" "coredns_reload_version_info\{hash=\"sha512\",value=\"$(sha512sum "$T_TMP/Corefile.bare" | cut -d' ' -f1)\"\} 1" \
	"coredns_reload_version_info{hash=sha512,value}: the running Corefile's SHA-512"
like "$(ss -ltnH 'sport = :9153' | awk '{ print $4 }' | sort -u | tr '\n' ' ')" '^127\.0\.0\.1:9153 $' "a bare prometheus listens on localhost:9153 only, as CoreDNS"
# a reload logs the new Corefile's SHA-512 as CoreDNS does, the metric's value
echo "# changed" >>"$T_TMP/Corefile.bare"
kill -HUP "$GD_PID"
wait_until 5 grep -q "Reloading complete" "$T_TMP/bare.log"
sum=$(sha512sum "$T_TMP/Corefile.bare" | cut -d' ' -f1)
like "$(cat "$T_TMP/bare.log")" "plugin/reload: Running configuration SHA512 = $sum" "the reload logs 'Running configuration SHA512 = ' the Corefile's SHA-512"
like "$(curl -s -m 3 http://127.0.0.1:9153/metrics)" "coredns_reload_version_info\{hash=\"sha512\",value=\"$sum\"\} 1" "... the value coredns_reload_version_info now shows"
