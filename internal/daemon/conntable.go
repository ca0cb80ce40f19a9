package daemon

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golvs/internal/datapath"
)

// Bounds of lvsd's --conn-table-size.
const (
	// DefaultConnTableSize is 262144 connections: 64 times IPVS's 4096
	// buckets. IPVS's table grows without bound (its size= counts hash
	// buckets, each an unbounded chain), golvs's is preallocated and full
	// means new connections are dropped, so the default must cover a busy
	// director: 262144 holds 2,000 new connections a second through
	// IPVS's 120 s TIME_WAIT, for about 102 MiB (plus 15 MiB of route
	// caches at any size).
	DefaultConnTableSize = datapath.DefaultConnTableSize
	MaxConnTableSize     = datapath.MaxConnTableSize
)

// ParseConnTableSize parses --conn-table-size: a count of connections,
// plain or with a K or M suffix (×1024, ×1048576), at least 1. Whether
// the machine has the memory for it is checked when the tables are made.
func ParseConnTableSize(s string) (int, error) {
	v := strings.TrimSpace(s)
	mult := 1
	switch {
	case strings.HasSuffix(v, "K"), strings.HasSuffix(v, "k"):
		mult, v = 1<<10, v[:len(v)-1]
	case strings.HasSuffix(v, "M"), strings.HasSuffix(v, "m"):
		mult, v = 1<<20, v[:len(v)-1]
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is too large: at most %d connections", s, MaxConnTableSize)
		}
		return 0, fmt.Errorf("%q is not a number of connections (e.g. 262144 or 1M)", s)
	}
	if n < 1 {
		return 0, fmt.Errorf("%q: the table must hold at least 1 connection", s)
	}
	if n > MaxConnTableSize/mult {
		return 0, fmt.Errorf("%q is too large: at most %d connections", s, MaxConnTableSize)
	}
	return n * mult, nil
}
