package e2e

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"golvs/internal/testnet"
)

// curlAs fetches url from the client with source address src and returns
// the real server that answered.
func (l *lab) curlAs(src, url string) string {
	l.t.Helper()
	body, err := l.Client.Exec("curl", "-sS", "--max-time", "5", "--interface", src, url)
	if err != nil {
		l.t.Fatalf("curl %s from %s: %v", url, src, err)
	}
	r := l.RealByPage(body)
	if r == nil {
		l.t.Fatalf("curl %s from %s: unexpected page %q", url, src, body)
	}
	return r.Addr.String()
}

// TestPrivilegedPersistence: a persistent service keeps each client (or
// client network, with -M) on its real server across new connections,
// shows the templates in -Lnc and counts them in --persistent-conn.
func TestPrivilegedPersistence(t *testing.T) {
	l := newLab(t, testnet.NAT)
	// Two more client addresses: one in the VIP's /24, one in another /24.
	l.Client.AddAddr("eth0", "198.18.0.3/24")
	l.Client.AddAddr("eth0", "198.18.3.2/24")
	l.Director.AddAddr(testnet.DirectorClientLink, "198.18.3.1/24")

	l.adm("-A", "-t", vipPort, "-s", "rr", "-p", "60")
	l.adm("-A", "-t", "198.18.0.10:8080", "-s", "rr", "-p", "60", "-M", "255.255.255.0")
	for _, svc := range []string{vipPort, "198.18.0.10:8080"} {
		l.adm("-a", "-t", svc, "-r", rs1, "-m")
		l.adm("-a", "-t", svc, "-r", rs2, "-m")
	}

	// Per client address (-M 255.255.255.255): .2 and .3 are two clients.
	first := l.curlAs("198.18.0.2", vipURL)
	for range 5 {
		if got := l.curlAs("198.18.0.2", vipURL); got != first {
			t.Fatalf("persistent client 198.18.0.2 moved from %s to %s", first, got)
		}
	}
	if got := l.curlAs("198.18.0.3", vipURL); got == first {
		t.Errorf("a second client address went to %s too; rr should have given it the other real", got)
	}

	// Per /24 (-M 255.255.255.0): .2 and .3 share a template, 198.18.3.2 does not.
	url := "http://198.18.0.10:8080/"
	net0 := l.curlAs("198.18.0.2", url)
	for _, src := range []string{"198.18.0.3", "198.18.0.2", "198.18.0.3"} {
		if got := l.curlAs(src, url); got != net0 {
			t.Fatalf("client %s of 198.18.0.0/24 went to %s, its network's real is %s", src, got, net0)
		}
	}
	if got := l.curlAs("198.18.3.2", url); got == net0 {
		t.Errorf("client network 198.18.3.0/24 went to %s too; rr should have given it the other real", got)
	}

	conns := l.adm("-Lnc")
	for _, want := range []string{
		"198.18.0.2:0       198.18.0.10:80     " + first + ":80",
		"198.18.0.0:0       198.18.0.10:8080   " + net0 + ":80",
	} {
		if !strings.Contains(conns, want) {
			t.Errorf("lvsadm -Lnc has no template %q:\n%s", want, conns)
		}
	}
	pc := l.adm("-Ln", "--persistent-conn")
	if f := strings.Fields(lineOf(pc, "-> "+first+":80")); len(f) != 6 || f[3] != "1" {
		t.Errorf("lvsadm -Ln --persistent-conn: %q, want PersistConn 1 for %s:80", lineOf(pc, "-> "+first+":80"), first)
	}
}

// TestPrivilegedPersistenceExpires uses a UDP service with a 3 s template
// and a 1 s UDP timeout: while the template lives a client keeps its real;
// once its connections and then the template have expired, the scheduler
// decides again (rr: the other real).
func TestPrivilegedPersistenceExpires(t *testing.T) {
	l := newLab(t, testnet.NAT)
	for _, r := range l.Reals {
		pc, err := r.NS.ListenPacket("udp4", r.Addr.String()+":5353")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		go echoName(pc, r.Addr.String())
	}
	l.adm("--set", "0", "0", "1")
	l.adm("-A", "-u", "198.18.0.10:5353", "-s", "rr", "-p", "3")
	l.adm("-a", "-u", "198.18.0.10:5353", "-r", "198.19.0.11", "-m")
	l.adm("-a", "-u", "198.18.0.10:5353", "-r", "198.19.0.12", "-m")

	ask := func(port int) string {
		t.Helper()
		c, err := l.Client.DialWith(context.Background(), &net.Dialer{LocalAddr: &net.UDPAddr{Port: port}}, "udp4", "198.18.0.10:5353")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := c.Write([]byte("who")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("UDP answer through the VIP: %v", err)
		}
		return string(buf[:n])
	}
	first := ask(41001)
	for i := range 3 {
		if got := ask(41002 + i); got != first {
			t.Fatalf("new UDP flow %d of a persistent client went to %s, its real is %s", i, got, first)
		}
	}
	// Connections expire after 1 s, the template 3 s after the last new
	// connection; the sweeper removes them within a second more.
	if !testnet.WaitFor(10*time.Second, func() bool {
		return !strings.Contains(l.adm("-Lnc"), ":5353")
	}) {
		t.Fatalf("entries did not expire:\n%s", l.adm("-Lnc"))
	}
	if got := ask(41010); got == first {
		t.Errorf("after the template expired the client went to %s again; rr should have moved on", got)
	}
}

// echoName answers every datagram with name until pc is closed.
func echoName(pc net.PacketConn, name string) {
	buf := make([]byte, 1500)
	for {
		_, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		// A lost answer shows as the client's read timing out.
		pc.WriteTo([]byte(name), from)
	}
}
