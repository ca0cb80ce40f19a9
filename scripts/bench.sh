#!/usr/bin/env bash
# bench.sh prints golvs's figures and keeps them under results/<time>/:
#
#   1. the data plane's ns/packet per path (BPF_PROG_TEST_RUN,
#      kernel-measured): dataplane.txt
#   2. end to end on the classic layout in network namespaces, golvs NAT,
#      DR and TUN against no balancer (the floor), nftables DNAT, nginx
#      stream and HAProxy, with wrk (keep-alive and Connection: close) and
#      ab, interleaved rounds: bench.md (tables, machine details),
#      rps-*.png (charts), runs.json (every run)
#
# results/latest/ is a copy of the newest run (the README shows it).
# Run as root through `make bench`; GOLVS_BENCH_ROUNDS sets the number of
# end-to-end rounds (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bench-deps.sh

start=$(date +%s)
out="$PWD/results/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
echo "== data plane: ns/packet, TC and XDP programs (kernel-measured, BPF_PROG_TEST_RUN; min and median of 3 runs)"
go test -run '^$' -bench Dataplane -benchtime 200000x -count 3 ./bench/ | tee "$out/dataplane.txt"
echo
echo "== end to end: golvs against the floor and the alternatives"
GOLVS_BENCH_OUT="$out" go test -run '^$' -bench EndToEnd -benchtime 1x -timeout 30m ./bench/
echo
echo "== connection table: memory per connection, expiry sweep CPU (maps only; the 10M case needs about 6 GiB)"
go test -run '^$' -bench ConnTable -benchtime 1x -timeout 20m ./bench/ | tee "$out/conntable.txt"
echo
echo "== control plane: lvsadm -R of 10,000 services x 10 reals, -Ln, one -a and -d, and the two ways to reload everything"
go test -run '^$' -bench ControlPlane -benchtime 1x -timeout 20m ./bench/ | tee "$out/controlplane.txt"
rm -rf results/latest
cp -r "$out" results/latest
echo
echo "bench.sh: results in $out (copied to results/latest) after $(( $(date +%s) - start )) s"
