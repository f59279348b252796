#!/bin/bash
# peers.sh -- globaldns side by side with NSD, Knot, unbound and dnsmasq
# (issue 12).  Prints one markdown table; asserts nothing; not part of
# make check.
#
# It generates N ServiceEntries (some wildcard hosts *.ext-N.global, some
# with an IPv6 address too) as a manifest for globaldns and the same data
# as a zone for NSD and Knot, local-data for unbound and host-record /
# address lines for dnsmasq; starts every server on 127.0.0.1 (high ports,
# its own files under one temporary directory, not daemonised, as nobody
# when run as root); checks that all answer a sample the same (A, AAAA,
# NODATA, NXDOMAIN, wildcards); then, for each round, drives each one with
# dnsperf:
#   flat out      QPS for DURATION s, and as % of the do-nothing
#                 recvmmsg/sendmmsg responder (tests/bench/nullresp.c)
#                 measured in the same round;
#   fixed rate    RATE queries/s for DURATION s: the server's CPU
#                 microseconds per answered query (utime+stime of all its
#                 threads and processes, /proc/PID/stat) and the p50/p99
#                 latency (dnsperf -v, every answer);
# and reads VmRSS and RssAnon (/proc/PID/status) after the load.  Modes:
#   auth     UDP, authoritative: 90 % A, 5 % AAAA, 5 % NXDOMAIN over the N names
#   forward  UDP, forwarding from a warm cache: globaldns `forward` + `cache`,
#            unbound forward-zone, dnsmasq server=, all to one NSD serving
#            bench.test (up to 4,000 names), the cache warmed first
#   tcp      TCP, pipelined queries on 10 persistent connections: globaldns,
#            NSD, Knot, unbound (dnsmasq forks a process per connection)
# The reported numbers are medians of the rounds.  With 2+ CPUs every
# server is pinned to one CPU and dnsperf to another (taskset).  Runs in a
# private network namespace of its own (unshare -n) when started as root.
#
# Usage: tests/bench/peers.sh [-n N] [-r RATE] [-d SECONDS] [-R ROUNDS]
#                             [-s SERVERS] [-m MODES] [-k]
#   -n N        ServiceEntries (10000)
#   -r RATE     the fixed offered rate, queries/s (40000)
#   -d SECONDS  length of each measurement (3)
#   -R ROUNDS   rounds, medians reported (3)
#   -s LIST     servers, comma-separated, from
#               globaldns,baseline,nsd,knot,unbound,dnsmasq (all there are)
#   -m LIST     modes, from auth,forward,tcp (all)
#   -k          keep the temporary directory (configs, logs, raw results)
# Environment:
#   GLOBALDNS   the binary (default: ./globaldns, else globaldns on PATH)
#   BASELINE    a second globaldns binary, shown as "globaldns (baseline)"
#   NULLRESP    the responder (default: next to GLOBALDNS in tests/bench,
#               else compiled from tests/bench/nullresp.c with cc)
#   PEERS_NETNS=no   stay in the current network namespace
# A server whose program is missing is skipped with a note.  A whole
# default run takes about 7 minutes (8-9 with BASELINE).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

N=10000 RATE=40000 DUR=3 ROUNDS=3 SERVERS="globaldns,baseline,nsd,knot,unbound,dnsmasq" MODES="auth,forward,tcp" KEEP=
while getopts "n:r:d:R:s:m:kh" opt; do
	case $opt in
	n) N=$OPTARG ;;
	r) RATE=$OPTARG ;;
	d) DUR=$OPTARG ;;
	R) ROUNDS=$OPTARG ;;
	s) SERVERS=$OPTARG ;;
	m) MODES=$OPTARG ;;
	k) KEEP=1 ;;
	*) sed -n '2,/^set -u/p' "$SELF" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
