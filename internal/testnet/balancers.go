package testnet

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The balancers golvs is compared with in bench/: each runs inside a
// namespace of a test, with its configuration, pid file and logs in a
// temporary directory of its own, and is stopped when the test ends.

// NginxStreamModule is the dynamic module of Debian's libnginx-mod-stream
// that StartNginxStream loads (scripts/bench-deps.sh installs it).
const NginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// TCPProxy is a TCP proxy (nginx stream or HAProxy) running in a
// namespace.
type TCPProxy struct {
	// Name is "nginx-stream" or "haproxy".
	Name string
	// Listen is the address the proxy accepts connections on.
	Listen netip.AddrPort
	// Dir holds the configuration and logs.
	Dir  string
	Proc *Process
}

// StartNginxStream starts nginx's stream (layer 4) proxy in ns, listening
// on listen and passing every connection to the upstreams in round robin,
// with as many worker processes as the machine has CPUs, and waits until
// it accepts connections.
func (ns *Namespace) StartNginxStream(listen netip.AddrPort, upstreams []netip.AddrPort) *TCPProxy {
	t := ns.net.t
	t.Helper()
	if _, err := os.Stat(NginxStreamModule); err != nil {
		t.Fatalf("nginx stream proxy: %v (install libnginx-mod-stream: scripts/bench-deps.sh)", err)
	}
	dir := ns.proxyDir("nginx-stream")
	var b strings.Builder
	fmt.Fprintf(&b, "load_module %s;\n", NginxStreamModule)
	fmt.Fprintf(&b, "daemon off;\nmaster_process on;\nworker_processes auto;\npid %s/nginx.pid;\n", dir)
	fmt.Fprintf(&b, "error_log %s/error.log warn;\n", dir)
	b.WriteString("events { worker_connections 16384; }\n")
	b.WriteString("stream {\n  upstream reals {\n")
	for _, u := range upstreams {
		fmt.Fprintf(&b, "    server %s;\n", u)
	}
	b.WriteString("  }\n")
	fmt.Fprintf(&b, "  server {\n    listen %s backlog=4096;\n    proxy_pass reals;\n  }\n}\n", listen)
	conf := filepath.Join(dir, "nginx.conf")
	ns.writeConf(conf, b.String())
	p := &TCPProxy{Name: "nginx-stream", Listen: listen, Dir: dir}
	// Without -p nginx would try the compiled-in prefix's logs first.
	p.Proc = StartProcess(t, "nginx-stream "+ns.Name, filepath.Join(dir, "stderr.log"), nil,
		"ip", "netns", "exec", ns.Name, "nginx", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
	ns.waitProxy(p)
	return p
}

// StartHAProxy starts HAProxy in TCP mode in ns, listening on listen and
// balancing connections over the upstreams in round robin with one thread
// per CPU, and waits until it accepts connections.
func (ns *Namespace) StartHAProxy(listen netip.AddrPort, upstreams []netip.AddrPort) *TCPProxy {
	t := ns.net.t
	t.Helper()
	if _, err := exec.LookPath("haproxy"); err != nil {
		t.Fatalf("haproxy: %v (run scripts/bench-deps.sh)", err)
	}
	dir := ns.proxyDir("haproxy")
	var b strings.Builder
	// maxconn needs two descriptors per connection under the
	// process's file limit (20000 here); the benchmark opens 100 at most.
	b.WriteString("global\n  maxconn 8000\n")
	b.WriteString("defaults\n  mode tcp\n  balance roundrobin\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n")
	fmt.Fprintf(&b, "frontend vip\n  bind %s backlog 4096\n  default_backend reals\n", listen)
	b.WriteString("backend reals\n")
	for i, u := range upstreams {
		fmt.Fprintf(&b, "  server rs%d %s\n", i+1, u)
	}
	conf := filepath.Join(dir, "haproxy.cfg")
	ns.writeConf(conf, b.String())
	p := &TCPProxy{Name: "haproxy", Listen: listen, Dir: dir}
	// -db: stay in the foreground, so the Process owns it. HAProxy 2.x
	// starts one thread per CPU it may run on by default.
	p.Proc = StartProcess(t, "haproxy "+ns.Name, filepath.Join(dir, "stderr.log"), nil,
		"ip", "netns", "exec", ns.Name, "haproxy", "-db", "-f", conf)
	ns.waitProxy(p)
	return p
}

func (ns *Namespace) proxyDir(name string) string {
	t := ns.net.t
	t.Helper()
	dir, err := os.MkdirTemp("", ns.Name+"-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (ns *Namespace) writeConf(path, conf string) {
	ns.net.t.Helper()
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		ns.net.t.Fatal(err)
	}
}

func (ns *Namespace) waitProxy(p *TCPProxy) {
	t := ns.net.t
	t.Helper()
	t.Cleanup(func() {
		// Before the Process's own cleanup: a graceful stop, so that
		// nginx's workers go with the master.
		if !p.Proc.Exited() {
			if _, err := p.Proc.Stop(syscall.SIGTERM); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})
	ready := WaitFor(10*time.Second, func() bool {
		if p.Proc.Exited() {
			return true
		}
		c, err := ns.Dial(context.Background(), "tcp", p.Listen.String())
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	if p.Proc.Exited() || !ready {
		t.Fatalf("%s in %s did not start listening on %s (%s):\n%s\n%s", p.Name, ns.Name, p.Listen, p.Proc.State(),
			p.Proc.Log(), readTail(filepath.Join(p.Dir, "error.log"), 2000))
	}
}

// NFT runs an nftables script ("nft -f -") in the namespace. Tables made
// this way vanish with the namespace.
func (ns *Namespace) NFT(script string) error {
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s", ns.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// NFTRoundRobinDNAT returns an nftables script that creates table ip
// <table> with a prerouting NAT chain sending TCP connections to vip over
// the reals in turn (numgen inc mod n), keeping the port: the kernel's own
// NAT path, the closest stand-in for IPVS-NAT on a kernel without ip_vs.
func NFTRoundRobinDNAT(table string, vip netip.AddrPort, reals []netip.Addr) string {
	var m []string
	for i, r := range reals {
		m = append(m, fmt.Sprintf("%d : %s", i, r))
	}
	return fmt.Sprintf(`table ip %s {
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %s tcp dport %d dnat to numgen inc mod %d map { %s }
	}
}
`, table, vip.Addr(), vip.Port(), len(reals), strings.Join(m, ", "))
}
