package health

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"golvs/internal/config"
)

// dnsTypes are the query types keepalived's DNS_CHECK knows (check_dns.c).
var dnsTypes = map[string]uint16{
	"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28, "RRSIG": 46, "DNSKEY": 48,
}

var dnsRcodes = [...]string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"}

// dnsDefaults returns the query's type and name with keepalived's
// defaults: SOA and ".".
func dnsDefaults(q *config.DNSQuery) (typ, name string) {
	typ, name = "SOA", "."
	if q != nil && q.Type != "" {
		typ = strings.ToUpper(q.Type)
	}
	if q != nil && q.Name != "" {
		name = q.Name
	}
	return typ, name
}

// dnsQuery builds a query as check_dns.c's dns_make_query does: one
// question, recursion desired.
func dnsQuery(id uint16, typ uint16, name string) ([]byte, error) {
	b := make([]byte, 12, 512)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], 0x0100) // RD
	binary.BigEndian.PutUint16(b[4:], 1)      // QDCOUNT
	name = strings.TrimSuffix(name, ".")
	if name != "" {
		for _, label := range strings.Split(name, ".") {
			if label == "" || len(label) > 63 {
				return nil, fmt.Errorf("dns name %q: bad label %q", name, label)
			}
			b = append(b, byte(len(label)))
			b = append(b, label...)
		}
	}
	b = append(b, 0)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, 1) // class IN
	return b, nil
}

// probeDNS is DNS_CHECK: a query over UDP to the real; any reply with the
// query's id and rcode NOERROR passes, whatever its answers, as
// check_dns.c decides.
func probeDNS(ctx context.Context, j job) result {
	t := target(j)
	typName, qname := dnsDefaults(j.check.DNS)
	name := fmt.Sprintf("%s %s %s %s", j.check.Kind, t, typName, qname)
	typ, ok := dnsTypes[typName]
	if !ok {
		return fail("%s: unknown query type %q", name, typName)
	}
	id := uint16(rand.Uint32())
	q, err := dnsQuery(id, typ, qname)
	if err != nil {
		return fail("%s: %v", name, err)
	}
	timeout := j.check.ConnectTimeout
	conn, err := dialer(&j.check, true).DialContext(ctx, "udp", t.String())
	if err != nil {
		return fail("%s: %s", name, netError(err, timeout))
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(q); err != nil {
		return fail("%s: send query: %s", name, netError(err, timeout))
	}
	buf := make([]byte, 768) // DNS_BUFFER_SIZE
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return fail("%s: cancelled", name)
			}
			return fail("%s: no reply: %s", name, netError(err, timeout))
		}
		// Too short, another id or not a response: keep waiting, as
		// dns_recv_thread does.
		if n < 12 || binary.BigEndian.Uint16(buf) != id || buf[2]&0x80 == 0 {
			continue
		}
		if rc := int(buf[3] & 0x0f); rc != 0 {
			rcName := fmt.Sprint(rc)
			if rc < len(dnsRcodes) {
				rcName = dnsRcodes[rc]
			}
			return fail("%s: rcode %s", name, rcName)
		}
		return pass("%s: NOERROR", name)
	}
}
