package testnet

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Nginx is an nginx instance serving one page on port 80 of a namespace,
// with its configuration, pid file and logs in a directory of its own, so
// it never touches the system nginx's files.
type Nginx struct {
	// Page is the body of GET /.
	Page string
	// Dir holds nginx.conf, the logs and the document root.
	Dir string
	// AccessLog is the access log; each line is
	// "$remote_addr:$remote_port $server_addr:$server_port "$request" $status $body_bytes_sent".
	AccessLog string
	// ErrorLog is nginx's error log.
	ErrorLog string

	proc *Process
}

// StartNginx starts nginx in ns listening on ports 80 and 8080 of every
// address of the namespace, IPv4 and IPv6, serving page at "/" and storing
// what is PUT to /upload/ (see UploadPath), and waits until it accepts
// connections. It is stopped when the test ends.
func (ns *Namespace) StartNginx(page string) *Nginx {
	t := ns.net.t
	t.Helper()
	dir, err := os.MkdirTemp("", ns.Name+"-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ng := &Nginx{
		Page:      page,
		Dir:       dir,
		AccessLog: filepath.Join(dir, "access.log"),
		ErrorLog:  filepath.Join(dir, "error.log"),
	}
	html := filepath.Join(dir, "html")
	for _, d := range []string{html, filepath.Join(dir, "data", "upload")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(html, "index.html"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(NginxConfig(dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	ng.proc = StartProcess(t, "nginx "+ns.Name, filepath.Join(dir, "stderr.log"), nil,
		"ip", "netns", "exec", ns.Name, "nginx", "-p", dir, "-e", ng.ErrorLog, "-c", conf)
	t.Cleanup(func() {
		// Runs before the Process's own cleanup: a graceful stop, so the
		// workers go with the master.
		if !ng.proc.Exited() {
			if _, err := ng.proc.Stop(syscall.SIGTERM); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
		if t.Failed() {
			t.Logf("nginx %s error log:\n%s", ns.Name, readTail(ng.ErrorLog, 2000))
		}
	})
	ready := WaitFor(10*time.Second, func() bool {
		if ng.proc.Exited() {
			return true
		}
		for _, a := range []string{"127.0.0.1:80", "[::1]:80"} {
			c, err := ns.Dial(context.Background(), "tcp", a)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})
	if ng.proc.Exited() || !ready {
		t.Fatalf("nginx in %s did not start:\n%s\n%s", ns.Name, ng.proc.Log(), readTail(ng.ErrorLog, 2000))
	}
	return ng
}

// NginxConfig returns an nginx.conf that keeps every file nginx writes
// under dir and serves dir/html on port 80.
func NginxConfig(dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "daemon off;\nmaster_process on;\nworker_processes 2;\npid %s/nginx.pid;\n", dir)
	if os.Geteuid() == 0 {
		// The workers must read files in a 0700 temporary directory.
		b.WriteString("user root;\n")
	}
	fmt.Fprintf(&b, "error_log %s/error.log warn;\n", dir)
	b.WriteString("events { worker_connections 4096; }\n")
	b.WriteString("http {\n")
	b.WriteString("  log_format golvs '$remote_addr:$remote_port $server_addr:$server_port \"$request\" $status $body_bytes_sent';\n")
	fmt.Fprintf(&b, "  access_log %s/access.log golvs;\n", dir)
	// Temporary paths default to /var/lib/nginx; keep them here instead,
	// for the modules this nginx build has.
	for _, m := range nginxTempModules() {
		fmt.Fprintf(&b, "  %s_temp_path %s/%s_temp;\n", m, dir, m)
	}
	b.WriteString("  default_type text/plain;\n")
	// Long keep-alive so that a test can hold an idle connection open.
	b.WriteString("  keepalive_timeout 300s;\n  keepalive_requests 100000;\n")
	b.WriteString("  server {\n")
	// [::]:port is IPv6 only (nginx sets IPV6_V6ONLY), beside 0.0.0.0:port.
	for _, l := range []string{"80 default_server", "[::]:80 default_server", "8080", "[::]:8080"} {
		fmt.Fprintf(&b, "    listen %s backlog=4096;\n", l)
	}
	fmt.Fprintf(&b, "    root %s/html;\n    index index.html;\n", dir)
	// PUT /upload/NAME stores the body (any size) under dir/data and
	// answers only once the whole body has arrived, so a test learns how
	// many bytes reached the server by reading the file.
	fmt.Fprintf(&b, "    location /upload/ {\n      root %s/data;\n      dav_methods PUT;\n      create_full_put_path on;\n      client_max_body_size 0;\n    }\n", dir)
	b.WriteString("  }\n}\n")
	return b.String()
}

// UploadPath is where nginx stores the body of "PUT /upload/name".
func (ng *Nginx) UploadPath(name string) string {
	return filepath.Join(ng.Dir, "data", "upload", name)
}

// nginxTempModules lists the modules with a *_temp_path directive that the
// installed nginx was built with.
func nginxTempModules() []string {
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	// nginx -V prints its configure arguments to standard error.
	out, _ := exec.CommandContext(ctx, "nginx", "-V").CombinedOutput()
	mods := []string{"client_body"}
	for _, m := range []string{"proxy", "fastcgi", "uwsgi", "scgi"} {
		if !strings.Contains(string(out), "--without-http_"+m+"_module") {
			mods = append(mods, m)
		}
	}
	return mods
}

// AccessLogLines returns the lines of the access log.
func (ng *Nginx) AccessLogLines() ([]string, error) {
	f, err := os.Open(ng.AccessLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}

func readTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// WriteFile puts a file with data at /name of the server's document root.
func (ng *Nginx) WriteFile(name string, data []byte) error {
	return os.WriteFile(filepath.Join(ng.Dir, "html", name), data, 0o644)
}
