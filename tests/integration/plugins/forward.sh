#!/bin/bash
# forward.sh -- the `forward` directive against real upstreams: NSD serving
# tests/data/forward/example.test, and the scripted upstream for what NSD
# cannot show (which upstream got a query).  Answers passed through (rcode,
# flags, every section, TTL, ID and question case, RD/CD/DO/EDNS), TCP,
# FROM and except, the three policies, `proxy`, resolv.conf files, config
# errors.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../lib_upstream.sh"
need dig python3 nsd

plan 52

pick_ports PORT NSD UA UB P2 P3 P4 P5
start_nsd "$NSD" || exit 1

cat >"$T_TMP/Corefile" <<EOF
.:$PORT {
	forward . 127.0.0.1:$NSD
}
example.test:$P2 {
	forward example.test dns://127.0.0.1:$UA {
		except skip.example.test
	}
}
.:$P3 {
	proxy . 127.0.0.1:$UA
}
EOF
start_upstream a "$UA" --a www.example.test=192.0.2.1 --a skip.example.test=192.0.2.9 --a apex.test=192.0.2.8 --a example.test=192.0.2.7
start_globaldns gd "$T_TMP/Corefile" || exit 1

# ---- answers passed through from NSD ----
# globaldns's answer must be NSD's own answer, section by section
direct() { local PORT=$NSD; resp "$@"; }
for qq in "www.example.test" "www.example.test AAAA" "example.test MX" "alias.example.test" \
	  "txt.example.test TXT" "nx.example.test" "www.example.test TXT" "example.test SOA" \
	  "+cd www.example.test" "+dnssec www.example.test" "+noedns www.example.test" \
	  "+bufsize=512 example.test NS" "+tcp mail.example.test"; do
	# shellcheck disable=SC2086
	is "$(resp $qq)" "$(direct $qq)" "same answer as NSD itself: $qq"
done
is "$(section answer www.example.test)" "www.example.test. 300 IN A 192.0.2.10" "A record and TTL as in the zone"
like "$(resp nx.example.test)" "^NXDOMAIN flags:qr aa " "NXDOMAIN passed through"
is "$(rcode nothere.invalid)" "REFUSED" "NSD's REFUSED for a zone it does not serve is passed on"
is "$(flags www.example.test)" "qr aa rd" "RD set by the client is forwarded and echoed"
like "$(q +dnssec www.example.test)" "EDNS: version: 0, flags: do;" "DO bit: the OPT of the answer has DO"
is "$(counts +noedns www.example.test | sed 's/.*ADDITIONAL: //')" "1" "no EDNS asked: no OPT in the answer (only NSD's glue)"
out=$(q WwW.ExAmPlE.TeSt)
like "$out" ";WwW\.ExAmPlE\.TeSt\.[[:space:]]+IN[[:space:]]+A" "question echoed in the client's case"
like "$out" "WwW\.ExAmPlE\.TeSt\.[[:space:]]+300[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.10" "answer owner in the client's case"
unlike "$out" "ID mismatch|Question section mismatch" "dig accepts the answer (ID and question match)"
is "$(section answer +tcp www.example.test)" "www.example.test. 300 IN A 192.0.2.10" "over TCP"
is "$(q +tcp +keepopen www.example.test mail.example.test 2>&1 | grep -c 'IN	A	192.0.2')" "2" "two queries on one TCP connection"

# ---- FROM and except (scripted upstream, it logs what it sees) ----
PORT_SAVE=$PORT; PORT=$P2
is "$(section answer www.example.test)" "www.example.test. 300 IN A 192.0.2.1" "forward example.test: a name inside FROM is forwarded"
is "$(section answer example.test)" "example.test. 300 IN A 192.0.2.7" "the FROM apex is forwarded"
is "$(rcode x.skip.example.test)" "SERVFAIL" "except: a name below an excepted zone is not forwarded (no next plugin: SERVFAIL)"
is "$(rcode skip.example.test)" "SERVFAIL" "except: the excepted apex is not forwarded"
is "$(seen a skip.example.test.)$(seen a x.skip.example.test.)" "00" "the upstream never saw the excepted names"
PORT=$PORT_SAVE

# ---- proxy is forward ----
PORT=$P3
is "$(section answer apex.test)" "apex.test. 300 IN A 192.0.2.8" "proxy . TO: forwards as forward does"
PORT=$PORT_SAVE

# ---- resolv.conf-style files ----
printf '# comment\nsearch svc.cluster.local\nnameserver 127.0.0.1:%s\noptions ndots:5\n' "$NSD" >"$T_TMP/resolv.conf"
cat >"$T_TMP/Corefile.resolv" <<EOF
.:$P4 {
	forward . $T_TMP/resolv.conf
}
EOF
PORT=$P4 start_globaldns gd-resolv "$T_TMP/Corefile.resolv" || exit 1
PORT=$P4
is "$(section answer www.example.test)" "www.example.test. 300 IN A 192.0.2.10" "forward . FILE: the nameserver lines are the upstreams"
PORT=$PORT_SAVE

