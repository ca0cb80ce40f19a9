package daemon

import (
	"strings"
	"testing"
)

func TestParseConnTableSize(t *testing.T) {
	for _, c := range []struct {
		name, in string
		want     int
		err      string
	}{
		{"plain count", "262144", 262144, ""},
		{"K suffix", "64K", 65536, ""},
		{"M suffix", "1M", 1 << 20, ""},
		{"lower-case m", "16m", 16 << 20, ""},
		{"the largest", "256M", MaxConnTableSize, ""},
		{"zero refused", "0", 0, "at least 1"},
		{"negative refused", "-5", 0, "at least 1"},
		{"not a number", "lots", 0, "not a number"},
		{"G is not a suffix", "1G", 0, "not a number"},
		{"above the kernel's limit", "257M", 0, "too large"},
		{"beyond int", "99999999999999999999", 0, "too large"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseConnTableSize(c.in)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), c.in) {
					t.Fatalf("ParseConnTableSize(%q) = %d, %v; want an error naming %q with %q", c.in, got, err, c.in, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("ParseConnTableSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
			}
		})
	}
}
