#!/bin/bash
# log.sh -- `log` and `errors` (issue 5 items 3 and 8): one line per query
# in CoreDNS's common format, checked field by field against what dig
# sent and received; TCP, names, classes and custom formats; `errors`
# lines for SERVFAIL, and `errors { consolidate }`; without `log` no line
# per query, and a registry change logs one summary line.
. "$(dirname "$0")/../lib.sh"
need dig python3

pick_ports PORT P2 P3 P4
plan 24

cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
    log
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
bar.global:$P2 {
    log other.bar.global
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
global:$P3 {
    log . "{type} {name} {rcode} {proto} {>opcode} {common}"
    errors
    serviceentries {
        file $T_TMP/missing.yaml
    }
}
global:$P4 {
    log {
        class denial error
    }
    serviceentries {
        file $TESTDATA/integration/bar.yaml
    }
}
EOF

LOG=$T_TMP/log.log
start_globaldns log "$T_TMP/Corefile" || exit 1
# lines NEEDLE: the query log lines (stdout) holding NEEDLE, after a moment
lines() { sleep 0.3; grep -F -- "$1" "$LOG" | grep -v '^\[[A-Z]*\] plugin/serviceentries' || true; }

out=$(q +bufsize=1232 httpbin.bar.global A)
id=$(printf '%s\n' "$out" | sed -n 's/.*, id: \([0-9]*\)$/\1/p')
rsize=$(printf '%s\n' "$out" | sed -n 's/^;; MSG SIZE  rcvd: \([0-9]*\)$/\1/p')
line=$(lines " - $id \"A IN httpbin.bar.global.")
re='^\[INFO\] 127\.0\.0\.1:([0-9]+) - ([0-9]+) "A IN httpbin\.bar\.global\. udp ([0-9]+) false 1232" NOERROR qr,aa,rd ([0-9]+) ([0-9]+(\.[0-9]+)?)s$'
like "$line" "$re" "a UDP query logs CoreDNS's common format"
is "$(printf '%s' "$line" | sed -E "s/$re/\\4/")" "$rsize" "{rsize} is the size dig received"
is "$(printf '%s' "$line" | sed -E "s/$re/\\2/")" "$id" "{>id} is the query ID"
size=$(printf '%s' "$line" | sed -E "s/$re/\\3/")
like "$size" '^[0-9]{2,3}$' "{size} is the query's length"
dur=$(printf '%s' "$line" | sed -E "s/$re/\\5/")
python3 -c "import sys; sys.exit(0 if 0 < float(sys.argv[1]) < 1 else 1)" "$dur"
ok $? "{duration} is seconds, under one"

out=$(q +tcp +dnssec +bufsize=4096 nope.bar.global AAAA)
id=$(printf '%s\n' "$out" | sed -n 's/.*, id: \([0-9]*\)$/\1/p')
like "$(lines " - $id \"AAAA")" "\"AAAA IN nope\\.bar\\.global\\. tcp [0-9]+ true 4096\" NXDOMAIN qr,aa,rd [0-9]+ " "TCP, DO and the buffer size; NXDOMAIN"

# CoreDNS prints {name} lowercased (request.Name()), whatever case was asked
out=$(q +bufsize=1232 HttpBin.BAR.global AAAA)
id=$(printf '%s\n' "$out" | sed -n 's/.*id: \([0-9]*\).*/\1/p')
like "$(lines " - $id \"")" "\"AAAA IN httpbin\\.bar\\.global\\. udp" "the logged name is lowercased as CoreDNS logs it"
out=$(q +norec -p "$PORT" TYPE65 httpbin.bar.global)
id=$(printf '%s\n' "$out" | sed -n 's/.*, id: \([0-9]*\)$/\1/p')
like "$(lines " - $id \"")" "\"HTTPS IN httpbin\\.bar\\.global\\. udp [0-9]+ false [0-9]+\" NOERROR qr,aa [0-9]+ " "type names as CoreDNS prints them; flags without rd"

# names: only queries under the listed name
dig @127.0.0.1 -p "$P2" +tries=1 +time=2 x.other.bar.global A >/dev/null
dig @127.0.0.1 -p "$P2" +tries=1 +time=2 y.notlogged.bar.global A >/dev/null
like "$(lines "x.other.bar.global.")" "x\\.other\\.bar\\.global\\. udp" "log NAME logs queries below NAME"
is "$(lines "y.notlogged.bar.global.")" "" "and not the others"

# class denial error: NXDOMAIN and NODATA logged, a positive answer not
dig @127.0.0.1 -p "$P4" +tries=1 +time=2 httpbin.bar.global A >/dev/null
dig @127.0.0.1 -p "$P4" +tries=1 +time=2 gone.bar.global A >/dev/null
dig @127.0.0.1 -p "$P4" +tries=1 +time=2 httpbin.bar.global TXT >/dev/null
is "$(lines "\"A IN httpbin.bar.global. udp" | grep -c ":$P4\| - " | head -1)" "1" "class denial error: the positive answer is logged only by the plain log block"
like "$(lines "gone.bar.global.")" "NXDOMAIN" "class denial logs NXDOMAIN"
like "$(lines "\"TXT IN httpbin.bar.global.")" "NOERROR qr,aa,rd" "class denial logs NODATA"

