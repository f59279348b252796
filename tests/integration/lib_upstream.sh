# lib_upstream.sh -- upstream servers for the forwarder's and the cache's
# integration tests, on loopback ports: the scripted upstream
# (tests/upstream/upstream.py), NSD serving tests/data/forward/example.test,
# and dnsmasq as a cluster DNS that sends `global` to globaldns.  Source
# after lib.sh.  Everything started is stopped by lib.sh's EXIT trap.

UPSTREAM_PY=$TOP_SRCDIR/tests/upstream/upstream.py

# start_upstream NAME PORT ARGS...: the scripted upstream; it logs every
# query to $T_TMP/NAME.queries.  Waits (5 s at most) until it listens.
start_upstream() {
	local name=$1 port=$2; shift 2
	: >"$T_TMP/$name.queries"
	python3 "$UPSTREAM_PY" --port "$port" --log "$T_TMP/$name.queries" --lifetime 110 "$@" \
		>"$T_TMP/$name.log" 2>&1 &
	T_PIDS="$T_PIDS $!"
	for _ in $(seq 1 50); do
		grep -q ready "$T_TMP/$name.log" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "# upstream $name did not start"; sed 's/^/#   /' "$T_TMP/$name.log"
	return 1
}

# seen NAME QNAME: how many queries for QNAME (case-insensitive, FQDN) the
# scripted upstream NAME received.
seen() { grep -ciF -- " $2 " "$T_TMP/$1.queries"; }

# start_nsd PORT [ZONE ZONEFILE]: NSD serving ZONE (default example.test,
# from tests/data/forward/example.test.zone) on 127.0.0.1:PORT.
start_nsd() {
	local port=$1 dir=$T_TMP/nsd zone=${2:-example.test} zf=${3:-$TESTDATA/forward/example.test.zone}
	mkdir -p "$dir"
	cat >"$dir/nsd.conf" <<NSD
server:
  ip-address: 127.0.0.1@$port
  username: ""
  zonesdir: "$(dirname "$zf")"
  pidfile: "$dir/nsd.pid"
  database: ""
  xfrdfile: "$dir/xfrd.state"
  zonelistfile: "$dir/zone.list"
  logfile: "$dir/nsd.log"
  chroot: ""
  server-count: 1
  verbosity: 1
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: $zone
  zonefile: $(basename "$zf")
NSD
	nsd -d -c "$dir/nsd.conf" >"$T_TMP/nsd.log" 2>&1 &
	T_PIDS="$T_PIDS $!"
	wait_dns "$port" || { echo "# nsd did not start"; sed 's/^/#   /' "$T_TMP/nsd.log" "$dir/nsd.log"; return 1; }
}

# ms COMMAND...: run it, print the elapsed milliseconds.
ms() {
	local t0 t1
	t0=$(date +%s%N)
	"$@" >/dev/null 2>&1
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

# ttl_of ARGS...: the TTL of the first answer record.
ttl_of() { section answer "$@" | awk 'NR == 1 { print $2 }'; }
