#!/bin/bash
# corefile.sh -- the command line and the Corefile (issue 2 item 4) against
# the real binary: -validate on good and bad Corefiles (FILE:LINE: on every
# problem), a bad Corefile at start, -version, -h, unknown flags,
# -dns.port, -pidfile, -quiet, {$ENV} substitution, comments and quoted
# strings.
#
# The bad Corefiles are tests/data/integration/corefile/*.Corefile; their
# manifest paths are relative to tests/data/integration, where -validate
# runs.
. "$(dirname "$0")/../lib.sh"
need dig python3 timeout

DATA=$TESTDATA/integration

plan 61

# gd ARGS...: run the binary from $DATA (10 s at most); sets OUT (stdout
# and stderr), ERR (stderr only) and RC.
gd() {
	RC=0
	(cd "$DATA" && timeout 10 "$GLOBALDNS" "$@") >"$T_TMP/gd.out" 2>"$T_TMP/gd.err" || RC=$?
	ERR=$(cat "$T_TMP/gd.err")
	OUT=$(cat "$T_TMP/gd.out" "$T_TMP/gd.err")
}

# ---- -validate ----
RC=0
(cd "$TOP_SRCDIR" && timeout 10 "$GLOBALDNS" -validate -conf conf/demo/Corefile) >"$T_TMP/demo.out" 2>&1 || RC=$?
is "$RC" 0 "-validate on the demo (conf/demo/Corefile): exit 0"
unlike "$(cat "$T_TMP/demo.out")" '\[(ERROR|WARNING)\]' "-validate on the demo: no error or warning"
gd -validate -conf corefile/good.Corefile
is "$RC" 0 "-validate on a good Corefile: exit 0"

# bad_validate NAME LINE-REGEX MESSAGE-REGEX DESCRIPTION
bad_validate() {
	gd -validate -conf "corefile/$1.Corefile"
	is "$RC" 1 "-validate $4: exit 1"
	like "$OUT" "(^|[] ])corefile/$1\\.Corefile:$2: $3" "-validate $4: FILE:LINE: message"
}
bad_validate bad-directive 6 'unknown directive "frobnicate"; globaldns supports: .*serviceentries' \
	"unknown directive (names the supported ones)"
bad_validate bad-port 2 '.*99999.*port' "port out of range"
bad_validate bad-tls 2 '.*tls://.*not supported' "tls:// key"
bad_validate bad-property 5 'serviceentries: unknown property "colour"; supported: file, ttl, default_address' \
	"unknown serviceentries property"
bad_validate bad-ttl 5 'serviceentries: ttl: "soon"' "bad ttl"
bad_validate bad-default-address 5 'serviceentries: default_address: "240\.0\.0\.300"' "bad default_address"
bad_validate bad-missing-manifest '(4|5)' '.*does-not-exist\.yaml: No such file or directory' "missing manifest file"
bad_validate bad-invalid-entry '(3|4)' '.*1 invalid ServiceEntry' "manifest with an invalid entry"
like "$OUT" 'invalid-entry\.yaml: skipping broken/wild-middle: spec\.hosts\[0\]' \
	"-validate names the invalid entry (namespace/name, field)"
bad_validate bad-zone-twice 8 'zone global\. on port 1053 is already served by the block at corefile/bad-zone-twice\.Corefile:2 on the same addresses' \
	"one zone and port in two blocks that listen on a common address"
bad_validate bad-bind-clash 9 'port 1053: this block listens on 127\.0\.0\.1 and the block at corefile/bad-bind-clash\.Corefile:3 on every address \(no bind\); one port cannot have both' \
	"a block without bind and one bound to an address on the same port"
bad_validate bad-consolidate 4 'errors: consolidate: "\^read udp \(\.\* i/o timeout\$": .*' \
	"errors consolidate with a regular expression that does not compile"
gd -validate -conf corefile/bad-two-problems.Corefile
is "$RC" 1 "-validate, two problems: exit 1"
like "$OUT" 'corefile/bad-two-problems\.Corefile:5: serviceentries: ttl: "-1"' "-validate reports the first problem"
like "$OUT" 'corefile/bad-two-problems\.Corefile:9: unknown directive "frobnicate"' "-validate reports the second problem too"

# ---- a bad Corefile at start ----
gd -conf corefile/bad-directive.Corefile
ok "$([ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; echo $?)" "start with an unknown directive: exits non-zero at once (rc $RC)"
like "$ERR" 'corefile/bad-directive\.Corefile:6: unknown directive "frobnicate"' "start: FILE:LINE: message on stderr"
gd -conf corefile/bad-ttl.Corefile
ok "$([ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; echo $?)" "start with a bad ttl: exits non-zero at once (rc $RC)"
like "$ERR" 'corefile/bad-ttl\.Corefile:5: serviceentries: ttl: "soon"' "start: bad ttl on stderr"
gd -conf corefile/nonexistent.Corefile
ok "$([ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; echo $?)" "start with a Corefile that does not exist: exits non-zero (rc $RC)"
like "$ERR" 'nonexistent\.Corefile' "start: the missing Corefile is named"

# ---- -version, -h, unknown flags ----
gd -version
is "$RC" 0 "-version: exit 0"
like "$(cat "$T_TMP/gd.out")" '^globaldns-[0-9]+\.[0-9]+\.[0-9]+' "-version prints globaldns-VERSION on stdout"
gd --version
is "$RC:$(cat "$T_TMP/gd.out")" "0:$(cd "$DATA" && "$GLOBALDNS" -version)" "--version: the same"
gd -h
is "$RC" 0 "-h: exit 0"
like "$(cat "$T_TMP/gd.out")" '^Usage:' "-h prints usage on stdout"
missing=""
for f in -conf -dns.port -pidfile -quiet -validate -version; do
	grep -q -e "$f" "$T_TMP/gd.out" || missing="$missing $f"
