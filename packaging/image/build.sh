#!/bin/sh
# build.sh -- build the globaldns OCI image from Debian's packages, pulling
# nothing from any image registry.
#
#   packaging/image/build.sh [-o OUTDIR] [-b BINARY] [-m MIRROR] [-t TAG]
#
# 1. builds globaldns (release flags, --prefix=/usr) from this source tree,
#    unless -b names a binary already built;
# 2. mmdebstrap extracts the runtime libraries it links against (the list
#    in runtime-packages, checked here against dpkg-shlibdeps) and their
#    dependencies from a Debian 12 mirror into a root file system: no
#    shell, no package manager, no /bin at all;
# 3. adds the binary with the file capability cap_net_bind_service (so uid
#    1337 binds :53), the default Corefile, /etc/passwd and /etc/group with
#    the user globaldns (1337), and /var/lib/dpkg/status.d/ for scanners;
# 4. umoci makes it an OCI image (one layer; user 1337:1337; entrypoint
#    globaldns -conf /etc/globaldns/Corefile) in OUTDIR/oci (an OCI layout,
#    tag TAG) and OUTDIR/globaldns-VERSION.oci.tar (an oci-archive, for
#    `podman load -i`, `skopeo copy oci-archive:...`).
#
# packaging/docker/Dockerfile builds the same image with Docker.  Needs
# root (mmdebstrap --mode=root, setcap, umoci); the tools come from
# Debian: mmdebstrap umoci libcap2-bin dpkg-dev (packaging/dev.sh deps).
set -eu
TOP=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$TOP/packaging/image

OUT=$TOP/build/image
BINARY=
MIRROR=${MIRROR:-}
TAG=
while getopts o:b:m:t: opt; do
	case $opt in
	o) OUT=$OPTARG ;;
	b) BINARY=$OPTARG ;;
	m) MIRROR=$OPTARG ;;
	t) TAG=$OPTARG ;;
	*) sed -n '2,25s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
	esac
done
VERSION=$(sed -n 's/^AC_INIT(\[globaldns\], \[\([^]]*\)\].*/\1/p' "$TOP/configure.ac")
[ -n "$TAG" ] || TAG=$VERSION
UID_GD=1337

say() { echo "build.sh: $*" >&2; }
die() { echo "build.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap --mode=root, setcap, umoci)"
for t in mmdebstrap umoci setcap getcap dpkg-shlibdeps; do
	command -v "$t" >/dev/null || die "$t not found: apt-get install mmdebstrap umoci libcap2-bin dpkg-dev"
done

# the mirror apt uses here, as packaging/dev.sh and CI do
if [ -z "$MIRROR" ]; then
	MIRROR=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
	[ -n "$MIRROR" ] || MIRROR=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
	[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
fi

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/globaldns-image.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# 1. the binary
if [ -z "$BINARY" ]; then
	say "building globaldns in $WORK/build"
	[ -x "$TOP/configure" ] || (cd "$TOP" && autoreconf -fi)
	mkdir -p "$WORK/build"
	(cd "$WORK/build" && "$TOP/configure" -q --prefix=/usr --sysconfdir=/etc \
		CFLAGS="-O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2" \
		LDFLAGS="-Wl,-z,relro -Wl,-z,now" \
		&& make -s -j"$(nproc)" globaldns >/dev/null)
	BINARY=$WORK/build/globaldns
fi
[ -x "$BINARY" ] || die "$BINARY: not an executable"
cp "$BINARY" "$WORK/globaldns"
strip --strip-unneeded "$WORK/globaldns"

# 2. the runtime libraries: runtime-packages must name every package
# dpkg-shlibdeps finds for the binary (the Dockerfile installs the same list)
PKGS=$(grep -v '^#' "$HERE/runtime-packages" | tr -s ' \n' ' ')
mkdir -p "$WORK/shl/debian"
echo "Source: globaldns" >"$WORK/shl/debian/control"
need=$(cd "$WORK/shl" && dpkg-shlibdeps -O ../globaldns 2>/dev/null | sed 's/^shlibs:Depends=//' \
	| tr ',' '\n' | sed 's/^ *//; s/ .*//' | grep -v '^$')
for p in $need; do
	case " $PKGS " in *" $p "*) ;; *) die "the binary needs $p: add it to packaging/image/runtime-packages" ;; esac
done
say "extracting from $MIRROR: $PKGS"
ROOT=$WORK/rootfs
mmdebstrap --quiet --mode=root --variant=extract --skip=cleanup/apt/cache \
	--include="$(echo $PKGS | tr ' ' ',')" bookworm "$ROOT" "$MIRROR"

