package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"golvs/internal/testnet"
)

// guePort is the GUE port of the tests, ipvsadm's man page example.
const guePort = 6080

// TestPrivilegedTUN is LVS-TUN with real servers prepared by lvsrs (this
// kernel has no ipip module: golvs's own decapsulation program unwraps
// the packets): for each tunnel type and address family, curl alternates
// between the real servers, nginx sees the client's own address on the
// VIP, ab has no failures, the director sees no replies (OutPkts 0), and
// lvsrs --undo leaves a real server as it was before lvsrs.
func TestPrivilegedTUN(t *testing.T) {
	v4 := func(flags []string, info string) virtualService {
		return virtualService{VIP: testnet.VIP, Client: testnet.ClientAddr, Reals: testnet.RealAddrs, Flags: flags, Fwd: "Tunnel", TunInfo: info}
	}
	v6 := func(flags []string, info string) virtualService {
		return virtualService{VIP: testnet.VIP6, Client: testnet.ClientAddr6, Reals: testnet.RealAddrs6, Flags: flags, Fwd: "Tunnel", TunInfo: info}
	}
	gue := []string{"-i", "--tun-type", "gue", "--tun-port", fmt.Sprint(guePort)}
	gre := []string{"-i", "--tun-type", "gre"}
	tests := []struct {
		name   string
		tunnel string
		vs     virtualService
	}{
		{"ipip over IPv4", testnet.TunnelIPIP, v4([]string{"-i"}, "ipip")},
		{"ipip over IPv6 (ip6ip6)", testnet.TunnelIPIP, v6([]string{"-i"}, "ipip")},
		// ipvsadm: "Different address family is allowed only for
		// tunneling servers"; IPVS sends IPv4 in IPv6 (ip_vs_tunnel_xmit_v6).
		{"IPv4 service with IPv6 real servers (4in6)", testnet.TunnelIPIP, virtualService{
			VIP: testnet.VIP, Client: testnet.ClientAddr, Reals: testnet.RealAddrs6,
			Flags: []string{"-i"}, Fwd: "Tunnel", TunInfo: "ipip",
		}},
		{"gue over IPv4", testnet.TunnelGUE, v4(gue, fmt.Sprintf("gue:%d:-c", guePort))},
		{"gue over IPv6", testnet.TunnelGUE, v6(gue, fmt.Sprintf("gue:%d:-c", guePort))},
		{"gre over IPv4", testnet.TunnelGRE, v4(gre, "gre:-c")},
		{"gre over IPv6", testnet.TunnelGRE, v6(gre, "gre:-c")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLabWith(t, testnet.Options{Method: testnet.TUN, Tunnel: tc.tunnel, GUEPort: guePort, LVSRS: lvsrsBinary(t)})
			l.saveLogsOnFailure()
			l.checkVirtualService(tc.vs)
			l.checkLVSRSUndo()
		})
	}
}

// TestPrivilegedDRWithLVSRS is LVS-DR with real servers prepared by
// "lvsrs --tunnel none" instead of by hand, over IPv4 and IPv6.
func TestPrivilegedDRWithLVSRS(t *testing.T) {
	for _, vs := range []virtualService{
		{VIP: testnet.VIP, Client: testnet.ClientAddr, Reals: testnet.RealAddrs, Flags: []string{"-g"}, Fwd: "Route"},
		{VIP: testnet.VIP6, Client: testnet.ClientAddr6, Reals: testnet.RealAddrs6, Flags: []string{"-g"}, Fwd: "Route"},
	} {
		t.Run(fmt.Sprintf("IPv%d", map[bool]int{true: 4, false: 6}[vs.VIP.Is4()]), func(t *testing.T) {
			l := newLabWith(t, testnet.Options{Method: testnet.DR, LVSRS: lvsrsBinary(t)})
			l.saveLogsOnFailure()
			l.checkVirtualService(vs)
			l.checkLVSRSUndo()
		})
	}
}