done
is "$missing" "" "-h lists -conf -dns.port -pidfile -quiet -validate -version"
gd -frobnicate
is "$RC" 2 "an unknown flag: exit 2"
like "$ERR" 'frobnicate' "an unknown flag is named on stderr"
gd -dns.port 99999 -validate -conf corefile/good.Corefile
is "$RC" 2 "-dns.port out of range: exit 2"
gd -conf
is "$RC" 2 "-conf without a value: exit 2"

# ---- -dns.port, -pidfile, -quiet ----
pick_ports P P2
cat >"$T_TMP/Corefile.port" <<EOF
global {
	serviceentries {
		file $DATA/bar.yaml
	}
}
example.internal:$P2 {
	serviceentries {
		file $DATA/bar.yaml
	}
}
EOF
PORT=$P
if start_globaldns dnsport "$T_TMP/Corefile.port" -dns.port "$P" -pidfile "$T_TMP/gd.pid"; then
	is "$(section answer httpbin.bar.global A)" "httpbin.bar.global. 30 IN A 240.0.1.2" \
		"-dns.port applies to a key without a port"
	PORT=$P2
	is "$(rcode example.internal SOA)" NOERROR "a key with its own port keeps it"
	is "$(rcode httpbin.bar.global A)" REFUSED "the port-less block is not served on the other block's port"
	PORT=$P
	is "$(rcode example.internal SOA)" REFUSED "the other block's zone is not served on the -dns.port port"
	like "$(cat "$T_TMP/dnsport.log")" "global\\.?:$P" "the banner lists zone:port"
	is "$(cat "$T_TMP/gd.pid" 2>/dev/null)" "$GD_PID" "-pidfile holds the pid"
	stop_pid "$GD_PID"
	is "$?" 0 "SIGTERM: exit 0"
	ok "$([ ! -e "$T_TMP/gd.pid" ]; echo $?)" "-pidfile removed on SIGTERM"
else
	for _ in 1 2 3 4 5 6 7 8; do ok 1 "server with -dns.port started"; done
fi

# ---- bind: each address is a server of its own (as in CoreDNS) ----
# global on one port twice, on 127.0.0.1 and on 127.0.0.2; bar.global on
# 127.0.0.2 only
PB=$(free_port)
cat >"$T_TMP/Corefile.bind" <<EOF
global:$PB {
	bind 127.0.0.1
	serviceentries {
		file $DATA/answers.yaml
	}
}
global:$PB {
	bind 127.0.0.2
	serviceentries {
		file $DATA/union.yaml
	}
}
bar.global:$PB {
	bind 127.0.0.2
	serviceentries {
		file $DATA/bar.yaml
	}
}
EOF
PORT=$PB
if python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.2", 0))' 2>/dev/null \
    && start_globaldns bind "$T_TMP/Corefile.bind"; then
	d2() { dig @127.0.0.2 -p "$PB" +tries=1 +time=2 +norec "$@"; }
	is "$(section answer httpbin.bar.global A)" "httpbin.bar.global. 30 IN A 240.0.0.2" \
		"bind: 127.0.0.1 is answered by the block bound to it"
	is "$(d2 +short httpbin.bar.global A)" "240.0.1.2" \
		"... 127.0.0.2, same port, by bar.global's block bound there (longest zone)"
	is "$(d2 +short union.test.global A | sort | tr "\n" " ")" "240.0.0.100 240.0.0.20 240.0.0.30 240.0.0.9 " \
		"... and other names there by 127.0.0.2's global block"
	is "$(rcode union.test.global A)" "NXDOMAIN" "... which 127.0.0.1's global block does not serve"
	is "$(grep -c "^global\.:$PB on 127\.0\.0\.[12]$" "$T_TMP/bind.log")" 2 \
		"the banner says which address each block is on (zone:port on ADDRESS)"
else
	for _ in 1 2 3 4 5; do ok 0 "bind on 127.0.0.2 # SKIP 127.0.0.2 not usable here"; done
fi

# ---- {$ENV}, comments, quoted strings, -quiet ----
P3=$(free_port)
QDIR="$T_TMP/dir with space #1"
mkdir -p "$QDIR"
cat >"$QDIR/quoted.yaml" <<'EOF'
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: quoted, namespace: foo}
spec:
  hosts: [q.test.global]
  resolution: STATIC
  addresses: [240.0.0.88]
EOF
cat >"$T_TMP/Corefile.env" <<EOF
# A comment; {\$GD_TEST_NOT_SET} in a comment is nothing
global:{\$GD_TEST_PORT} {   # the port from the environment
	# a comment inside a block
	serviceentries {
		file {\$GD_TEST_MANIFEST} "$QDIR/quoted.yaml"   # a quoted path with a space and a #
		ttl "7"  # a quoted number
	}
}
EOF
PORT=$P3
if GD_TEST_PORT=$P3 GD_TEST_MANIFEST=$DATA/bar.yaml start_globaldns env "$T_TMP/Corefile.env" -quiet; then
	is "$(section answer httpbin.bar.global A)" "httpbin.bar.global. 7 IN A 240.0.1.2" \
		"{\$ENV}: port and manifest path from the environment; quoted ttl"
	is "$(section answer q.test.global A)" "q.test.global. 7 IN A 240.0.0.88" \
		"a quoted path with a space and a # is one argument"
	unlike "$(cat "$T_TMP/env.log")" 'globaldns-[0-9]' "-quiet: no banner"
else
	for _ in 1 2 3; do ok 1 "server with {\$ENV} started"; done
fi
