#!/bin/bash
# systemd.sh -- packaging/systemd/globaldns.service (issue 10 item 6): clean
# under `systemd-analyze verify` (with the built binary in ExecStart's
# place; tests/packaging/deb.sh verifies the installed unit as it is, man
# page included), hardened as the issue asks, and its `systemd-analyze
# security` exposure is the one the README states (and at most 2.0).
. "$(dirname "$0")/../integration/lib.sh"
need systemd-analyze
plan 13

U=$TOP_SRCDIR/packaging/systemd/globaldns.service
mkdir -p "$T_TMP/unit"
sed "s|/usr/sbin/globaldns|$GLOBALDNS|g" "$U" >"$T_TMP/unit/globaldns.service"
out=$(systemd-analyze verify --man=no "$T_TMP/unit/globaldns.service" 2>&1)
ok $? "systemd-analyze verify"
is "$out" "" "no warning"
# a unit with a mistake is not clean (so the check above checks)
sed 's/^ProtectSystem=strict/ProtectSystem=strictly/' "$T_TMP/unit/globaldns.service" >"$T_TMP/unit/broken.service"
like "$(systemd-analyze verify --man=no "$T_TMP/unit/broken.service" 2>&1)" "broken.service:[0-9]+: Failed to parse protect system value" "a misspelt value is reported with its line"

has() { grep -Eq "^$1\$" "$U"; }
has 'AmbientCapabilities=CAP_NET_BIND_SERVICE' && has 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE'
ok $? "AmbientCapabilities and the bounding set: CAP_NET_BIND_SERVICE only"
has 'NoNewPrivileges=yes'
ok $? "NoNewPrivileges"
has 'ProtectSystem=strict' && has 'ProtectHome=yes' && has 'PrivateTmp=yes' && has 'PrivateDevices=yes'
ok $? "ProtectSystem=strict, ProtectHome, PrivateTmp, PrivateDevices"
has 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK'
ok $? "RestrictAddressFamilies: IP, local sockets, netlink (interface addresses for ns.dns)"
has 'SystemCallFilter=@system-service'
ok $? "SystemCallFilter=@system-service"
has 'ExecReload=/bin/kill -HUP \$MAINPID'
ok $? "ExecReload sends SIGHUP (globaldns re-reads the Corefile)"
has 'User=globaldns' && has 'ExecStart=/usr/sbin/globaldns -quiet -conf /etc/globaldns/Corefile'
ok $? "runs as globaldns with /etc/globaldns/Corefile"

sec=$(systemd-analyze security --offline=true --threshold=20 "$T_TMP/unit/globaldns.service" 2>&1)
ok $? "systemd-analyze security: exposure at most 2.0"
score=$(printf '%s\n' "$sec" | sed -n 's/.*Overall exposure level for globaldns.service: \([0-9.]* [A-Z]*\).*/\1/p')
like "$score" '^[0-9]\.[0-9] (OK|SAFE)$' "exposure: $score"
grep -q "systemd-analyze security.*: \*\*$score\*\*" "$TOP_SRCDIR/README.md"
ok $? "README states that score ($score)"
