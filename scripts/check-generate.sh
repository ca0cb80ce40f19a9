#!/usr/bin/env bash
# Regenerates the bpf2go output and fails if it differs from what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
go generate ./internal/datapath/...
if ! git diff --quiet -- internal/datapath; then
	echo "generated BPF objects are out of date; run 'make generate' and commit:" >&2
	git diff --stat -- internal/datapath >&2
	exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- internal/datapath | grep -E '_bpfe[lb]\.(go|o)$' || true)
if [ -n "$untracked" ]; then
	echo "generated BPF objects are not committed: $untracked" >&2
	exit 1
fi
