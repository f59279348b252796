#!/bin/bash
# istio_corefiles.sh -- Istio's own istiocoredns Corefiles run unchanged
# (tests/data/istio/, each with its origin): the pre-1.4 `proxy global
# 127.0.0.1:8053 { protocol grpc insecure }` + `proxy . /etc/resolv.conf`,
# the later `grpc global 127.0.0.1:8053` + `forward . /etc/resolv.conf {
# except global }`, the multi-zone guides (`grpc internal`, `except global
# internal`; two proxy lines) and blocks `cluster-2 { grpc . 127.0.0.1:8053 }`.
# With each, globaldns starts, answers the grpc zones from the in-cluster
# ServiceEntries (the fake API server, reached as a pod reaches its API:
# KUBERNETES_SERVICE_HOST/PORT and the service-account directory), sends
# every other name to the nameservers of /etc/resolv.conf, and logs once
# how it read each line and the native line.
#
# The files are used as they are -- port 53, health :8080, prometheus
# :9153, /etc/resolv.conf -- so the script runs in a network namespace of
# its own (unshare, as root): there those ports are free and no traffic
# leaves loopback; and globaldns runs in a mount namespace of its own where
# a resolv.conf of the test is mounted over /etc/resolv.conf, naming NSD on
# 127.0.0.1:5301 (dig, outside it, could not parse that line).  Where mount
# namespaces cannot be made (a chroot whose root is no mount point, as
# in some CI machines) the one path /etc/resolv.conf is replaced by the
# test's copy in each fixture, and nothing else.  gRPC to any other
# address is refused with FILE:LINE.
if [ -z "${GLOBALDNS_TEST_NETNS:-}" ]; then
	if command -v unshare >/dev/null 2>&1 && unshare -n true 2>/dev/null; then
		GLOBALDNS_TEST_NETNS=1 exec unshare -n bash "$0" "$@"
	fi
	echo "1..0 # SKIP needs a network namespace (unshare -n, as root)"
	exit 0
fi
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_kube.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need nsd ip
plan 47

ip link set lo up
echo "nameserver 127.0.0.1:5301" >"$T_TMP/resolv.conf"
# globaldns in a mount namespace of its own, the test's resolv.conf over
# /etc/resolv.conf (unshare execs: the PID is globaldns's)
MNTNS=0
if unshare -m --propagation private true 2>/dev/null; then
	MNTNS=1
	printf '#!/bin/sh\nexec unshare -m --propagation private sh -c '"'"'mount --bind "%s" /etc/resolv.conf && exec "%s" "$@"'"'"' sh "$@"\n' \
		"$T_TMP/resolv.conf" "$GLOBALDNS" >"$T_TMP/gd-ns"
	chmod +x "$T_TMP/gd-ns"
else
	echo "# no mount namespace here: each fixture runs with /etc/resolv.conf replaced by $T_TMP/resolv.conf"
fi
REAL_GLOBALDNS=$GLOBALDNS
start_nsd 5301 || exit 1
start_fake || exit 1
se bar httpbin httpbin.bar.global 240.0.0.2
se fruits my-fruits my-fruits.internal 10.103.1.1
se reviews reviews reviews.default.cluster-2 240.0.2.7
se ratings ratings ratings.default.cluster-1 240.0.1.9
export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$(cat "$K8S/port") GLOBALDNS_SA_DIR=$K8S
PORT=53
D=$TESTDATA/istio

# start_fixture NAME FILE: start globaldns on FILE as it is; F is the file
# it reads (FILE, or a copy with the resolv.conf path replaced)
start_fixture() {
	local n=$1 f=$2
	if [ "$MNTNS" = 1 ]; then
		F=$f
		GLOBALDNS=$T_TMP/gd-ns start_globaldns "$n" "$F"
	else
		F=$T_TMP/copy-$n.Corefile
		sed "s|/etc/resolv\.conf|$T_TMP/resolv.conf|g" "$f" >"$F"
		start_globaldns "$n" "$F"
	fi
}

# run FIXTURE: start it (waits for the first list), name it by its file
run() {
	local n
	n=$(basename "$1" .Corefile)
	start_fixture "$n" "$1" || return 1
	wait_a 10 httpbin.bar.global 240.0.0.2
	LOG=$T_TMP/$n.log
}
done_with() { stop_pid "$GD_PID"; }

