#!/usr/bin/env bash
# Regenerates the bpf2go output of every package under internal/datapath
# and fails if that changes the files in the tree: the generated objects
# must be what the C in bpf/ compiles to. On a fresh clone (CI) this checks
# what is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
generated() {
	find internal/datapath -name '*_bpfe[lb].go' -o -name '*_bpfe[lb].o' | LC_ALL=C sort
}
hashes() {
	generated | while read -r f; do sha256sum "$f"; done
}
before=$(hashes)
go generate ./internal/datapath/...
after=$(hashes)
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
