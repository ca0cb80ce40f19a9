package testnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// StopTimeout bounds how long a stopped process may take to exit before it
// is killed.
const StopTimeout = 10 * time.Second

// Process is a background process started for a test. It is stopped when
// the test ends, unless it was stopped before.
type Process struct {
	// Name says what the process is in messages ("nginx rs1").
	Name string
	// LogPath holds the process's standard output and standard error.
	LogPath string

	cmd     *exec.Cmd
	done    chan struct{}
	err     error // valid after done is closed
	stopped atomic.Bool
}

// StartProcess starts argv in the background with its output in logPath.
// When the test ends the process gets SIGTERM, then SIGKILL after
// StopTimeout; if the test process itself dies, the kernel sends the
// process SIGKILL (Pdeathsig), so nothing outlives a crashed test.
func StartProcess(t testing.TB, name, logPath string, env []string, argv ...string) *Process {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if p.Exited() {
			return
		}
		if _, err := p.Stop(syscall.SIGTERM); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
	return p
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode returns the exit status once the process has exited: -1 if a
// signal ended it.
func (p *Process) ExitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// State describes how the process ended ("exit status 1", "signal:
// terminated"), or "running".
func (p *Process) State() string {
	if !p.Exited() {
		return "running"
	}
	return p.cmd.ProcessState.String()
}

// Stop sends sig and waits up to StopTimeout for the process to exit, then
// kills it. It returns the exit status; the error says when the process had
// to be killed.
func (p *Process) Stop(sig syscall.Signal) (int, error) {
	p.stopped.Store(true)
	if !p.Exited() {
		_ = p.cmd.Process.Signal(sig)
	}
	select {
	case <-p.done:
		return p.ExitCode(), nil
	case <-time.After(StopTimeout):
	}
	// Kill the whole process group: nginx's workers too.
	_ = syscall.Kill(-p.Pid(), syscall.SIGKILL)
	<-p.done
	return p.ExitCode(), fmt.Errorf("%s (pid %d) did not exit within %v of %v; killed", p.Name, p.Pid(), StopTimeout, sig)
}

// Stopped reports whether Stop was called: an exit before that was the
// process's own doing.
func (p *Process) Stopped() bool { return p.stopped.Load() }

// Log returns what the process has written so far.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func killPid(pid int) error {
	err := syscall.Kill(pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// WaitFor polls cond every 20 ms until it returns true, at most timeout,
// and reports whether it did.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for n := 0; n < 100000; n++ {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
