package e2e

import (
	"slices"
	"testing"

	"golvs/internal/testnet"
)

// TestPrivilegedXDP runs the tutorial's NAT and DR services with lvsd's XDP
// fast path in front of the TC program, generic and native: the same
// round robin, ab's requests all answered, the same counters, and the
// fast path forwarding the traffic (golvs_datapath_events_total's
// xdp_fwd), with TC left the rest (all of NAT in generic mode).
//
// XDP works on frames with complete checksums, as NICs deliver them; a
// veth passes on the partial ones of local senders, so the client and the
// real servers send with checksum offload off (then their peers verify
// every checksum the fast path rewrote). Native XDP on veth delivers a
// redirected frame only to a peer that runs NAPI itself, as a veth does
// with GRO on: the test turns it on for the peers of the director's links
// (the client's eth0, the switch's p-up).
func TestPrivilegedXDP(t *testing.T) {
	for _, mode := range []string{"generic", "native"} {
		for _, m := range []testnet.Method{testnet.NAT, testnet.DR} {
			t.Run(mode+"/"+m.String(), func(t *testing.T) {
				testnet.RequirePrivileged(t, "nginx", "curl", "ab", "ss", "nstat", "ethtool")
				c := testnet.NewClassic(t, m)
				c.Client.MustExec("ethtool", "-K", "eth0", "tx", "off")
				for _, r := range c.Reals {
					r.NS.MustExec("ethtool", "-K", testnet.RealLink, "tx", "off")
				}
				if mode == "native" {
					c.Client.MustExec("ethtool", "-K", "eth0", "gro", "on")
					c.Switch.MustExec("ethtool", "-K", "p-up", "gro", "on")
				}
				d := testnet.StartLVSDWith(t, c.Director, binaries(t), c.DirectorLinks(),
					"--xdp="+mode, "--metrics-addr", metricsAddr)
				l := &lab{Classic: c, lvsd: d, t: t}
				l.saveLogsOnFailure()
				flag := "-m"
				if m == testnet.DR {
					flag = "-g"
				}
				l.setup("rr", flag)

				got := l.curls(4)
				if want := []string{rs2, rs1, rs2, rs1}; !slices.Equal(got, want) {
					t.Fatalf("curl %s four times: servers %v, want %v", vipURL, got, want)
				}
				l.ab(1000, 20)

				st := l.statsOf()
				svc := st["TCP "+vipPort]
				if want := l.clientConnects(); svc.Conns != want {
					t.Errorf("lvsadm --stats: %d connections, want %d (the connections the client opened)", svc.Conns, want)
				}
				if m == testnet.NAT && (svc.OutPkts == 0 || svc.OutBytes == 0) {
					t.Errorf("lvsadm --stats: service %+v, want replies counted", svc)
				}
				metrics := l.scrape()
				fast := metrics[`golvs_datapath_events_total{reason="xdp_fwd"}`]
				switch {
				case mode == "generic" && m == testnet.NAT:
					// Generic XDP leaves NAT to TC (lvs_xdp_route).
					if fast != 0 {
						t.Errorf("xdp_fwd = %v, want 0: generic XDP must leave NAT to TC", fast)
					}
				case fast < 3000:
					// ab's 1000 requests take at least a SYN, a request
					// and an ACK each through the director.
					t.Errorf("xdp_fwd = %v, want at least 3000: the fast path forwarded too little", fast)
				}
				hook := "tcx+xdp-" + mode
				for _, link := range c.DirectorLinks() {
					series := `golvs_datapath_attached{hook="` + hook + `",interface="` + link + `"}`
					if metrics[series] != 1 {
						t.Errorf("%s missing from the metrics: %s is not attached as %s", series, link, hook)
					}
				}
			})
		}
	}
}
