# lib.sh -- shared helpers for integration tests: TAP output, free loopback
# ports, starting and stopping the real globaldns binary, dig assertions.
#
# A test script sources this file, calls `plan N` (or `skip_all REASON`),
# runs checks with ok/is/like, and exits through `finish` (called by the
# EXIT trap).  Everything it starts is stopped by the trap; every wait is
# bounded.  Traffic goes to 127.0.0.1 only.
#
# Environment (set by `make check`): GLOBALDNS (the binary), TOP_SRCDIR,
# TESTDATA.

set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/../../.." && pwd)}"
: "${GLOBALDNS:=$TOP_SRCDIR/globaldns}"
: "${TESTDATA:=$TOP_SRCDIR/tests/data}"

T_NUM=0
T_FAIL=0
T_PIDS=""
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/globaldns-test.XXXXXX")

finish() {
	local rc=$?
	for p in $T_PIDS; do kill "$p" 2>/dev/null; done
	for p in $T_PIDS; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	# what a test set up besides processes (network namespaces, chroots):
	# shell commands it appended to T_CLEANUP, run once they are stopped
	[ -n "${T_CLEANUP:-}" ] && eval "$T_CLEANUP" 2>/dev/null
	# Every daemon runs under ASan/UBSan in `make check`: a report in any
	# log fails the script even when every check passed (the report may
	# come from a path no check looked at, or from LeakSanitizer at exit).
	for f in "$T_TMP"/*.log; do
		[ -f "$f" ] || continue
		if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f"; then
			T_NUM=$((T_NUM + 1)); T_FAIL=$((T_FAIL + 1))
			echo "not ok $T_NUM - sanitizer report in $(basename "$f")"
			grep -E -A12 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" | head -n 30 | sed 's/^/#   /'
		fi
	done
	# said here too, so a run by hand shows it as the TAP driver would
	if [ -n "${T_PLAN:-}" ] && [ "$T_NUM" -ne "$T_PLAN" ] && [ "$rc" -eq 0 ]; then
		echo "# planned $T_PLAN tests, ran $T_NUM"
		rc=1
	fi
	if [ "$T_FAIL" -gt 0 ] || [ "$rc" -ne 0 ] || [ "${KEEP_TMP:-}" ]; then
		echo "# logs kept in $T_TMP"
		for f in "$T_TMP"/*.log; do [ -f "$f" ] && { echo "# --- $f"; tail -n 30 "$f" | sed 's/^/#   /'; }; done
	else
		rm -rf "$T_TMP"
	fi
	[ "$T_FAIL" -gt 0 ] && exit 1
	exit "$rc"
}
trap finish EXIT

plan() { T_PLAN=$1; echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; trap - EXIT; rm -rf "$T_TMP"; exit 0; }
need() { for t in "$@"; do command -v "$t" >/dev/null 2>&1 || skip_all "$t not installed"; done; }

ok() {  # ok CONDITION-EXIT-STATUS DESCRIPTION
	T_NUM=$((T_NUM + 1))
	if [ "$1" -eq 0 ]; then echo "ok $T_NUM - $2"
	else echo "not ok $T_NUM - $2"; T_FAIL=$((T_FAIL + 1)); fi
}
is() {  # is GOT EXPECTED DESCRIPTION
	T_NUM=$((T_NUM + 1))
	if [ "$1" = "$2" ]; then echo "ok $T_NUM - $3"
	else
		echo "not ok $T_NUM - $3"; T_FAIL=$((T_FAIL + 1))
		printf '#   got:      %s\n#   expected: %s\n' "$1" "$2" | head -n 40
	fi
}
like() {  # like GOT EXTENDED-REGEX DESCRIPTION
	T_NUM=$((T_NUM + 1))
	if printf '%s' "$1" | grep -Eq -- "$2"; then echo "ok $T_NUM - $3"
	else
		echo "not ok $T_NUM - $3"; T_FAIL=$((T_FAIL + 1))
		printf '#   got: %s\n#   wanted match: %s\n' "$1" "$2" | head -n 40
	fi
}
unlike() {
	T_NUM=$((T_NUM + 1))
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		echo "not ok $T_NUM - $3"; T_FAIL=$((T_FAIL + 1))
		printf '#   got: %s\n#   unwanted match: %s\n' "$1" "$2" | head -n 40
	else echo "ok $T_NUM - $3"; fi
}

# free_port: a port free for both UDP and TCP on 127.0.0.1 (and ::).
# Each test script draws from its own block of 100 ports (chosen by its
# PID), so scripts that `make -j` runs side by side do not pick a port the
# other picked and has not bound yet; below 32768, the kernel's ephemeral
# range, where dig's and curl's own source ports come from.  A port is
# handed out once per script (remembered in $T_TMP/ports.used): a port
# picked for "nobody listens here" must never be one picked, and not yet
# bound, for an upstream started later.
T_PORT_BASE=$((20000 + ($$ % 120) * 100))
free_port() {
	python3 - "$T_PORT_BASE" "$T_TMP/ports.used" <<'PY'
import os, random, socket, sys
base, used_file = int(sys.argv[1]), sys.argv[2]
used = set()
if os.path.exists(used_file):
    with open(used_file) as f:
        used = {int(x) for x in f.read().split()}
for attempt in range(200):
    p = base + random.randint(0, 99) if attempt < 150 else random.randint(20000, 32000)
    if p in used:
        continue
    try:
        for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::")):
            for typ in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(fam, typ)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((addr, p))
                except OSError as e:
                    if fam == socket.AF_INET6 and e.errno in (97, 99):
                        continue
                    raise
                finally:
                    s.close()
        with open(used_file, "a") as f:
            f.write("%d\n" % p)
        print(p)
        break
    except OSError:
        continue
PY
}

# start_globaldns NAME COREFILE-PATH [EXTRA ARGS...]: starts the binary,
# waits (at most 10 s) until it answers on $PORT, sets GD_PID. Logs in
# $T_TMP/NAME.log.  Needs PORT set (the Corefile's port).
start_globaldns() {
	local name=$1 conf=$2; shift 2
	"$GLOBALDNS" -conf "$conf" "$@" >"$T_TMP/$name.log" 2>&1 &
	GD_PID=$!
	T_PIDS="$T_PIDS $GD_PID"
	wait_dns "$PORT" || { echo "# globaldns did not start"; sed 's/^/#   /' "$T_TMP/$name.log"; return 1; }
}

# wait_dns PORT: true once anything answers there over UDP (10 s at most).
wait_dns() {
	for _ in $(seq 1 100); do
		if dig @127.0.0.1 -p "$1" +tries=1 +time=1 +short . SOA >/dev/null 2>&1 \
		   && [ -n "$(dig @127.0.0.1 -p "$1" +tries=1 +time=1 . SOA 2>/dev/null | grep -- '->>HEADER<<-')" ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

stop_pid() {  # stop_pid PID: SIGTERM and wait (5 s at most); returns its exit status
	local p=$1
	kill "$p" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	wait "$p" 2>/dev/null
}

# q ARGS...: dig against the server under test, one try, 2 s timeout.
q() { dig @127.0.0.1 -p "$PORT" +tries=1 +time=2 "$@"; }

# rcode ARGS...: the status of a query (NOERROR, NXDOMAIN, ...).
rcode() { q "$@" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }

# flags ARGS...: the header flags, e.g. "qr aa rd".
flags() { q "$@" | sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p'; }

# section NAME ARGS...: records of one section (answer, authority,
# additional) as "name ttl class type rdata", whitespace-normalised.
section() {
	local s=$1; shift
	q +noall "+$s" "$@" | grep -v '^;' | grep -v '^$' | awk '{$1=$1; print}'
}

# counts ARGS...: "QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1"
counts() { q "$@" | sed -n 's/^;; flags:[^;]*; \(QUERY.*\)$/\1/p'; }

# wait_until SECONDS COMMAND...: poll every 0.1 s until COMMAND succeeds.
wait_until() {
	local t=$1; shift
	local n=$((t * 10))
	for _ in $(seq 1 "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}

# resp ARGS...: one query (dig +norec) summarised for exact comparison: a
# first line "STATUS flags:FLAGS qd:N an:N ns:N ar:N", then one line per
# record of the answer, authority and additional sections, as "an|ns|ar
# NAME TTL CLASS TYPE RDATA" (the OPT pseudo-record is not listed; ar
# counts it).  SOA serials are shown as SERIAL.  "no answer" if none came.
resp() {
	local out
	out=$(q +norec "$@" 2>&1) || { echo "no answer"; return 0; }
	printf '%s\n' "$out" | awk '
		index($0, "->>HEADER<<-") { s = $0; sub(/.*status: /, "", s); sub(/,.*/, "", s) }
		/^;; flags:/ {
			f = $0; sub(/^;; flags: */, "", f); sub(/;.*/, "", f)
			n = $0; sub(/^;; flags:[^;]*; /, "", n)
			sub(/QUERY: /, "qd:", n); sub(/ANSWER: /, "an:", n)
			sub(/AUTHORITY: /, "ns:", n); sub(/ADDITIONAL: /, "ar:", n)
			gsub(/,/, "", n)
		}
		/^;; ANSWER SECTION:/ { sec = "an"; next }
		/^;; AUTHORITY SECTION:/ { sec = "ns"; next }
		/^;; ADDITIONAL SECTION:/ { sec = "ar"; next }
		/^$/ { sec = ""; next }
		/^;/ { next }
		sec != "" { $1 = $1; rec[++nr] = sec " " $0 }
		END {
			if (s == "") { print "no answer"; exit }
			print s " flags:" f " " n
			for (i = 1; i <= nr; i++) print rec[i]
		}' | sed -E 's/( SOA [^ ]+ [^ ]+ )[0-9]+ /\1SERIAL /'
}

# soa_line ZONE TTL: the SOA record globaldns writes for ZONE, as resp
# shows it (owner, TTL and negative TTL = TTL).
soa_line() {
	echo "$1. $2 IN SOA ns.dns.$1. hostmaster.$1. SERIAL 7200 1800 86400 $2"
}

# pick_ports VAR...: sets each VAR to a free port (free_port), all of them
# different, for a Corefile with several server blocks.
pick_ports() {
	local v p used=""
	for v; do
		for _ in $(seq 1 20); do
			p=$(free_port)
			case " $used " in *" $p "*) continue ;; esac
			break
		done
		used="$used $p"
		printf -v "$v" '%s' "$p"
	done
}
