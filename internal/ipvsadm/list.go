package ipvsadm

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golvs/internal/lvs"
	"golvs/internal/sched"
)

// listAll is ipvsadm's list_all: the version line, the title and every
// service with its reals; with fmtRule (-S) the rules alone, always sorted.
func (c *cli) listAll(ctx context.Context, format int) int {
	w := c.newOut()
	if format&fmtRule == 0 {
		info, err := c.d.Info(ctx)
		if err != nil {
			return c.listFailed(err)
		}
		// The kernel's IPVS version, which ipvsadm prints, is always 1.2.1.
		fmt.Fprintf(w, "IP Virtual Server version 1.2.1 (size=%d)\n", info.ConnTableSize)
	}
	svcs, err := c.d.Services(ctx)
	if err != nil {
		w.Flush()
		return c.listFailed(err)
	}
	if format&fmtNoSort == 0 {
		mergeSort(svcs, cmpServices)
	}
	printTitle(w, format)
	for i := range svcs {
		c.printService(w, &svcs[i], format)
	}
	w.Flush()
	return 0
}

// listTimeout is ipvsadm's list_timeout.
func (c *cli) listTimeout(ctx context.Context) int {
	info, err := c.d.Info(ctx)
	if err != nil {
		return c.listFailed(err)
	}
	t := info.Timeouts
	fmt.Fprintf(c.stdout, "Timeout (tcp tcpfin udp): %d %d %d\n",
		int64(t.TCP/time.Second), int64(t.TCPFin/time.Second), int64(t.UDP/time.Second))
	return 0
}

// listService is ipvsadm's list_service: the title and one service, no
// version line.
func (c *cli) listService(ctx context.Context, key lvs.ServiceKey, format int) int {
	svcs, err := c.d.Services(ctx)
	if err != nil {
		return c.listFailed(err)
	}
	i := slices.IndexFunc(svcs, func(s lvs.ServiceStatus) bool { return s.ServiceKey == key })
	if i < 0 {
		return c.listFailed(lvs.ErrNoService)
	}
	w := c.newOut()
	printTitle(w, format)
	c.printService(w, &svcs[i], format)
	w.Flush()
	return 0
}

// listConns is ipvsadm's list_conn.
func (c *cli) listConns(ctx context.Context, format int) int {
	conns, err := c.d.Conns(ctx)
	if err != nil {
		return c.listFailed(err)
	}
	w := c.newOut()
	fmt.Fprintf(w, "IPVS connection entries\n")
	if format&fmtPersistentConn != 0 {
		fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %-18s %-16s %s\n", "state", "source", "virtual", "destination", "pe name", "pe_data")
	} else {
		fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	}
	for _, cn := range conns {
		// /proc/net/ip_vs_conn shows whole seconds left, rounded down.
		secs := int64(cn.Expires / time.Second)
		if secs < 0 {
			secs = 0
		}
		expire := fmt.Sprintf("%02d:%02d", secs/60, secs%60)
		// Rows with persistence-engine data get the wide form under
		// --persistent-conn; golvs has no persistence engine, so none has.
		fmt.Fprintf(w, "%-3s %-6s %-11s %-18s %-18s %s\n", connProtoName(cn.Protocol), expire, cn.State,
			c.addrPort(cn.Client, cn.Protocol, format),
			c.addrPort(cn.Virtual, cn.Protocol, format),
			c.addrPort(cn.Real, cn.Protocol, format))
	}
	w.Flush()
	return 0
}

// listFailed reports a failed listing: exit status 1, or ipvsadm's
// initialisation failure when lvsd is not there.
func (c *cli) listFailed(err error) int {
	if status, ok := c.unreachable(err); ok {
		return status
	}
	fmt.Fprintln(c.stderr, errorMessage(cmdList, err))
	return 1
}

