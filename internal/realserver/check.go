package realserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golvs/internal/datapath/decap"
)

// Finding is one thing on the host that keeps it from serving the VIPs as
// an LVS real server.
type Finding struct {
	// Setting names what is wrong: a VIP, a link, a sysctl, "decap".
	Setting string
	// Problem says what is wrong and what it breaks.
	Problem string
	// Fix says what to do.
	Fix string
}

// String is the finding on one line.
func (f Finding) String() string {
	return f.Setting + ": " + f.Problem + "; fix: " + f.Fix
}

// Report is what Check found.
type Report struct {
	VIPs     []netip.Addr
	Tunnels  decap.Tunnel
	Links    []string
	Findings []Finding
}

// OK tells whether nothing is wrong.
func (r Report) OK() bool { return len(r.Findings) == 0 }

// Summary is the one line Check prints when nothing is wrong.
func (r Report) Summary() string {
	vips := make([]string, len(r.VIPs))
	for i, v := range sortedVIPs(r.VIPs) {
		vips[i] = v.String()
	}
	mode := "DR"
	if r.Tunnels != 0 {
		mode = fmt.Sprintf("DR, and TUN (%s) on %s", r.Tunnels, strings.Join(r.Links, ", "))
	}
	return fmt.Sprintf("ok: ready to be a real server for %s (%s)", strings.Join(vips, ", "), mode)
}

// decapView is what Check learnt of the decapsulation program.
type decapView struct {
	pinDir string
	// attached maps a link to the hook that holds the program there.
	attached map[string]string
	// config is nil when no maps are pinned.
	config   *decap.Config
	counters map[string]uint64
	// since is how much each counter grew since the last check.
	since map[string]uint64
}

// checkCountersFile keeps, in the state directory, the decapsulation
// counters the last lvsrs check saw.
const checkCountersFile = "lvsrs-check.json"

// sinceLastCheck returns how much each counter grew since the last check
// and records now for the next one (where the state directory is
// writable; else every check compares with the program's start).
func sinceLastCheck(dir string, now map[string]uint64) map[string]uint64 {
	path := filepath.Join(dir, checkCountersFile)
	last := map[string]uint64{}
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &last)
	}
	since := make(map[string]uint64, len(now))
	for k, v := range now {
		// A smaller value: the program's maps were made anew.
		if l := last[k]; v >= l {
			since[k] = v - l
		} else {
			since[k] = v
		}
	}
	if b, err := json.Marshal(now); err == nil {
		_ = os.WriteFile(path, b, 0o644)
	}
	return since
}

// Check reports what is wrong on this host for being a real server of
// o.VIPs: a VIP not on lo (or on a link), ARP settings that answer or
// announce the VIPs, strict reverse-path filtering, and, when tunnels are
// expected, a missing or misconfigured decapsulation program and the
// packets it dropped. VIPs, tunnels and links default to those of the last
// Setup.
func Check(o Options) (Report, error) {
	o.defaults()
	st, _, err := loadState(o.StateDir)
	if err != nil {
		return Report{}, err
	}
	r := Report{VIPs: o.VIPs, Tunnels: o.Tunnels, Links: o.Links}
	if len(r.VIPs) == 0 {
		r.VIPs = st.VIPs
	}
	if len(r.VIPs) == 0 {
		return r, fmt.Errorf("%w (or run lvsrs VIP... first)", ErrNoVIPs)
	}
	if !o.TunnelsSet {
		r.Tunnels, err = ParseTunnels(st.Tunnels)
		if err != nil {
			return r, fmt.Errorf("state file: %w", err)
		}
	}
	guePorts := o.GUEPorts
	if len(guePorts) == 0 {
		guePorts = st.GUEPorts
	}
	if r.Tunnels&decap.TunnelGUE == 0 {
		guePorts = nil
	}
	h, err := readHost()
	if err != nil {
		return r, err
	}
	for _, l := range r.Links {
		if _, ok := h.link(l); !ok {
			return r, fmt.Errorf("%w %q", ErrUnknownLink, l)
		}
	}
	if len(r.Links) == 0 {
		r.Links = st.Links
	}
	if len(r.Links) == 0 {
		r.Links = h.defaultLinks()
	}
	var dv *decapView
	if r.Tunnels != 0 {
		if err := requireRoot(); err != nil {
			return r, fmt.Errorf("%w (reading the decapsulation program)", err)
		}
		pinDir := o.PinDir
		if st.Decap != nil && o.PinDir == decap.DefaultPinDir {
			pinDir = st.Decap.PinDir
		}
		dv, err = readDecap(pinDir)
		if err != nil {
			return r, err
		}
		// Counters say something is wrong only when they grew since the
		// last check: one old drop must not keep every later check red.
		dv.since = sinceLastCheck(o.StateDir, dv.counters)
	}
	r.Findings, err = check(h, desired{vips: r.VIPs, tunnels: r.Tunnels, guePorts: guePorts}, r.Links, dv)
	return r, err
}