# ---- policies: two scripted upstreams answering different addresses ----
policy_run() {  # policy_run POLICY N: N queries, prints "A B" counts
	local pol=$1 n=$2 p na nb
	p=$(free_port)
	: >"$T_TMP/a.queries"; : >"$T_TMP/b.queries"
	cat >"$T_TMP/Corefile.$pol" <<EOF
.:$p {
	forward . 127.0.0.1:$UA 127.0.0.1:$UB {
		policy $pol
	}
}
EOF
	PORT=$p start_globaldns "gd-$pol" "$T_TMP/Corefile.$pol" >/dev/null || return 1
	for i in $(seq 1 "$n"); do
		dig @127.0.0.1 -p "$p" +tries=1 +time=2 +short "q$i.www.example.test" >/dev/null
	done
	stop_pid "$GD_PID"
	na=$(grep -c 'q[0-9]*\.www' "$T_TMP/a.queries")
	nb=$(grep -c 'q[0-9]*\.www' "$T_TMP/b.queries")
	echo "$na $nb"
}
start_upstream b "$UB" --a www.example.test=192.0.2.2
is "$(policy_run sequential 20)" "20 0" "policy sequential: every query to the first upstream"
is "$(policy_run round_robin 20)" "10 10" "policy round_robin: alternates exactly"
read -r ra rb <<<"$(policy_run random 40)"
ok $(( ra > 0 && rb > 0 && ra + rb == 40 ? 0 : 1 )) "policy random: both upstreams used ($ra/$rb of 40)"

# ---- expire: a socket older than expire is replaced for new queries (a
# new source port); the old one drains while its queries finish.  The
# first query after expire makes the new socket; the checks run right
# after one, so a slow machine has the whole period for them.
PE=$(free_port)
cat >"$T_TMP/Corefile.expire" <<EOF
.:$PE {
	forward . 127.0.0.1:$UA {
		expire 2s
	}
}
EOF
PORT=$PE start_globaldns gd-expire "$T_TMP/Corefile.expire" || exit 1
srcports() { awk -v re="$1" '$1 == "udp" && $2 ~ re { print $6 }' "$T_TMP/a.queries" | sort -u | tr '\n' ' '; }
# eq NAME: one query; prints its status (NOERROR, NXDOMAIN, ...)
eq() { dig @127.0.0.1 -p "$PE" +tries=1 +time=3 "$1" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p'; }
sleep 2.1
: >"$T_TMP/a.queries"
for i in 0 1 2 3 4 5; do eq "e$i.www.example.test" >/dev/null; done
E=$(srcports '^e[0-9]')
is "$(echo $E | wc -w)" 1 "expire 2s: queries within the period leave from one socket (source port $E)"
sleep 2.1
for i in 0 1 2 3; do eq "f$i.www.example.test" >/dev/null; done
F=$(srcports '^f[0-9]')
ok $([ "$(echo $F | wc -w)" -eq 1 ] && [ "$F" != "$E" ]; echo $?) "after expire: a new socket, another source port ($E then $F)"
# queries in flight all the time across two expiries: every one answered
: >"$T_TMP/a.queries"; : >"$T_TMP/g.status"
n=0; t0=$(date +%s%N)
while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 4500 ]; do
	pids=""
	for i in 1 2 3 4; do
		eq "g$n-$i.www.example.test" >>"$T_TMP/g.status" &
		pids="$pids $!"
	done
	wait $pids; n=$((n + 1))
done
is "$(grep -c . "$T_TMP/g.status"):$(grep -vc 'NOERROR\|NXDOMAIN' "$T_TMP/g.status"):$(echo $(srcports '^g') | wc -w | awk '{ print ($1 >= 2) }')" "$((n * 4)):0:1" \
	"queries in flight across expiries: all $((n * 4)) answered (none SERVFAIL), from more than one socket"
kill -0 "$GD_PID" && ! grep -q 'AddressSanitizer\|runtime error' "$T_TMP/gd-expire.log"
ok $? "the old sockets drained and were freed (the server runs, the sanitizers are quiet)"
stop_pid "$GD_PID"

# ---- configuration errors: FILE:LINE and what is wrong ----
bad() {  # bad NAME BODY REGEX DESCRIPTION
	printf '.:%s {\n%b\n}\n' "$P5" "$2" >"$T_TMP/$1.Corefile"
	out=$("$GLOBALDNS" -validate -conf "$T_TMP/$1.Corefile" 2>&1); rc=$?
	is "$rc" "1" "$4: -validate exits 1"
	like "$out" "$3" "$4: message"
}
bad noto '\tforward .' "noto.Corefile:2: forward: needs FROM and at least one TO" "forward without TO"
bad port '\tforward . 10.0.0.1:99999' 'port.Corefile:2: forward: "10.0.0.1:99999": port "99999" out of range' "port out of range"
bad nofile '\tforward . /nonexistent/resolv.conf' 'nofile.Corefile:2: forward: "/nonexistent/resolv.conf": not an IP address or a readable file' "missing resolv.conf"
bad policy '\tforward . 127.0.0.1 {\n\t\tpolicy fastest\n\t}' 'policy.Corefile:3: forward: policy: "fastest": unknown' "unknown policy"
bad prop '\tforward . 127.0.0.1 {\n\t\tspray 1\n\t}' 'prop.Corefile:3: forward: unknown property "spray"; supported: except' "unknown property"
bad tls '\tforward . tls://127.0.0.1' 'tls.Corefile:2: forward: "tls://127.0.0.1": only plain DNS' "tls:// upstream"
bad twice '\tforward . 127.0.0.1\n\tforward . 127.0.0.2' 'twice.Corefile:3: forward: used twice in one server block' "forward twice in one block"