# what scanners read (as distroless images do): one status file per package
mkdir -p "$ROOT/var/lib/dpkg/status.d"
for deb in "$ROOT"/var/cache/apt/archives/*.deb; do
	name=$(dpkg-deb -f "$deb" Package)
	dpkg-deb -f "$deb" Package Version Architecture Maintainer Source Depends Description \
		>"$ROOT/var/lib/dpkg/status.d/$name"
	echo "Status: install ok installed" >>"$ROOT/var/lib/dpkg/status.d/$name"
done
# only what runs: no apt state, no device nodes (the runtime makes /dev),
# no documentation but the copyright files, no locales, no man pages
rm -rf "$ROOT/var/cache/apt" "$ROOT/var/lib/apt" "$ROOT/var/log" "$ROOT/etc/apt" \
	"$ROOT/etc/dpkg" "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/triggers" \
	"$ROOT/var/lib/dpkg/updates" "$ROOT/var/lib/dpkg/alternatives" \
	"$ROOT/usr/share/man" "$ROOT/usr/share/locale" "$ROOT/usr/share/lintian" \
	"$ROOT/usr/share/info" "$ROOT/etc/hostname" "$ROOT/etc/resolv.conf" \
	"$ROOT/etc/fstab"
rm -f "$ROOT/var/lib/dpkg/status" "$ROOT/var/lib/dpkg/arch"
find "$ROOT/dev" -mindepth 1 -delete
find "$ROOT/usr/share/doc" -type f ! -name copyright -delete
find "$ROOT/usr/share/doc" -depth -type d -empty -delete

# 3. globaldns itself
install -d -m 0755 "$ROOT/usr/sbin" "$ROOT/etc/globaldns" "$ROOT/etc/globaldns/serviceentries"
install -m 0755 "$WORK/globaldns" "$ROOT/usr/sbin/globaldns"
setcap cap_net_bind_service=+ep "$ROOT/usr/sbin/globaldns"
install -m 0644 "$TOP/conf/examples/kubernetes.Corefile" "$ROOT/etc/globaldns/Corefile"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nglobaldns:x:%s:%s:globaldns:/nonexistent:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' \
	"$UID_GD" "$UID_GD" >"$ROOT/etc/passwd"
printf 'root:x:0:\nglobaldns:x:%s:\nnogroup:x:65534:\n' "$UID_GD" >"$ROOT/etc/group"
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$ROOT/etc/nsswitch.conf"
chmod 0644 "$ROOT/etc/passwd" "$ROOT/etc/group" "$ROOT/etc/nsswitch.conf"
install -d -m 1777 "$ROOT/tmp"

# 4. the OCI image
LAYOUT=$OUT/oci
rm -rf "$LAYOUT"
umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:$TAG"
umoci unpack --image "$LAYOUT:$TAG" "$WORK/bundle" >/dev/null
cp -a "$ROOT/." "$WORK/bundle/rootfs/"
umoci repack --image "$LAYOUT:$TAG" --history.created_by "packaging/image/build.sh (mmdebstrap bookworm: $PKGS)" "$WORK/bundle"
umoci config --image "$LAYOUT:$TAG" \
	--os linux --architecture "$(dpkg --print-architecture)" \
	--config.user "$UID_GD:$UID_GD" \
	--config.entrypoint /usr/sbin/globaldns \
	--config.cmd -conf --config.cmd /etc/globaldns/Corefile \
	--config.workingdir / \
	--config.env PATH=/usr/sbin:/usr/bin \
	--config.exposedports 53/udp --config.exposedports 53/tcp \
	--config.exposedports 8080/tcp --config.exposedports 8181/tcp \
	--config.exposedports 9153/tcp \
	--config.stopsignal SIGTERM \
	--config.label org.opencontainers.image.title=globaldns \
	--config.label org.opencontainers.image.version="$VERSION" \
	--config.label org.opencontainers.image.description="DNS for Istio multi-cluster .global names from ServiceEntries" \
	--config.label org.opencontainers.image.base.name=debian:bookworm \
	--history.created_by "umoci config (user $UID_GD, entrypoint globaldns)"
umoci gc --layout "$LAYOUT"
ARCHIVE=$OUT/globaldns-$TAG.oci.tar
tar -C "$LAYOUT" -cf "$ARCHIVE" .

rootfs_kb=$(du -sk "$ROOT" | cut -f1)
blobs_kb=$(du -sk "$LAYOUT/blobs" | cut -f1)
say "image $LAYOUT:$TAG"
say "archive $ARCHIVE"
say "size: $((rootfs_kb / 1024)) MiB unpacked, $((blobs_kb / 1024)) MiB compressed ($(echo $PKGS | wc -w) packages and their dependencies)"
echo "$LAYOUT:$TAG"
