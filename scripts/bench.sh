#!/usr/bin/env bash
# bench.sh prints golvs's figures: the data plane's ns/packet per path
# (BPF_PROG_TEST_RUN, kernel-measured) and ab's requests/s through the VIP
# against straight to one real server, interleaved in one run. Run as root
# through `make bench`.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== data plane: ns/packet (kernel-measured, BPF_PROG_TEST_RUN)"
go test -run '^$' -bench Dataplane -benchtime 200000x -count 3 ./bench/
echo
echo "== end to end: ab requests/s, through the VIP and straight to one real server"
go test -run '^$' -bench EndToEnd -benchtime 1x ./bench/
