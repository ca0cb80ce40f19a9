package datapath

// This file holds the generic reads and writes of maps the other files
// share: batch operations with a one-by-one fallback for kernels without
// them, whole-array reads, and scans of hash maps.

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"

	"golvs/internal/lvs"
)

func batchPut[K, V any](m *ebpf.Map, keys []K, vals []V) error {
	_, err := m.BatchUpdate(keys, vals, nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		for i := range keys {
			if err := m.Put(&keys[i], &vals[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return err
}

// batchPutPerCPU writes keys of per-CPU map m, vals holding
// possibleCPUs() values for each key in turn.
func batchPutPerCPU[V any](m *ebpf.Map, keys []uint32, vals []V) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := m.BatchUpdate(keys, vals, nil)
	if errors.Is(err, ebpf.ErrNotSupported) {
		n := possibleCPUs()
		for i, k := range keys {
			if err := m.Put(k, vals[i*n:(i+1)*n]); err != nil {
				return err
			}
		}
		return nil
	}
	return err
}

// deleteAll deletes keys of m in batches (a hash map: the kernel has no
// batch delete for an array of maps). A batch stops at a key that is not
// there (a half-done earlier delete), which is no error: the next batch
// goes on after it. It appends the errors to errs and returns, for each,
// the index of its key.
func deleteAll[K any](m *ebpf.Map, keys []K, errs *[]error) (failed []int) {
	for done := 0; done < len(keys); {
		n, err := m.BatchDelete(keys[done:], nil)
		if errors.Is(err, ebpf.ErrNotSupported) {
			for i := done; i < len(keys); i++ {
				if err := m.Delete(&keys[i]); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
					*errs = append(*errs, err)
					failed = append(failed, i)
				}
			}
			return failed
		}
		done += n
		if err == nil {
			return failed
		}
		if !errors.Is(err, ebpf.ErrKeyNotExist) {
			*errs = append(*errs, err)
			failed = append(failed, done)
		}
		done++ // past the key the batch stopped at
	}
	return failed
}

// rangeReadFactor decides between reading an array's keys one by one and
// reading the array from its start up to the largest key in one batch:
// a lookup costs a system call, a batch element a copy about this many
// times cheaper.
const rangeReadFactor = 16

// readWhole reports whether keys are better read with one batch read of
// entries 0..max(keys) than one by one.
func readWhole(keys []uint32) (n int, whole bool) {
	var top uint32
	for _, k := range keys {
		top = max(top, k)
	}
	n = int(top) + 1
	return n, len(keys) > 1 && n <= len(keys)*rangeReadFactor
}

// lookupArray returns the values of keys of array m, in their order.
func lookupArray[V any](m *ebpf.Map, keys []uint32) ([]V, error) {
	out := make([]V, len(keys))
	if n, whole := readWhole(keys); whole {
		all := make([]V, n)
		err := readArray(m, n, all)
		if err == nil {
			for i, k := range keys {
				out[i] = all[k]
			}
			return out, nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return nil, err
		}
	}
	for i, k := range keys {
		if err := m.Lookup(k, &out[i]); err != nil {
			return nil, fmt.Errorf("key %d: %w", k, err)
		}
	}
	return out, nil
}

// readArray reads entries 0..n-1 of array m into vals (n values, or n
// times possibleCPUs() for a per-CPU array) with batch reads.
func readArray[V any](m *ebpf.Map, n int, vals []V) error {
	if n > int(m.MaxEntries()) {
		return fmt.Errorf("read %d entries of %s: it has %d", n, m, m.MaxEntries())
	}
	per := len(vals) / n
	keys := make([]uint32, n)
	var cursor ebpf.MapBatchCursor
	for got := 0; got < n; {
		c, err := m.BatchLookup(&cursor, keys[got:], vals[got*per:], nil)
		got += c
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist), err == nil && c == 0:
			// The end of the array.
			if got < n {
				return fmt.Errorf("read %d entries of %s: only %d", n, m, got)
			}
		case err != nil:
			return err
		}
	}
	return nil
}

// sumPerCPU returns the statistics of keys of per-CPU array m, in their
// order, summed over CPUs.
func sumPerCPU(m *ebpf.Map, keys []uint32) ([]lvs.Stats, error) {
	out := make([]lvs.Stats, len(keys))
	cpus := possibleCPUs()
	if n, whole := readWhole(keys); whole {
		all := make([]lvsLvsStats, n*cpus)
		err := readArray(m, n, all)
		if err == nil {
			for i, k := range keys {
				out[i] = sum(all[int(k)*cpus : int(k+1)*cpus])
			}
			return out, nil
		}
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return nil, err
		}
	}
	per := make([]lvsLvsStats, cpus)
	for i, k := range keys {
		if err := m.Lookup(k, per); err != nil {
			return nil, fmt.Errorf("key %d: %w", k, err)
		}
		out[i] = sum(per)
	}
	return out, nil
}

// keysOf returns the keys of map m's entries that keep selects, read as
// key type K and value type V.
func keysOf[K, V any](m *ebpf.Map, keep func(*K, *V) bool) ([]K, error) {
	var keys []K
	err := scan(m, nil, 0, func(k *K, v *V) {
		if keep(k, v) {
			keys = append(keys, *k)
		}
	})
	return keys, err
}

// scanBatch is how many entries one BPF_MAP_LOOKUP_BATCH reads. A
// hash map's batch must hold its fullest bucket (ENOSPC otherwise), which
// a table sized by its entries never comes near.
const scanBatch = 4096

// scan calls fn with every entry of hash map m, in batches of scanBatch
// (a syscall per batch: an iterator's NEXT_KEY and LOOKUP per entry made
// the sweep of a 1M table take seconds). With cursor it reads at most
// limit entries from where the previous call with that cursor stopped
// and reports whether it reached the end (the cursor then starts over);
// without, it reads the whole map. Where the kernel lacks batch
// operations it falls back to an iterator over the whole map.
func scan[K, V any](m *ebpf.Map, cursor *ebpf.MapBatchCursor, limit int, fn func(*K, *V)) error {
	_, err := scanSome(m, cursor, limit, fn)
	return err
}

func scanSome[K, V any](m *ebpf.Map, cursor *ebpf.MapBatchCursor, limit int, fn func(*K, *V)) (end bool, err error) {
	if cursor == nil {
		cursor, limit = new(ebpf.MapBatchCursor), 0
	}
	keys, vals := make([]K, scanBatch), make([]V, scanBatch)
	read := 0
	for limit == 0 || read < limit {
		n, err := m.BatchLookup(cursor, keys, vals, nil)
		for i := range n {
			fn(&keys[i], &vals[i])
		}
		read += n
		switch {
		case errors.Is(err, ebpf.ErrKeyNotExist):
			*cursor = ebpf.MapBatchCursor{}
			return true, nil
		case errors.Is(err, ebpf.ErrNotSupported) && read == 0:
			var k K
			var v V
			it := m.Iterate()
			for it.Next(&k, &v) {
				fn(&k, &v)
			}
			return true, it.Err()
		case err != nil:
			return false, err
		}
	}
	return false, nil
}

func possibleCPUs() int {
	n, err := ebpf.PossibleCPU()
	if err != nil {
		return 1
	}
	return n
}
