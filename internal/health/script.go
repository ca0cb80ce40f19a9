package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"golvs/internal/config"
)

// killGrace is how long a command has between SIGTERM and SIGKILL, as
// check_misc.c gives a timed-out script.
const killGrace = 2 * time.Second

// notifyReal runs the real's notify_up or notify_down, by its state.
func (c *Checker) notifyReal(r *server) {
	script, state := r.cfg.NotifyDown, "DOWN"
	if r.alive {
		script, state = r.cfg.NotifyUp, "UP"
	}
	c.runScript(script, scriptEnv(r.svc, r, state))
}

// scriptEnv describes the event to a script. keepalived passes nothing to
// these scripts; the variables are golvs's addition and harmless to
// scripts written for keepalived.
func scriptEnv(s *service, r *server, state string) []string {
	env := []string{"GOLVS_SERVICE=" + s.key.String(), "GOLVS_STATE=" + state}
	if r != nil {
		env = append(env, "GOLVS_REAL="+r.cfg.Addr.String())
	}
	return env
}

// runScript starts script without waiting for it, as keepalived's
// notify_exec does, and kills it after the script timeout.
func (c *Checker) runScript(script *config.Script, env []string) {
	if script == nil || len(script.Args) == 0 {
		return
	}
	c.scripts.Add(1)
	go func() {
		defer c.scripts.Done()
		c.scriptSlots <- struct{}{}
		defer func() { <-c.scriptSlots }()
		// Not Run's context: the omega scripts run while it stops.
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.ScriptTimeout)
		defer cancel()
		out := c.exec(ctx, command{args: script.Args, user: script.User, group: script.Group, env: env})
		lvl, msg := slog.LevelInfo, "script ran"
		if !out.exited || out.exit != 0 {
			lvl, msg = slog.LevelWarn, "script failed"
		}
		c.log.Log(context.Background(), lvl, msg, slog.Any("script", script.Args), slog.String("result", out.describe(c.opts.ScriptTimeout)))
	}()
}

// stopService is keepalived's clear_service_vs at shutdown: with omega,
// the live reals run notify_down and the service its quorum_down.
func (c *Checker) stopService(s *service) {
	if !s.cfg.Omega {
		return
	}
	for _, r := range s.reals {
		if r.alive {
			r.alive = false
			c.notifyReal(r)
		}
	}
	s.quorumUp = false
	c.runScript(s.cfg.QuorumDown, scriptEnv(s, nil, "DOWN"))
}

// command is a program to run: args (run as keepalived runs a script:
// execve, and through the shell when the file is a script without #!),
// or a shell command line when args is empty.
type command struct {
	args        []string
	line        string
	user, group string
	env         []string
}

// outcome is how a command ended.
type outcome struct {
	exited   bool // exited by itself; exit is its status
	exit     int
	signal   syscall.Signal
	timedOut bool
	err      error // it could not start
}

func (o outcome) describe(timeout time.Duration) string {
	switch {
	case o.err != nil:
		return o.err.Error()
	case o.timedOut:
		return fmt.Sprintf("timed out after %v", timeout)
	case o.exited:
		return "exit status " + strconv.Itoa(o.exit)
	}
	return "killed by signal " + o.signal.String()
}

// runCommand runs cmd in its own process group. When ctx ends first, the
// group gets SIGTERM, then SIGKILL killGrace later, so that a script's
// children die with it.
func runCommand(ctx context.Context, cmd command) outcome {
	var ec *exec.Cmd
	if len(cmd.args) > 0 {
		// "$0" "$@" passes the words unchanged; exec keeps the pid, and
		// sh runs a file without #! as a script, which a bare execve
		// would refuse (ENOEXEC).
		ec = exec.Command("/bin/sh", append([]string{"-c", `exec "$0" "$@"`}, cmd.args...)...)
	} else {
		ec = exec.Command("/bin/sh", "-c", cmd.line)
	}
	ec.Env = append(os.Environ(), cmd.env...)
	ec.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if cmd.user != "" || cmd.group != "" {
		cred, err := credential(cmd.user, cmd.group)
		if err != nil {
			return outcome{err: err}
		}
		ec.SysProcAttr.Credential = cred
	}
	if err := ec.Start(); err != nil {
		return outcome{err: fmt.Errorf("start: %w", err)}
	}
	waited := make(chan error, 1)
	go func() { waited <- ec.Wait() }()

	var out outcome
	select {
	case <-waited:
	case <-ctx.Done():
		out.timedOut = true
		pgid := ec.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(killGrace)
		select {
		case <-waited:
			t.Stop()
			// The leader is gone; make sure its children are too.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-waited
		}
	}
	if ws, ok := ec.ProcessState.Sys().(syscall.WaitStatus); ok {
		switch {
		case ws.Exited():
			out.exited, out.exit = true, ws.ExitStatus()
		case ws.Signaled():
			out.signal = ws.Signal()
		}
	}
	if out.timedOut && out.exited {
		// It exited on its own as the timeout struck: that counts.
		out.timedOut = false
	}
	return out
}

// credential looks up user and group for a script run as another user.
func credential(name, group string) (*syscall.Credential, error) {
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if name != "" {
		u, err := user.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("script user %q: %w", name, err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("script user %q: %w", name, err)
		}
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
	}
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("script group %q: %w", group, err)
		}
		gid, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("script group %q: %w", group, err)
		}
		cred.Gid = uint32(gid)
	}
	return cred, nil
}
