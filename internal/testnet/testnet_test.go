package testnet

import (
	"context"
	"os"
	"strings"
	"testing"
)

func TestPagesHaveEqualLengths(t *testing.T) {
	a, b := Page("rs1", RealAddrs[0]), Page("rs2", RealAddrs[1])
	if len(a) != len(b) || a == b {
		t.Errorf("pages %q and %q: want equal lengths, different text", a, b)
	}
}

func TestNginxConfigKeepsFilesInItsDirectory(t *testing.T) {
	conf := NginxConfig("/tmp/x")
	for _, want := range []string{"daemon off;", "pid /tmp/x/nginx.pid;", "error_log /tmp/x/error.log", "access_log /tmp/x/access.log golvs;", "client_body_temp_path /tmp/x/", "root /tmp/x/html;", "listen 80 "} {
		if !strings.Contains(conf, want) {
			t.Errorf("nginx.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "/var/") {
		t.Errorf("nginx.conf refers to /var:\n%s", conf)
	}
}

// TestPrivilegedNamespacesGoAway checks that a test's namespaces, and the
// processes in them, are gone when the test ends, also when it fails.
func TestPrivilegedNamespacesGoAway(t *testing.T) {
	RequirePrivileged(t)
	var name string
	var proc *Process
	t.Run("inner", func(t *testing.T) {
		n := NewNet(t)
		ns := n.AddNamespace("a")
		name = ns.Name
		if !strings.HasPrefix(name, Prefix) {
			t.Errorf("namespace %q lacks the prefix %q", name, Prefix)
		}
		proc = StartProcess(t, "sleep", t.TempDir()+"/log", nil, "ip", "netns", "exec", ns.Name, "sleep", "60")
		Veth(ns, "eth0", n.AddNamespace("b"), "eth0")
		ns.AddAddr("eth0", "198.18.0.1/30")
		c, err := ns.Dial(context.Background(), "tcp", "198.18.0.1:1")
		if err == nil {
			c.Close()
			t.Error("dial to a closed port in the namespace succeeded")
		}
	})
	if _, err := os.Stat("/var/run/netns/" + name); !os.IsNotExist(err) {
		t.Errorf("namespace %s still exists after its test (%v)", name, err)
	}
	if !proc.Exited() {
		t.Errorf("process in namespace %s still runs after its test", name)
	}
}
