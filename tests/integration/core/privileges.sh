#!/bin/bash
# privileges.sh -- starting unprivileged (issue 5 items 6 and 8).  As root
# with -user nobody: it binds (a port below 1024 too), then runs with
# nobody's uid and gid in every slot, no supplementary groups and no
# capabilities, and still answers and reloads manifests.  As a user who
# may not bind a privileged port: it exits 1 with a message that says how
# to fix it.  Needs root (to become nobody); skipped otherwise.
. "$(dirname "$0")/../lib.sh"
need dig python3
[ "$(id -u)" = 0 ] || skip_all "needs root to test -user"
id nobody >/dev/null 2>&1 || skip_all "no user nobody"

NOBODY=$(id -u nobody)
NOGROUP=$(id -g nobody)
plan 17

# a free port below 1024 for UDP and TCP on 127.0.0.1
LOWPORT=$(python3 - <<'PY'
import socket
for p in range(950, 1020):
    try:
        for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, t)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", p))
            s.close()
        print(p)
        break
    except OSError:
        continue
PY
)
chmod 755 "$T_TMP"
SE=$T_TMP/se.yaml
cp "$TESTDATA/integration/bar.yaml" "$SE"
chmod 644 "$SE"
PORT=$LOWPORT
cat >"$T_TMP/Corefile" <<EOF
global:$PORT {
    bind 127.0.0.1
    serviceentries {
        file $SE
    }
}
EOF
chmod 644 "$T_TMP/Corefile"

start_globaldns priv "$T_TMP/Corefile" -user nobody || exit 1
status() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "/proc/$GD_PID/status"; }
is "$(status Uid)" "$NOBODY $NOBODY $NOBODY $NOBODY" "-user nobody: real, effective, saved and fs uid are nobody's"
is "$(status Gid)" "$NOGROUP $NOGROUP $NOGROUP $NOGROUP" "gid is nobody's group in every slot"
is "$(status Groups)" "$NOGROUP" "supplementary groups: only that group"
is "$(status CapEff)" "0000000000000000" "no effective capabilities"
is "$(status CapPrm)" "0000000000000000" "no permitted capabilities"
is "$(status NoNewPrivs)" "1" "no_new_privs is set"
is "$(q +short httpbin.bar.global A)" "240.0.1.2" "port $PORT (below 1024) was bound before the drop and answers"
sed 's/240.0.1.2/240.0.1.9/' "$TESTDATA/integration/bar.yaml" >"$T_TMP/se.tmp" && chmod 644 "$T_TMP/se.tmp" && mv "$T_TMP/se.tmp" "$SE"
changed() { [ "$(q +short httpbin.bar.global A)" = 240.0.1.9 ]; }
wait_until 5 changed
ok $? "manifests are still re-read as nobody"
like "$(grep 'running as uid' "$T_TMP/priv.log")" "running as uid $NOBODY, gid $NOGROUP" "the drop is logged"
stop_pid "$GD_PID"
is "$(grep -c 'running as root' "$T_TMP/priv.log")" 0 "with -user: no warning about root"

# as root without -user: it runs, with a warning that says what to do
start_globaldns root "$T_TMP/Corefile" || exit 1
is "$(q +short httpbin.bar.global A)" "240.0.1.9" "as root without -user: it answers"
like "$(grep '^\[WARNING\] running as root' "$T_TMP/root.log")" \
	"running as root \(uid 0\) with every capability: start with -user USER .* -user nobody.*CAP_NET_BIND_SERVICE.*runAsNonRoot" \
	"as root without -user: a warning naming -user and CAP_NET_BIND_SERVICE"
stop_pid "$GD_PID"

"$GLOBALDNS" -conf "$T_TMP/Corefile" -user no-such-user-here >"$T_TMP/nouser.log" 2>&1
is "$?" 1 "-user with an unknown user: exit 1"
like "$(cat "$T_TMP/nouser.log")" "-user no-such-user-here: no such user" "and says so"

# as nobody, binding a privileged port (when the kernel forbids it)
start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024)
if [ "$start" -gt "$PORT" ] && command -v setpriv >/dev/null; then
	setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups --inh-caps=-all \
		"$GLOBALDNS" -conf "$T_TMP/Corefile" >"$T_TMP/unpriv.log" 2>&1
	is "$?" 1 "non-root on port $PORT: exit 1"
	msg=$(cat "$T_TMP/unpriv.log")
	like "$msg" "listen udp \[127\.0\.0\.1\]:$PORT: Permission denied" "the message names the address"
	like "$msg" "-user USER.*setcap cap_net_bind_service=\+ep [^ ]*globaldns.*sysctl -w net\.ipv4\.ip_unprivileged_port_start=$PORT.*-dns\.port" "and says how to fix it (setcap, sysctl, -user, another port)"
else
	ok 0 "# SKIP unprivileged ports start at $start here"
	ok 0 "# SKIP unprivileged ports start at $start here"
	ok 0 "# SKIP unprivileged ports start at $start here"
fi
