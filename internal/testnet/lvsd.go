package testnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"golvs/internal/api"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// LVSDStartTimeout bounds how long lvsd may take to create its socket.
const LVSDStartTimeout = 20 * time.Second

// LVSD is an lvsd running in a namespace with its own socket, pin
// directory and state directory, so that several can run side by side.
type LVSD struct {
	// Bin and AdmBin are the lvsd and lvsadm binaries.
	Bin, AdmBin string
	NS          *Namespace
	Interfaces  []string
	// Socket is the API socket; lvsadm finds it through GOLVS_SOCKET.
	Socket string
	// PinDir is under /sys/fs/bpf; it is removed when the test ends.
	PinDir string
	// StateDir keeps the configuration across restarts.
	StateDir string
	// LogPath collects lvsd's output over all its runs.
	LogPath string

	t    testing.TB
	proc *Process
}

// StartLVSD starts binDir/lvsd in ns, attached to interfaces, and waits for
// its socket. When the test ends lvsd gets SIGTERM and must exit with
// status 0; its pin directory is removed.
func StartLVSD(t testing.TB, ns *Namespace, binDir string, interfaces []string) *LVSD {
	t.Helper()
	// Unix socket paths are short (108 bytes): keep the directory short.
	dir, err := os.MkdirTemp("", Prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	d := &LVSD{
		Bin:        filepath.Join(binDir, "lvsd"),
		AdmBin:     filepath.Join(binDir, "lvsadm"),
		NS:         ns,
		Interfaces: interfaces,
		Socket:     filepath.Join(dir, "lvsd.sock"),
		PinDir:     "/sys/fs/bpf/" + strings.TrimSuffix(ns.net.Prefix, "-"),
		StateDir:   filepath.Join(dir, "state"),
		LogPath:    filepath.Join(dir, "lvsd.log"),
		t:          t,
	}
	if err := EnsureBPFFS(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(d.PinDir); err != nil {
			t.Errorf("cleanup: remove pin dir: %v", err)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lvsd log (%s):\n%s", ns.Name, readTail(d.LogPath, 6000))
		}
	})
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	return d
}

// Start starts lvsd (again) and waits until its socket accepts
// connections.
func (d *LVSD) Start() error {
	d.t.Helper()
	if d.proc != nil && !d.proc.Exited() {
		return errors.New("lvsd is already running")
	}
	_ = os.Remove(d.Socket)
	appendLog(d.LogPath, fmt.Sprintf("=== %s start lvsd\n", time.Now().Format(time.TimeOnly)))
	// nsenter --net keeps the host's mount namespace, so lvsd sees the
	// host's /sys/fs/bpf ("ip netns exec" would mount a fresh /sys).
	d.proc = StartProcess(d.t, "lvsd "+d.NS.Name, d.LogPath, nil,
		"nsenter", "--net="+d.NS.Path(), d.Bin,
		"--interfaces", strings.Join(d.Interfaces, ","),
		"--socket", d.Socket,
		"--pin-dir", d.PinDir,
		"--state-dir", d.StateDir)
	proc := d.proc
	// Registered after StartProcess's own cleanup, so it runs first: lvsd
	// must stop on SIGTERM with status 0, and must not have died by itself.
	d.t.Cleanup(func() {
		if !proc.Exited() {
			if err := d.stop(proc); err != nil {
				d.t.Error(err)
			}
			return
		}
		if !proc.Stopped() {
			d.t.Errorf("lvsd exited by itself with status %d:\n%s", proc.ExitCode(), readTail(d.LogPath, 4000))
		}
	})
	ok := WaitFor(LVSDStartTimeout, func() bool {
		if d.proc.Exited() {
			return true
		}
		// lvsd listens before it loads the data plane and serves the API
		// only once it is attached: an answer means it is ready.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := api.NewClient(d.Socket).Info(ctx)
		return err == nil
	})
	if d.proc.Exited() {
		proc.stopped.Store(true) // reported here, not again at cleanup
		return fmt.Errorf("lvsd exited with status %d before creating %s:\n%s", d.proc.ExitCode(), d.Socket, readTail(d.LogPath, 4000))
	}
	if !ok {
		return fmt.Errorf("lvsd did not create %s within %v:\n%s", d.Socket, LVSDStartTimeout, readTail(d.LogPath, 4000))
	}
	return nil
}

