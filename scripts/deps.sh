#!/usr/bin/env bash
# deps.sh installs what golvs's demo, end-to-end tests, benchmarks and code
# generation need, on Debian or Ubuntu, as root. It is idempotent: it only
# calls apt-get for programs that are missing, and runs apt-get update at
# most once, only then.
#
#   nginx (nginx-light where the distribution has it), ab (apache2-utils),
#   curl, ip/ss/nstat (iproute2), nsenter (util-linux): demo and tests
#   clang-19, llvm-19, libbpf-dev: make generate (bpf2go); go build
#   and go test do not need them.
#
# The demo and the tests run their own nginx instances inside network
# namespaces with their own configuration, pid and log files. When this
# script installs nginx it stops and disables the system's nginx service that
# the package starts, so that port 80 of the host stays free; an nginx that
# was already installed is left alone.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: run as root (apt-get install)" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: apt-get not found; install by hand: nginx apache2-utils curl iproute2 util-linux ethtool clang-19 llvm-19 libbpf-dev" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
updated=0
apt_update() {
	if [ "$updated" -eq 0 ]; then
		apt-get update -qq
		updated=1
	fi
}

have() { command -v "$1" >/dev/null 2>&1; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
want_cmd() { # want_cmd COMMAND PACKAGE
	if ! have "$1"; then
		missing+=("$2")
	fi
}
want_pkg() { # want_pkg PACKAGE
	if ! installed "$1"; then
		missing+=("$1")
	fi
}

want_cmd ab apache2-utils
want_cmd curl curl
want_cmd ip iproute2
want_cmd ss iproute2
want_cmd nstat iproute2
want_cmd nsenter util-linux
want_cmd ethtool ethtool
want_cmd clang-19 clang-19
want_cmd llvm-strip-19 llvm-19
want_pkg libbpf-dev

nginx_pkg=""
if ! have nginx; then
	apt_update
	if apt-cache show nginx-light >/dev/null 2>&1; then
		nginx_pkg=nginx-light
	else
		nginx_pkg=nginx
	fi
	missing+=("$nginx_pkg")
fi

if [ "${#missing[@]}" -eq 0 ]; then
	echo "deps.sh: everything is installed"
	exit 0
fi

# Unique names, in order.
mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
echo "deps.sh: installing ${pkgs[*]}"
apt_update
apt-get install -y -qq --no-install-recommends "${pkgs[@]}"

if [ -n "$nginx_pkg" ]; then
	# The package starts nginx on port 80 of the host; golvs runs its own.
	if have systemctl && [ -d /run/systemd/system ]; then
		systemctl disable --now nginx >/dev/null 2>&1 || true
	else
		if have service; then
			service nginx stop >/dev/null 2>&1 || true
		fi
		if have update-rc.d; then
			update-rc.d nginx disable >/dev/null 2>&1 || true
		fi
	fi
fi

for c in nginx ab curl ip ss nsenter; do
	if ! have "$c"; then
		echo "deps.sh: $c is still missing after apt-get install" >&2
		exit 1
	fi
done
echo "deps.sh: done"
