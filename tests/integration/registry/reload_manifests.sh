#!/bin/bash
# reload_manifests.sh -- the file source re-reads manifests while running
# (issue 2 item 5): a changed file is applied within 3 s and moves the SOA
# serial; a touched or identically rewritten file does not; a broken file
# keeps the previous answers and logs the file's name; a directory picks
# up new and removed files; a Kubernetes ConfigMap update (the ..data
# symlink swap) is applied.
#
# One globaldns, zone "global" on four ports:
#   P   a single manifest file          $T_TMP/se.yaml
#   P2  a directory                     $T_TMP/sedir
#   P3  a ConfigMap-style directory     $T_TMP/cm
#   P4  the file inside it              $T_TMP/cm/serviceentries.yaml
. "$(dirname "$0")/../lib.sh"
need dig python3

pick_ports P P2 P3 P4
SE=$T_TMP/se.yaml
DIR=$T_TMP/sedir
CM=$T_TMP/cm

plan 26

# manifest NAME HOST ADDRESS: one ServiceEntry on stdout.
manifest() {
	cat <<EOF
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: $1
  namespace: foo
spec:
  hosts: [$2]
  resolution: STATIC
  addresses: [$3]
EOF
}
# put FILE: stdin to FILE through a rename, so the server never reads half.
put() {
	local tmp
	tmp="$(dirname "$1")/.$(basename "$1").tmp"
	cat >"$tmp" && mv -f "$tmp" "$1"
}
answer() { PORT=$1 section answer "$2" A; }
serial() { PORT=$1 section answer global SOA | awk '{print $7}'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# wait_answer PORT NAME EXPECTED-ANSWER: poll (5 s at most); DELAY in s.
wait_answer() {
	local t0 i
	t0=$(now_ms)
	for i in $(seq 1 50); do
		[ "$(answer "$1" "$2")" = "$3" ] && break
		sleep 0.1
	done
	DELAY=$(awk -v ms=$(($(now_ms) - t0)) 'BEGIN { printf "%.2f", ms / 1000 }')
}
within3() { awk -v d="$1" 'BEGIN { exit !(d <= 3.0) }'; echo $?; }

manifest r r.test.global 240.0.2.1 >"$SE"
mkdir -p "$DIR"
manifest da da.test.global 240.0.3.1 >"$DIR/a.yaml"
mkdir -p "$CM/..2026_1"
manifest cm cm.test.global 240.0.4.1 >"$CM/..2026_1/serviceentries.yaml"
ln -s ..2026_1 "$CM/..data"
ln -s ..data/serviceentries.yaml "$CM/serviceentries.yaml"

cat >"$T_TMP/Corefile" <<EOF
global:$P {
	serviceentries {
		file $SE
	}
}
global:$P2 {
	serviceentries {
		file $DIR
	}
}
global:$P3 {
	serviceentries {
		file $CM
	}
}
global:$P4 {
	serviceentries {
		file $CM/serviceentries.yaml
	}
}
EOF
PORT=$P
start_globaldns reload "$T_TMP/Corefile" || { echo "Bail out! globaldns did not start"; exit 1; }
LOG=$T_TMP/reload.log

# ---- a single file ----
is "$(answer "$P" r.test.global)" "r.test.global. 30 IN A 240.0.2.1" "file: initial answer"
S0=$(serial "$P")
like "$S0" '^[1-9][0-9]*$' "file: initial SOA serial ($S0)"

manifest r r.test.global 240.0.2.2 | put "$SE"
wait_answer "$P" r.test.global "r.test.global. 30 IN A 240.0.2.2"
echo "# reload delay after a change: $DELAY s"
is "$(answer "$P" r.test.global)" "r.test.global. 30 IN A 240.0.2.2" "file changed: the new answer"
ok "$(within3 "$DELAY")" "file changed: applied within 3 s ($DELAY s)"
S1=$(serial "$P")
ok "$([ "${S1:-0}" -gt "${S0:-0}" ]; echo $?)" "file changed: the SOA serial increased ($S0 -> $S1)"

touch "$SE"
sleep 2.5       # more than two checks of the file
is "$(serial "$P")" "$S1" "file touched, same content: the serial stays"
manifest r r.test.global 240.0.2.2 | put "$SE"
sleep 2.5
is "$(serial "$P")" "$S1" "file rewritten with the same content (new inode): the serial stays"
is "$(answer "$P" r.test.global)" "r.test.global. 30 IN A 240.0.2.2" "file rewritten with the same content: same answer"

printf 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nspec: {hosts: [r.test.global\n  addresses: ]]\n' | put "$SE"
broken_logged() { grep -q "^\[ERROR\] .*$SE: " "$LOG"; }
wait_until 5 broken_logged
ok $? "broken YAML: an error naming the file is logged"
like "$(grep '^\[ERROR\]' "$LOG" | tail -n 1)" "$SE: .*line [0-9]+" "broken YAML: the error gives the line"
sleep 1.2       # one more check: the broken file stays broken
is "$(answer "$P" r.test.global)" "r.test.global. 30 IN A 240.0.2.2" "broken YAML: the previous answer is kept"
is "$(rcode r.test.global A)" NOERROR "broken YAML: never SERVFAIL or NXDOMAIN for a known name"
is "$(serial "$P")" "$S1" "broken YAML: the serial stays"
is "$(grep -c "^\[ERROR\] .*$SE: " "$LOG")" 1 "broken YAML: logged once, not on every check"

manifest r r.test.global 240.0.2.3 | put "$SE"
wait_answer "$P" r.test.global "r.test.global. 30 IN A 240.0.2.3"
echo "# reload delay after the fix: $DELAY s"
is "$(answer "$P" r.test.global)" "r.test.global. 30 IN A 240.0.2.3" "fixed again: the new answer"
ok "$(within3 "$DELAY")" "fixed again: applied within 3 s ($DELAY s)"
S2=$(serial "$P")
ok "$([ "${S2:-0}" -gt "${S1:-0}" ]; echo $?)" "fixed again: the serial increased ($S1 -> $S2)"

# ---- a directory ----
is "$(answer "$P2" da.test.global)" "da.test.global. 30 IN A 240.0.3.1" "directory: initial answer"
manifest db db.test.global 240.0.3.2 | put "$DIR/b.yaml"
wait_answer "$P2" db.test.global "db.test.global. 30 IN A 240.0.3.2"
echo "# reload delay for a new file in a directory: $DELAY s"
is "$(answer "$P2" db.test.global)" "db.test.global. 30 IN A 240.0.3.2" "directory: a new file is picked up"
ok "$(within3 "$DELAY")" "directory: within 3 s ($DELAY s)"
is "$(answer "$P2" da.test.global)" "da.test.global. 30 IN A 240.0.3.1" "directory: the first file still served"
rm -f "$DIR/b.yaml"
gone() { [ "$(PORT=$P2 rcode db.test.global A)" = NXDOMAIN ]; }
wait_until 5 gone
ok $? "directory: a removed file's names are gone (NXDOMAIN)"

# ---- a ConfigMap update: swap of the ..data symlink ----
is "$(answer "$P3" cm.test.global)$(answer "$P4" cm.test.global)" \
	"cm.test.global. 30 IN A 240.0.4.1cm.test.global. 30 IN A 240.0.4.1" "ConfigMap: initial answer (directory and file)"
mkdir -p "$CM/..2026_2"
manifest cm cm.test.global 240.0.4.2 >"$CM/..2026_2/serviceentries.yaml"
ln -sfn ..2026_2 "$CM/..data_tmp"
mv -T "$CM/..data_tmp" "$CM/..data"
rm -rf "$CM/..2026_1"
wait_answer "$P3" cm.test.global "cm.test.global. 30 IN A 240.0.4.2"
echo "# reload delay after a ConfigMap swap (directory): $DELAY s"
is "$(answer "$P3" cm.test.global)" "cm.test.global. 30 IN A 240.0.4.2" "ConfigMap swap: directory source applies it"
wait_answer "$P4" cm.test.global "cm.test.global. 30 IN A 240.0.4.2"
echo "# reload delay after a ConfigMap swap (file): $DELAY s"
is "$(answer "$P4" cm.test.global)" "cm.test.global. 30 IN A 240.0.4.2" "ConfigMap swap: file source applies it"
unlike "$(grep '^\[ERROR\]' "$LOG")" "$CM" "ConfigMap swap: no error logged"
