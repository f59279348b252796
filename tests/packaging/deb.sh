#!/bin/bash
# deb.sh -- the Debian package (issue 10 item 6): `dpkg-buildpackage -us -uc
# -b` builds it from a copy of the source tree; it holds the binary, the man
# page, the example Corefiles, the systemd unit and /etc/globaldns/Corefile
# as a conffile; installed with apt into a throw-away Debian 12 chroot
# (mmdebstrap minbase from the mirror apt uses here) it creates the system
# user, gives the binary cap_net_bind_service, and the unit is clean under
# `systemd-analyze verify` with an exposure level of at most 2.0.  The
# binary runs from the chroot as the user globaldns in a network namespace
# of the test's own and answers on :53.  Where systemd-nspawn can boot the
# chroot, systemd itself starts the unit (its hardening applied), and
# `systemctl reload` re-reads the Corefile.  Needs root and the mirror.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (chroot, network namespaces)"
need dpkg-buildpackage mmdebstrap dig curl ip python3
plan 33

VERSION=$(sed -n 's/^AC_INIT(\[globaldns\], \[\([^]]*\)\].*/\1/p' "$TOP_SRCDIR/configure.ac")
DEBVER=$(sed -n '1s/^globaldns (\([^)]*\)).*/\1/p' "$TOP_SRCDIR/packaging/debian/changelog")
is "${DEBVER%-*}" "$VERSION" "debian/changelog's upstream version is configure.ac's ($VERSION)"

# ---- build
src_copy "$T_TMP/src"
(cd "$T_TMP/src" && dpkg-buildpackage -us -uc -b) >"$T_TMP/dpkg-buildpackage.log" 2>&1
ok $? "dpkg-buildpackage -us -uc -b (see dpkg-buildpackage.log)"
DEB=$T_TMP/globaldns_${DEBVER}_$(dpkg --print-architecture).deb
[ -f "$DEB" ]
ok $? "it made $(basename "$DEB")"

contents=$(dpkg-deb -c "$DEB" | awk '{ print $6 }' | sed 's|^\./|/|')
has() { printf '%s\n' "$contents" | grep -qx -- "$1"; }
has /usr/sbin/globaldns
ok $? "the package holds /usr/sbin/globaldns"
has /usr/share/man/man8/globaldns.8.gz
ok $? "the man page"
has /usr/share/doc/globaldns/examples/host.Corefile && has /usr/share/doc/globaldns/examples/kubernetes.Corefile \
	&& has /usr/share/doc/globaldns/examples/serviceentries.yaml
ok $? "the example Corefiles and a ServiceEntry manifest"
has /lib/systemd/system/globaldns.service
ok $? "the systemd unit"
is "$(dpkg-deb -I "$DEB" conffiles)" /etc/globaldns/Corefile "/etc/globaldns/Corefile is a conffile"
like "$(dpkg-deb -f "$DEB" Depends)" "libevent-2.1-7.*libldns3|libldns3.*libevent" "Depends: the shared libraries (dpkg-shlibdeps)"
like "$(dpkg-deb -f "$DEB" Depends)" "adduser.*libcap2-bin.*procps" "Depends: adduser, libcap2-bin (postinst), procps (kill for ExecReload)"
like "$(dpkg-deb -f "$DEB" Depends)" "(^|, )libcurl4(,|$)" "Depends: libcurl4 (opened at run time, not linked)"

# ---- install into a fresh Debian 12 chroot, as a user would: apt install ./x.deb
ROOT=$T_TMP/chroot
mmdebstrap --quiet --mode=root --variant=minbase --include=systemd,man-db \
	--customize-hook="copy-in $DEB /tmp" \
	--customize-hook="chroot \"\$1\" apt-get install -y -q --no-install-recommends /tmp/$(basename "$DEB")" \
	--customize-hook='rm -f "$1"/tmp/*.deb' \
	bookworm "$ROOT" "$MIRROR" >"$T_TMP/mmdebstrap.log" 2>&1
ok $? "mmdebstrap bookworm + apt-get install ./$(basename "$DEB") (see mmdebstrap.log)"
T_CLEANUP="${T_CLEANUP:-} rm -rf --one-file-system $ROOT;"
inroot() { chroot "$ROOT" "$@"; }
like "$(inroot getent passwd globaldns)" "^globaldns:x:[0-9]+:[0-9]+:[^:]*:/nonexistent:/usr/sbin/nologin$" "the system user globaldns (no home, no shell)"
GUID=$(inroot id -u globaldns)
[ "$GUID" -lt 1000 ]
ok $? "a system uid ($GUID)"
is "$(inroot getcap /usr/sbin/globaldns)" "/usr/sbin/globaldns cap_net_bind_service=ep" "the binary carries cap_net_bind_service"
is "$(inroot stat -c '%U:%G %a' /usr/sbin/globaldns)" "root:globaldns 750" "only root and the group globaldns may run it"
cmp -s "$ROOT/etc/globaldns/Corefile" "$TOP_SRCDIR/conf/examples/host.Corefile"
ok $? "/etc/globaldns/Corefile is conf/examples/host.Corefile"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/globaldns.service" ]
ok $? "the unit is enabled"
inroot systemd-analyze verify /lib/systemd/system/globaldns.service >"$T_TMP/verify.log" 2>&1
ok $? "systemd-analyze verify: clean (the binary, ExecReload's kill and the man page are found)"
is "$(cat "$T_TMP/verify.log")" "" "and says nothing"
sec=$(inroot systemd-analyze security --offline=true --threshold=20 /lib/systemd/system/globaldns.service 2>&1)
ok $? "systemd-analyze security: exposure at most 2.0"
printf '%s\n' "$sec" | tail -n 1 | sed 's/^/# /'

