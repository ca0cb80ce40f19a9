#!/usr/bin/env bash
# Regenerates the bpf2go output and fails if that changes the files in the
# tree: the generated objects must be what the C in bpf/ compiles to. On a
# fresh clone (CI) this checks what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
gen=(internal/datapath/*_bpfel.go internal/datapath/*_bpfel.o)
before=$(sha256sum "${gen[@]}")
go generate ./internal/datapath/...
after=$(sha256sum internal/datapath/*_bpfel.go internal/datapath/*_bpfel.o)
if [ "$before" != "$after" ]; then
	echo "generated BPF objects were out of date; 'make generate' has rewritten them, commit:" >&2
	diff <(echo "$before") <(echo "$after") >&2 || true
	exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- internal/datapath | grep -E '_bpfe[lb]\.(go|o)$' || true)
if [ -n "$untracked" ]; then
	echo "generated BPF objects are not committed: $untracked" >&2
	exit 1
fi
