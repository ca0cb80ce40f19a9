#!/usr/bin/env bash
# bench-deps.sh installs what only `make bench` needs, on Debian or Ubuntu,
# as root: the load generator and the balancers golvs is compared with.
# `make test` does not call it. Like deps.sh it is idempotent: apt-get runs
# only for what is missing, apt-get update at most once.
#
#   wrk                  load generator (keep-alive and Connection: close)
#   haproxy              target E, TCP mode
#   nftables (nft)       target C, DNAT with numgen round robin
#   libnginx-mod-stream  target D, nginx's stream (TCP) proxy module
#
# The benchmark runs its own haproxy and nginx inside network namespaces
# with their own configuration. When this script installs haproxy it stops
# and disables the system service the package starts.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "bench-deps.sh: run as root (apt-get install)" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "bench-deps.sh: apt-get not found; install by hand: wrk haproxy nftables libnginx-mod-stream" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
have() { command -v "$1" >/dev/null 2>&1; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
have wrk || missing+=(wrk)
have haproxy || missing+=(haproxy)
have nft || missing+=(nftables)
# The stream module must come from the same build as the installed nginx
# (deps.sh installs nginx); its package depends on that exact version.
if ! installed libnginx-mod-stream && [ ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]; then
	missing+=(libnginx-mod-stream)
fi
new_haproxy=0
[[ " ${missing[*]} " == *" haproxy "* ]] && new_haproxy=1

if [ "${#missing[@]}" -ne 0 ]; then
	echo "bench-deps.sh: installing ${missing[*]}"
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$new_haproxy" -eq 1 ]; then
	# The package starts haproxy as a host service; the benchmark runs its own.
	if have systemctl && [ -d /run/systemd/system ]; then
		systemctl disable --now haproxy >/dev/null 2>&1 || true
	else
		if have service; then service haproxy stop >/dev/null 2>&1 || true; fi
		if have update-rc.d; then update-rc.d haproxy disable >/dev/null 2>&1 || true; fi
	fi
fi

for c in wrk haproxy nft; do
	if ! have "$c"; then
		echo "bench-deps.sh: $c is still missing after apt-get install" >&2
		exit 1
	fi
done
if [ ! -e /usr/lib/nginx/modules/ngx_stream_module.so ]; then
	echo "bench-deps.sh: /usr/lib/nginx/modules/ngx_stream_module.so is missing after installing libnginx-mod-stream" >&2
	exit 1
fi
echo "bench-deps.sh: done"
