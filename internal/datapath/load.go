package datapath

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"

	"golvs/internal/datapath/bpffs"
	"golvs/internal/lvs"
)

// Open loads the data plane. Maps pinned by an earlier lvsd of the same ABI
// version are adopted, so the connection table survives a restart.
func Open(opts Options) (*Datapath, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	root := opts.PinDir
	if root == "" {
		root = DefaultPinDir
	}
	if opts.ConnTableSize < 0 {
		return nil, fmt.Errorf("open data plane: conn table size %d: %w", opts.ConnTableSize, lvs.ErrInvalid)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("open data plane: %w", classify(err))
	}
	if err := bpffs.Ensure(root); err != nil {
		return nil, fmt.Errorf("open data plane: %w", err)
	}
	dir := filepath.Join(root, "v"+strconv.Itoa(ABIVersion))
	if err := checkOtherVersions(root); err != nil {
		return nil, fmt.Errorf("open data plane: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open data plane: %w", classify(err))
	}

	spec, err := loadLvs()
	if err != nil {
		return nil, fmt.Errorf("open data plane: %w", err)
	}
	size, err := connTableSize(dir, opts.ConnTableSize)
	if err != nil {
		return nil, fmt.Errorf("open data plane: %w", err)
	}
	for name, m := range spec.Maps {
		// lvs_xdp_tx lists the links this lvsd attached in native XDP
		// mode: this process's, gone with it, or a restart in generic
		// mode would see native links (xdp.h lvs_xdp_route).
		if name == ".rodata" || name == lvsMapLvsXdpTx {
			continue
		}
		m.Pinning = ebpf.PinByName
	}
	spec.Maps[lvsMapLvsConns].MaxEntries = uint32(size)
	spec.Maps[lvsMapLvsNatConns].MaxEntries = uint32(size)
	spec.Maps[lvsMapLvsTemplates].MaxEntries = uint32(size)

	d := &Datapath{
		log:       log,
		pinDir:    dir,
		connSize:  size,
		innerSpec: spec.Maps[lvsMapLvsTables].InnerMap.Copy(),
		links:     map[string]attachment{},
		xdp:       opts.XDP,
	}
	if d.xdp == "" {
		d.xdp = XDPOff
	}
	if _, err := ParseXDPMode(string(d.xdp)); err != nil {
		return nil, fmt.Errorf("open data plane: %w: %w", lvs.ErrInvalid, err)
	}
	err = spec.LoadAndAssign(&d.objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: dir}})
	if err != nil {
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("open data plane: %w: %v in %s; remove that directory to start with an empty table (live connections are lost)", ErrABIMismatch, err, dir)
		}
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("open data plane: %w: %+v", ErrNoBPF, ve)
		}
		return nil, fmt.Errorf("open data plane: %w", classify(err))
	}
	if err := d.initTimeouts(); err != nil {
		d.objs.Close()
		return nil, fmt.Errorf("open data plane: %w", err)
	}
	log.Info("data plane loaded", slog.String("pin_dir", dir), slog.Int("conn_table_size", size))
	return d, nil
}

// Close detaches the program from every link and closes the maps; the
// pinned maps, and so the connection table, stay.
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for name, a := range d.links {
		if err := a.detach(); err != nil {
			errs = append(errs, fmt.Errorf("detach %s: %w", name, err))
		}
		delete(d.links, name)
	}
	errs = append(errs, d.objs.Close())
	return errors.Join(errs...)
}

// ConnTableSize returns the number of entries the conn table holds.
func (d *Datapath) ConnTableSize() int { return d.connSize }

// classify maps the errno of a failed bpf() or mount to a sentinel.
func classify(err error) error { return bpffs.Classify(err) }

// checkOtherVersions refuses to start next to pins of another ABI version:
// that table belongs to another lvsd build, and starting beside it would
// silently drop its connections.
func checkOtherVersions(root string) error {
	dir, other, err := bpffs.OtherVersion(root, ABIVersion)
	if err != nil || dir == "" {
		return err
	}
	return fmt.Errorf("%w: %s holds maps of ABI version %s, this lvsd uses version %d; run the lvsd that made them, or remove %s to start with an empty table (live connections are lost)",
		ErrABIMismatch, root, other, ABIVersion, dir)
}

// connTableSize returns the conn table size to create: an adopted table
// keeps its size unless the caller asked for another one.
func connTableSize(dir string, want int) (int, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, lvsMapLvsConns), &ebpf.LoadPinOptions{ReadOnly: true})
	if errors.Is(err, fs.ErrNotExist) {
		if want == 0 {
			want = DefaultConnTableSize
		}
		if err := checkConnTableSize(want); err != nil {
			return 0, err
		}
		return want, nil
	}
	if err != nil {
		return 0, fmt.Errorf("pinned conn table: %w", classify(err))
	}
	defer m.Close()
	have := int(m.MaxEntries())
	if want != 0 && want != have {
		// Refused rather than migrated: copying a live table into a new
		// one races with the packets that change it, and lvsd would run
		// with twice the memory meanwhile.
		return 0, fmt.Errorf("%w: pinned conn table in %s has %d entries, %d asked for; keep %d, or remove %s to resize it (live connections are lost)",
			ErrABIMismatch, dir, have, want, have, dir)
	}
	return have, nil
}