# a custom format with {common}, and errors for SERVFAIL
dig @127.0.0.1 -p "$P3" +tries=1 +time=2 svc.bar.global A >/dev/null
like "$(lines "[INFO] A svc.bar.global.")" '^\[INFO\] A svc\.bar\.global\. SERVFAIL udp QUERY 127\.0\.0\.1:[0-9]+ - [0-9]+ "A IN svc\.bar\.global\. udp' "a custom format expands placeholders and {common}"
like "$(lines "plugin/errors")" '^\[ERROR\] plugin/errors: 2 svc\.bar\.global\. A: plugin/serviceentries: ' "errors logs SERVFAIL as [ERROR] plugin/errors: 2 NAME TYPE: plugin/NAME: reason"
is "$(lines "[INFO] A svc.bar.global." | wc -l)" 1 "one line per query"

# without log: nothing per query; registry changes log one summary line
cat >"$T_TMP/Corefile2" <<EOF
global:$P4 {
    serviceentries {
        file $T_TMP/se.yaml
    }
}
EOF
cp "$TESTDATA/integration/bar.yaml" "$T_TMP/se.yaml"
stop_pid "$GD_PID"
PORT=$P4 start_globaldns quiet "$T_TMP/Corefile2" || exit 1
PORT=$P4 q httpbin.bar.global A >/dev/null
sleep 0.3
is "$(grep -c 'httpbin.bar.global. udp' "$T_TMP/quiet.log")" 0 "without log no line per query"
sed 's/240.0.1.2/240.0.1.3/' "$TESTDATA/integration/bar.yaml" >"$T_TMP/se.tmp" && mv "$T_TMP/se.tmp" "$T_TMP/se.yaml"
summary() { grep -q '1 changed' "$T_TMP/quiet.log"; }
wait_until 5 summary
ok $? "a changed manifest logs one summary line (added/removed/changed)"
is "$(grep -c '240.0.1.3' "$T_TMP/quiet.log")" 0 "not a line per mapping"

# ---- errors { consolidate DURATION REGEXP [LEVEL] [show_first] } ----
# three kinds of error: serviceentries before its first load (global), no
# plugin for the name (example.net), forward with nobody listening
# (example.org); the pattern is matched against the error itself, as in
# CoreDNS ("plugin/NAME: reason", "no next plugin found")
stop_pid "$GD_PID"
P5=$(free_port) DEAD=$(free_port)
# (the block does not take "." SOA, which start_globaldns asks until it answers)
cat >"$T_TMP/Corefile3" <<EOF2
global:$P5 example.net:$P5 example.org:$P5 {
    errors {
        stacktrace
        consolidate 1500ms "^plugin/serviceentries: first load" warning
        consolidate 1s "^no next plugin found$" info show_first
    }
    serviceentries global {
        file $T_TMP/missing.yaml
    }
    forward example.org 127.0.0.1:$DEAD
}
EOF2
PORT=$P5 start_globaldns cons "$T_TMP/Corefile3" || exit 1
CL=$T_TMP/cons.log
for n in a b c; do PORT=$P5 q "$n.global" A >/dev/null; done
PORT=$P5 q www.example.org A >/dev/null
PORT=$P5 q x.example.net A >/dev/null; PORT=$P5 q y.example.net A >/dev/null
sleep 0.3
is "$(grep -c 'plugin/errors: 2 [abc]\.global\. A:' "$CL")" 0 "consolidate: matching errors are not written one by one"
like "$(grep 'plugin/errors: 2 www\.example\.org\. A' "$CL")" \
	"^\[ERROR\] plugin/errors: 2 www\.example\.org\. A: plugin/forward: 127\.0\.0\.1:$DEAD: " \
	"an error no rule matches is written as usual (forward says which upstream failed and why)"
is "$(grep 'plugin/errors: 2 [xy]\.example\.net\. A' "$CL")" "[INFO] plugin/errors: 2 x.example.net. A: no next plugin found" \
	"show_first: the first is written at once, at the rule's level; the next is not"
sleep 1.6
is "$(grep 'errors like' "$CL" | sort)" "$(printf '%s\n' \
	"[INFO] plugin/errors: 2 errors like '^no next plugin found\$' occurred in last 1s" \
	"[WARNING] plugin/errors: 3 errors like '^plugin/serviceentries: first load' occurred in last 1.5s")" \
	"after DURATION: one line with the count, CoreDNS's wording and duration format"
PORT=$P5 q z.example.net A >/dev/null
sleep 1.3
is "$(grep -c 'z\.example\.net' "$CL"):$(grep -c "like '^no next" "$CL")" "1:1" \
	"show_first and a lone error: written, and no summary line for it"