// printTitle is ipvsadm's print_title; -S has none.
func printTitle(w *bufio.Writer, format int) {
	const remote = "\n  -> RemoteAddress:Port\n"
	switch {
	case format&fmtStats != 0:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s"+remote,
			"Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case format&fmtRate != 0:
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s"+remote,
			"Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case format&fmtThresholds != 0:
		fmt.Fprintf(w, "%-33s %-10s %-10s %-10s %-10s"+remote,
			"Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case format&fmtPersistentConn != 0:
		fmt.Fprintf(w, "%-33s %-9s %-11s %-10s %-10s"+remote,
			"Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
	case format&fmtTunInfo != 0:
		fmt.Fprint(w, "Prot LocalAddress:Port Scheduler Flags\n"+
			"  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n")
	case format&fmtRule == 0:
		fmt.Fprint(w, "Prot LocalAddress:Port Scheduler Flags\n"+
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
}

// printService is ipvsadm's print_service_entry: the service line, then its
// reals, in the format's columns (or as -S rules).
func (c *cli) printService(w *bufio.Writer, s *lvs.ServiceStatus, format int) {
	vname := c.addrPort(s.Addr, s.Protocol, format)
	var svcName string
	if format&fmtRule != 0 {
		svcName = ruleSwitch(s.Protocol) + " " + vname
	} else {
		svcName = fmt.Sprintf("%-4s %s", s.Protocol, vname)
		if s.Addr.Addr().Is4() {
			svcName = truncate(svcName, 33)
		}
	}
	v6 := !s.Addr.Addr().Is4()
	switch {
	case format&fmtRule != 0:
		fmt.Fprintf(w, "-A %s -s %s", svcName, s.Scheduler)
		if s.Persistent != 0 {
			fmt.Fprintf(w, " -p %d", persistSeconds(s.Persistent))
			if m, ok := maskString(s.Netmask, v6); ok {
				fmt.Fprintf(w, " -M %s", m)
			}
		}
		if s.OnePacket {
			w.WriteString(" -o")
		}
		if s.SchedFlags&lvs.SchedFlagsMask != 0 {
			w.WriteString(" -b " + schedFlagNames(s.Scheduler, s.SchedFlags))
		}
		w.WriteByte('\n')
	case format&fmtStats != 0:
		fmt.Fprintf(w, "%-33s", svcName)
		printStats(w, s.Stats, format)
	case format&fmtRate != 0:
		fmt.Fprintf(w, "%-33s", svcName)
		for _, n := range [...]uint64{s.Rates.CPS, s.Rates.InPPS, s.Rates.OutPPS, s.Rates.InBPS, s.Rates.OutBPS} {
			w.WriteString(largenum(n, format))
		}
		w.WriteByte('\n')
	default:
		fmt.Fprintf(w, "%s %s", svcName, s.Scheduler)
		if s.SchedFlags&lvs.SchedFlagsMask != 0 {
			w.WriteString(" (" + schedFlagNames(s.Scheduler, s.SchedFlags) + ")")
		}
		if s.Persistent != 0 {
			fmt.Fprintf(w, " persistent %d", persistSeconds(s.Persistent))
			if m, ok := maskString(s.Netmask, v6); ok {
				fmt.Fprintf(w, " mask %s", m)
			}
		}
		if s.OnePacket {
			w.WriteString(" ops")
		}
		w.WriteByte('\n')
	}

	// Sorted by pointer: a real's status is large to move about.
	reals := make([]*lvs.RealStatus, len(s.Reals))
	for i := range s.Reals {
		reals[i] = &s.Reals[i]
	}
	if format&fmtNoSort == 0 {
		mergeSort(reals, func(a, b **lvs.RealStatus) int { return cmpReals(*a, *b) })
	}
	for _, r := range reals {
		dname := c.addrPort(r.Addr, s.Protocol, format)
		if format&fmtRule == 0 && r.Addr.Addr().Is4() {
			dname = truncate(dname, 28)
		}
		switch {
		case format&fmtRule != 0:
			// Thresholds are not saved: ipvsadm -S leaves out -x and -y.
			fmt.Fprintf(w, "-a %s -r %s %s -w %d", svcName, dname, fwdSwitch(r.Method), r.Weight)
			if r.Method == connTunnel {
				w.WriteString(tunnelRule(&r.Real))
			}
			w.WriteByte('\n')
		case format&fmtStats != 0:
			fmt.Fprintf(w, "  -> %-28s", dname)
			printStats(w, r.Stats, format)
		case format&fmtRate != 0:
			// ipvsadm prints CPS and the packet rates unscaled.
			fmt.Fprintf(w, "  -> %-28s %8d %8d %8d", dname, r.Rates.CPS, r.Rates.InPPS, r.Rates.OutPPS)
			w.WriteString(largenum(r.Rates.InBPS, format))
			w.WriteString(largenum(r.Rates.OutBPS, format))
			w.WriteByte('\n')
		case format&fmtThresholds != 0:
			fmt.Fprintf(w, "  -> %-28s %-10d %-10d %-10d %-10d\n", dname, r.UThreshold, r.LThreshold, r.ActiveConns, r.InActConns)
		case format&fmtPersistentConn != 0:
			fmt.Fprintf(w, "  -> %-28s %-9d %-11d %-10d %-10d\n", dname, uint32(r.Weight), r.PersistConns, r.ActiveConns, r.InActConns)
		case format&fmtTunInfo != 0:
			fmt.Fprintf(w, "  -> %-28s %-7s %-13s %-6d %-10d %-10d\n", dname, fwdName(r.Method), tunnelInfo(&r.Real), r.Weight, r.ActiveConns, r.InActConns)
		default:
			// fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", ...),
			// written by hand: at 100,000 reals Fprintf took a third of
			// the time of a listing.
			w.WriteString("  -> ")
			padRight(w, dname, 28)
			w.WriteByte(' ')
			padRight(w, fwdName(r.Method), 7)
			w.WriteByte(' ')
			padInt(w, int64(r.Weight), 6)
			w.WriteByte(' ')
			padInt(w, int64(r.ActiveConns), 10)
			w.WriteByte(' ')
			padInt(w, int64(r.InActConns), 10)
			w.WriteByte('\n')
		}
	}
}

// padRight writes s left-justified in width columns, as fmt's %-*s does:
// the width counts runes.
func padRight(w *bufio.Writer, s string, width int) {
	w.WriteString(s)
	for n := utf8.RuneCountInString(s); n < width; n++ {
		w.WriteByte(' ')
	}
}

// padInt writes n left-justified in width columns, as fmt's %-*d does.
func padInt(w *bufio.Writer, n int64, width int) {
	var b [24]byte
	d := strconv.AppendInt(b[:0], n, 10)
	w.Write(d)
	for i := len(d); i < width; i++ {
		w.WriteByte(' ')
	}
}

// tunFlagInfo are ipvsadm's names of the tunnel flags in --tun-info
// (tunflags), by value; in -S they are "--tun-" and the flags' names
// (tun_flags_opts). ipvsadm indexes them with the flags as they are; lvs
// refuses the values past them.
var tunFlagInfo = [...]string{
	lvs.TunNoCsum:  "-c",
	lvs.TunCsum:    "+c",
	lvs.TunRemCsum: "r+c",
}

func tunFlags(f lvs.TunnelFlags) (info, opt string) {
	if int(f) < len(tunFlagInfo) {
		return tunFlagInfo[f], "--tun-" + f.String()
	}
	return "?", "--tun-?"
}

// tunnelInfo is ipvsadm's fwd_tun_info for the TunnelInfo column of
// --tun-info: "ipip", "gue:PORT:FLAG", "gre:FLAG" for a tunnel, "n/a" for
// any other method, cut to the 15 bytes of ipvsadm's buffer.
func tunnelInfo(r *lvs.Real) string {
	if r.Method != connTunnel {
		return "n/a"
	}
	info, _ := tunFlags(r.TunFlags)
	switch r.TunType {
	case lvs.TunIPIP:
		return r.TunType.String()
	case lvs.TunGUE:
		return truncate(fmt.Sprintf("%s:%d:%s", r.TunType, r.TunPort, info), 15)
	case lvs.TunGRE:
		return r.TunType.String() + ":" + info
	}
	return "n/a"
}

// tunnelRule is what ipvsadm's print_tunnel_rule adds to a tunnel real's
// -S line: the type, GUE's port, and for GUE and GRE the checksum option
// (--tun-nocsum included, so the line says what the kernel holds).
func tunnelRule(r *lvs.Real) string {
	_, opt := tunFlags(r.TunFlags)
	switch r.TunType {
	case lvs.TunIPIP:
		return " --tun-type " + r.TunType.String()
	case lvs.TunGUE:
		return fmt.Sprintf(" --tun-type %s --tun-port %d %s", r.TunType, r.TunPort, opt)
	case lvs.TunGRE:
		return " --tun-type " + r.TunType.String() + " " + opt
	}
	return ""
}

// persistSeconds is a persistence timeout as ipvsadm prints it (%u seconds).
func persistSeconds(d time.Duration) uint32 { return uint32(d / time.Second) }

// maskString is a persistent service's netmask as ipvsadm prints it after
// "mask" or "-M": dotted for IPv4, a prefix length for IPv6; ok is false
// for the default (/32, /128), which ipvsadm leaves out.
func maskString(m netip.Addr, v6 bool) (string, bool) {
	if !m.IsValid() {
		return "", false
	}
	if v6 {
		bits, _ := lvs.MaskPrefix(m)
		return strconv.Itoa(bits), bits != 128
	}
	if !m.Is4() {
		m = m.Unmap()
	}
	return m.String(), m != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// schedFlagNames is ipvsadm's print_sched_flags: the flags comma-joined,
// by the scheduler's own names for sh and mh, flag-N for other schedulers.
// Like ipvsadm it has no name for flag-3 under sh or mh, so that flag alone
// prints as nothing.
func schedFlagNames(scheduler string, f lvs.SchedFlags) string {
	k, _ := sched.KindOf(scheduler)
	named := k.FlagNames != [2]string{}
	var names []string
	for _, bit := range []lvs.SchedFlags{lvs.SchedFlag1, lvs.SchedFlag2, lvs.SchedFlag3} {
		if f&bit == 0 || (named && bit == lvs.SchedFlag3) {
			continue
		}
		names = append(names, k.FlagName(bit))
	}
	return strings.Join(names, ",")
}

// ruleSwitch is ipvsadm's option_from_protocol for -S.
func ruleSwitch(p lvs.Protocol) string {
	switch p {
	case protoTCP:
		return "-t"
	case protoUDP:
		return "-u"
	case protoSCTP:
		return "--sctp-service"
	}
	return "--xxx-service"
}

// fwdSwitch is ipvsadm's fwd_switch.
func fwdSwitch(m lvs.Method) string {
	switch m {
	case connMasq:
		return "-m"
	case connTunnel:
		return "-i"
	case connLocalNode, connDRoute:
		return "-g"
	}
	return "(null)"
}

// connProtoName is the protocol column of /proc/net/ip_vs_conn, which
// ipvsadm -Lc copies (the kernel's ip_vs_proto_name): "IP" for protocol 0,
// as firewall-mark templates have.
func connProtoName(p lvs.Protocol) string {
	switch p {
	case 0:
		return "IP"
	case protoTCP:
		return "TCP"
	case protoUDP:
		return "UDP"
	case protoSCTP:
		return "SCTP"
	case 1:
		return "ICMP"
	case 58:
		return "ICMPv6"
	}
	return "ERR!"
}

func printStats(w *bufio.Writer, st lvs.Stats, format int) {
	for _, n := range [...]uint64{st.Conns, st.InPkts, st.OutPkts, st.InBytes, st.OutBytes} {
		w.WriteString(largenum(n, format))
	}
	w.WriteByte('\n')
}

// largenum is ipvsadm's print_largenum: nine columns, scaled by decimal
// K/M/G/T (rounded down) unless --exact.
func largenum(i uint64, format int) string {
	if format&fmtExact != 0 {
		width := 9
		if n := len(strconv.FormatUint(i, 10)); n > 8 {
			width = n + 1
		}
		return fmt.Sprintf("%*d", width, i)
	}
	switch {
	case i < 100_000_000:
		return fmt.Sprintf("%9d", i)
	case i < 1_000_000_000:
		return fmt.Sprintf("%8dK", i/1_000)
	case i < 100_000_000_000:
		return fmt.Sprintf("%8dM", i/1_000_000)
	case i < 100_000_000_000_000:
		return fmt.Sprintf("%8dG", i/1_000_000_000)
	}
	return fmt.Sprintf("%8dT", i/1_000_000_000_000)
}

// fwdName is ipvsadm's fwd_name.
func fwdName(m lvs.Method) string {
	switch m {
	case connMasq:
		return "Masq"
	case connLocalNode:
		return "Local"
	case connTunnel:
		return "Tunnel"
	case connDRoute:
		return "Route"
	}
	return "(null)" // what glibc's printf makes of ipvsadm's NULL
}

// addrPort is ipvsadm's addrport_to_anyname: "a.b.c.d:port" or
// "[v6]:port", with host and service names unless -n, cut to the 59 bytes
// of ipvsadm's buffer.
func (c *cli) addrPort(ap netip.AddrPort, proto lvs.Protocol, format int) string {
	a := ap.Addr().WithZone("")
	host, port := inetNtop(a), strconv.Itoa(int(ap.Port()))
	if format&fmtNumeric == 0 {
		if n, ok := c.names.hostName(a); ok {
			host = n
		}
		if p := protoName(int(proto)); p != "" {
			if n, ok := c.names.service(ap.Port(), p); ok {
				port = n
			}
		}
	}
	s := host + ":" + port
	if !a.Is4() {
		s = "[" + host + "]:" + port
	}
	return truncate(s, 59)
}

// cmpServices is libipvs's ipvs_cmp_services (golvs has no fwmark
// services): family, protocol, address, port. Addresses are compared by
// subtracting 32-bit words into an int, so they compare wrongly when they
// differ by 2^31 or more (198.18.0.1 sorts before 2.0.0.1); ipvsadm users
// see that order, so it is kept.
func cmpServices(a, b *lvs.ServiceStatus) int {
	fa, fb := family(a.Addr.Addr()), family(b.Addr.Addr())
	if r := fa - fb; r != 0 {
		return r
	}
	if r := int(a.Protocol) - int(b.Protocol); r != 0 {
		return r
	}
	if r := cmpWords(fa, a.Addr.Addr(), b.Addr.Addr()); r != 0 {
		return r
	}
	return int(a.Addr.Port()) - int(b.Addr.Port())
}

// cmpReals is libipvs's ipvs_cmp_dests: address (compared as in
// cmpServices, in the first real's family), then port.
func cmpReals(a, b *lvs.RealStatus) int {
	if r := cmpWords(family(a.Addr.Addr()), a.Addr.Addr(), b.Addr.Addr()); r != 0 {
		return r
	}
	return int(a.Addr.Port()) - int(b.Addr.Port())
}

func family(a netip.Addr) int {
	if a.Is4() {
		return afInet
	}
	return afInet6
}

func cmpWords(af int, a, b netip.Addr) int {
	wa, wb := words(a), words(b)
	n := 1
	if af == afInet6 {
		n = 4
	}
	r := 0
	for i := 0; r == 0 && i < n; i++ {
		r = int(int32(wa[i] - wb[i]))
	}
	return r
}

// words is an address as the four host-order 32-bit words of libipvs's
// union nf_inet_addr (an IPv4 address fills the first).
func words(a netip.Addr) [4]uint32 {
	if a.Is4() {
		b := a.As4()
		return [4]uint32{binary.BigEndian.Uint32(b[:])}
	}
	b := a.As16()
	var w [4]uint32
	for i := range w {
		w[i] = binary.BigEndian.Uint32(b[4*i:])
	}
	return w
}

// mergeSort sorts s as glibc's qsort does (a top-down merge sort that keeps
// the left element on ties), which matters because ipvsadm's comparisons are
// not transitive: another algorithm would print another order.
func mergeSort[T any](s []T, cmp func(a, b *T) int) {
	tmp := make([]T, len(s))
	msort(s, tmp, cmp)
}

func msort[T any](b, tmp []T, cmp func(a, b *T) int) {
	n := len(b)
	if n <= 1 {
		return
	}
	n1 := n / 2
	b1, b2 := b[:n1], b[n1:]
	msort(b1, tmp, cmp)
	msort(b2, tmp, cmp)
	i, j, k := 0, 0, 0
	for i < len(b1) && j < len(b2) {
		if cmp(&b1[i], &b2[j]) <= 0 {
			tmp[k] = b1[i]
			i++
		} else {
			tmp[k] = b2[j]
			j++
		}
		k++
	}
	k += copy(tmp[k:], b1[i:])
	// What is left of b2 is already in place.
	copy(b, tmp[:k])
}
