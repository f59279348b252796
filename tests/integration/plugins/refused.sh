#!/bin/bash
# refused.sh -- the cluster-DNS plugins (kubernetes, k8s_external, autopath,
# etcd) and the zone-file ones (file, auto, secondary) are refused with a
# FILE:LINE message saying that globaldns is not the cluster DNS, or serves
# no zone files, and what to do instead; other CoreDNS plugins globaldns
# lacks get the list of what it supports.  kubeadm's Corefile, copied as it
# is, shows every problem at once.
. "$(dirname "$0")/../lib.sh"
plan 9

C=$T_TMP/Corefile
# kubeadm's default Corefile (CoreDNS's deployment/kubernetes template)
cat >"$C" <<'EOF'
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30
    loop
    reload
    loadbalance
}
EOF
out=$("$GLOBALDNS" -validate -conf "$C" 2>&1)
rc=$?
is "$rc" 1 "kubeadm's Corefile: refused"
like "$out" "Corefile:7: kubernetes: not supported: globaldns is not the cluster DNS: it answers ServiceEntry hosts \(serviceentries, hosts\) and forwards the rest; keep kubernetes in the cluster's CoreDNS \(or kube-dns\)" \
	"kubernetes: not the cluster DNS, and what to do instead"
is "$(echo "$out" | grep -c '^\[ERROR\]')" 1 "the only problem: loop, loadbalance, errors, health, ready, cache, reload are accepted"

one() {
	printf '.:1053 {\n    %s\n}\n' "$1" >"$C"
	"$GLOBALDNS" -validate -conf "$C" 2>&1
}
like "$(one 'k8s_external example.org')" "Corefile:2: k8s_external: not supported: globaldns is not the cluster DNS" "k8s_external"
like "$(one 'autopath @kubernetes')" "Corefile:2: autopath: not supported: globaldns is not the cluster DNS" "autopath"
like "$(one 'etcd skydns.local')" "Corefile:2: etcd: not supported: globaldns is not the cluster DNS: .*it reads no etcd" "etcd"
like "$(one 'file db.example.org')" "Corefile:2: file: not supported: globaldns serves ServiceEntries and hosts entries, not zone files; serve the zone from an authoritative server \(NSD, Knot, CoreDNS\)" "file: no zone files, and where to serve them"
like "$(one 'secondary example.org')" "Corefile:2: secondary: not supported: .*not zone files" "secondary"
like "$(one 'rewrite name a b')" "Corefile:2: unsupported CoreDNS directive \"rewrite\"; globaldns supports: .*hosts.*loop" "other CoreDNS plugins: the list of what is supported"
