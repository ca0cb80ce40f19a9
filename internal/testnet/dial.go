package testnet

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// DialTimeout bounds Dial when ctx has no deadline.
const DialTimeout = 5 * time.Second

// Dial connects to address from inside the namespace. The returned
// connection belongs to the namespace for its whole life (a socket stays in
// the namespace it was created in), so it can then be used from any
// goroutine.
func (ns *Namespace) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	return ns.DialWith(ctx, &net.Dialer{}, network, address)
}

// DialWith is Dial with the options of d, such as a local address.
func (ns *Namespace) DialWith(ctx context.Context, d *net.Dialer, network, address string) (net.Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DialTimeout)
		defer cancel()
	}
	var c net.Conn
	err := ns.in(func() (err error) {
		// One literal address: net.Dialer creates the socket on this
		// goroutine (no parallel dials, no resolver goroutines).
		c, err = d.DialContext(ctx, network, address)
		return err
	}, func() {
		if c != nil {
			c.Close()
		}
	})
	return c, err
}

// ListenPacket opens a packet socket (UDP) on address inside the
// namespace; like Dial's connections it stays there for its whole life.
func (ns *Namespace) ListenPacket(network, address string) (net.PacketConn, error) {
	var c net.PacketConn
	err := ns.in(func() (err error) {
		c, err = net.ListenPacket(network, address)
		return err
	}, func() {
		if c != nil {
			c.Close()
		}
	})
	return c, err
}

// in runs fn on a thread inside the namespace. When the thread cannot
// return to its own namespace, undo undoes what fn made.
func (ns *Namespace) in(fn func() error, undo func()) error {
	ch := make(chan error, 1)
	// A goroutine of its own, locked to its thread while the thread is in
	// the other namespace: if switching back fails, the goroutine exits
	// still locked and the runtime throws the thread away.
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("current namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns.Name)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("open namespace %s: %w", ns.Name, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("enter namespace %s: %w", ns.Name, err)
			return
		}
		err = fn()
		if serr := netns.Set(orig); serr != nil {
			undo()
			ch <- fmt.Errorf("leave namespace %s: %w", ns.Name, serr)
			return // still locked: the thread dies with the goroutine
		}
		runtime.UnlockOSThread()
		ch <- err
	}()
	return <-ch
}

// DoIn runs fn on the calling goroutine's thread inside namespace ns
// (name for messages) and returns it to its own namespace after; the
// test fails when the thread cannot enter. fn must not start goroutines
// that expect ns.
func DoIn(t testing.TB, ns netns.NsHandle, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("netns: %v", err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("enter netns %s: %v", name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			panic(fmt.Sprintf("return to the original netns: %v", err)) // thread stays locked and dies
		}
		runtime.UnlockOSThread()
	}()
	fn()
}

// NewNamedNS creates network namespace name, runs setup inside it on the
// calling goroutine's thread, and deletes the namespace when the test
// ends; the test fails when any of it fails.
func NewNamedNS(t testing.TB, name string, setup func() error) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("netns: %v", err)
	}
	ns, err := netns.NewNamed(name) // moves this thread into it
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Fatalf("create netns %s: %v", name, err)
	}
	setupErr := setup()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: Go discards it when this goroutine
		// ends rather than run other code in the wrong namespace.
		t.Fatalf("return to the original netns: %v", err)
	}
	orig.Close()
	runtime.UnlockOSThread()
	t.Cleanup(func() {
		ns.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	if setupErr != nil {
		t.Fatalf("set up netns %s: %v", name, setupErr)
	}
	return ns
}
