package e2e

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// serverMTU is the MTU of the smaller-MTU links of TestPrivilegedPathMTU.
const serverMTU = 1400

// TestPrivilegedPathMTU puts a link with a smaller MTU (1400) between the
// director and the real servers, either behind a router (which answers
// the director, or in NAT the client, with ICMP "fragmentation needed" /
// ICMPv6 "packet too big") or as the director's own server link (where the
// director itself must answer the client). Large uploads and downloads
// through the virtual service must complete, which needs path-MTU
// discovery to work end to end, and the client must learn the right path
// MTU for the VIP: the link's MTU less the tunnel's overhead, as IPVS
// reports it (ip_vs_xmit.c), and the link's MTU in NAT and DR.
func TestPrivilegedPathMTU(t *testing.T) {
	v4 := func(flags []string, want int) mtuCase {
		return mtuCase{"IPv4", virtualService{VIP: testnet.VIP, Client: testnet.ClientAddr, Reals: testnet.RealAddrs, Flags: flags}, want}
	}
	v6 := func(flags []string, want int) mtuCase {
		return mtuCase{"IPv6", virtualService{VIP: testnet.VIP6, Client: testnet.ClientAddr6, Reals: testnet.RealAddrs6, Flags: flags}, want}
	}
	ipip := []string{"-i"}
	gue := []string{"-i", "--tun-type", "gue", "--tun-port", fmt.Sprint(guePort)}
	gre := []string{"-i", "--tun-type", "gre"}
	tunCases := map[string][]mtuCase{
		// Outer IPv4 header 20 bytes, outer IPv6 40.
		testnet.TunnelIPIP: {v4(ipip, serverMTU-20), v6(ipip, serverMTU-40), {"IPv4 in IPv6", virtualService{
			VIP: testnet.VIP, Client: testnet.ClientAddr, Reals: testnet.RealAddrs6, Flags: ipip,
		}, serverMTU - 40}},
		// Outer header, UDP 8 and GUE 4.
		testnet.TunnelGUE: {v4(gue, serverMTU-20-8-4), v6(gue, serverMTU-40-8-4)},
		// Outer header and GRE 4 (no checksum, key or sequence).
		testnet.TunnelGRE: {v4(gre, serverMTU-20-4), v6(gre, serverMTU-40-4)},
	}
	type layout struct {
		name  string
		o     testnet.Options
		cases []mtuCase
	}
	var layouts []layout
	for _, router := range []bool{true, false} {
		where := map[bool]string{true: "router", false: "director link"}[router]
		for _, tun := range []string{testnet.TunnelIPIP, testnet.TunnelGUE, testnet.TunnelGRE} {
			layouts = append(layouts, layout{
				fmt.Sprintf("%s/TUN %s", where, tun),
				testnet.Options{Method: testnet.TUN, Tunnel: tun, GUEPort: guePort, Router: router, ServerMTU: serverMTU},
				tunCases[tun],
			})
		}
		layouts = append(layouts, layout{where + "/NAT", testnet.Options{Method: testnet.NAT, Router: router, ServerMTU: serverMTU},
			[]mtuCase{v4([]string{"-m"}, serverMTU), v6([]string{"-m"}, serverMTU)}})
	}
	layouts = append(layouts, layout{"director link/DR", testnet.Options{Method: testnet.DR, ServerMTU: serverMTU},
		[]mtuCase{v4([]string{"-g"}, serverMTU), v6([]string{"-g"}, serverMTU)}})

	for _, ly := range layouts {
		t.Run(ly.name, func(t *testing.T) {
			if ly.o.Method == testnet.TUN {
				ly.o.LVSRS = lvsrsBinary(t)
			}
			l := newLabWith(t, ly.o)
			l.saveLogsOnFailure()
			for _, r := range l.Reals {
				if err := r.Nginx.WriteFile("big.bin", bigFile(r.Name)); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range ly.cases {
				t.Run(tc.name, func(t *testing.T) {
					// A lab of this subtest: its failures are this
					// subtest's, not the layout's.
					l := &lab{Classic: l.Classic, lvsd: l.lvsd, t: t}
					// Each case starts with nothing learned: the
					// transfers must discover the path MTU themselves.
					if err := l.Client.FlushPathMTU(); err != nil {
						t.Fatal(err)
					}
					tcp := netip.AddrPortFrom(tc.vs.VIP, 80)
					udp := netip.AddrPortFrom(tc.vs.VIP, testnet.UDPPort)
					l.subAdm("-A", "-t", tcp.String(), "-s", "rr")
					l.subAdm("-A", "-u", udp.String(), "-s", "rr")
					for _, r := range tc.vs.Reals {
						l.subAdm(append([]string{"-a", "-t", tcp.String(), "-r", netip.AddrPortFrom(r, 80).String()}, tc.vs.Flags...)...)
						l.subAdm(append([]string{"-a", "-u", udp.String(), "-r", netip.AddrPortFrom(r, testnet.UDPPort).String()}, tc.vs.Flags...)...)
					}
					defer func() {
						l.subAdm("-D", "-t", tcp.String())
						l.subAdm("-D", "-u", udp.String())
					}()
					// Two uploads, then two downloads: rr sends one of
					// each to each real server. After a failed transfer
					// (a black hole costs transferTimeout) only the
					// probe below runs: it says what the client learned,
					// if anything.
					_ = l.checkUpload(tc.vs.url(), "up0.bin", 4<<20) &&
						l.checkUpload(tc.vs.url(), "up1.bin", 4<<20) &&
						l.checkDownload(tc.vs.url()+"big.bin") &&
						l.checkDownload(tc.vs.url()+"big.bin")
					// The smallest packet that does not fit must be
					// refused with the right MTU; it still fits the
					// director's 1500-byte link in the router layouts,
					// so there the router, not the director, refuses it.
					if mtu, err := l.Client.ProbePathMTU(udp, tc.want+1); err != nil || mtu != tc.want {
						t.Errorf("path MTU the client learned for %s: %d (%v), want %d", tc.vs.VIP, mtu, err, tc.want)
					}
				})
			}
		})
	}
}

// mtuCase is a virtual service of TestPrivilegedPathMTU and the path MTU
// the client must learn for its VIP.
type mtuCase struct {
	name string
	vs   virtualService
	want int
}

// transferTimeout bounds each 4 MiB transfer; on these links one takes a
// fraction of a second (path-MTU discovery included), a path-MTU black
// hole never ends.
const transferTimeout = 10 * time.Second

// subAdm is adm for a lab made for a subtest of the test that started
// lvsd: it fails l.t, the subtest, where adm would fail the test that
// started lvsd.
func (l *lab) subAdm(args ...string) string {
	l.t.Helper()
	r := l.lvsd.Adm(args...)
	if r.Code != 0 || r.Stderr != "" {
		l.t.Fatalf("lvsadm %s: exit %d\nstderr: %s\nstdout: %s", strings.Join(args, " "), r.Code, r.Stderr, r.Stdout)
	}
	return r.Stdout
}

// bigFile is 4 MiB of random bytes, different for each name: the
// download each real server offers (by the server's name), and uploads.
func bigFile(name string) []byte {
	h := fnv.New64a()
	h.Write([]byte(name))
	r := rand.New(rand.NewPCG(h.Sum64(), 0))
	b := make([]byte, 4<<20)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// checkUpload PUTs size random bytes to base+"upload/"+name with curl from
// the client and checks that the whole body arrived at exactly one real
// server. It reports whether the upload completed.
func (l *lab) checkUpload(base, name string, size int) bool {
	t := l.t
	t.Helper()
	data := bigFile(name)[:size]
	src := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	url := base + "upload/" + name
	start := time.Now()
	out, err := l.Client.Exec("curl", "-gsS", "--max-time", fmt.Sprint(transferTimeout.Seconds()),
		"-H", "Expect:", "-T", src, "-o", "/dev/null", "-w", "%{http_code} %{size_upload}", url)
	if err != nil {
		t.Errorf("upload of %d bytes to %s: %v", size, url, err)
		return false
	}
	if want := fmt.Sprintf("201 %d", size); out != want {
		t.Errorf("upload of %d bytes to %s: curl says %q (status, bytes sent), want %q", size, url, out, want)
		return false
	}
	var holders []string
	for _, r := range l.Reals {
		got, err := os.ReadFile(r.Nginx.UploadPath(name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		holders = append(holders, r.Name)
		if !bytes.Equal(got, data) {
			t.Errorf("upload to %s: %s stored %d bytes, want the %d bytes sent", url, r.Name, len(got), size)
		}
		// The next upload of the same name must land anew.
		_ = os.Remove(r.Nginx.UploadPath(name))
	}
	if len(holders) != 1 {
		t.Errorf("upload to %s stored by %v, want exactly one real server", url, holders)
	}
	t.Logf("upload of %d bytes to %s took %v", size, url, time.Since(start).Round(time.Millisecond))
	return true
}

// checkDownload GETs url with curl from the client and checks that the
// body is one real server's whole big.bin. It reports whether the
// download completed.
func (l *lab) checkDownload(url string) bool {
	t := l.t
	t.Helper()
	dst := filepath.Join(t.TempDir(), "download")
	start := time.Now()
	out, err := l.Client.Exec("curl", "-gsS", "--max-time", fmt.Sprint(transferTimeout.Seconds()),
		"-o", dst, "-w", "%{http_code} %{size_download}", url)
	if err != nil {
		t.Errorf("download of %s: %v", url, err)
		return false
	}
	if want := fmt.Sprintf("200 %d", 4<<20); out != want {
		t.Errorf("download of %s: curl says %q (status, bytes received), want %q", url, out, want)
		return false
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	var from []string
	for _, r := range l.Reals {
		if bytes.Equal(got, bigFile(r.Name)) {
			from = append(from, r.Name)
		}
	}
	if len(from) != 1 {
		t.Errorf("download of %s: %d bytes that are no real server's big.bin", url, len(got))
	}
	t.Logf("download of %s from %s took %v", url, strings.Join(from, ""), time.Since(start).Round(time.Millisecond))
	return true
}