// Stop sends lvsd SIGTERM and returns an error unless it exits with status
// 0 within StopTimeout.
func (d *LVSD) Stop() error {
	if d.proc == nil {
		return errors.New("lvsd was never started")
	}
	return d.stop(d.proc)
}

func (d *LVSD) stop(proc *Process) error {
	code, err := proc.Stop(syscall.SIGTERM)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("lvsd after SIGTERM: %s, want exit status 0:\n%s", proc.State(), readTail(d.LogPath, 4000))
	}
	return nil
}

// AdmResult is the outcome of one lvsadm (or lvsrs) command.
type AdmResult struct {
	Stdout, Stderr string
	Code           int
}

// Adm runs lvsadm with args against this lvsd (lvsadm only talks to the
// socket, so it runs in the host namespace).
func (d *LVSD) Adm(args ...string) AdmResult {
	d.t.Helper()
	return d.AdmInput("", args...)
}

// AdmInput is Adm with stdin as lvsadm's standard input (for -R).
func (d *LVSD) AdmInput(stdin string, args ...string) AdmResult {
	d.t.Helper()
	return Command(d.t, stdin, append(os.Environ(), "GOLVS_SOCKET="+d.Socket), append([]string{d.AdmBin}, args...)...)
}

// Command runs argv with stdin as its standard input and env as its
// environment (nil: this process's), within CommandTimeout, and returns
// its outcome; t fails when it cannot run at all.
func Command(t testing.TB, stdin string, env []string, argv ...string) AdmResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	r := AdmResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return r
}

// MustAdm runs lvsadm and fails the test unless it exits 0 with nothing on
// standard error; it returns standard output.
func (d *LVSD) MustAdm(args ...string) string {
	d.t.Helper()
	r := d.Adm(args...)
	if r.Code != 0 || r.Stderr != "" {
		d.t.Fatalf("lvsadm %s: exit %d\nstderr: %s\nstdout: %s", strings.Join(args, " "), r.Code, r.Stderr, r.Stdout)
	}
	return r.Stdout
}

func appendLog(path, line string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(line)
}

const bpffsMagic = 0xcafe4a11

// EnsureBPFFS mounts the BPF filesystem on /sys/fs/bpf if it is not there
// (systemd mounts it on most distributions).
func EnsureBPFFS() error {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/bpf", &st); err == nil && st.Type == bpffsMagic {
		return nil
	}
	if _, err := Run(context.Background(), "mount", "-t", "bpf", "bpf", "/sys/fs/bpf"); err != nil {
		return fmt.Errorf("mount bpffs: %w", err)
	}
	return nil
}

// SweepStale removes what an earlier test run left behind when it was
// killed before its cleanups ran: namespaces named gle2e<pid>-..., pin
// directories /sys/fs/bpf/gle2e<pid>-... and temporary directories
// gle2e<pid>-... whose pid is no longer running. Processes still in those
// namespaces were started by that run; they are killed.
func SweepStale() {
	stale := func(name string) bool {
		var pid int
		if _, err := fmt.Sscanf(name, "gle2e%d-", &pid); err != nil || pid <= 0 || pid == os.Getpid() {
			return false
		}
		err := syscall.Kill(pid, 0)
		return errors.Is(err, syscall.ESRCH)
	}
	if ents, err := os.ReadDir("/var/run/netns"); err == nil {
		for _, e := range ents {
			if stale(e.Name()) {
				_ = DeleteNamespace(e.Name())
			}
		}
	}
	for _, dir := range []string{"/sys/fs/bpf", os.TempDir()} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() && stale(e.Name()) {
				_ = os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}
}
