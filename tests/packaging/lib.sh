# lib.sh -- helpers of the packaging tests (deb.sh, image.sh).  Source
# after ../integration/lib.sh.
#
#   MIRROR              the Debian mirror apt uses here (as CI's machine)
#   make_netns          a network namespace of the test's own with only
#                       loopback up; sets NSPATH (/proc/PID/ns/net); it goes
#                       when the test's processes are stopped
#   in_ns CMD...        run CMD in it (a function: to start a daemon in the
#                       background, write `nsenter --net="$NSPATH" CMD &`
#                       so that $! is the daemon's PID)
#   nq ARGS...          dig @127.0.0.1 in it (port 53 unless -p is given)
#   src_copy DIR        the source tree (no build/, no .git) copied to DIR

MIRROR=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
[ -n "$MIRROR" ] || MIRROR=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian

NSPATH=
make_netns() {
	# a process of its own holds the namespace: no /run/netns mount (which
	# `ip netns add` makes, and which needs / to be a mount point: not in
	# a plain chroot), and it ends with the test's processes
	unshare --net sleep 900 &
	T_PIDS="$T_PIDS $!"
	NSPATH=/proc/$!/ns/net
	for _ in $(seq 1 50); do
		[ "$(readlink "$NSPATH" 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ] && break
		sleep 0.1
	done
	[ "$(readlink "$NSPATH" 2>/dev/null)" != "$(readlink /proc/self/ns/net)" ] || return 1
	nsenter --net="$NSPATH" ip link set lo up
}
in_ns() { nsenter --net="$NSPATH" "$@"; }
nq() { nsenter --net="$NSPATH" dig @127.0.0.1 +tries=1 +time=2 "$@"; }

# wait_ns_dns PORT: until something answers DNS there in the namespace (20 s)
wait_ns_dns() {
	for _ in $(seq 1 200); do
		nq -p "$1" . SOA 2>/dev/null | grep -q -- '->>HEADER<<-' && return 0
		sleep 0.1
	done
	return 1
}

src_copy() {
	mkdir -p "$1"
	tar -C "$TOP_SRCDIR" --exclude=./build --exclude=./.git --exclude=./autom4te.cache \
		--exclude='./globaldns*.tar.gz' -cf - . | tar -C "$1" -xf -
}
