#!/usr/bin/env bash
# demo.sh runs the classic LVS-NAT tutorial with golvs, in network namespaces
# on this machine, and removes everything it made when it ends (also on
# Ctrl-C or failure). Run it as root through `make demo`, which installs the
# dependencies (scripts/deps.sh) and builds bin/lvsd and bin/lvsadm first.
#
#   client 198.18.0.2 ── eth0 ─ director ─ eth1 ── switch ──┬── rs1 198.19.0.11 (nginx)
#                    VIP 198.18.0.10   DIP 198.19.0.1        └── rs2 198.19.0.12 (nginx)
#
# It exits non-zero when curl does not alternate between the two real
# servers or ab reports failed requests.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LVSD=${LVSD:-$root/bin/lvsd}
LVSADM=${LVSADM:-$root/bin/lvsadm}
AB_REQUESTS=${AB_REQUESTS:-10000}
AB_CONCURRENCY=${AB_CONCURRENCY:-100}

VIP=198.18.0.10
CIP=198.18.0.2
DIP=198.19.0.1
RIPS=(198.19.0.11 198.19.0.12)

if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh: run as root (network namespaces, BPF)" >&2
	exit 1
fi
for b in "$LVSD" "$LVSADM"; do
	if [ ! -x "$b" ]; then
		echo "demo.sh: $b not found; run 'make demo' (it builds bin/)" >&2
		exit 1
	fi
done
for c in ip nsenter nginx curl ab; do
	if ! command -v "$c" >/dev/null 2>&1; then
		echo "demo.sh: $c not found; run scripts/deps.sh" >&2
		exit 1
	fi
done

# Everything this run creates carries this prefix.
prefix="gldemo$$-"
NS_CLIENT=${prefix}client
NS_DIRECTOR=${prefix}director
NS_SWITCH=${prefix}switch
NS_RS=("${prefix}rs1" "${prefix}rs2")
PIN_DIR=/sys/fs/bpf/gldemo$$
work=$(mktemp -d /tmp/gldemo.XXXXXX)
export GOLVS_SOCKET=$work/lvsd.sock

namespaces=()
nginx_pids=()
lvsd_pid=""

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	echo
	echo "==> Cleaning up"
	if [ -n "$lvsd_pid" ] && kill -0 "$lvsd_pid" 2>/dev/null; then
		kill -TERM "$lvsd_pid"
		for _ in $(seq 100); do
			kill -0 "$lvsd_pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$lvsd_pid" 2>/dev/null; then
			echo "lvsd did not stop on SIGTERM; killing it" >&2
			kill -KILL "$lvsd_pid"
		fi
		wait "$lvsd_pid" 2>/dev/null
		echo "lvsd stopped (exit status $?)"
	fi
	for p in "${nginx_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${nginx_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	for ns in "${namespaces[@]}"; do
		# Anything still running in our namespaces was started by us.
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$PIN_DIR" "$work"
	echo "removed namespaces ${prefix}*, $PIN_DIR and $work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

