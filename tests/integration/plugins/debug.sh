#!/bin/bash
# debug.sh -- `debug` is accepted (Corefiles copied from CoreDNS setups may
# carry it) and, as in CoreDNS, process-wide: while a running block has
# it, the [DEBUG] log lines are printed; removed by a reload, they stop.
# Answers do not change.
. "$(dirname "$0")/../lib.sh"
need dig
plan 5

pick_ports PORT
conf() {
	{
		echo "global:$PORT {"
		[ "$1" = on ] && echo "    debug"
		echo "    serviceentries {"
		echo "        file $T_TMP/se.yaml"
		echo "    }"
		echo "}"
	} >"$T_TMP/Corefile"
}
cp "$TESTDATA/integration/bar.yaml" "$T_TMP/se.yaml"
conf on
start_globaldns gd "$T_TMP/Corefile" || exit 1
is "$(q +short httpbin.bar.global)" "240.0.1.2" "a block with debug answers as usual"
# a manifest re-read logs a [DEBUG] line
touch -d '+2 seconds' "$T_TMP/se.yaml"
wait_until 5 grep -q '^\[DEBUG\] plugin/serviceentries' "$T_TMP/gd.log"
like "$(cat "$T_TMP/gd.log")" '\[DEBUG\] plugin/serviceentries: ' "debug: [DEBUG] lines are printed"
conf off
kill -HUP "$GD_PID"
sleep 1.5
n=$(grep -c '^\[DEBUG\]' "$T_TMP/gd.log")
touch -d '+4 seconds' "$T_TMP/se.yaml"
sleep 2
is "$(grep -c '^\[DEBUG\]' "$T_TMP/gd.log")" "$n" "debug removed by a reload: no more [DEBUG] lines"
is "$(q +short httpbin.bar.global)" "240.0.1.2" "and it still answers"
printf '.:%s {\n    debug on\n}\n' "$PORT" >"$T_TMP/Corefile.bad"
like "$("$GLOBALDNS" -validate -conf "$T_TMP/Corefile.bad" 2>&1)" "Corefile.bad:2: debug: takes no arguments" "debug with an argument: FILE:LINE error"
