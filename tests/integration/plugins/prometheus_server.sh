#!/bin/bash
# prometheus_server.sh -- a real Prometheus server (Debian's prometheus,
# on loopback, a temporary configuration and storage directory, stopped by
# its PID) scrapes globaldns every second while queries of every kind go
# through a block that caches and forwards (to NSD) and a serviceentries
# block; then every PromQL query of kube-prometheus-stack's CoreDNS
# dashboard (tests/data/grafana/k8s-coredns.json, origin in the README
# beside it) must return data, its $cluster/$job/$instance variables
# resolved as Grafana does (label_values over coredns_dns_requests_total).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig curl python3 prometheus nsd
plan 29

pick_ports PORT NSD M PP
start_nsd "$NSD" || exit 1
cat >"$T_TMP/Corefile" <<EOF
.:$PORT {
    prometheus 127.0.0.1:$M
    cache 30
    forward . 127.0.0.1:$NSD
}
global:$PORT {
    prometheus 127.0.0.1:$M
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
EOF
start_globaldns gd "$T_TMP/Corefile" || exit 1

cat >"$T_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: coredns
    static_configs:
      - targets: ['127.0.0.1:$M']
EOF
prometheus --config.file="$T_TMP/prometheus.yml" --storage.tsdb.path="$T_TMP/prom-data" \
	--web.listen-address="127.0.0.1:$PP" --log.level=warn >"$T_TMP/prometheus.log" 2>&1 &
PROM_PID=$!
T_PIDS="$T_PIDS $PROM_PID"
API=http://127.0.0.1:$PP/api/v1

# promq EXPR: the number of series the query returns, or "error: ..."
promq() {
	curl -s -m 10 --data-urlencode "query=$1" "$API/query" | python3 -c '
import json, sys
try:
    r = json.load(sys.stdin)
except ValueError:
    print("error: no JSON"); sys.exit()
print(len(r["data"]["result"]) if r.get("status") == "success" else "error: " + r.get("error", "?"))'
}

traffic() {  # every kind the dashboard counts: udp and tcp, types, DO, rcodes, hits
	for _ in 1 2 3; do
		q +short www.example.test A >/dev/null
		q +tcp +short www.example.test AAAA >/dev/null
		q +dnssec +short mail.example.test A >/dev/null
		q +short nothing.example.test A >/dev/null
		q +short httpbin.bar.global A >/dev/null
		q +tcp +short httpbin.bar.global AAAA >/dev/null
		q +short example.test MX >/dev/null
	done
}

wait_until 30 sh -c "[ \"\$(curl -s -m 2 '$API/query?query=up' | grep -c '\"value\":\\[[0-9.]*,\"1\"\\]')\" -ge 1 ]"
is "$(promq 'up{job="coredns"} == 1')" 1 "Prometheus scrapes globaldns (up == 1)"
# rate() over [5m] needs two samples of every series: traffic across scrapes
for _ in 1 2 3 4 5 6; do traffic; sleep 1; done
sleep 2

# Grafana's variables: $cluster is "All" (.*), $job and $instance from label_values
JOB=$(curl -s -m 5 -G --data-urlencode 'match[]=coredns_dns_requests_total{cluster=~".*"}' "$API/label/job/values" \
	| python3 -c 'import json, sys; print("|".join(json.load(sys.stdin)["data"]))')
INSTANCE=$(curl -s -m 5 -G --data-urlencode "match[]=coredns_dns_requests_total{job=~\"$JOB\",cluster=~\".*\"}" "$API/label/instance/values" \
	| python3 -c 'import json, sys; print("|".join(json.load(sys.stdin)["data"]))')
is "$JOB" "coredns" "\$job: label_values(coredns_dns_requests_total, job)"
is "$INSTANCE" "127.0.0.1:$M" "\$instance: label_values(coredns_dns_requests_total{job}, instance)"
is "$(promq 'coredns_dns_requests_total')" "$(promq 'coredns_dns_requests_total{cluster=~".*"}')" "\$cluster (All): matches the series, which have no cluster label"

# every query of every panel, as Grafana sends it
python3 - "$TESTDATA/grafana/k8s-coredns.json" "$JOB" "$INSTANCE" >"$T_TMP/queries" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for p in d["panels"]:
    for t in p.get("targets", []):
        e = t["expr"].replace("$cluster", ".*").replace("$job", sys.argv[2]).replace("$instance", sys.argv[3])
        print(p["title"] + "\t" + " ".join(e.split()))
PY
is "$(wc -l <"$T_TMP/queries")" 24 "the dashboard's 24 queries"
while IFS="$(printf '\t')" read -r title expr; do
	n=$(promq "$expr")
	like "$n" '^[1-9][0-9]*$' "dashboard \"$title\": data ($n series) for: $expr"
done <"$T_TMP/queries"
