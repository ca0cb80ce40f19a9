package ipvsadm

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"golvs/internal/lvs"
)

// listAll is ipvsadm's list_all: the version line, the title and every
// service with its reals.
func (c *cli) listAll(ctx context.Context, format int) int {
	info, err := c.d.Info(ctx)
	if err != nil {
		return c.listFailed(err)
	}
	w := c.newOut()
	// The kernel's IPVS version, which ipvsadm prints, is always 1.2.1.
	fmt.Fprintf(w, "IP Virtual Server version 1.2.1 (size=%d)\n", info.ConnTableSize)
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
	fmt.Fprintf(w, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	for _, cn := range conns {
		// /proc/net/ip_vs_conn shows whole seconds left, rounded down.
		secs := int64(cn.Expires / time.Second)
		if secs < 0 {
			secs = 0
		}
		expire := fmt.Sprintf("%02d:%02d", secs/60, secs%60)
		fmt.Fprintf(w, "%-3s %-6s %-11s %-18s %-18s %s\n", cn.Protocol, expire, cn.State,
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

// printTitle is ipvsadm's print_title for the formats golvs lists.
func printTitle(w *bufio.Writer, format int) {
	if format&fmtStats != 0 {
		fmt.Fprintf(w, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n",
			"Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
		return
	}
	fmt.Fprint(w, "Prot LocalAddress:Port Scheduler Flags\n"+
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
}

// printService is ipvsadm's print_service_entry for the formats golvs lists.
func (c *cli) printService(w *bufio.Writer, s *lvs.ServiceStatus, format int) {
	svcName := fmt.Sprintf("%-4s %s", s.Protocol, c.addrPort(s.Addr, s.Protocol, format))
	if s.Addr.Addr().Is4() {
		svcName = truncate(svcName, 33)
	}
	if format&fmtStats != 0 {
		fmt.Fprintf(w, "%-33s", svcName)
		printStats(w, s.Stats, format)
	} else {
		fmt.Fprintf(w, "%s %s\n", svcName, s.Scheduler)
	}

	reals := slices.Clone(s.Reals)
	if format&fmtNoSort == 0 {
		mergeSort(reals, cmpReals)
	}
	for i := range reals {
		r := &reals[i]
		dname := c.addrPort(r.Addr, s.Protocol, format)
		if r.Addr.Addr().Is4() {
			dname = truncate(dname, 28)
		}
		if format&fmtStats != 0 {
			fmt.Fprintf(w, "  -> %-28s", dname)
			printStats(w, r.Stats, format)
			continue
		}
		fmt.Fprintf(w, "  -> %-28s %-7s %-6d %-10d %-10d\n", dname, fwdName(r.Method), r.Weight, r.ActiveConns, r.InActConns)
	}
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
	host, port := a.String(), strconv.Itoa(int(ap.Port()))
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
// differ by 2^31 or more (192.168.0.1 sorts before 10.0.0.1); ipvsadm users
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
