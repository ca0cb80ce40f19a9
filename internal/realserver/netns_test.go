package realserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"golvs/internal/testnet"
)

// prefix starts the name of every namespace and pin directory these tests
// make; links inside the namespaces start with it too.
const prefix = "gltrs"

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testNS is a network namespace made by a test, deleted when it ends.
type testNS struct {
	t    *testing.T
	name string
	h    netns.NsHandle
}

func newTestNS(t *testing.T, role string) *testNS {
	t.Helper()
	testnet.RequirePrivileged(t)
	n := &testNS{t: t, name: prefix + "-" + randomSuffix() + "-" + role}
	n.h = testnet.NewNamedNS(t, n.name, func() error { return nil })
	n.ip("link", "set", "lo", "up")
	return n
}

// do runs fn on a thread inside the namespace. Sockets fn opens stay in
// the namespace for their whole life.
func (n *testNS) do(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer orig.Close()
		if err := netns.Set(n.h); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("enter %s: %w", n.name, err)
			return
		}
		err = fn()
		if serr := netns.Set(orig); serr != nil {
			ch <- fmt.Errorf("leave %s: %w", n.name, serr)
			return // still locked: the thread dies with the goroutine
		}
		runtime.UnlockOSThread()
		ch <- err
	}()
	return <-ch
}

// must is do that fails the test on error.
func (n *testNS) must(fn func() error) {
	n.t.Helper()
	if err := n.do(fn); err != nil {
		n.t.Fatal(err)
	}
}

// ip runs "ip -n NS args...".
func (n *testNS) ip(args ...string) string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", append([]string{"-n", n.name}, args...)...).CombinedOutput()
	if err != nil {
		n.t.Fatalf("ip -n %s %s: %v: %s", n.name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sysctl reads a sysctl of the namespace ("net/ipv4/conf/all/rp_filter").
func (n *testNS) sysctl(path string) string {
	n.t.Helper()
	var v string
	n.must(func() error {
		b, err := os.ReadFile(filepath.Join("/proc/sys", path))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v
}

// setSysctl writes a sysctl of the namespace.
func (n *testNS) setSysctl(path, v string) {
	n.t.Helper()
	n.must(func() error { return os.WriteFile(filepath.Join("/proc/sys", path), []byte(v), 0o644) })
}

// testPinDir returns a fresh pin directory on the host's bpffs, removed
// (with whatever is pinned in it) when the test ends.
func testPinDir(t *testing.T) string {
	t.Helper()
	if err := testnet.EnsureBPFFS(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("/sys/fs/bpf", prefix+"-"+randomSuffix())
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}
