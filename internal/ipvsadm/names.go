package ipvsadm

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// names looks up host and service names the way ipvsadm does through the C
// library: gethostbyname, gethostbyaddr, getservbyname and getservbyport.
type names interface {
	// hostAddr returns the first IPv4 address of a host name.
	hostAddr(name string) (netip.Addr, bool)
	// hostName returns the name of an address.
	hostName(a netip.Addr) (string, bool)
	// port returns the port of service name for proto ("tcp", "udp", "sctp").
	port(name, proto string) (uint16, bool)
	// service returns the official name of port for proto.
	service(port uint16, proto string) (string, bool)
}

// Lookup budgets. A listing resolves every address, so one unreachable DNS
// server must not cost a timeout per line: after the first reverse lookup
// that times out, the rest of the run prints numbers.
const (
	forwardTimeout = 3 * time.Second
	reverseTimeout = time.Second
)

// systemNames resolves through Go's resolver (which reads /etc/hosts and
// resolv.conf) and parses the services file itself, since Go has no
// getservbyport.
type systemNames struct {
	servicesPath string
	resolver     *net.Resolver
	timeout      time.Duration // per reverse lookup

	services *serviceDB // loaded on first use
	hosts    map[netip.Addr]string
	dnsDown  bool
}

func newSystemNames(servicesPath string) *systemNames {
	return &systemNames{
		servicesPath: servicesPath,
		resolver:     net.DefaultResolver,
		timeout:      reverseTimeout,
		hosts:        map[netip.Addr]string{},
	}
}

func (n *systemNames) hostAddr(name string) (netip.Addr, bool) {
	if name == "" {
		return netip.Addr{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), forwardTimeout)
	defer cancel()
	addrs, err := n.resolver.LookupNetIP(ctx, "ip4", name)
	if err != nil || len(addrs) == 0 {
		return netip.Addr{}, false
	}
	return addrs[0].Unmap(), true
}

func (n *systemNames) hostName(a netip.Addr) (string, bool) {
	if name, ok := n.hosts[a]; ok {
		return name, name != ""
	}
	if n.dnsDown {
		return "", false
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.timeout)
	defer cancel()
	found, err := n.resolver.LookupAddr(ctx, a.String())
	name := ""
	if err == nil && len(found) > 0 {
		name = strings.TrimSuffix(found[0], ".")
	}
	var dnsErr *net.DNSError
	if ctx.Err() != nil || (errors.As(err, &dnsErr) && dnsErr.IsTimeout) {
		n.dnsDown = true
	}
	n.hosts[a] = name
	return name, name != ""
}

func (n *systemNames) db() *serviceDB {
	if n.services == nil {
		n.services = &serviceDB{}
		if f, err := os.Open(n.servicesPath); err == nil {
			n.services = parseServices(f)
			f.Close()
		}
	}
	return n.services
}

func (n *systemNames) port(name, proto string) (uint16, bool) { return n.db().port(name, proto) }

func (n *systemNames) service(port uint16, proto string) (string, bool) {
	return n.db().service(port, proto)
}

// serviceDB is the content of /etc/services (services(5)).
type serviceDB struct {
	byName map[string]uint16 // "name/proto", aliases included
	byPort map[string]string // "port/proto" → official name
}

// parseServices reads a services(5) file. As in the C library, the first
// line that matches wins.
func parseServices(r io.Reader) *serviceDB {
	db := &serviceDB{byName: map[string]uint16{}, byPort: map[string]string{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		portStr, proto, ok := strings.Cut(f[1], "/")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			continue
		}
		pk := strconv.FormatUint(p, 10) + "/" + proto
		if _, dup := db.byPort[pk]; !dup {
			db.byPort[pk] = f[0]
		}
		for _, name := range append([]string{f[0]}, f[2:]...) {
			if _, dup := db.byName[name+"/"+proto]; !dup {
				db.byName[name+"/"+proto] = uint16(p)
			}
		}
	}
	return db
}

func (db *serviceDB) port(name, proto string) (uint16, bool) {
	p, ok := db.byName[name+"/"+proto]
	return p, ok
}

func (db *serviceDB) service(port uint16, proto string) (string, bool) {
	s, ok := db.byPort[strconv.FormatUint(uint64(port), 10)+"/"+proto]
	return s, ok
}
