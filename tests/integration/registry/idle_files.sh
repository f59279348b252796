#!/bin/bash
# idle_files.sh -- a directory of one-entry manifest files, nothing
# changing (issue 11 row 8): the daemon watches the directory (inotify)
# and checks only the configured path itself each second, so while idle it
# stats and opens no file; before, every file was stat()ed every second
# (with 20,000 files 3.7 % of a core, tests/bench/idle_files.sh).  The
# system calls of 3 idle seconds are counted with strace (a count, not a
# time); then one file rewritten, and one added, are served.
. "$(dirname "$0")/../lib.sh"
need dig python3
plan 5

N=2000
mkdir "$T_TMP/se"
python3 - "$T_TMP/se" "$N" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open("%s/se-%05d.yaml" % (d, i), "w") as f:
        f.write("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                "metadata: {name: se-%d, namespace: idle}\nspec:\n  hosts: [svc-%d.idle.global]\n"
                "  addresses: [240.1.%d.%d]\n  resolution: STATIC\n" % (i, i, i // 256, i % 256))
PY
PORT=$(free_port)
cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
	serviceentries {
		file $T_TMP/se
	}
}
EOF
start_globaldns gd "$T_TMP/Corefile" || exit 1
is "$(q +short svc-1999.idle.global)" 240.1.7.207 "$N files: the last one served"

if command -v strace >/dev/null && strace -f -c -o "$T_TMP/probe.out" true 2>/dev/null; then
	sleep 1
	timeout -s INT 3 strace -f -c -o "$T_TMP/idle.out" -p "$GD_PID" 2>/dev/null
	# the stat and open family over 3 idle seconds
	calls=$(awk '$NF ~ /^(stat|lstat|fstat|newfstatat|fstatat64|statx|open|openat|openat2)$/ { n += $4 } END { print n + 0 }' "$T_TMP/idle.out")
	sed 's/^/# /' "$T_TMP/idle.out"
	[ "$calls" -lt 50 ]; ok $? "idle for 3 s: $calls stat/open calls (polling every file would be $((3 * N)))"
else
	ok 0 "# SKIP strace cannot attach here"
fi

python3 - "$T_TMP/se/se-00010.yaml" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
            "metadata: {name: se-10, namespace: idle}\nspec:\n  hosts: [svc-10.idle.global]\n"
            "  addresses: [240.9.9.10]\n  resolution: STATIC\n")
PY
wait_until 5 sh -c "dig @127.0.0.1 -p $PORT +short svc-10.idle.global | grep -qx 240.9.9.10"
ok $? "a file rewritten while idle: served"
python3 - "$T_TMP/se/new.yaml" <<'PY'
import sys
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
            "metadata: {name: new, namespace: idle}\nspec:\n  hosts: [new.idle.global]\n"
            "  addresses: [240.9.9.1]\n  resolution: STATIC\n")
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
PY
wait_until 5 sh -c "dig @127.0.0.1 -p $PORT +short new.idle.global | grep -qx 240.9.9.1"
ok $? "a file added (renamed into place): served"
is "$(q +short svc-1999.idle.global)" 240.1.7.207 "the others stay"
stop_pid "$GD_PID"