func readDecap(pinDir string) (*decapView, error) {
	dv := &decapView{pinDir: pinDir}
	var err error
	if dv.attached, err = decap.Attachments(); err != nil {
		return nil, err
	}
	d, err := decap.OpenPinned(pinDir)
	if errors.Is(err, fs.ErrNotExist) {
		return dv, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	cfg, err := d.Config()
	if err != nil {
		return nil, err
	}
	dv.config = &cfg
	if dv.counters, err = d.Counters(); err != nil {
		return nil, err
	}
	return dv, nil
}

// counterAdvice says what a non-zero decapsulation counter means for the
// operator, for the counters that mean something is wrong.
var counterAdvice = []struct{ name, problem, fix string }{
	{"drop_adjust", "the kernel refused to remove the outer headers", "IPv4-in-IPv6 and IPv6-in-IPv4 need Linux 6.3; use a tunnel of the VIP's family on the director"},
	{"drop_csum", "GUE packets with remote checksum offload had a wrong outer UDP checksum", "look for corruption between the director and this host"},
	{"drop_remcsum", "GUE remote checksum offsets pointed outside the inner packet", "check the director's --tun-remcsum setting"},
	{"drop_ecn", "routers marked congestion on tunnel packets whose inner packet cannot carry the mark (RFC 6040)", "nothing on this host; the clients do not use ECN"},
	{"pass_fragment", "tunnel packets arrived fragmented and cannot be unwrapped here", "make the path MTU between director and real server fit the tunnel (clients' MSS, or a larger MTU), and let ICMP fragmentation-needed reach the director"},
	{"pass_tunnel_off", "tunnel packets to a VIP arrived of a kind that is not enabled", "add that kind to --tunnel (see the director's --tun-type for this real)"},
}

// check is Check on a snapshot: dv is nil when no tunnel is expected.
func check(h snapshot, want desired, links []string, dv *decapView) ([]Finding, error) {
	var out []Finding
	add := func(setting, problem, fix string) {
		out = append(out, Finding{Setting: setting, Problem: problem, Fix: fix})
	}
	vipArgs := make([]string, len(want.vips))
	for i, v := range want.vips {
		vipArgs[i] = v.String()
	}
	lvsrsCmd := "lvsrs "
	if want.tunnels != 0 {
		lvsrsCmd += "--tunnel " + want.tunnels.String() + " "
	}
	for _, p := range want.guePorts {
		lvsrsCmd += fmt.Sprintf("--gue-port %d ", p)
	}
	lvsrsCmd += strings.Join(vipArgs, " ")

	if lo, ok := h.link(loopback); !ok || !lo.Up {
		add(loopback, "lo is down or missing: the kernel does not accept packets for the VIPs on it", "ip link set lo up")
	}
	anyV4 := false
	for _, vip := range want.vips {
		anyV4 = anyV4 || vip.Is4()
		for _, l := range h.where(vip) {
			if l == loopback {
				continue
			}
			what := "ARP requests"
			if vip.Is6() {
				what = "neighbour solicitations"
			}
			pfx := hostPrefix(vip)
			for _, ha := range h.addrs[l] {
				if ha.Prefix.Addr() == vip {
					pfx = ha.Prefix
				}
			}
			add("VIP "+vip.String(), fmt.Sprintf("%s is on %s: this host answers %s for it there and takes the traffic meant for the director", vip, l, what),
				fmt.Sprintf("ip addr del %s dev %s, then %s", pfx, l, lvsrsCmd))
		}
		ha, ok := h.onLo(vip)
		switch {
		case ok && ha.Prefix.Bits() != vip.BitLen():
			add("VIP "+vip.String(), fmt.Sprintf("%s is on lo as %s: the kernel then takes the whole subnet for this host's own and cannot reach it", vip, ha.Prefix),
				fmt.Sprintf("ip addr del %s dev lo, then %s", ha.Prefix, lvsrsCmd))
		case !ok:
			add("VIP "+vip.String(), fmt.Sprintf("%s is not on lo: the kernel drops the packets the director forwards to it", vip),
				fmt.Sprintf("%s (or ip addr add %s dev lo)", lvsrsCmd, hostPrefix(vip)))
		case ha.DADFailed || ha.Tentative:
			state := "is still tentative"
			if ha.DADFailed {
				state = "failed duplicate address detection"
			}
			add("VIP "+vip.String(), fmt.Sprintf("%s on lo %s: the kernel does not use it", vip, state),
				fmt.Sprintf("ip addr del %s dev lo, then %s (which adds it with nodad)", ha.Prefix, lvsrsCmd))
		}
	}

	if anyV4 {
		allIgn, _, err := sysctlInt(h, sysctlKey{"all", arpIgnore})
		if err != nil {
			return nil, err
		}
		allAnn, _, err := sysctlInt(h, sysctlKey{"all", arpAnnounce})
		if err != nil {
			return nil, err
		}
		allRP, _, err := sysctlInt(h, sysctlKey{"all", rpFilter})
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			if _, ok := h.link(l); !ok {
				add("link "+l, "the link lvsrs set up is gone", "run "+lvsrsCmd+" again")
				continue
			}
			ign, ok, err := sysctlInt(h, sysctlKey{l, arpIgnore})
			if err != nil {
				return nil, err
			}
			if !ok {
				continue // no IPv4 on this link
			}
			ann, _, err := sysctlInt(h, sysctlKey{l, arpAnnounce})
			if err != nil {
				return nil, err
			}
			rp, _, err := sysctlInt(h, sysctlKey{l, rpFilter})
			if err != nil {
				return nil, err
			}
			key := func(dev, name string) string { return sysctlKey{dev, name}.String() }
			if eff := max(allIgn, ign); !arpIgnoreOK(eff) {
				add(key(l, arpIgnore), fmt.Sprintf("%d in effect (the larger of %s=%d and %s=%d): %s answers ARP requests for the VIPs on lo",
					eff, key("all", arpIgnore), allIgn, key(l, arpIgnore), ign, l),
					fmt.Sprintf("sysctl -w %s=1 %s=1 (or %s)", key("all", arpIgnore), key(l, arpIgnore), lvsrsCmd))
			}
			if eff := max(allAnn, ann); !arpAnnounceOK(eff) {
				add(key(l, arpAnnounce), fmt.Sprintf("%d in effect (the larger of %s=%d and %s=%d): ARP requests from %s may carry a VIP as sender and teach neighbours this host's MAC for it",
					eff, key("all", arpAnnounce), allAnn, key(l, arpAnnounce), ann, l),
					fmt.Sprintf("sysctl -w %s=2 %s=2 (or %s)", key("all", arpAnnounce), key(l, arpAnnounce), lvsrsCmd))
			}
			if max(allRP, rp) == 1 {
				add(key(l, rpFilter), fmt.Sprintf("1 (strict) in effect (the larger of %s=%d and %s=%d): packets to a VIP from clients this host routes through another link are dropped",
					key("all", rpFilter), allRP, key(l, rpFilter), rp),
					fmt.Sprintf("sysctl -w %s=2 (or %s)", key(l, rpFilter), lvsrsCmd))
			}
		}
	}

	if dv == nil {
		return out, nil
	}
	for _, l := range links {
		if _, ok := h.link(l); !ok {
			continue // reported above, or nothing to attach to
		}
		if _, ok := dv.attached[l]; !ok {
			add("link "+l, fmt.Sprintf("no decapsulation program on %s: %s packets to the VIPs arriving there are not unwrapped, and a kernel without the ipip, fou or ip_gre modules drops them", l, want.tunnels),
				lvsrsCmd)
		}
	}
	if dv.config == nil {
		add("decap", "the decapsulation program's maps are not pinned in "+dv.pinDir+": nothing unwraps tunnels to the VIPs", lvsrsCmd)
		return out, nil
	}
	if missing := want.tunnels &^ dv.config.Tunnels; missing != 0 {
		add("decap", fmt.Sprintf("the decapsulation program does not unwrap %s (it does: %s)", missing, dv.config.Tunnels), lvsrsCmd)
	}
	for _, vip := range want.vips {
		if !slices.Contains(dv.config.VIPs, vip) {
			add("decap", fmt.Sprintf("the decapsulation program does not unwrap tunnels to %s", vip), lvsrsCmd)
		}
	}
	for _, p := range want.guePorts {
		if !slices.Contains(dv.config.GUEPorts, p) {
			add("decap", fmt.Sprintf("the decapsulation program does not take GUE on UDP port %d", p), lvsrsCmd)
		}
	}
	for _, c := range counterAdvice {
		if n := dv.since[c.name]; n > 0 {
			add("decap "+c.name, fmt.Sprintf("%d since the last check (%d in all): %s", n, dv.counters[c.name], c.problem), c.fix)
		}
	}
	return out, nil
}