// TestPrivilegedLVSRSCheck runs "lvsrs check" on a host that is not
// prepared (the real servers of a NAT layout, without the VIP on lo): it
// must fail and name the VIP it finds wrong.
func TestPrivilegedLVSRSCheck(t *testing.T) {
	testnet.RequirePrivileged(t, "tc")
	bin := lvsrsBinary(t)
	c := testnet.NewClassic(t, testnet.NAT)
	rs := c.Reals[0].NS.NewLVSRS(bin)
	before := c.Reals[0].NS.NetState(testnet.RealLink)
	for _, vip := range []netip.Addr{testnet.VIP, testnet.VIP6} {
		r := rs.Check(vip.String())
		if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, vip.String()) {
			t.Errorf("lvsrs check %s on a host without it on lo: exit %d\nstdout: %s\nstderr: %s\nwant a nonzero exit and a report naming %s", vip, r.Code, r.Stdout, r.Stderr, vip)
		}
	}
	if after := c.Reals[0].NS.NetState(testnet.RealLink); after != before {
		t.Errorf("lvsrs check changed the host (-before +after):\n%s", cmp.Diff(before, after))
	}
}

// checkLVSRSUndo runs "lvsrs check" on the first real server (it must
// pass), then "lvsrs --undo": the real server must be as it was before
// lvsrs ran, and "lvsrs check" must now fail.
func (l *lab) checkLVSRSUndo() {
	t := l.t
	t.Helper()
	rs := l.Reals[0]
	args := rs.LVSRS.SetupArgs
	if r := rs.LVSRS.Check(args...); r.Code != 0 {
		t.Errorf("lvsrs check %s on %s, prepared by lvsrs: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), rs.Name, r.Code, r.Stdout, r.Stderr)
	}
	if r := rs.LVSRS.Undo(); r.Code != 0 {
		t.Fatalf("lvsrs --undo on %s: exit %d\nstdout: %s\nstderr: %s", rs.Name, r.Code, r.Stdout, r.Stderr)
	}
	if after := rs.NS.NetState(testnet.RealLink); after != rs.StateBeforeLVSRS {
		t.Errorf("%s after lvsrs --undo differs from before lvsrs (-before +after):\n%s", rs.Name, cmp.Diff(rs.StateBeforeLVSRS, after))
	}
	if r := rs.LVSRS.Check(args...); r.Code == 0 {
		t.Errorf("lvsrs check %s on %s after --undo: exit 0, want a failure\nstdout: %s", strings.Join(args, " "), rs.Name, r.Stdout)
	}
}

// newLabWith builds the layout o describes and starts lvsd on the
// director's two links, with no virtual service yet.
func newLabWith(t *testing.T, o testnet.Options) *lab {
	t.Helper()
	testnet.RequirePrivileged(t, "nginx", "curl", "ab", "ss", "nstat", "tc")
	bin := binaries(t)
	c := testnet.NewLayout(t, o)
	d := testnet.StartLVSD(t, c.Director, bin, c.DirectorLinks())
	return &lab{Classic: c, lvsd: d, t: t}
}

var (
	lvsrsOnce sync.Once
	lvsrsErr  error
)

// lvsrsBinary returns the lvsrs binary built from this tree, beside lvsd
// and lvsadm (built here unless binaries already built it).
func lvsrsBinary(t *testing.T) string {
	t.Helper()
	dir := binaries(t)
	bin := filepath.Join(dir, "lvsrs")
	lvsrsOnce.Do(func() {
		if _, err := os.Stat(bin); err == nil {
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			goBin = "/usr/local/go/bin/go"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, goBin, "build", "-o", dir+"/", "golvs/cmd/lvsrs").CombinedOutput()
		if err != nil {
			lvsrsErr = fmt.Errorf("go build lvsrs: %v\n%s", err, out)
		}
	})
	if lvsrsErr != nil {
		t.Fatal(lvsrsErr)
	}
	return bin
}