# ---- pre-1.4: proxy ... { protocol grpc insecure } + proxy . /etc/resolv.conf
run "$D/proxy-grpc.Corefile" || exit 1
is "$(resp httpbin.bar.global A | head -2)" "NOERROR flags:qr aa qd:1 an:1 ns:0 ar:1
an httpbin.bar.global. 30 IN A 240.0.0.2" "proxy-grpc: httpbin.bar.global from the ServiceEntries (AA)"
is "$(rcode nope.bar.global)" NXDOMAIN "proxy-grpc: an unknown .global name is NXDOMAIN from the registry"
is "$(q +short www.example.test)" "192.0.2.10" "proxy-grpc: other names through proxy . /etc/resolv.conf"
is "$(grep -c 'is read as' "$LOG")" 1 "proxy-grpc: one line says how the grpc line was read"
like "$(grep 'is read as' "$LOG")" "^\[INFO\] plugin/proxy: $F:9: \"proxy global 127.0.0.1:8053 \{ \.\.\. \}\" is read as \"serviceentries global\": 127.0.0.1:8053 was the istio-coredns-plugin's address, which globaldns replaces; global\. is answered from the ServiceEntries of the in-cluster Kubernetes API$" \
	"proxy-grpc: the line, FILE:LINE and the native line"
is "$(curl -s -m 2 http://127.0.0.1:8080/health)" "OK" "proxy-grpc: health on :8080"
like "$(curl -s -m 2 http://127.0.0.1:9153/metrics | grep '^coredns_dns_requests_total' | head -1)" 'zone="\."' "proxy-grpc: prometheus on :9153"
# the first read of the entries: a list, or a watch with sendInitialEvents
# (a streaming list, what globaldns asks of an API server that has it)
like "$(fake_log | grep -E ' (list|watch) ' | head -1)" "/serviceentries" "proxy-grpc: the entries come from the API (in-cluster)"
like "$(curl -s -m 2 http://127.0.0.1:8080/health; grep -c ERROR "$LOG")" "OK0" "proxy-grpc: no error logged"
done_with

# ---- 1.4+: grpc global + forward . /etc/resolv.conf { except global }
run "$D/grpc-forward.Corefile" || exit 1
is "$(q +short httpbin.bar.global)" "240.0.0.2" "grpc-forward: httpbin.bar.global from the ServiceEntries"
is "$(rcode nope.bar.global)" NXDOMAIN "grpc-forward: unknown .global: NXDOMAIN, never forwarded"
is "$(q +short www.example.test)" "192.0.2.10" "grpc-forward: other names through forward . /etc/resolv.conf"
is "$(q +short www.example.test AAAA)" "2001:db8::10" "grpc-forward: AAAA forwarded too"
is "$(resp httpbin.bar.global AAAA | head -1)" "NOERROR flags:qr aa qd:1 an:0 ns:1 ar:1" "grpc-forward: AAAA of an IPv4 entry: NODATA with SOA (the old plugin said NXDOMAIN)"
like "$(grep 'is read as' "$LOG")" "plugin/grpc: $F:11: \"grpc global 127.0.0.1:8053\" is read as \"serviceentries global\"" "grpc-forward: how the grpc line was read"
is "$(grep -c 'is read as' "$LOG")" 1 "grpc-forward: said once"
se bar late late.bar.global 240.0.0.9
wait_a 5 late.bar.global 240.0.0.9
is "$(a late.bar.global)" "240.0.0.9" "grpc-forward: a ServiceEntry created later is answered (watch)"
kill -HUP "$GD_PID"
sleep 1.5
is "$(grep -c 'is read as' "$LOG")" 1 "grpc-forward: a reload with the same Corefile does not say it again"
is "$(q +short httpbin.bar.global)" "240.0.0.2" "grpc-forward: still answering after the reload"
done_with

# ---- two zones: grpc internal + grpc global, except global internal
SEQ=$(fake_seq)
run "$D/multi-zone.Corefile" || exit 1
is "$(q +short my-fruits.internal)" "10.103.1.1" "multi-zone: my-fruits.internal from the ServiceEntries"
is "$(q +short httpbin.bar.global)" "240.0.0.2" "multi-zone: httpbin.bar.global too"
is "$(rcode nope.internal)" NXDOMAIN "multi-zone: unknown .internal: NXDOMAIN"
is "$(q +short www.example.test)" "192.0.2.10" "multi-zone: other names forwarded"
is "$(grep -c 'is read as' "$LOG")" 2 "multi-zone: one line per grpc line"
like "$(grep 'is read as' "$LOG" | head -1)" "multi-zone.Corefile:9: \"grpc internal 127.0.0.1:8053\" is read as \"serviceentries internal\"" "multi-zone: grpc internal read as serviceentries internal"
is "$(fake_log "$SEQ" | grep -c ' watch ')" 1 "multi-zone: both zones from one list/watch"
done_with

