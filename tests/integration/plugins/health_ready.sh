#!/bin/bash
# health_ready.sh -- `health` and `ready` (issue 5 items 1 and 8): /health
# answers 200 OK while the process runs; /ready answers 503 naming what is
# not ready until the source has loaded, then 200; both are process-wide
# (two blocks naming one address share its listener); unknown paths 404,
# other methods 405; a bad address names FILE:LINE.
. "$(dirname "$0")/../lib.sh"
need dig curl python3

pick_ports PORT P2 H R
SE=$T_TMP/se.yaml
plan 17

cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
    health 127.0.0.1:$H
    ready 127.0.0.1:$R
    serviceentries {
        file $SE
    }
}
other.global:$P2 {
    health 127.0.0.1:$H
    ready 127.0.0.1:$R
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
EOF

# http URL [curl args]: "CODE BODY" (body on one line)
http() {
	local out
	out=$(curl -s -m 2 -w '\n%{http_code}' "$@" 2>/dev/null) || { echo "000"; return; }
	printf '%s %s' "$(printf '%s' "$out" | tail -n 1)" "$(printf '%s' "$out" | sed '$d' | tr '\n' ' ' | sed 's/ *$//')"
}

start_globaldns hr "$T_TMP/Corefile" || exit 1
is "$(http "http://127.0.0.1:$H/health")" "200 OK" "/health: 200 OK while the process runs"
got=$(http "http://127.0.0.1:$R/ready")
like "$got" "^503 " "/ready: 503 before the manifest exists"
like "$got" "serviceentries global\.: .*se\.yaml" "/ready's 503 body names the block and the failing file"
is "$(rcode httpbin.bar.global A)" SERVFAIL "the zone answers SERVFAIL until the first load"
ctype=$(curl -s -m 2 -o /dev/null -w '%{content_type}' "http://127.0.0.1:$H/health")
like "$ctype" "^text/plain" "/health is text/plain"

cat >"$SE.tmp" <<EOF
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: httpbin, namespace: bar}
spec:
  hosts: [httpbin.bar.global]
  resolution: STATIC
  addresses: [240.0.0.2]
EOF
mv "$SE.tmp" "$SE"
ready_ok() { [ "$(http "http://127.0.0.1:$R/ready")" = "200 OK" ]; }
wait_until 10 ready_ok
ok $? "/ready flips to 200 OK once the manifest loads"
is "$(q +short httpbin.bar.global A)" "240.0.0.2" "and the zone answers"
is "$(http "http://127.0.0.1:$H/health")" "200 OK" "/health still 200"

is "$(http "http://127.0.0.1:$H/nope")" "404 404 page not found" "unknown path: 404"
is "$(http -X POST "http://127.0.0.1:$H/health")" "405 method not allowed" "POST /health: 405"
is "$(curl -s -m 2 -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$R/ready")" 200 "HEAD /ready: 200"
is "$(http "http://127.0.0.1:$H/health?x=1")" "200 OK" "a query string is ignored"

# process-wide: one listener per address even though two blocks name it
n=$(python3 - "$H" "$R" <<'PY'
import sys
ports = {int(p) for p in sys.argv[1:]}
n = 0
for path in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(path).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) in ports:
            n += 1
print(n)
PY
)
is "$n" 2 "two blocks naming one health and one ready address: two listening sockets in all"

# a broken manifest later: still ready (the previous registry is served)
echo "kind: [" >"$SE.tmp" && mv "$SE.tmp" "$SE"
sleep 2.5
is "$(http "http://127.0.0.1:$R/ready")" "200 OK" "a broken manifest after the first load keeps /ready 200"
is "$(q +short httpbin.bar.global A)" "240.0.0.2" "and the old answers"

# defaults need no address; a bad one names FILE:LINE
cat >"$T_TMP/Corefile.def" <<EOF
global:$PORT {
    health
    ready
    prometheus
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
EOF
"$GLOBALDNS" -validate -conf "$T_TMP/Corefile.def" >/dev/null 2>&1
ok $? "health, ready and prometheus without an address validate (defaults :8080, :8181, :9153)"
cat >"$T_TMP/Corefile.bad" <<EOF
global:$PORT {
    health 127.0.0.1:99999
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
EOF
out=$("$GLOBALDNS" -validate -conf "$T_TMP/Corefile.bad" 2>&1)
like "$out" "Corefile.bad:2: health: .*port out of range" "a bad health address names FILE:LINE"