# ---- run it from the chroot, as the unit does, as the user globaldns
make_netns || exit 1
cp "$TESTDATA/integration/bar.yaml" "$ROOT/etc/globaldns/serviceentries/bar.yaml"
chmod 644 "$ROOT/etc/globaldns/serviceentries/bar.yaml"
inroot runuser -u globaldns -- /usr/sbin/globaldns -validate -quiet -conf /etc/globaldns/Corefile >"$T_TMP/validate.log" 2>&1
ok $? "ExecStartPre's -validate passes as globaldns"
inroot runuser -u globaldns -- env -u KUBERNETES_SERVICE_HOST /usr/sbin/globaldns -validate -quiet \
	-conf /usr/share/doc/globaldns/examples/kubernetes.Corefile >"$T_TMP/kvalidate.log" 2>&1
like "$(cat "$T_TMP/kvalidate.log")" "no Kubernetes configuration: not in a cluster" "the installed libcurl loads (-validate of the Kubernetes example reaches its configuration)"
nsenter --net="$NSPATH" chroot --userspec=globaldns:globaldns "$ROOT" /usr/sbin/globaldns -quiet -conf /etc/globaldns/Corefile \
	>"$T_TMP/chrooted.log" 2>&1 &
GPID=$!
T_PIDS="$T_PIDS $GPID"
wait_ns_dns 53
is "$(nq +short httpbin.bar.global A)" 240.0.1.2 "as uid $GUID, from the chroot: :53 answers from /etc/globaldns/serviceentries"
is "$(awk '$1 == "CapEff:" { print $2 }' "/proc/$GPID/status")" 0000000000000400 "with cap_net_bind_service as its only capability"
is "$(in_ns curl -s --max-time 5 http://127.0.0.1:8181/ready)" OK "/ready on 127.0.0.1:8181"
stop_pid "$GPID"
is "$?" 0 "SIGTERM: exit 0"

# ---- systemd starts the unit (where systemd-nspawn can boot the chroot here)
if command -v systemd-nspawn >/dev/null; then
	timeout 120 systemd-nspawn -q -D "$ROOT" --boot --register=no --keep-unit \
		--network-namespace-path="$NSPATH" >"$T_TMP/nspawn.log" 2>&1 </dev/null &
	NSPAWN=$!
	T_PIDS="$T_PIDS $NSPAWN"
	INIT=
	for _ in $(seq 1 100); do
		INIT=$(pgrep -P "$(pgrep -P "$NSPAWN" -x systemd-nspawn || echo 0)" -x systemd 2>/dev/null | head -n 1)
		[ -n "$INIT" ] && in_ns true && nsenter -t "$INIT" -a systemctl is-active -q globaldns 2>/dev/null && break
		sleep 0.2
	done
fi
if [ -n "${INIT:-}" ] && nsenter -t "$INIT" -a systemctl is-active -q globaldns 2>/dev/null; then
	sc() { nsenter -t "$INIT" -a systemctl "$@"; }
	ok 0 "systemd (booted by systemd-nspawn) started globaldns.service"
	wait_ns_dns 53
	is "$(nq +short httpbin.bar.global A)" 240.0.1.2 "the service answers on :53"
	MPID=$(sc show -p MainPID --value globaldns)
	st=$(nsenter -t "$INIT" -a cat "/proc/$MPID/status")
	is "$(printf '%s\n' "$st" | awk '$1 == "Uid:" { print $2 } $1 == "CapEff:" || $1 == "CapBnd:" || $1 == "NoNewPrivs:" || $1 == "Seccomp:" { print $2 }' | xargs)" \
		"$GUID 0000000000000400 0000000000000400 1 2" "as globaldns, only CAP_NET_BIND_SERVICE (effective and bounding), no_new_privs, a seccomp filter"
	sed -i 's/ttl 30/ttl 77/' "$ROOT/etc/globaldns/Corefile"
	sc reload globaldns
	ok $? "systemctl reload globaldns (ExecReload: SIGHUP)"
	ttl() { nq +noall +answer httpbin.bar.global A | awk '{ print $2 }'; }
	for _ in $(seq 1 50); do [ "$(ttl)" = 77 ] && break; sleep 0.1; done
	is "$(ttl)" 77 "the reloaded Corefile answers (ttl 77)"
	sc stop globaldns
	is "$(sc show -p ActiveState --value globaldns)/$(sc show -p ExecMainStatus --value globaldns)" "inactive/0" "systemctl stop: lameduck, then exit 0"
	sc poweroff 2>/dev/null
	for _ in $(seq 1 100); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.1; done
else
	reason="systemd-nspawn cannot boot the chroot here (see nspawn.log)"
	for _ in 1 2 3 4 5 6; do ok 0 "# SKIP $reason"; done
	[ -f "$T_TMP/nspawn.log" ] && tail -n 5 "$T_TMP/nspawn.log" | sed 's/^/# /'
fi