heading() { printf '\n==> %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
# show prints a command the way the reader would type it, then runs it.
show() {
	printf '+ %s\n' "$*"
	"$@"
}
# lvsadm runs our lvsadm; the reader types plain "lvsadm".
lvsadm() { "$LVSADM" "$@"; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
sysctl_ns() { in_ns "$1" sh -c "printf '%s\n' '$3' > /proc/sys/${2//.//}"; }
add_ns() {
	ip netns add "$1"
	namespaces+=("$1")
	ip -n "$1" link set lo up
	sysctl_ns "$1" net.ipv6.conf.all.disable_ipv6 1
	sysctl_ns "$1" net.ipv6.conf.default.disable_ipv6 1
}
veth() { # veth NS_A LINK_A NS_B LINK_B
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

heading "1. The network: a client, a director and two real servers, each in its own network namespace"
say "client    $CIP/24         (namespace $NS_CLIENT)"
say "director  VIP $VIP/24 on eth0, DIP $DIP/24 on eth1, ip_forward=1 ($NS_DIRECTOR)"
say "rs1, rs2  ${RIPS[0]}, ${RIPS[1]}, default gateway $DIP, nginx on port 80"
say "          (on one bridge with the director's eth1, namespace $NS_SWITCH)"
add_ns "$NS_CLIENT"
add_ns "$NS_DIRECTOR"
add_ns "$NS_SWITCH"
veth "$NS_CLIENT" eth0 "$NS_DIRECTOR" eth0
ip -n "$NS_CLIENT" addr add "$CIP/24" dev eth0
# Only for the comparison in step 5: the client can reach the real servers
# directly, routed by the director.
ip -n "$NS_CLIENT" route add 198.19.0.0/24 via "$VIP"
ip -n "$NS_DIRECTOR" addr add "$VIP/24" dev eth0
veth "$NS_DIRECTOR" eth1 "$NS_SWITCH" p-director
ip -n "$NS_DIRECTOR" addr add "$DIP/24" dev eth1
sysctl_ns "$NS_DIRECTOR" net.ipv4.ip_forward 1
ip -n "$NS_SWITCH" link add br0 type bridge stp_state 0 forward_delay 0
ip -n "$NS_SWITCH" link set br0 up
ip -n "$NS_SWITCH" link set p-director master br0

# nginx builds differ in modules; keep every temporary path of the ones
# this build has inside our directory.
nginx_v=$(nginx -V 2>&1)
temp_paths="client_body"
for m in proxy fastcgi uwsgi scgi; do
	case $nginx_v in *"--without-http_${m}_module"*) ;; *) temp_paths="$temp_paths $m" ;; esac
done

for i in 0 1; do
	ns=${NS_RS[$i]}
	name=rs$((i + 1))
	rip=${RIPS[$i]}
	add_ns "$ns"
	veth "$ns" eth0 "$NS_SWITCH" "p-$name"
	ip -n "$NS_SWITCH" link set "p-$name" master br0
	ip -n "$ns" addr add "$rip/24" dev eth0
	ip -n "$ns" route add default via "$DIP"

	dir=$work/$name
	mkdir -p "$dir/html"
	# Pages of equal length, so that ab sees no length mismatches.
	printf 'Hello from real server %s (%s)\n' "$name" "$rip" >"$dir/html/index.html"
	{
		printf 'daemon off;\nworker_processes 2;\nuser root;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n' "$dir" "$dir"
		printf 'events { worker_connections 4096; }\nhttp {\n'
		printf "  log_format demo '\$remote_addr - \"\$request\" \$status';\n"
		printf '  access_log %s/access.log demo;\n' "$dir"
		for m in $temp_paths; do printf '  %s_temp_path %s/%s_temp;\n' "$m" "$dir" "$m"; done
		printf '  default_type text/plain;\n'
		# Port 8080 is for the direct comparison in step 5: a direct
		# connection to RIP:80 could reuse a client port of a connection
		# through the VIP, and its replies would then match that
		# connection's NAT entry (IPVS has the same ambiguity).
		printf '  server { listen 80 backlog=4096; listen 8080 backlog=4096; root %s/html; index index.html; }\n}\n' "$dir"
	} >"$dir/nginx.conf"
	# ip netns exec execs nginx, so $! is nginx's master process.
	ip netns exec "$ns" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stderr.log" 2>&1 &
	nginx_pids+=($!)
done
for i in 0 1; do
	ok=0
	for _ in $(seq 100); do
		if in_ns "${NS_RS[$i]}" curl -s -o /dev/null --max-time 1 http://127.0.0.1/; then
			ok=1
			break
		fi
		sleep 0.1
	done
	if [ "$ok" -ne 1 ]; then
		echo "demo.sh: nginx on rs$((i + 1)) did not start:" >&2
		cat "$work/rs$((i + 1))/stderr.log" "$work/rs$((i + 1))/error.log" >&2 || true
		exit 1
	fi
done
say "nginx answers on both real servers; nothing listens on the VIP yet."

heading "2. Start lvsd on the director, attached to both of its links"
if [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
	mount -t bpf bpf /sys/fs/bpf
fi
printf '+ lvsd --interfaces eth0,eth1    (in the director'"'"'s namespace)\n'
nsenter --net="/var/run/netns/$NS_DIRECTOR" "$LVSD" --interfaces eth0,eth1 \
	--socket "$GOLVS_SOCKET" --pin-dir "$PIN_DIR" --state-dir "$work/state" >"$work/lvsd.log" 2>&1 &
lvsd_pid=$!
# lvsd answers on its socket once its programs are attached.
ready=
for _ in $(seq 200); do
	"$LVSADM" -Ln >/dev/null 2>&1 && ready=1 && break
	kill -0 "$lvsd_pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$ready" ]; then
	echo "demo.sh: lvsd did not start:" >&2
	cat "$work/lvsd.log" >&2
	exit 1
fi
say "lvsadm reaches it through \$GOLVS_SOCKET=$GOLVS_SOCKET"

heading "3. Create the virtual service: TCP $VIP:80, round robin, two real servers by NAT (-m)"
show lvsadm -A -t "$VIP:80" -s rr
show lvsadm -a -t "$VIP:80" -r "${RIPS[0]}:80" -m
show lvsadm -a -t "$VIP:80" -r "${RIPS[1]}:80" -m
show lvsadm -Ln

heading "4. Six requests from the client: round robin alternates between the real servers"
bodies=()
for _ in 1 2 3 4 5 6; do
	printf '+ curl -s http://%s/\n' "$VIP"
	body=$(in_ns "$NS_CLIENT" curl -sS --max-time 5 "http://$VIP/")
	printf '%s\n' "$body"
	bodies+=("$body")
done
alternates=1
for i in 1 2 3 4 5; do
	[ "${bodies[$i]}" != "${bodies[$((i - 1))]}" ] || alternates=0
done
if [ "$alternates" -ne 1 ]; then
	echo "demo.sh: FAIL: curl did not alternate between the two real servers" >&2
	exit 1
fi
say "The real servers see the client's own address; the director only forwards packets:"
printf '+ tail -n 2 rs1/access.log\n'
tail -n 2 "$work/rs1/access.log"

heading "5. Load: ab -n $AB_REQUESTS -c $AB_CONCURRENCY against the VIP"
printf '+ ab -n %s -c %s http://%s/\n' "$AB_REQUESTS" "$AB_CONCURRENCY" "$VIP"
if ! ab_out=$(in_ns "$NS_CLIENT" ab -q -n "$AB_REQUESTS" -c "$AB_CONCURRENCY" -s 10 "http://$VIP/" 2>&1); then
	printf '%s\n' "$ab_out"
	echo "demo.sh: FAIL: ab failed" >&2
	exit 1
fi
printf '%s\n' "$ab_out" | sed -n '/^Concurrency Level:/,/^Transfer rate:/p'
failed=$(printf '%s\n' "$ab_out" | awk -F: '/^Failed requests:/ {gsub(/ /, "", $2); print $2}')
if [ "$failed" != 0 ] || printf '%s\n' "$ab_out" | grep -q '^Non-2xx responses:'; then
	echo "demo.sh: FAIL: ab reports failed requests ($failed) or non-2xx responses" >&2
	exit 1
fi

vip_rps=$(printf '%s\n' "$ab_out" | awk '/^Requests per second:/ {print $4}')
say "For comparison, the same load straight to rs1, bypassing the director's virtual service:"
printf '+ ab -n %s -c %s http://%s:8080/\n' "$AB_REQUESTS" "$AB_CONCURRENCY" "${RIPS[0]}"
direct_out=$(in_ns "$NS_CLIENT" ab -q -n "$AB_REQUESTS" -c "$AB_CONCURRENCY" -s 10 "http://${RIPS[0]}:8080/" 2>&1) || true
direct_rps=$(printf '%s\n' "$direct_out" | awk '/^Requests per second:/ {print $4}')
say "requests/s through the VIP: ${vip_rps:-?}; straight to rs1: ${direct_rps:-?}"

heading "6. What the director saw: the table, its counters and its connection entries"
show lvsadm -Ln
show lvsadm -Ln --stats
printf '+ lvsadm -Lnc | head\n'
# sed reads to the end (head would cut lvsadm off with SIGPIPE).
lvsadm -Lnc | sed -n '1,10p'

heading "Done: curl alternated between rs1 and rs2, and ab reported Failed requests: 0"
