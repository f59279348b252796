# lib_kube.sh -- helpers for tests of the Kubernetes source against the
# fake API server (tests/k8s/fake_apiserver.py).  Source after lib.sh.
#
#   start_fake [ARGS...]     start the fake in $K8S (HTTPS on 127.0.0.1: HTTP/2
#                            through nghttpx unless --http1), wait until ready
#                            (15 s at most); sets FAKE_PID
#   ctl ENDPOINT [JSON]      the control interface (prints the reply)
#   se NS NAME HOST ADDR...  create or replace a STATIC ServiceEntry
#   del NS NAME              delete one
#   fake_log [SINCE]         the request log as "seq kind status fault path" lines
#   a NAME                   the A records (dig +short, sorted, one line)
#   now_ms                   monotonic-ish wall clock in ms
#   wait_a SECS NAME WANT    until `a NAME` is WANT (0.05 s steps)

FAKE=$TOP_SRCDIR/tests/k8s/fake_apiserver.py
K8S=$T_TMP/k8s

need python3 openssl dig curl

start_fake() {
	local log="$T_TMP/fake-${K8S##*/}.log"
	python3 "$FAKE" serve --dir "$K8S" "$@" >"$log" 2>&1 &
	FAKE_PID=$!
	T_PIDS="$T_PIDS $FAKE_PID"
	for _ in $(seq 1 150); do [ -f "$K8S/ready" ] && return 0; sleep 0.1; done
	echo "# the fake API server did not start"; sed 's/^/#   /' "$log"
	return 1
}

# curl, not `fake_apiserver.py ctl`: a python start costs ~0.3 s a call
ctl() {
	local url="http://127.0.0.1:$(cat "$K8S/control_port")/$1"
	case "$1" in
	log*|state) [ $# -lt 2 ] && { curl -sS --max-time 20 "$url"; return; } ;;
	esac
	local body='{}'
	[ $# -ge 2 ] && body=$2
	curl -sS --max-time 20 -X POST -H 'Content-Type: application/json' --data-binary "$body" "$url"
}

se() {
	local ns=$1 name=$2 host=$3; shift 3
	local addrs
	addrs=$(printf '"%s",' "$@"); addrs="[${addrs%,}]"
	ctl entries "{\"metadata\":{\"name\":\"$name\",\"namespace\":\"$ns\"},\"spec\":{\"hosts\":[\"$host\"],\"addresses\":$addrs,\"resolution\":\"STATIC\",\"location\":\"MESH_INTERNAL\"}}" >/dev/null
}

del() { ctl entries/delete "{\"namespace\":\"$1\",\"name\":\"$2\"}" >/dev/null; }

fake_log() {
	ctl log | python3 -c '
import json, signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)
since = int(sys.argv[1]) if len(sys.argv) > 1 else 0
for e in json.load(sys.stdin)["entries"]:
    if e["seq"] >= since:
        print(e["seq"], e["kind"], e["status"], e.get("fault"), e.get("auth"), e["path"])
' "$@"
}

# fake_seq: the next request-log sequence number
fake_seq() {
	ctl log | python3 -c '
import json, sys
es = json.load(sys.stdin)["entries"]
print(es[-1]["seq"] + 1 if es else 0)'
}

a() { q +short "$1" A | sort | tr '\n' ' ' | sed 's/ $//'; }

now_ms() { date +%s%3N; }

wait_a() {
	local t=$1 name=$2 want=$3 n
	n=$((t * 20))
	for _ in $(seq 1 "$n"); do
		[ "$(a "$name")" = "$want" ] && return 0
		sleep 0.05
	done
	return 1
}

wait_rcode() {
	local t=$1 name=$2 want=$3 n
	n=$((t * 20))
	for _ in $(seq 1 "$n"); do
		[ "$(rcode "$name")" = "$want" ] && return 0
		sleep 0.05
	done
	return 1
}

# wait_log SECS REGEX [SINCE]: until the fake's request log has a matching line
wait_log() {
	local t=$1 re=$2 since=${3:-0} n
	n=$((t * 10))
	for _ in $(seq 1 "$n"); do
		fake_log "$since" | grep -Eq -- "$re" && return 0
		sleep 0.1
	done
	return 1
}

# kube_corefile FILE PROPERTIES...: a Corefile serving global on $PORT from
# the API, one property per argument.
kube_corefile() {
	local f=$1; shift
	{
		echo "global:$PORT {"
		echo "    serviceentries {"
		for p in "$@"; do echo "        $p"; done
		echo "    }"
		echo "}"
	} >"$f"
}

# metric_at_least SECS MPORT SAMPLE-PREFIX-REGEX MIN: until the sample's
# value (in whole units) is MIN or more (0.1 s steps); prints the last value
metric_at_least() {
	local t=$1 port=$2 re=$3 min=$4 v=0
	for _ in $(seq 1 $((t * 10))); do
		v=$(curl -sf "http://127.0.0.1:$port/metrics" | sed -n "s/^$re} \([0-9]*\).*/\1/p" | head -1)
		[ "${v:-0}" -ge "$min" ] 2>/dev/null && break
		sleep 0.1
	done
	echo "${v:-0}"
}