// Status describes what lvsrs set up, as recorded, with the
// decapsulation program's attachments and counters.
func Status(o Options) ([]string, error) {
	o.defaults()
	st, ok, err := loadState(o.StateDir)
	if err != nil {
		return nil, err
	}
	if !ok {
		return []string{"not set up: no state in " + statePath(o.StateDir)}, nil
	}
	vips := make([]string, len(st.VIPs))
	for i, v := range st.VIPs {
		vips[i] = v.String()
	}
	out := []string{
		"VIPs: " + strings.Join(vips, " "),
		"tunnels: " + st.Tunnels,
		"links: " + strings.Join(st.Links, " "),
	}
	if len(st.GUEPorts) > 0 {
		out = append(out, fmt.Sprintf("GUE ports: %v", st.GUEPorts))
	}
	for _, c := range st.Sysctls {
		out = append(out, fmt.Sprintf("sysctl %s=%s (was %s)", c.Key, c.New, c.Old))
	}
	for _, a := range st.Addrs {
		out = append(out, fmt.Sprintf("address %s on lo", a))
	}
	if st.Decap == nil {
		return out, nil
	}
	if err := requireRoot(); err != nil {
		return out, fmt.Errorf("%w (reading the decapsulation program)", err)
	}
	dv, err := readDecap(st.Decap.PinDir)
	if err != nil {
		return out, err
	}
	for _, l := range slices.Sorted(maps.Keys(dv.attached)) {
		out = append(out, fmt.Sprintf("decapsulation program on %s (%s)", l, dv.attached[l]))
	}
	if dv.counters != nil {
		var cs []string
		for _, name := range decap.CounterNames() {
			cs = append(cs, fmt.Sprintf("%s=%d", name, dv.counters[name]))
		}
		out = append(out, "counters: "+strings.Join(cs, " "))
	}
	return out, nil
}