# ---- the same with proxy lines (CoreDNS < 1.4)
run "$D/multi-zone-proxy.Corefile" || exit 1
is "$(q +short my-fruits.internal)" "10.103.1.1" "multi-zone-proxy: .internal from the ServiceEntries"
is "$(q +short httpbin.bar.global)" "240.0.0.2" "multi-zone-proxy: .global too"
is "$(q +short www.example.test)" "192.0.2.10" "multi-zone-proxy: the rest through proxy . /etc/resolv.conf"
is "$(rcode nope.internal)" NXDOMAIN "multi-zone-proxy: the longest FROM answers (internal, not .)"
done_with

# ---- blocks per remote cluster: cluster-2 { grpc . 127.0.0.1:8053 }
run "$D/stub-blocks.Corefile" || exit 1
is "$(q +short reviews.default.cluster-2)" "240.0.2.7" "stub-blocks: cluster-2 block from the ServiceEntries"
is "$(q +short ratings.default.cluster-1)" "240.0.1.9" "stub-blocks: cluster-1 block"
is "$(rcode nope.default.cluster-2)" NXDOMAIN "stub-blocks: unknown name of a stub zone: NXDOMAIN"
is "$(q +short httpbin.bar.global)" "240.0.0.2" "stub-blocks: global in the . block"
is "$(q +short www.example.test)" "192.0.2.10" "stub-blocks: other names forwarded"
like "$(grep 'is read as' "$LOG" | head -1)" "stub-blocks.Corefile:7: \"grpc \. 127\.0\.0\.1:8053\" is read as \"serviceentries\": .* cluster-2\. is answered" \
	"stub-blocks: grpc . in a cluster-2 block reads as serviceentries for the block's zone"
is "$(grep -c 'is read as' "$LOG")" 3 "stub-blocks: three grpc lines, three lines of log"
done_with

# ---- other loopback spellings count; other addresses are refused
printf '.:53 {\n    grpc global [::1]:8053 localhost:8053 127.0.0.53:8053\n    forward . /etc/resolv.conf {\n        except global\n    }\n}\n' >"$T_TMP/lo.Corefile"
run "$T_TMP/lo.Corefile" || exit 1
is "$(q +short httpbin.bar.global)" "240.0.0.2" "any loopback address on port 8053 is the old plugin's"
done_with
bad() { printf '.:53 {\n    %s\n}\n' "$1" >"$T_TMP/bad.Corefile"; "$REAL_GLOBALDNS" -validate -conf "$T_TMP/bad.Corefile" 2>&1; }
out=$(bad 'grpc global 10.0.0.7:8053')
like "$out" "bad.Corefile:2: grpc: \"10.0.0.7:8053\": DNS over gRPC to another server is not supported" "grpc to another address: refused with FILE:LINE"
like "$out" "to reach another DNS server write forward global ADDRESS" "and says what to write instead"
like "$(bad 'grpc global 127.0.0.1:9053')" "bad.Corefile:2: grpc: \"127.0.0.1:9053\": DNS over gRPC" "loopback on another port: not the old plugin, refused"
like "$(bad 'grpc global 127.0.0.1:8053 10.0.0.7:8053')" "\"10.0.0.7:8053\": DNS over gRPC" "one remote target among loopback ones: refused"
printf '.:53 {\n    proxy global 10.0.0.7:8053 {\n        protocol grpc insecure\n    }\n}\n' >"$T_TMP/bad.Corefile"
like "$("$REAL_GLOBALDNS" -validate -conf "$T_TMP/bad.Corefile" 2>&1)" "bad.Corefile:2: proxy: \"10.0.0.7:8053\": protocol grpc to another server is not supported" "proxy protocol grpc to another address: refused"
printf 'example.org:53 {\n    grpc global 127.0.0.1:8053\n}\n' >"$T_TMP/bad.Corefile"
like "$("$REAL_GLOBALDNS" -validate -conf "$T_TMP/bad.Corefile" 2>&1)" "bad.Corefile:2: grpc: FROM global\. is outside the server block's zones" "a FROM no query reaches: refused"
like "$(bad 'grpc global 127.0.0.1:8053 {
        spray
    }')" "bad.Corefile:3: grpc: unknown property \"spray\"" "unknown grpc property: FILE:LINE"
printf '.:53 {\n    proxy . /etc/resolv.conf {\n        protocol dns force_tcp\n    }\n}\n' >"$T_TMP/fwd.Corefile"
start_fixture tcp "$T_TMP/fwd.Corefile" || exit 1
is "$(q +short www.example.test)" "192.0.2.10" "proxy . /etc/resolv.conf { protocol dns force_tcp } forwards (as forward with force_tcp)"
done_with
printf '.:53 {\n    proxy . /etc/resolv.conf {\n        spray\n    }\n}\n' >"$T_TMP/bad.Corefile"
like "$("$REAL_GLOBALDNS" -validate -conf "$T_TMP/bad.Corefile" 2>&1)" "bad.Corefile:3: proxy: unknown property \"spray\"" "old proxy options without a forward equivalent: FILE:LINE"
