#!/bin/sh
# dev.sh -- the README's quick start: install what Debian 12 lacks, build,
# then run the demo server or the whole test suite.
#
#   packaging/dev.sh run    build (build/release) and start the demo on 127.0.0.1:1053
#   packaging/dev.sh test   build with ASan+UBSan (build/check) and run every test:
#                           make check, then make check-packaging (the image,
#                           the .deb in a Debian 12 chroot, the Kubernetes
#                           manifests against the OpenAPI schema)
#   packaging/dev.sh deps   only install the packages
#
# Packages are installed with apt-get when missing (as root, or through sudo).
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)

BUILD_DEPS="build-essential autoconf automake pkg-config libevent-dev libldns-dev libc-ares-dev libcurl4-openssl-dev libcjson-dev libyaml-dev"
# dig for the tests; python3 + openssl + curl for the fake Kubernetes API
# server; the DNS servers the forwarder tests use as upstreams and clients;
# nghttpx (nghttp2-proxy), an HTTP/2 front for the fake API server, which
# speaks HTTP/1.1 only, where a real one speaks HTTP/2; prometheus (with
# promtool) scrapes globaldns and checks its exposition; util-linux's
# unshare runs Istio's Corefiles on port 53 in a namespace of their own;
# strace counts the system calls of an idle daemon (registry/idle_files.sh).
TEST_DEPS="libcmocka-dev bind9-dnsutils python3 openssl curl ca-certificates iproute2 procps nsd knot dnsmasq-base unbound nghttp2-proxy prometheus util-linux python3-yaml python3-kubernetes systemd strace"
# python3-kubernetes: its models are the Kubernetes OpenAPI schema the
# manifests are validated against; kubectl (Debian's kubernetes-client)
# builds the Kustomize base.  The packaging tests (make check-packaging):
# mmdebstrap and umoci build the image and the chroots, runc runs the
# image, dpkg-dev and debhelper build the .deb, systemd-container boots the
# chroot to start the unit.  kubectl and runc are installed only when the
# command is missing (install_cmds): one that came otherwise (a cloud SDK,
# containerd.io) would conflict.
PACKAGING_DEPS="mmdebstrap umoci libcap2-bin dpkg-dev debhelper systemd-container util-linux"

missing() {
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"
	done
}

install_deps() {
	need=$(missing "$@")
	[ -z "$need" ] && return 0
	echo "dev.sh: installing:" $need
	if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	# the daemons come with services we do not want started
	$SUDO apt-get install -y -q --no-install-recommends $need
}

# packages whose command may come from elsewhere (a node or kubectl
# installed by other means): only when the command is missing
install_cmds() {   # install_cmds COMMAND:PACKAGE...
	pkgs=""
	for cp in "$@"; do
		command -v "${cp%%:*}" >/dev/null 2>&1 || pkgs="$pkgs ${cp#*:}"
	done
	[ -z "$pkgs" ] || install_deps $pkgs
}

build() {   # build DIR CONFIGURE-FLAGS...
	dir=$1; shift
	if [ ! -x configure ] || [ configure.ac -nt configure ] || [ Makefile.am -nt Makefile.in ]; then
		autoreconf -fi
	fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ] || [ configure -nt "$dir/Makefile" ]; then
		(cd "$dir" && "$TOP/configure" -q "$@")
	fi
	make -C "$dir" -j"$(nproc)" globaldns
}

summary() {   # the totals of every TAP test point in the suite
	dir=$1
	pass=$(find "$dir" -name "*.trs" -exec cat {} + | grep -cE '^:test-result: (PASS|XFAIL|SKIP)' || true)
	fail=$(find "$dir" -name "*.trs" -exec cat {} + | grep -cE '^:test-result: (FAIL|XPASS|ERROR)' || true)
	echo "${pass} passed, ${fail} failed"
}

case "${1:-}" in
deps)
	install_deps $BUILD_DEPS $TEST_DEPS $PACKAGING_DEPS
	install_cmds kubectl:kubernetes-client runc:runc
	;;
run)
	install_deps $BUILD_DEPS
	build build/release --enable-werror
	echo "dev.sh: starting the demo: dig @127.0.0.1 -p 1053 httpbin.bar.global"
	exec build/release/globaldns -conf conf/demo/Corefile
	;;
test)
	install_deps $BUILD_DEPS $TEST_DEPS $PACKAGING_DEPS
	install_cmds kubectl:kubernetes-client runc:runc
	build build/check --enable-werror --enable-sanitizer
	rc=0
	make -C build/check -j"$(nproc)" check || rc=$?
	# one at a time: they share the mirror, the two cores, and build a lot
	make -C build/check check-packaging || rc=$?
	if [ $rc -ne 0 ]; then   # the logs of what failed
		find build/check -name '*.trs' | while read -r t; do
			grep -qE '^:test-result: (FAIL|XPASS|ERROR)' "$t" || continue
			echo "==== ${t%.trs}.log"; tail -n 80 "${t%.trs}.log"
		done
	fi
	summary build/check
	exit $rc
	;;
*)
	echo "usage: $0 run|test|deps" >&2
	exit 2
	;;
esac
