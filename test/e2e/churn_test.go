package e2e

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// TestPrivilegedRealChurnKeepsFlows checks the issue's "adding or removing
// a real under load never drops a packet of existing flows": UDP flows
// through the VIP exchange sequence-numbered datagrams with the real
// servers, one at a time (each must be answered within a second, so every
// lost datagram is seen), and a kept-alive HTTP connection makes requests,
// while reals are added to and removed from both services and the weights
// of the flows' own reals change, over and over. Every datagram must be
// answered, by the real its flow started on, and the HTTP connection must
// neither fail nor retransmit.
func TestPrivilegedRealChurnKeepsFlows(t *testing.T) {
	l := newLab(t, testnet.NAT)
	l.saveLogsOnFailure()
	l.setup("rr", "-m")
	udpVIP := vip + ":" + strconv.Itoa(testnet.UDPPort)
	l.adm("-A", "-u", udpVIP, "-s", "wrr")
	for _, r := range l.Reals {
		l.adm("-a", "-u", udpVIP, "-r", r.Addr.String()+":"+strconv.Itoa(testnet.UDPPort), "-m")
	}

	const flows = 6
	var conns []net.Conn
	for range flows {
		c, err := l.Client.Dial(context.Background(), "udp", udpVIP)
		if err != nil {
			t.Fatalf("udp socket toward %s: %v", udpVIP, err)
		}
		t.Cleanup(func() { c.Close() })
		conns = append(conns, c)
	}
	// Each flow is made before the churn starts: a new flow may be
	// scheduled to a real the churn adds, where nothing listens.
	first := make([]string, flows)
	for i, c := range conns {
		msg := []byte(fmt.Sprintf("flow %d first", i))
		name, err := exchange(c, msg)
		if err != nil {
			t.Fatalf("udp flow %d, first datagram: %v", i, err)
		}
		first[i] = name
	}
	ka := l.openKeepAlive()
	holder := l.get(ka)
	retrans := nstat(t, l.Client, "TcpRetransSegs")

	// The flows run until the churn is over (at most churnFor) and
	// report what they saw.
	const churnFor = 20 * time.Second
	stop := make(chan struct{})
	results := make([]flowResult, flows)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() { results[i] = runFlow(c, i, first[i], stop) })
	}
	var httpErr error
	httpReqs := 0
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			body, err := ka.get()
			if err == nil && l.RealByPage(body) != holder {
				err = fmt.Errorf("answered by %q, want %s", body, holder.Name)
			}
			if err != nil {
				httpErr = err
				return
			}
			httpReqs++
		}
	})

	// Churn: extra reals in and out of both services (the flows' reals
	// on another port, which no flow uses), and the flows' own reals
	// re-weighted, each change a new scheduler table swapped in.
	deadline := time.Now().Add(churnFor)
	cycles := 0
	extra := func(i int, port string) string { return l.Reals[i%2].Addr.String() + ":" + port }
	for ; cycles < 25 && time.Now().Before(deadline); cycles++ {
		l.adm("-a", "-u", udpVIP, "-r", extra(cycles, "9001"), "-m")
		l.adm("-a", "-t", vipPort, "-r", extra(cycles, "8081"), "-m")
		for _, r := range l.Reals {
			l.adm("-e", "-u", udpVIP, "-r", r.Addr.String()+":"+strconv.Itoa(testnet.UDPPort), "-m", "-w", strconv.Itoa(1+cycles%3))
		}
		l.adm("-d", "-u", udpVIP, "-r", extra(cycles, "9001"))
		l.adm("-d", "-t", vipPort, "-r", extra(cycles, "8081"))
	}
	close(stop)
	wg.Wait()

	if cycles < 5 {
		t.Errorf("only %d churn cycles in %v", cycles, churnFor)
	}
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("udp flow %d: %v", i, r.err)
		case r.lost != 0:
			t.Errorf("udp flow %d: %d of %d datagrams got no answer while reals changed", i, r.lost, r.sent)
		case r.sent == 0:
			t.Errorf("udp flow %d: no datagram exchanged while reals changed", i)
		}
		t.Logf("udp flow %d: %d datagrams to %s, %d lost", i, r.sent, r.real, r.lost)
	}
	if httpErr != nil {
		t.Errorf("kept-alive HTTP connection after %d requests: %v", httpReqs, httpErr)
	}
	if n := nstat(t, l.Client, "TcpRetransSegs") - retrans; n != 0 {
		t.Errorf("the client retransmitted %d TCP segments while reals changed", n)
	}
	t.Logf("%d churn cycles, %d HTTP requests on one connection", cycles, httpReqs)
}

type flowResult struct {
	real       string
	sent, lost int
	err        error
}

// exchange sends msg on c and returns the name of the real server that
// answered it within a second.
func exchange(c net.Conn, msg []byte) (string, error) {
	if _, err := c.Write(msg); err != nil {
		return "", err
	}
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(time.Second))
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return testnet.ParseUDPReply(buf[:n], msg)
}

// runFlow sends datagram after datagram on c, the flow made to real,
// each carrying its flow and sequence number, and waits for each answer,
// until stop is closed. It stops at the first wrong answer: another
// real, or a reply that does not echo the datagram.
func runFlow(c net.Conn, flow int, real string, stop <-chan struct{}) flowResult {
	r := flowResult{real: real}
	buf := make([]byte, 2048)
	start := time.Now()
	for seq := 0; ; seq++ {
		select {
		case <-stop:
			return r
		default:
		}
		// A bound in count as well as time: a few thousand a second.
		if seq > 500000 || time.Since(start) > time.Minute {
			return r
		}
		msg := []byte(fmt.Sprintf("flow %d seq %d", flow, seq))
		if _, err := c.Write(msg); err != nil {
			r.err = fmt.Errorf("send %d: %w", seq, err)
			return r
		}
		r.sent++
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			r.lost++
			continue
		}
		if err != nil {
			r.err = fmt.Errorf("receive %d: %w", seq, err)
			return r
		}
		name, err := testnet.ParseUDPReply(buf[:n], msg)
		if err != nil {
			// A late answer to a datagram counted lost: this one is
			// lost all the same.
			r.lost++
			continue
		}
		if name != r.real {
			r.err = fmt.Errorf("datagram %d answered by %s, the flow started on %s", seq, name, r.real)
			return r
		}
	}
}
