// Package bpffs prepares the BPF filesystem directories golvs's programs
// are pinned in (lvsd's data plane, lvsrs's decapsulation), and names the
// errors that pinning and loading BPF objects give.
package bpffs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Errors of pinning and loading.
var (
	ErrPermission  = errors.New("permission denied: lvsd needs root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)")
	ErrNoBPF       = errors.New("kernel lacks a BPF feature the data plane needs")
	ErrABIMismatch = errors.New("pinned maps have another layout")
)

// Classify maps the errno of a failed bpf() or mount to a sentinel.
func Classify(err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %v", ErrPermission, err)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL):
		return fmt.Errorf("%w: %v", ErrNoBPF, err)
	}
	return err
}

// Ensure makes dir a directory on a bpffs, mounting one if needed.
// `ip netns exec` gives a process a fresh /sys whose fs/bpf is an empty,
// read-only sysfs directory: a bpffs is mounted there first, then dir
// made in it. Elsewhere a bpffs is mounted on dir itself.
func Ensure(dir string) error {
	dir = filepath.Clean(dir)
	anc := dir
	for {
		if _, err := os.Stat(anc); err == nil {
			break
		}
		up := filepath.Dir(anc)
		if up == anc {
			break
		}
		anc = up
	}
	if anc != dir && fsType(anc) == unix.SYSFS_MAGIC {
		if err := unix.Mount("bpf", anc, "bpf", 0, "mode=0700"); err != nil {
			return fmt.Errorf("mount bpffs on %s: %w", anc, Classify(err))
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pin dir %s: %w", dir, Classify(err))
	}
	if fsType(dir) == unix.BPF_FS_MAGIC {
		return nil
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mount bpffs on %s: %w", dir, Classify(err))
	}
	return nil
}

func fsType(path string) int64 {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0
	}
	return int64(st.Type)
}

// VersionDir is the directory under a pin root that holds the pins of
// layout version: v<version>.
func VersionDir(root string, version int) string {
	return filepath.Join(root, "v"+strconv.Itoa(version))
}

var versionDir = regexp.MustCompile(`^v([0-9]+)$`)

// OtherVersion looks under pin root root for the pins of another layout
// version than version: a directory v<N> that is not empty. It returns
// that directory and N as its name spells it, or "" when there is none.
func OtherVersion(root string, version int) (dir, other string, err error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return "", "", fmt.Errorf("pin dir %s: %w", root, err)
	}
	for _, e := range ents {
		m := versionDir.FindStringSubmatch(e.Name())
		if m == nil || m[1] == strconv.Itoa(version) {
			continue
		}
		dir := filepath.Join(root, e.Name())
		if inner, _ := os.ReadDir(dir); len(inner) == 0 {
			continue
		}
		return dir, m[1], nil
	}
	return "", "", nil
}
