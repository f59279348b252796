#!/bin/sh
# dev.sh -- the README's quick start: install what Debian 12 lacks, build,
# then run the demo server or the whole test suite.
#
#   packaging/dev.sh run    build (build/release) and start the demo on 127.0.0.1:1053
#   packaging/dev.sh test   build with ASan+UBSan (build/check) and run every test
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
# speaks HTTP/1.1 only, where a real one speaks HTTP/2.
TEST_DEPS="libcmocka-dev bind9-dnsutils python3 openssl curl ca-certificates iproute2 procps nsd knot dnsmasq-base unbound nghttp2-proxy"
# kubectl against the fake API server (tests/k8s/selftest.sh): Debian's
# kubernetes-client, unless a kubectl is there already (another package's
# /usr/bin/kubectl would make its install fail)
command -v kubectl >/dev/null 2>&1 || TEST_DEPS="$TEST_DEPS kubernetes-client"

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
	install_deps $BUILD_DEPS $TEST_DEPS
	;;
run)
	install_deps $BUILD_DEPS
	build build/release --enable-werror
	echo "dev.sh: starting the demo: dig @127.0.0.1 -p 1053 httpbin.bar.global"
	exec build/release/globaldns -conf conf/demo/Corefile
	;;
test)
	install_deps $BUILD_DEPS $TEST_DEPS
	build build/check --enable-werror --enable-sanitizer
	rc=0
	make -C build/check -j"$(nproc)" check || rc=$?
	[ $rc -eq 0 ] || cat build/check/test-suite.log 2>/dev/null | tail -n 200
	summary build/check
	exit $rc
	;;
*)
	echo "usage: $0 run|test|deps" >&2
	exit 2
	;;
esac
