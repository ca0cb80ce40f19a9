package datapath_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"golvs/internal/datapath"
	"golvs/internal/datapath/datapathtest"
	"golvs/internal/lvs"
)

func TestPrivilegedConnTableSize(t *testing.T) {
	datapathtest.RequirePrivileged(t)
	for _, c := range []struct {
		name string
		size int
		err  error
		text string
	}{
		{"negative refused", -1, lvs.ErrInvalid, ""},
		{"above the kernel's limit refused", datapath.MaxConnTableSize + 1, lvs.ErrRange, "1..268435456"},
		{"more than the machine's memory refused", datapath.MaxConnTableSize, lvs.ErrRange, "MiB of memory free"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := datapath.Open(datapath.Options{Logger: quiet, PinDir: datapathtest.PinDir(t), ConnTableSize: c.size})
			if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.text) {
				t.Fatalf("Open with %d entries: %v, want %v with %q", c.size, err, c.err, c.text)
			}
		})
	}
}

func TestPrivilegedConnTableResizeRefusalNamesPinDir(t *testing.T) {
	datapathtest.RequirePrivileged(t)
	dir := datapathtest.PinDir(t)
	d, err := datapath.Open(datapath.Options{Logger: quiet, PinDir: dir, ConnTableSize: 1024})
	must(t, err)
	must(t, d.Close())
	_, err = datapath.Open(datapath.Options{Logger: quiet, PinDir: dir, ConnTableSize: 2048})
	if !errors.Is(err, datapath.ErrABIMismatch) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "has 1024 entries, 2048 asked for") {
		t.Fatalf("resize a pinned table: %v, want ErrABIMismatch naming %s and both sizes", err, dir)
	}
}

// TestPrivilegedConnTableMemory checks ConnTableBytes, which lvsd refuses
// sizes by, against what the kernel reports the tables take.
func TestPrivilegedConnTableMemory(t *testing.T) {
	datapathtest.RequirePrivileged(t)
	for _, size := range []int{1000, 4096, 65536} {
		d := datapathtest.Open(t, datapath.Options{ConnTableSize: size})
		m, err := d.ConnTableMemory()
		must(t, err)
		got := m.Conns + m.NAT + m.Templates
		want := datapath.ConnTableBytes(size, runtime.NumCPU())
		// The kernel adds struct bpf_htab and per-CPU lock counters, a
		// few KiB a map.
		if got < want || got > want+3*16384 {
			t.Errorf("%d entries: kernel reports %d bytes (%d + %d + %d), ConnTableBytes %d", size, got, m.Conns, m.NAT, m.Templates, want)
		}
		if m.Entries != size || m.PerConn() <= 0 {
			t.Errorf("%d entries: %+v, %.0f bytes a connection", size, m, m.PerConn())
		}
	}
}
