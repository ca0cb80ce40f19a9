#!/usr/bin/env bash
# differential.sh runs lvsadm's differential test against the real ipvsadm.
#
#   scripts/differential.sh deps     qemu, and Debian's kernel, ipvsadm and
#                                    busybox unpacked into a VM root file
#                                    system under .cache/differential/
#   scripts/differential.sh golden   boot that VM (qemu, software emulation),
#                                    run the corpus through ipvsadm 1.31 and
#                                    rewrite the goldens from its output
#   scripts/differential.sh test     compare lvsadm (against an lvsd in a
#                                    namespace of the test's own) with them
#
# The goldens are committed: `test` (part of `make test`) needs no VM.
# Debian packages are fetched with apt-get download from the configured
# mirror and kept under .cache/differential/debs (git-ignored); the VM has
# no network.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/differential"
debs="$cache/debs"
rootfs="$cache/rootfs"
GO=${GO:-go}
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

# The kernel: Debian 12's 6.1 with IPVS as modules. Pinned for
# reproducible goldens; when the mirror has dropped this ABI, the newest
# 6.1.0-N-amd64 it has is used instead.
KERNEL_ABI=${KERNEL_ABI:-6.1.0-57-amd64}
# Userland for the VM: ipvsadm 1.31 and the libraries it links, busybox
# for /init, netbase for /etc/services (ports by name).
USER_PKGS=(ipvsadm libnl-3-200 libnl-genl-3-200 libpopt0 busybox-static netbase)

die() { echo "differential.sh: $*" >&2; exit 1; }

deps() {
	if [ "$(id -u)" -ne 0 ]; then
		die "run as root (apt-get install)"
	fi
	if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
		echo "differential.sh: installing qemu-system-x86"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-system-x86
	fi
	mkdir -p "$debs"
	local abi=$KERNEL_ABI
	if ! apt-cache show "linux-image-$abi" >/dev/null 2>&1; then
		abi=$(apt-cache pkgnames linux-image-6.1.0- | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' |
			sed 's/^linux-image-//' | sort -t- -k3,3n | tail -1)
		[ -n "$abi" ] || die "no linux-image-6.1.0-N-amd64 in the apt sources"
		echo "differential.sh: linux-image-$KERNEL_ABI is gone; using linux-image-$abi"
	fi
	local pkg
	for pkg in "linux-image-$abi" "${USER_PKGS[@]}"; do
		if ! ls "$debs/${pkg}_"*.deb >/dev/null 2>&1; then
			(cd "$debs" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
			ls "$debs/${pkg}_"*.deb >/dev/null 2>&1 || die "apt-get download $pkg failed"
		fi
	done
	build_rootfs "$abi"
}

# build_rootfs unpacks the packages and assembles the VM's root file system
# (everything but the corpus, which the Go side adds to the initramfs).
build_rootfs() {
	local abi=$1 x="$cache/unpacked"
	rm -rf "$x" "$rootfs"
	mkdir -p "$x" "$rootfs"/{bin,sbin,etc,proc,sys,dev,tmp,lib,lib64,usr/lib}
	local f
	for f in "$debs"/linux-image-"$abi"_*.deb "$debs"/{ipvsadm,libnl-3-200,libnl-genl-3-200,libpopt0,busybox-static,netbase}_*.deb; do
		dpkg-deb -x "$f" "$x"
	done
	cp "$x/boot/vmlinuz-$abi" "$cache/vmlinuz"
	cp "$x/bin/busybox" "$rootfs/bin/busybox"
	cp "$x/sbin/ipvsadm" "$rootfs/sbin/ipvsadm"
	cp "$x/etc/services" "$x/etc/protocols" "$rootfs/etc/"
	# The C library and the loader come from this (Debian 12) system, the
	# rest from the packages: every library ldd names, at the same path.
	local lib
	for lib in $(LD_LIBRARY_PATH="$x/lib/x86_64-linux-gnu:$x/usr/lib/x86_64-linux-gnu" ldd "$x/sbin/ipvsadm" |
		awk '/=>/ {print $3} !/=>/ && $1 ~ /^\// {print $1}'); do
		case $lib in
		"$x"/*) mkdir -p "$rootfs/$(dirname "${lib#"$x"}")"; cp -L "$lib" "$rootfs/${lib#"$x"}" ;;
		*) mkdir -p "$rootfs/$(dirname "$lib")"; cp -L "$lib" "$rootfs/$lib" ;;
		esac
	done
	printf 'hosts: files\nservices: files\nprotocols: files\n' >"$rootfs/etc/nsswitch.conf"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$rootfs/etc/hosts"
	# IPVS and the modules it needs, in load order (modinfo's depends=),
	# and every scheduler 6.1 has: without modprobe in the VM the kernel
	# cannot load a scheduler on demand.
	local kmod="lib/modules/${abi}/kernel"
	local mods=(crypto/crc32c_generic lib/libcrc32c net/ipv4/netfilter/nf_defrag_ipv4
		net/ipv6/netfilter/nf_defrag_ipv6 net/netfilter/nf_conntrack net/netfilter/ipvs/ip_vs)
	local s
	for s in rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh; do
		mods+=("net/netfilter/ipvs/ip_vs_$s")
	done
	mkdir -p "$rootfs/modules"
	: >"$rootfs/modules/order"
	local m
	for m in "${mods[@]}"; do
		cp "$x/$kmod/$m.ko" "$rootfs/modules/"
		echo "$(basename "$m").ko" >>"$rootfs/modules/order"
	done
	cat >"$rootfs/init" <<'EOF'
#!/bin/busybox sh
# /init of the differential VM: load IPVS, run /corpus.sh (written by the
# Go side) with its results on the second serial port, power off.
/bin/busybox --install -s /bin
export PATH=/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in $(cat /modules/order); do
	insmod /modules/$m || echo "differential: insmod $m failed"
done
ip link set lo up
echo "differential: running the corpus"
sh /corpus.sh >/dev/ttyS1 2>&1
echo "differential: done"
sync
poweroff -f
EOF
	chmod 0755 "$rootfs/init"
	echo "$abi" >"$cache/kernel-abi"
	echo "differential.sh: VM root file system in $rootfs (kernel $abi)"
}

case ${1:-} in
deps)
	deps
	;;
golden)
	deps
	cd "$root"
	GOLVS_DIFFERENTIAL_VM="$cache" $GO test -count=1 -timeout 30m -run '^TestRecordGoldens$' ./test/differential -v
	;;
test)
	cd "$root"
	GOLVS_TEST_PRIVILEGED=1 $GO test -count=1 -timeout 5m -run '^TestDifferential$' ./test/differential
	;;
*)
	echo "usage: $0 deps|golden|test" >&2
	exit 2
	;;
esac