for v in N RATE ROUNDS; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: -${v,,}: a positive integer" >&2; exit 2; }
done
[[ $DUR =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: -d: whole seconds" >&2; exit 2; }

# ---- a private network namespace (root only) ----
if [ "${PEERS_NETNS:-}" != no ] && [ "${PEERS_NETNS:-}" != inside ] && [ "$(id -u)" = 0 ] \
	&& command -v unshare >/dev/null && command -v ip >/dev/null; then
	PEERS_NETNS=inside exec unshare -n -- "$SELF" "$@"
fi
[ "${PEERS_NETNS:-}" = inside ] && ip link set lo up

command -v dnsperf >/dev/null || { echo "peers.sh: dnsperf is not installed (apt-get install dnsperf); nothing measured"; exit 0; }
command -v dig >/dev/null || { echo "peers.sh: dig is not installed (apt-get install bind9-dnsutils); nothing measured"; exit 0; }

if [ -z "${GLOBALDNS:-}" ]; then
	if [ -x ./globaldns ]; then GLOBALDNS=$PWD/globaldns; else GLOBALDNS=$(command -v globaldns || true); fi
fi
NOTES=()
note() { NOTES+=("$*"); echo "note: $*" >&2; }

tmp=$(mktemp -d /tmp/peers.XXXXXX)
chmod 755 "$tmp"
declare -A PID PORT LABEL
STARTED=()

# ---- processes: started pinned, stopped by PID ----
tree() {        # PID and its descendants
	local p=$1 c
	echo "$p"
	for c in $(pgrep -P "$p" 2>/dev/null); do tree "$c"; done
}
stop_one() {
	local k=$1 p=${PID[$1]:-} all q
	[ -n "$p" ] || return 0
	all=$(tree "$p")
	kill -TERM "$p" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	for q in $all; do kill -KILL "$q" 2>/dev/null; done
	wait "$p" 2>/dev/null
	PID[$k]=
}
cleanup() {
	for k in "${STARTED[@]}"; do stop_one "$k"; done
	if [ -n "$KEEP" ]; then echo "(kept $tmp)" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CPUS=$(python3 -c 'import os; print(" ".join(map(str, sorted(os.sched_getaffinity(0)))))')
read -r -a CPUL <<<"$CPUS"
if [ "${#CPUL[@]}" -ge 2 ]; then
	SRV_PIN=(taskset -c "${CPUL[0]}") LOAD_PIN=(taskset -c "${CPUL[1]}")
	PINNING="servers on CPU ${CPUL[0]}, dnsperf on CPU ${CPUL[1]}"
else
	SRV_PIN=() LOAD_PIN=()
	PINNING="one CPU: servers and dnsperf share it (not pinned)"
fi
RUNAS=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	RUNAS=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
CLK=$(getconf CLK_TCK)

free_port() {   # a port free for both TCP and UDP (20 tries)
	for _ in $(seq 20); do
		python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(("127.0.0.1",s.getsockname()[1])); print(s.getsockname()[1])' 2>/dev/null && return
	done
	echo "peers.sh: no free port on 127.0.0.1" >&2
	exit 1
}
# start KEY LABEL PIN(srv|load) CMD...: runs CMD in the background as nobody
start() {
	local k=$1 l=$2 pin=$3
	shift 3
	if [ "$pin" = srv ]; then
		"${SRV_PIN[@]}" "${RUNAS[@]}" "$@" >"$tmp/$k.log" 2>&1 &
	else
		"${LOAD_PIN[@]}" "${RUNAS[@]}" "$@" >"$tmp/$k.log" 2>&1 &
	fi
	PID[$k]=$! LABEL[$k]=$l
	STARTED+=("$k")
}
# ready KEY NAME: bounded wait (30 s: 100k names take a while) for an
# answer other than SERVFAIL
ready() {
	local k=$1 name=$2 out end=$((SECONDS + 30))
	while [ "$SECONDS" -lt "$end" ]; do
		kill -0 "${PID[$k]}" 2>/dev/null || break
		out=$(dig @127.0.0.1 -p "${PORT[$k]}" +tries=1 +time=1 "$name" A 2>/dev/null)
		if [[ $out == *"status: NOERROR"* || $out == *"status: NXDOMAIN"* ]]; then return 0; fi
		sleep 0.1
	done
	note "${LABEL[$k]} did not start (log: $(tail -n 3 "$tmp/$k.log" | tr '\n' ' '))"
	stop_one "$k"
	return 1
}
cpu_ticks() {   # utime+stime of a process tree, in clock ticks
	local t=0 p line rest f
	for p in $(tree "$1"); do
		read -r line <"/proc/$p/stat" 2>/dev/null || continue
		rest=${line##*) }
		read -r -a f <<<"$rest"
		t=$((t + f[11] + f[12]))
	done
	echo "$t"
}
mem_kib() {     # "VmRSS RssAnon PROCS PSS" summed over a process tree, KiB
	local r=0 a=0 n=0 s=0 p
	for p in $(tree "$1"); do
		[ -r "/proc/$p/status" ] || continue
		r=$((r + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")))
		a=$((a + $(awk '/^RssAnon:/ {print $2}' "/proc/$p/status")))
		s=$((s + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
		n=$((n + 1))
	done
	echo "$r $a $n $s"
}
record() { echo "$3" >>"$tmp/res/$1.$2"; }   # record MODE.KEY METRIC VALUE
median() {
	[ -s "$tmp/res/$1" ] || { echo ""; return; }
	sort -g "$tmp/res/$1" | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'
}
mkdir -p "$tmp/res" "$tmp/z" "$tmp/run"

# ---- the data ----
FN=$((N < 4000 ? N : 4000))
python3 - "$tmp" "$N" "$FN" <<'PY' || { echo "peers.sh: generating the data failed"; exit 1; }
import random, sys
d, n, fn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(12)
ents = []          # (host, [v4], [v6], wildcard)
for i in range(n):
    v4 = "10.%d.%d.%d" % ((i >> 16) & 255, (i >> 8) & 255, i & 255)
    v6 = "fd00:12::%x" % i if i % 10 == 3 else None
    if i % 100 == 99:
        ents.append(("*.ext-%d.global" % i, [v4], [v6] if v6 else [], True))
    else:
        ents.append(("svc-%d.ns%d.global" % (i, i % 50), [v4], [v6] if v6 else [], False))
plain = [e for e in ents if not e[3]]
dual = [e for e in plain if e[2]] or plain
wild = [e for e in ents if e[3]]

with open(d + "/se.yaml", "w") as f:
    for i, (h, a4, a6, w) in enumerate(ents):
        f.write("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                "metadata: {name: se-%d, namespace: ns%d}\nspec:\n  hosts: ['%s']\n"
                "  addresses: [%s]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n"
                "  resolution: STATIC\n  location: MESH_INTERNAL\n" % (i, i % 50, h, ", ".join(a4 + a6)))
soa = "ns.dns.global. hostmaster.global. 1 7200 1800 86400 30"
with open(d + "/z/global.zone", "w") as f:
    f.write("$ORIGIN global.\n$TTL 30\n@ IN SOA %s\n@ IN NS ns.dns.global.\nns.dns IN A 127.0.0.1\n" % soa)
    for h, a4, a6, w in ents:
        for a in a4: f.write("%s. IN A %s\n" % (h, a))
        for a in a6: f.write("%s. IN AAAA %s\n" % (h, a))
with open(d + "/unbound-local.conf", "w") as f:
    f.write('local-zone: "global." static\nlocal-data: "global. 30 IN SOA %s"\n' % soa)
    f.write('local-data: "global. 30 IN NS ns.dns.global."\nlocal-data: "ns.dns.global. 30 IN A 127.0.0.1"\n')
    for h, a4, a6, w in ents:
        if w:      # unbound has no wildcards in local-data: a redirect zone (its apex answers too)
            h = h[2:]
            f.write('local-zone: "%s." redirect\n' % h)
        for a in a4: f.write('local-data: "%s. 30 IN A %s"\n' % (h, a))
        for a in a6: f.write('local-data: "%s. 30 IN AAAA %s"\n' % (h, a))
with open(d + "/dnsmasq-hosts.conf", "w") as f:
    f.write("local=/global/\n")
    for h, a4, a6, w in ents:
        if w:      # address=/d/ answers d and every name below it
            for a in a4 + a6: f.write("address=/%s/%s\n" % (h[2:], a))
        else:
            f.write("host-record=%s,%s\n" % (h, ",".join(a4 + a6)))

# the load: 90 % A, 5 % AAAA, 5 % NXDOMAIN
with open(d + "/q-auth.txt", "w") as f:
    for k in range(20000):
        x = rnd.random()
        if x < 0.90: f.write("%s A\n" % rnd.choice(plain)[0])
        elif x < 0.95: f.write("%s AAAA\n" % rnd.choice(dual)[0])
        else: f.write("nx-%d.ns%d.global A\n" % (rnd.randrange(10 ** 6), rnd.randrange(50)))

# the sample every server must answer alike: NAME TYPE KIND EXPECTED
def exp(rc, addrs=()):
    return rc + " " + (",".join(sorted(addrs)) or "-")
with open(d + "/sample-auth.txt", "w") as f:
    for e in rnd.sample(plain, min(6, len(plain))):
        f.write("%s A plain %s\n" % (e[0], exp("NOERROR", e[1])))
    for e in rnd.sample(dual, min(2, len(dual))):
        f.write("%s AAAA plain %s\n" % (e[0], exp("NOERROR", e[2])))
    v4only = [e for e in plain if not e[2]]
    if v4only:
        e = v4only[0]
        f.write("%s AAAA plain %s\n" % (e[0], exp("NOERROR")))
        f.write("%s A plain %s\n" % (e[0].upper(), exp("NOERROR", e[1])))
    f.write("nx-1.ns1.global A plain %s\n" % exp("NXDOMAIN"))
    f.write("nothing.here.global AAAA plain %s\n" % exp("NXDOMAIN"))
    for e in wild[:2]:
        base = e[0][2:]
        f.write("foo.%s A wildcard %s\n" % (base, exp("NOERROR", e[1])))
        f.write("a.b.%s A wildcard %s\n" % (base, exp("NOERROR", e[1])))
        f.write("%s A wildcard %s\n" % (base, exp("NOERROR")))

# the forwarding upstream: bench.test, fn names, long TTLs
with open(d + "/z/bench.test.zone", "w") as f:
    f.write("$ORIGIN bench.test.\n$TTL 86400\n@ IN SOA ns.bench.test. hostmaster.bench.test. 1 7200 1800 864000 86400\n"
            "@ IN NS ns.bench.test.\nns IN A 127.0.0.1\n")
    for i in range(fn):
        f.write("h-%d IN A 10.200.%d.%d\n" % (i, (i >> 8) & 255, i & 255))
        if i % 10 == 3:
            f.write("h-%d IN AAAA fd00:200::%x\n" % (i, i))
with open(d + "/q-forward.txt", "w") as f, open(d + "/q-warm.txt", "w") as w:
    for i in range(fn):
        w.write("h-%d.bench.test A\n" % i)
        if i % 10 == 3:
            w.write("h-%d.bench.test AAAA\n" % i)
    for k in range(200):
        w.write("nx-%d.bench.test A\n" % k)
    duals = [i for i in range(fn) if i % 10 == 3] or [0]
    for k in range(20000):
        x = rnd.random()
        if x < 0.90: f.write("h-%d.bench.test A\n" % rnd.randrange(fn))
        elif x < 0.95: f.write("h-%d.bench.test AAAA\n" % rnd.choice(duals))
        else: f.write("nx-%d.bench.test A\n" % rnd.randrange(200))
with open(d + "/sample-forward.txt", "w") as f:
    for i in (0, 3, fn - 1):
        f.write("h-%d.bench.test A plain %s\n" % (i, exp("NOERROR", ["10.200.%d.%d" % ((i >> 8) & 255, i & 255)])))
    f.write("h-3.bench.test AAAA plain %s\n" % exp("NOERROR", ["fd00:200::3"]))
    f.write("h-0.bench.test AAAA plain %s\n" % exp("NOERROR"))
    f.write("nx-1.bench.test A plain %s\n" % exp("NXDOMAIN"))
PY
chmod -R a+rX "$tmp"
chown -R 65534:65534 "$tmp/run" 2>/dev/null

# ---- which servers ----
want() { [[ ",$SERVERS," == *",$1,"* ]]; }
mode() { [[ ",$MODES," == *",$1,"* ]]; }
have() {        # have SERVER PROGRAM: the program is there, or a note
	command -v "$2" >/dev/null 2>&1 && return 0
	note "$1 skipped: $2 is not installed"
	return 1
}
bin_ok() {      # a globaldns binary nobody can run: copied into $tmp
	local src=$1 dst=$tmp/bin/$2
	[ -x "$src" ] || { note "$2 skipped: no binary at '$src'"; return 1; }
	mkdir -p "$tmp/bin" && cp "$src" "$dst" && chmod 755 "$tmp/bin" "$dst"
}
GD=() GDL=()
if want globaldns; then bin_ok "$GLOBALDNS" globaldns && { GD+=(gd); GDL+=(globaldns); }; fi
if want baseline && [ -n "${BASELINE:-}" ]; then bin_ok "$BASELINE" baseline && { GD+=(gdb); GDL+=("globaldns (baseline)"); }; fi

if [ -z "${NULLRESP:-}" ] && [ -n "${GLOBALDNS:-}" ] && [ -x "$(dirname "$GLOBALDNS")/tests/bench/nullresp" ]; then
	NULLRESP=$(dirname "$GLOBALDNS")/tests/bench/nullresp
fi
if [ -z "${NULLRESP:-}" ] || [ ! -x "$NULLRESP" ]; then
	NULLRESP=$tmp/bin/nullresp
	mkdir -p "$tmp/bin"
	cc -O2 -o "$NULLRESP" "$TOP/tests/bench/nullresp.c" 2>"$tmp/nullresp-cc.log" || { note "the responder did not build (cc): no % column"; NULLRESP=; }
fi

# ---- configs and starts ----
R=$tmp/run
if [ -n "$NULLRESP" ]; then
	PORT[resp]=$(free_port)
	start resp "do-nothing responder" srv "$NULLRESP" 127.0.0.1 "${PORT[resp]}"
	ready resp x.global || NULLRESP=
fi
AUTH=() FWD=() TCPS=()
for i in "${!GD[@]}"; do
	k=${GD[$i]} l=${GDL[$i]}
	if mode auth || mode tcp; then
		PORT[$k]=$(free_port)
		printf 'global:%s {\n  serviceentries {\n    file %s\n  }\n}\n' "${PORT[$k]}" "$tmp/se.yaml" >"$R/$k.Corefile"
		start "$k" "$l" srv "$tmp/bin/$( [ "$k" = gd ] && echo globaldns || echo baseline)" -conf "$R/$k.Corefile" -quiet
		ready "$k" svc-0.ns0.global && AUTH+=("$k") && TCPS+=("$k")
	fi
done
nsd_conf() {    # nsd_conf NAME PORT ZONE...
	local n=$1 p=$2 z
	shift 2
	{
		printf 'server:\n  ip-address: 127.0.0.1@%s\n  username: ""\n  chroot: ""\n  zonesdir: "%s"\n' "$p" "$tmp/z"
		printf '  pidfile: "%s/%s.pid"\n  database: ""\n  xfrdfile: "%s/%s.xfrd"\n' "$R" "$n" "$R" "$n"
		printf '  zonelistfile: "%s/%s.zonelist"\n  logfile: "%s/%s-own.log"\n' "$R" "$n" "$R" "$n"
		printf '  server-count: 1\n  rrl-ratelimit: 0\n  reuseport: no\n  tcp-count: 256\n  verbosity: 0\n'
		printf 'remote-control:\n  control-enable: no\n'
		for z in "$@"; do printf 'zone:\n  name: %s\n  zonefile: %s.zone\n' "$z" "$z"; done
	} >"$R/$n.conf"
}
if { mode auth || mode tcp; } && want nsd && have NSD nsd; then
	PORT[nsd]=$(free_port)
	nsd_conf nsd "${PORT[nsd]}" global
	start nsd "NSD" srv nsd -d -c "$R/nsd.conf"
	ready nsd svc-0.ns0.global && AUTH+=(nsd) && TCPS+=(nsd)
fi
if { mode auth || mode tcp; } && want knot && have Knot knotd; then
	PORT[knot]=$(free_port)
	mkdir -p "$R/knot-run" "$R/knot-db" && chown 65534:65534 "$R/knot-run" "$R/knot-db" 2>/dev/null
	cat >"$R/knot.conf" <<EOF
server:
  listen: 127.0.0.1@${PORT[knot]}
  rundir: $R/knot-run
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
log:
  - target: $R/knot-own.log
    any: warning
database:
  storage: $R/knot-db
template:
  - id: default
    storage: $tmp/z
    journal-content: none
    zonefile-sync: -1
    semantic-checks: off
zone:
  - domain: global
    file: global.zone
EOF
	start knot "Knot" srv knotd -c "$R/knot.conf"
	ready knot svc-0.ns0.global && AUTH+=(knot) && TCPS+=(knot)
fi
unbound_conf() {        # unbound_conf NAME PORT EXTRA
	cat >"$R/$1.conf" <<EOF
server:
  interface: 127.0.0.1@$2
  port: $2
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$R"
  pidfile: "$R/$1.pid"
  use-syslog: no
  logfile: ""
  verbosity: 0
  num-threads: 1
  so-reuseport: no
  do-ip6: no
  module-config: "iterator"
  local-zone: "test." nodefault
  incoming-num-tcp: 100
  access-control: 127.0.0.0/8 allow
$3
remote-control:
  control-enable: no
EOF
}
if { mode auth || mode tcp; } && want unbound && have unbound unbound; then
	PORT[unb]=$(free_port)
	unbound_conf unb "${PORT[unb]}" "  include: \"$tmp/unbound-local.conf\""
	start unb "unbound (local-data)" srv unbound -d -c "$R/unb.conf"
	ready unb svc-0.ns0.global && AUTH+=(unb) && TCPS+=(unb)
fi
dnsmasq_args() {        # dnsmasq_args PORT: the common flags
	echo "--keep-in-foreground --conf-file=/dev/null --port=$1 --listen-address=127.0.0.1 --bind-interfaces"
	echo "--no-resolv --no-hosts --cache-size=10000 --pid-file= --log-facility=-"
}
if mode auth && want dnsmasq && have dnsmasq dnsmasq; then
	PORT[dm]=$(free_port)
	# shellcheck disable=SC2046
	start dm "dnsmasq" srv dnsmasq $(dnsmasq_args "${PORT[dm]}") --conf-file="$tmp/dnsmasq-hosts.conf"
	ready dm svc-0.ns0.global && AUTH+=(dm)
fi
if mode forward; then
	if command -v nsd >/dev/null; then
		PORT[up]=$(free_port)
		nsd_conf up "${PORT[up]}" bench.test
		start up "upstream NSD" load nsd -d -c "$R/up.conf"
		ready up h-0.bench.test || note "forwarding skipped: the upstream NSD did not start"
	else
		note "forwarding skipped: it needs NSD as the upstream"
	fi
	if [ -n "${PID[up]:-}" ]; then
		for i in "${!GD[@]}"; do
			k=${GD[$i]}f
			PORT[$k]=$(free_port)
			printf '.:%s {\n  cache\n  forward . 127.0.0.1:%s\n}\n' "${PORT[$k]}" "${PORT[up]}" >"$R/$k.Corefile"
			start "$k" "${GDL[$i]} forwarding" srv "$tmp/bin/$( [ "${GD[$i]}" = gd ] && echo globaldns || echo baseline)" \
				-conf "$R/$k.Corefile" -quiet
			ready "$k" h-0.bench.test && FWD+=("$k")
		done
		if want unbound && command -v unbound >/dev/null; then
			PORT[unbf]=$(free_port)
			unbound_conf unbf "${PORT[unbf]}" "  do-not-query-localhost: no
forward-zone:
  name: \".\"
  forward-addr: 127.0.0.1@${PORT[up]}"
			start unbf "unbound forwarding" srv unbound -d -c "$R/unbf.conf"
			ready unbf h-0.bench.test && FWD+=(unbf)
		fi
		if want dnsmasq && command -v dnsmasq >/dev/null; then
			PORT[dmf]=$(free_port)
			# shellcheck disable=SC2046
			start dmf "dnsmasq forwarding" srv dnsmasq $(dnsmasq_args "${PORT[dmf]}") \
				--server="127.0.0.1#${PORT[up]}" --dns-forward-max=1000
			ready dmf h-0.bench.test && FWD+=(dmf)
		fi
	fi
fi
mode auth || AUTH=()
mode tcp || TCPS=()

# ---- the sample: all must answer alike ----
answer() {      # answer KEY NAME TYPE [+tcp]: "RCODE addr,addr" (sorted)
	local out rc addrs
	out=$(dig @127.0.0.1 -p "${PORT[$1]}" +tries=2 +time=2 +noall +comments +answer ${4:-} "$2" "$3" 2>/dev/null)
	rc=$(sed -n 's/.*status: \([A-Z]*\).*/\1/p' <<<"$out" | head -n 1)
	addrs=$(awk '$4 == "A" || $4 == "AAAA" {print $5}' <<<"$out" | sort | paste -sd, -)
	echo "${rc:-TIMEOUT} ${addrs:--}"
}
MISMATCH=0
check() {       # check SAMPLEFILE KEYS...
	local sf=$1 k name type kind want got
	shift
	while read -r name type kind want; do
		for k in "$@"; do
			got=$(answer "$k" "$name" "$type")
			[ "$got" = "$want" ] && continue
			if [ "$kind" = plain ]; then
				echo "MISMATCH ${LABEL[$k]}: $name $type: got $got, want $want"
				MISMATCH=$((MISMATCH + 1))
			else
				echo "differs  ${LABEL[$k]}: $name $type ($kind): got $got, want $want"
			fi
		done
	done <"$sf"
}
echo "== sample check (each server against the generated data) =="
[ "${#AUTH[@]}" -gt 0 ] && check "$tmp/sample-auth.txt" "${AUTH[@]}"
[ "${#TCPS[@]}" -gt 0 ] && while read -r name type kind want; do
	for k in "${TCPS[@]}"; do
		got=$(answer "$k" "$name" "$type" +tcp)
		[ "$got" = "$want" ] || [ "$kind" != plain ] \
			|| { echo "MISMATCH ${LABEL[$k]} (TCP): $name $type: got $got, want $want"; MISMATCH=$((MISMATCH + 1)); }
	done
done < <(head -n 4 "$tmp/sample-auth.txt")
if [ "${#FWD[@]}" -gt 0 ]; then
	for k in "${FWD[@]}"; do   # warm: every name once, then again
		"${LOAD_PIN[@]}" dnsperf -s 127.0.0.1 -p "${PORT[$k]}" -d "$tmp/q-warm.txt" -n 2 -Q 20000 -c 4 -q 200 \
			>"$tmp/res/warm.$k" 2>&1
	done
	check "$tmp/sample-forward.txt" "${FWD[@]}"
fi
[ "$MISMATCH" = 0 ] && echo "all plain names answered alike (rcode and addresses)"

# ---- measurements ----
# dperf KEY QFILE PROTO ARGS...: dnsperf pinned to the load CPU.  UDP from
# 20 sockets; TCP on 10 connections (with 20 opened at once Knot 3.2 left
# some unanswered until the 1 s SYN retry, which cost a 3 s run a third).
dperf() {
	local k=$1 q=$2 proto=$3
	shift 3
	"${LOAD_PIN[@]}" dnsperf -s 127.0.0.1 -p "${PORT[$k]}" -m "$proto" -d "$q" -l "$DUR" -t 1 -c "$([ "$proto" = tcp ] && echo 10 || echo 20)" "$@"
}
field() { sed -n "s/.*$1 *\([0-9.]*\).*/\1/p" | head -n 1; }
flat() {        # flat MODE KEY QFILE PROTO
	local out qps
	out=$(dperf "$2" "$3" "$4" -q 500 2>&1)
	qps=$(field "Queries per second:" <<<"$out")
	LAST_QPS=$qps
	[ -n "$qps" ] && record "$1" "$2.qps" "$qps"
	echo "$out" >"$tmp/res/last-flat.$1.$2"
}
fixed() {       # fixed MODE KEY QFILE PROTO
	local k=$2 t0 t1 done_ lat
	local cs
	t0=$(cpu_ticks "${PID[$k]}")
	# `times` in the subshell: its children's CPU, i.e. dnsperf's
	cs=$( { dperf "$k" "$3" "$4" -q 1000 -Q "$RATE" -v >"$tmp/res/fixed.out" 2>&1; times; } \
		| awk 'NR == 2 {s = 0; for (i = 1; i <= NF; i++) {split($i, a, "m"); s += a[1] * 60 + a[2]} print s}')
	t1=$(cpu_ticks "${PID[$k]}")
	done_=$(field "Queries completed:" <"$tmp/res/fixed.out")
	[ -n "$done_" ] && [ "$done_" -gt 0 ] || return
	record "$1" "$k.us" "$(awk -v t=$((t1 - t0)) -v c="$CLK" -v n="$done_" 'BEGIN {printf "%.2f", t * 1e6 / c / n}')"
	[ -n "$cs" ] && record "$1" "$k.cus" "$(awk -v s="$cs" -v n="$done_" 'BEGIN {printf "%.2f", s * 1e6 / n}')" \
		&& record "$1" "$k.sum" "$(awk -v t=$((t1 - t0)) -v c="$CLK" -v s="$cs" -v n="$done_" 'BEGIN {printf "%.2f", (t / c + s) * 1e6 / n}')"
	record "$1" "$k.cpu" "$(awk -v t=$((t1 - t0)) -v c="$CLK" -v d="$DUR" 'BEGIN {printf "%.1f", t * 100 / c / d}')"
	record "$1" "$k.rate" "$(field "Queries per second:" <"$tmp/res/fixed.out")"
	lat=$(awk '/^> / && $NF ~ /^[0-9.]+$/ {print $NF * 1000}' "$tmp/res/fixed.out" | sort -g \
		| awk '{v[NR]=$1} END {if (NR) printf "%s %s", v[int(NR*0.5)+1], v[int(NR*0.99)+1]}')
	[ -n "$lat" ] && record "$1" "$k.p50" "${lat% *}" && record "$1" "$k.p99" "${lat#* }"
	record "$1" "$k.lost" "$(field "Queries lost:" <"$tmp/res/fixed.out")"
}
memory() {      # memory MODE KEY: after the load
	local m
	m=$(mem_kib "${PID[$2]}")
	set -- "$1" "$2" $m
	echo "$3" >"$tmp/res/$1.$2.rss"
	echo "$4" >"$tmp/res/$1.$2.anon"
	echo "$5" >"$tmp/res/$1.$2.procs"
	echo "$6" >"$tmp/res/$1.$2.pss"
}
alive() { [ -n "${PID[$1]:-}" ] && kill -0 "${PID[$1]}" 2>/dev/null; }

T0=$(date +%s) LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
	echo "== round $r/$ROUNDS ($(($(date +%s) - T0)) s) =="
	for m in auth forward tcp; do
		mode "$m" || continue
		case $m in
		auth) keys=("${AUTH[@]}") q=$tmp/q-auth.txt proto=udp ;;
		forward) keys=("${FWD[@]}") q=$tmp/q-forward.txt proto=udp ;;
		tcp) keys=("${TCPS[@]}") q=$tmp/q-auth.txt proto=tcp ;;
		esac
		[ "${#keys[@]}" -gt 0 ] || continue
		for k in "${keys[@]}"; do
			alive "$k" || continue
			t=$(date +%s.%N) rq=
			# the responder right before each server: the machine is the
			# same for both, whatever else it is doing
			if [ -n "$NULLRESP" ] && alive resp; then flat "$m" resp "$q" "$proto"; rq=$LAST_QPS; fi
			flat "$m" "$k" "$q" "$proto"
			[ -n "$rq" ] && [ -n "$LAST_QPS" ] \
				&& record "$m" "$k.pct" "$(awk -v a="$LAST_QPS" -v b="$rq" 'BEGIN {printf "%.1f", a * 100 / b}')"
			fixed "$m" "$k" "$q" "$proto"
			echo "  $m ${LABEL[$k]}: $(median "$m.$k.qps" | cut -d. -f1) QPS flat out, $(median "$m.$k.us") us/query ($(awk -v t="$t" -v n="$(date +%s.%N)" 'BEGIN {printf "%.1f", n - t}') s)" >&2
			[ "$r" = "$ROUNDS" ] && memory "$m" "$k"
		done
		[ "$r" = "$ROUNDS" ] && [ -n "$NULLRESP" ] && alive resp && memory "$m" resp
	done
done
if [ -n "${PID[up]:-}" ]; then
	echo "(upstream NSD CPU over the whole run, warming included: $(( $(cpu_ticks "${PID[up]}") * 1000 / CLK )) ms)"
fi

# ---- the table ----
mib() { [ -s "$tmp/res/$1" ] && awk '{printf "%.1f", $1 / 1024}' "$tmp/res/$1"; }
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
ver() { "$@" 2>&1 | head -n 1 | grep -o '[0-9][0-9.]*[0-9]' | head -n 1; }
echo
echo "### Peers, $(date -u +%F), N=$N ServiceEntries"
echo
echo "Machine: ${cpu_model:-unknown CPU}, $(nproc --all) CPUs ($(nproc) usable), Linux $(uname -r), load average at the start $LOAD0, at the end $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Pinning: $PINNING. Each measurement ${DUR} s, medians of $ROUNDS rounds; fixed rate $RATE queries/s; dnsperf $(dnsperf -h 2>&1 | sed -n 's/^Version //p'), 20 UDP sockets, 10 TCP connections."
printf 'Versions: globaldns %s' "$( [ -n "${GD[0]:-}" ] && "$tmp/bin/$( [ "${GD[0]}" = gd ] && echo globaldns || echo baseline)" -version 2>&1 | head -n 1)"
[ -n "${BASELINE:-}" ] && [ -x "$tmp/bin/baseline" ] && printf ', baseline %s' "$("$tmp/bin/baseline" -version 2>&1 | head -n 1)"
command -v nsd >/dev/null && printf ', NSD %s' "$(ver nsd -v)"
command -v knotd >/dev/null && printf ', Knot %s' "$(ver knotd -V)"
command -v unbound >/dev/null && printf ', unbound %s' "$(ver unbound -V)"
command -v dnsmasq >/dev/null && printf ', dnsmasq %s' "$(ver dnsmasq -v)"
echo "."
echo
echo "| mode | server | flat out kQPS | % of responder | CPU µs/query at $RATE/s | CPU % | dnsperf µs/query | server + dnsperf | p50 / p99 ms | VmRSS MiB | RssAnon MiB |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
row() {         # row MODE MODELABEL KEY
	local m=$1 ml=$2 k=$3 qps pct us cpu cus sum p50 p99 rate lbl rss anon procs
	qps=$(median "$m.$k.qps")
	[ -n "$qps" ] || return 0
	pct=$(median "$m.$k.pct")
	[ "$k" = resp ] && pct=100
	[ -n "$pct" ] && pct=$(awk -v p="$pct" 'BEGIN {printf "%.0f %%", p}')
	us=$(median "$m.$k.us") cpu=$(median "$m.$k.cpu") p50=$(median "$m.$k.p50") p99=$(median "$m.$k.p99")
	cus=$(median "$m.$k.cus") sum=$(median "$m.$k.sum")
	rate=$(median "$m.$k.rate")
	lbl=${LABEL[$k]}
	[ "$k" = resp ] && { lbl="do-nothing responder"; us=; }
	if [ -n "$rate" ] && awk -v r="$rate" -v o="$RATE" 'BEGIN {exit !(r < o * 0.97)}'; then
		us="$us (answered $(awk -v r="$rate" 'BEGIN {printf "%.0f", r / 1000}')k/s)"
	fi
	rss=$(mib "$m.$k.rss") anon=$(mib "$m.$k.anon") procs=$(cat "$tmp/res/$m.$k.procs" 2>/dev/null)
	[ "${procs:-1}" -gt 1 ] && rss="$rss ($procs processes; PSS $(mib "$m.$k.pss"))"
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$ml" "$lbl" \
		"$(awk -v a="$qps" 'BEGIN {printf "%.1f", a / 1000}')" "${pct:-–}" "${us:-–}" "${cpu:-–}" "${cus:-–}" "${sum:-–}" \
		"$( [ -n "$p99" ] && echo "$p50 / $p99" || echo –)" "${rss:-–}" "${anon:-–}"
}
for m in auth forward tcp; do
	mode "$m" || continue
	case $m in
	auth) ml="UDP auth" keys=("${AUTH[@]}") ;;
	forward) ml="UDP forward, warm cache" keys=("${FWD[@]}") ;;
	tcp) ml="TCP auth, pipelined" keys=("${TCPS[@]}") ;;
	esac
	[ "${#keys[@]}" -gt 0 ] || continue
	row "$m" "$ml" resp
	for k in "${keys[@]}"; do row "$m" "$ml" "$k"; done
done
echo
echo "% of responder: the median over the rounds of the server's flat-out QPS over the do-nothing responder's, measured just before it."
echo "CPU µs/query: utime+stime of all the server's threads and processes over the fixed-rate run, per answered query."
echo "dnsperf µs/query: the load generator's own utime+stime over that run (it prints every answer, -v), per answered query;"
echo "server + dnsperf: the two together. Over loopback the sender pays for waking the receiver, so a server that answers"
echo "at once while the client sleeps is charged wake-ups a slower one leaves to the client: the sum shows what a query costs the machine."
echo "Latency: every answer of the fixed-rate run (dnsperf -v). RSS: after the load, summed over the server's processes"
echo "(NSD forks: the zone is shared copy-on-write, so its sum counts it more than once; PSS shares it out)."
echo "A fixed-rate cell marked \"answered Nk/s\" fell short of the offered rate: the server could not keep up."
[ "$MISMATCH" = 0 ] || echo "**$MISMATCH answers of plain names differed from the data (see above).**"
for n in "${NOTES[@]}"; do echo "Note: $n"; done
echo "(whole run $(($(date +%s) - T0)) s after start-up)"
