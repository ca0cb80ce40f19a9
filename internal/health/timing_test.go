package health

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"net/netip"

	"golvs/internal/config"
	"golvs/internal/lvs"
)

func script(name string) *config.Script { return &config.Script{Args: []string{name}} }

// A real that stops answering leaves the table after retry+1 failed
// attempts, delay_before_retry apart, and comes back with its weight at the
// first success.
func TestFailingRealLeavesAfterRetries(t *testing.T) {
	tests := []struct {
		name          string
		timers        timers
		attempts      []float64 // attempts until the real comes back
		removedAt     float64
		restoredAt    float64
		wantReasonFmt string
	}{
		{"retry 0: the first failure decides", timers{delayLoop: 6, retry: 0, delayBeforeRetry: 1},
			[]float64{1, 7, 13, 19}, 13, 19, ""},
		{"retry 1, 1 s apart", timers{delayLoop: 6, retry: 1, delayBeforeRetry: 1},
			[]float64{1, 7, 13, 14, 20}, 14, 20, ""},
		{"retry 2, 2 s apart", timers{delayLoop: 6, retry: 2, delayBeforeRetry: 2},
			[]float64{1, 7, 13, 15, 17, 23}, 17, 23, ""},
		{"retry 3, 1 s apart", timers{delayLoop: 6, retry: 3, delayBeforeRetry: 1},
			[]float64{1, 7, 13, 14, 15, 16, 22}, 16, 22, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				svc := serviceWith(realWith(rs1, 3, tcpCheck(tt.timers)), realWith(rs2, 1, tcpCheck(tt.timers)))
				h := start(t, []config.Service{svc}, Options{})
				defer h.stop()
				h.wantTable("at start", "198.18.0.11:80 w3, 198.18.0.12:80 w1")

				h.at(10)
				h.net.set(rs1, false)
				h.at(tt.removedAt - 0.5)
				h.wantTable("before the last retry", "198.18.0.11:80 w3, 198.18.0.12:80 w1")
				h.at(tt.removedAt)
				h.wantTable("after retry+1 failures", "198.18.0.12:80 w1")
				st := h.realStatus(rs1)
				if st.State != StateDown || st.InTable || st.Reason != "TCP_CHECK 198.18.0.11:80: connect: connection refused" {
					t.Errorf("status of the failed real = %s in_table=%v reason=%q", st.State, st.InTable, st.Reason)
				}
				if got := st.LastChange.Sub(h.start); got != time.Duration(tt.removedAt*float64(time.Second)) {
					t.Errorf("last change %v after start, want %gs", got, tt.removedAt)
				}

				h.net.set(rs1, true)
				h.at(tt.restoredAt - 0.5)
				h.wantTable("before the next check", "198.18.0.12:80 w1")
				h.at(tt.restoredAt)
				h.wantTable("after a success", "198.18.0.11:80 w3, 198.18.0.12:80 w1")
				if got := h.net.attemptsOf(rs1); !slices.Equal(got, tt.attempts) {
					t.Errorf("attempts at %v s, want %v", got, tt.attempts)
				}
			})
		})
	}
}

// keepalived sets retry_it to retry at startup: a real that fails its very
// first check leaves at once, not after the retries.
func TestFirstFailureDecidesAtStartup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := serviceWith(realWith(rs1, 1, tcpCheck(timers{delayLoop: 6, retry: 3, delayBeforeRetry: 1})))
		svc.Reals[0].NotifyDown = script("rs-down")
		h := start(t, []config.Service{svc}, Options{})
		defer h.stop()
		h.net.set(rs1, false)
		h.at(1)
		h.wantTable("after the first failure", "")
		if got, want := h.scriptLog(), []string{"1s rs-down DOWN"}; !slices.Equal(got, want) {
			t.Errorf("scripts = %q, want %q", got, want)
		}
	})
}

// Alpha reals start out of the table and enter it at their first success;
// other reals start in it.
func TestAlpha(t *testing.T) {
	tests := []struct {
		name       string
		alpha      bool
		healthy    bool
		atStart    string
		afterFirst string
		scripts    []string
		stateAt0   State
	}{
		{"alpha, healthy: enters at the first success", true, true, "", "198.18.0.11:80 w1", []string{"1s rs-up UP"}, StateStarting},
		{"alpha, failing: stays out, notify_down once", true, false, "", "", []string{"1s rs-down DOWN"}, StateStarting},
		{"no alpha, healthy: in from the start, no script", false, true, "198.18.0.11:80 w1", "198.18.0.11:80 w1", nil, StateStarting},
		{"no alpha, failing: leaves at the first failure", false, false, "198.18.0.11:80 w1", "", []string{"1s rs-down DOWN"}, StateStarting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ck := tcpCheck(timers{delayLoop: 6, retry: 1, delayBeforeRetry: 1})
				ck.Alpha = tt.alpha
				svc := serviceWith(realWith(rs1, 1, ck))
				svc.Alpha = tt.alpha
				svc.Reals[0].NotifyUp, svc.Reals[0].NotifyDown = script("rs-up"), script("rs-down")
				h := start(t, []config.Service{svc}, Options{})
				defer h.stop()
				h.net.set(rs1, tt.healthy)
				h.wantTable("at start", tt.atStart)
				if st := h.realStatus(rs1); st.State != tt.stateAt0 {
					t.Errorf("state at start = %s, want %s", st.State, tt.stateAt0)
				}
				h.at(1)
				h.wantTable("after the first check", tt.afterFirst)
				h.at(30)
				if got := h.scriptLog(); !slices.Equal(got, tt.scripts) {
					t.Errorf("scripts = %q, want %q", got, tt.scripts)
				}
			})
		})
	}
}

// A real is up only while all of its checks are; its scripts run once per
// change of the real, not per check.
func TestAllChecksMustPass(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tcp := tcpCheck(timers{delayLoop: 5, retry: 0, delayBeforeRetry: 1})
		misc := config.Check{Kind: config.MiscCheck, DelayLoop: 5 * time.Second, DelayBeforeRetry: time.Second,
			Misc: &config.MiscExec{Path: "/bin/check", Args: []string{"/bin/check"}}}
		svc := serviceWith(realWith(rs1, 2, tcp, misc))
		svc.Reals[0].NotifyUp, svc.Reals[0].NotifyDown = script("rs-up"), script("rs-down")
		h := start(t, []config.Service{svc}, Options{})
		defer h.stop()

		h.at(2) // both checks ran at 1 s
		h.net.setExit(rs1, 1)
		h.at(6)
		h.wantTable("MISC_CHECK failing", "")
		h.net.set(rs1, false)
		h.at(12)
		h.net.setExit(rs1, 0)
		h.at(17)
		h.wantTable("MISC_CHECK passing, TCP_CHECK failing", "")
		h.net.set(rs1, true)
		h.at(21)
		h.wantTable("both passing", "198.18.0.11:80 w2")
		if got, want := h.scriptLog(), []string{"6s rs-down DOWN", "21s rs-up UP"}; !slices.Equal(got, want) {
			t.Errorf("scripts = %q, want %q", got, want)
		}
	})
}

// Quorum is lost when the live weight falls below quorum-hysteresis and
// regained at quorum+hysteresis; without quorum the sorry server replaces
// the reals and the quorum scripts run.
func TestQuorumAndSorryServer(t *testing.T) {
	type step struct {
		at    float64
		real  int // 1..3
		up    bool
		table string
	}
	all := "198.18.0.11:80 w1, 198.18.0.12:80 w1, 198.18.0.13:80 w1"
	tests := []struct {
		name       string
		quorum     uint32
		hysteresis uint32
		inhibit    bool
		steps      []step
		scripts    []string
	}{
		{
			name: "quorum 2: sorry server at the second failure, reals back at the first recovery", quorum: 2,
			steps: []step{
				{10, 1, false, "198.18.0.12:80 w1, 198.18.0.13:80 w1"},
				{20, 2, false, "198.18.0.99:80 w5"},
				{30, 2, true, "198.18.0.12:80 w1, 198.18.0.13:80 w1"},
				{40, 1, true, all},
			},
			scripts: []string{"21s quorum-down DOWN", "31s quorum-up UP"},
		},
		{
			name: "quorum 2, hysteresis 1: lost below 1, regained at 3", quorum: 2, hysteresis: 1,
			steps: []step{
				{10, 1, false, "198.18.0.12:80 w1, 198.18.0.13:80 w1"},
				{20, 2, false, "198.18.0.13:80 w1"},
				{30, 3, false, "198.18.0.99:80 w5"},
				{40, 3, true, "198.18.0.99:80 w5"},
				{50, 2, true, "198.18.0.99:80 w5"},
				{60, 1, true, all},
			},
			scripts: []string{"31s quorum-down DOWN", "61s quorum-up UP"},
		},
		{
			name: "inhibit_on_failure: reals stay at weight 0, also behind the sorry server", quorum: 2, inhibit: true,
			steps: []step{
				{10, 1, false, "198.18.0.11:80 w0, 198.18.0.12:80 w1, 198.18.0.13:80 w1"},
				{20, 2, false, "198.18.0.11:80 w0, 198.18.0.12:80 w0, 198.18.0.13:80 w0, 198.18.0.99:80 w5"},
				{30, 1, true, "198.18.0.11:80 w1, 198.18.0.12:80 w0, 198.18.0.13:80 w1"},
			},
			scripts: []string{"21s quorum-down DOWN", "31s quorum-up UP"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tm := timers{delayLoop: 5, retry: 0, delayBeforeRetry: 1}
				reals := []config.Real{realWith(rs1, 1, tcpCheck(tm)), realWith(rs2, 1, tcpCheck(tm)), realWith(rs3, 1, tcpCheck(tm))}
				for i := range reals {
					reals[i].InhibitOnFailure = tt.inhibit
				}
				svc := serviceWith(reals...)
				svc.Quorum, svc.Hysteresis = tt.quorum, tt.hysteresis
				svc.SorryServer = &lvs.Real{Addr: sorry, Method: lvs.Masq, Weight: 5}
				svc.QuorumUp, svc.QuorumDown = script("quorum-up"), script("quorum-down")
				h := start(t, []config.Service{svc}, Options{})
				defer h.stop()
				h.wantTable("at start", all)
				addrs := [...]netip.AddrPort{rs1, rs2, rs3}
				for _, s := range tt.steps {
					h.at(s.at)
					h.net.set(addrs[s.real-1], s.up)
					h.at(s.at + 1) // checks run at 1, 6, 11, ...
					h.wantTable(fmt.Sprintf("real %d %s", s.real, map[bool]string{true: "up", false: "down"}[s.up]), s.table)
				}
				if got := h.scriptLog(); !slices.Equal(got, tt.scripts) {
					t.Errorf("scripts = %q, want %q", got, tt.scripts)
				}
			})
		})
	}
}

// A service starting without quorum (alpha reals) starts on its sorry
// server, and sorry_server_inhibit keeps the sorry server at weight 0
// while the reals serve.
func TestSorryServerAtStartup(t *testing.T) {
	for _, inhibit := range []bool{false, true} {
		t.Run(fmt.Sprintf("sorry_server_inhibit=%v", inhibit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ck := tcpCheck(timers{delayLoop: 5, retry: 0, delayBeforeRetry: 1})
				ck.Alpha = true
				svc := serviceWith(realWith(rs1, 1, ck))
				svc.Alpha = true
				svc.SorryServer = &lvs.Real{Addr: sorry, Method: lvs.Masq, Weight: 5}
				svc.SorryServerInhibit = inhibit
				svc.QuorumDown = script("quorum-down")
				h := start(t, []config.Service{svc}, Options{})
				defer h.stop()
				h.wantTable("at start", "198.18.0.99:80 w5")
				if got, want := h.scriptLog(), []string{"0s quorum-down DOWN"}; !slices.Equal(got, want) {
					t.Errorf("scripts = %q, want %q", got, want)
				}
				h.at(1)
				want := "198.18.0.11:80 w1"
				if inhibit {
					want += ", 198.18.0.99:80 w0"
				}
				h.wantTable("after the first success", want)
			})
		})
	}
}

// MISC_CHECK with misc_dynamic: exit 0 is up at the configured weight,
// 2..255 is up at weight code-2, 1 is down.
func TestMiscDynamicWeight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		misc := config.Check{Kind: config.MiscCheck, DelayLoop: 5 * time.Second, DelayBeforeRetry: time.Second,
			Misc: &config.MiscExec{Path: "/bin/load", Args: []string{"/bin/load"}, Dynamic: true}}
		svc := serviceWith(realWith(rs1, 10, misc))
		h := start(t, []config.Service{svc}, Options{})
		defer h.stop()
		steps := []struct {
			exit  int
			table string
		}{
			{0, "198.18.0.11:80 w10"},
			{7, "198.18.0.11:80 w5"},
			{2, "198.18.0.11:80 w0"},
			{255, "198.18.0.11:80 w253"},
			{1, ""},
			{0, "198.18.0.11:80 w10"},
		}
		for i, s := range steps {
			h.net.setExit(rs1, s.exit)
			h.at(float64(1 + 5*i))
			h.wantTable(fmt.Sprintf("exit %d", s.exit), s.table)
		}
		if st := h.realStatus(rs1); st.Weight != 10 {
			t.Errorf("effective weight = %d, want 10", st.Weight)
		}
	})
}

// A dynamic weight of 0 keeps the real alive but it no longer counts for
// quorum: the sorry server takes over.
func TestMiscDynamicWeightCountsForQuorum(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		misc := config.Check{Kind: config.MiscCheck, DelayLoop: 5 * time.Second, DelayBeforeRetry: time.Second,
			Misc: &config.MiscExec{Path: "/bin/load", Args: []string{"/bin/load"}, Dynamic: true}}
		svc := serviceWith(realWith(rs1, 4, misc))
		svc.SorryServer = &lvs.Real{Addr: sorry, Method: lvs.Masq, Weight: 1}
		h := start(t, []config.Service{svc}, Options{})
		defer h.stop()
		h.net.setExit(rs1, 2)
		h.at(1)
		h.wantTable("weight 0", "198.18.0.99:80 w1")
		if st := h.serviceStatus(vip); st.QuorumUp || !st.SorryActive || st.LiveWeight != 0 {
			t.Errorf("service status = quorum_up %v sorry_active %v live_weight %d", st.QuorumUp, st.SorryActive, st.LiveWeight)
		}
		h.net.setExit(rs1, 5)
		h.at(6)
		h.wantTable("weight 3", "198.18.0.11:80 w3")
	})
}

// keepalived's HTTP checker fetches one URL per delay_loop; a down check
// whose failed URL passes again fetches every URL anew before it is up.
// fast_recovery fetches the next URL at once while the check is not known
// to be up.
func TestHTTPURLsOneAtATime(t *testing.T) {
	tests := []struct {
		fast     bool
		fetched  []string
		restored float64
	}{
		{false, []string{"1s /a", "11s /b", "21s /a", "31s /b", "41s /a", "43s /a", "53s /a", "63s /a", "73s /a", "83s /a", "93s /b"}, 93},
		{true, []string{"1s /a", "1s /b", "11s /a", "21s /b", "31s /a", "41s /b", "43s /b", "53s /b", "63s /b", "73s /b", "73s /a", "73s /b"}, 73},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("fast_recovery=%v", tt.fast), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ck := config.Check{Kind: config.HTTPCheck, DelayLoop: 10 * time.Second, Retry: 1, DelayBeforeRetry: 2 * time.Second,
					HTTP: &config.HTTPGet{URLs: []config.URL{{Path: "/a"}, {Path: "/b"}}, FastRecovery: tt.fast}}
				svc := serviceWith(realWith(rs1, 1, ck))
				h := start(t, []config.Service{svc}, Options{})
				defer h.stop()
				h.at(32)
				h.net.set(rs1, false)
				h.at(42)
				h.wantTable("after the first failure", "198.18.0.11:80 w1")
				h.at(43)
				h.wantTable("after retry+1 failures", "")
				h.at(65)
				h.net.set(rs1, true)
				h.at(tt.restored - 1)
				h.wantTable("before every URL passed again", "")
				h.at(tt.restored)
				h.wantTable("after every URL passed again", "198.18.0.11:80 w1")
				h.net.mu.Lock()
				defer h.net.mu.Unlock()
				if !slices.Equal(h.net.urls, tt.fetched) {
					t.Errorf("fetched\n%q\nwant\n%q", h.net.urls, tt.fetched)
				}
			})
		})
	}
}

// The first check of each checker runs BOOTSTRAP_DELAY plus a random part
// of its warmup after start.
func TestWarmup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc := serviceWith(realWith(rs1, 1, tcpCheck(timers{delayLoop: 6, retry: 1, delayBeforeRetry: 1, warmup: 10})))
		h := start(t, []config.Service{svc}, Options{})
		defer h.stop()
		h.at(20)
		if got, want := h.net.attemptsOf(rs1), []float64{6, 12, 18}; !slices.Equal(got, want) {
			t.Errorf("attempts at %v s, want %v (1 s + half the 10 s warmup, then every 6 s)", got, want)
		}
	})
	c, err := New(nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		if d := c.jitter(3 * time.Second); d < 0 || d > 3*time.Second {
			t.Fatalf("jitter(3s) = %v, outside [0, 3s]", d)
		}
	}
}

// Thousands of checks run through a bounded number of slots; those due
// while every slot is busy wait their turn.
func TestConcurrencyIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var reals []config.Real
		for i := range 2000 {
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(1 + i/250), byte(1 + i%250)}), 80)
			reals = append(reals, realWith(addr, 1, tcpCheck(timers{delayLoop: 60, retry: 1, delayBeforeRetry: 1})))
		}
		svc := serviceWith(reals...)
		h := start(t, []config.Service{svc}, Options{MaxConcurrent: 50}, func(h *harness) { h.net.hold = 2 * time.Second })
		defer h.stop()
		h.at(1 + 2*2000/50)
		h.net.mu.Lock()
		peak, attempted := h.net.peak, len(h.net.attempts)
		h.net.mu.Unlock()
		if peak != 50 {
			t.Errorf("at most %d checks ran at once, want 50", peak)
		}
		if attempted != 2000 {
			t.Errorf("%d reals checked, want 2000", attempted)
		}
	})
}

// A reload keeps the state of what did not change: a down real stays
// down without a flap, a new weight applies at once, a new real starts as
// at startup, a removed live real runs its notify_down.
func TestUpdateKeepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := timers{delayLoop: 6, retry: 0, delayBeforeRetry: 1}
		reals := []config.Real{realWith(rs1, 1, tcpCheck(tm)), realWith(rs2, 1, tcpCheck(tm))}
		for i := range reals {
			reals[i].NotifyUp, reals[i].NotifyDown = script("up-"+reals[i].Addr.String()), script("down-"+reals[i].Addr.String())
		}
		h := start(t, []config.Service{serviceWith(reals...)}, Options{})
		defer h.stop()
		h.net.set(rs1, false)
		h.at(3)
		h.wantTable("rs1 failed", "198.18.0.12:80 w1")

		changed := serviceWith(reals[0], reals[1], realWith(rs3, 1, tcpCheck(tm)))
		changed.Reals[1].Weight = 5
		if err := h.c.Update(context.Background(), []config.Service{changed}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.wantTable("after the reload", "198.18.0.12:80 w5, 198.18.0.13:80 w1")
		if st := h.realStatus(rs1); st.State != StateDown || st.LastChange.Sub(h.start) != time.Second {
			t.Errorf("rs1 after reload: %s, changed %v after start; want down since 1s", st.State, st.LastChange.Sub(h.start))
		}
		h.at(8)
		if got, want := h.net.attemptsOf(rs1), []float64{1, 7}; !slices.Equal(got, want) {
			t.Errorf("rs1 attempts at %v s, want %v (its schedule kept)", got, want)
		}
		if got, want := h.net.attemptsOf(rs3), []float64{4}; !slices.Equal(got, want) {
			t.Errorf("rs3 attempts at %v s, want %v (bootstrap delay after the reload)", got, want)
		}

		if err := h.c.Update(context.Background(), []config.Service{serviceWith(reals[0])}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.wantTable("after removing rs2 and rs3", "")
		want := []string{"1s down-198.18.0.11:80 DOWN", "8s down-198.18.0.12:80 DOWN"}
		if got := h.scriptLog(); !slices.Equal(got, want) {
			t.Errorf("scripts = %q, want %q", got, want)
		}

		dup := []config.Service{serviceWith(reals[0]), serviceWith(reals[1])}
		if err := h.c.Update(context.Background(), dup); err == nil {
			t.Error("Update with a duplicate service: no error")
		}
	})
}

// A changed check starts afresh; a check whose timers changed keeps its
// state.
func TestUpdateChangedCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := timers{delayLoop: 6, retry: 0, delayBeforeRetry: 1}
		h := start(t, []config.Service{serviceWith(realWith(rs1, 1, tcpCheck(tm)))}, Options{})
		defer h.stop()
		h.net.set(rs1, false)
		h.at(2)
		h.wantTable("failed", "")

		slower := tcpCheck(timers{delayLoop: 20, retry: 3, delayBeforeRetry: 1})
		if err := h.c.Update(context.Background(), []config.Service{serviceWith(realWith(rs1, 1, slower))}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.wantTable("timers changed", "")
		if st := h.realStatus(rs1); st.State != StateDown {
			t.Errorf("state after a timer change = %s, want down", st.State)
		}

		other := tcpCheck(tm)
		other.ConnectPort = 8080
		if err := h.c.Update(context.Background(), []config.Service{serviceWith(realWith(rs1, 1, other))}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		h.wantTable("another check (a real down with no other check is back)", "198.18.0.11:80 w1")
		if st := h.realStatus(rs1); st.State != StateStarting {
			t.Errorf("state with a new check = %s, want starting", st.State)
		}
	})
}

// When Apply fails, the same change is offered again a second later.
func TestApplyRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, []config.Service{serviceWith(realWith(rs1, 1, tcpCheck(timers{delayLoop: 6, retry: 0, delayBeforeRetry: 1})))}, Options{})
		defer h.stop()
		h.mu.Lock()
		h.refuse = 1
		h.mu.Unlock()
		h.net.set(rs1, false)
		h.at(1)
		h.wantTable("refused", "198.18.0.11:80 w1")
		h.at(2)
		h.wantTable("offered again", "")
	})
}

// With omega, stopping runs the live reals' notify_down and the service's
// quorum_down; without, stopping is silent.
func TestOmega(t *testing.T) {
	for _, omega := range []bool{false, true} {
		t.Run(fmt.Sprintf("omega=%v", omega), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := realWith(rs1, 1, tcpCheck(timers{delayLoop: 6, retry: 0, delayBeforeRetry: 1}))
				r.NotifyDown = script("rs-down")
				svc := serviceWith(r)
				svc.Omega = omega
				svc.QuorumDown = script("quorum-down")
				h := start(t, []config.Service{svc}, Options{})
				h.at(5)
				h.stop()
				var want []string
				if omega {
					want = []string{"5s rs-down DOWN", "5s quorum-down DOWN"}
				}
				got := h.scriptLog()
				slices.Sort(got) // they run at once
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("scripts = %q, want %q", got, want)
				}
			})
		})
	}
}

// Status and Desired describe what an operator needs.
func TestStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ck := tcpCheck(timers{delayLoop: 6, retry: 1, delayBeforeRetry: 1})
		svc := serviceWith(realWith(rs1, 2, ck), realWith(rs2, 3, ck))
		svc.Quorum = 3
		h := start(t, []config.Service{svc}, Options{})
		defer h.stop()
		h.net.set(rs2, false)
		h.at(1)
		st := h.serviceStatus(vip)
		if st.QuorumUp || st.LiveWeight != 2 {
			t.Errorf("quorum_up %v live_weight %d", st.QuorumUp, st.LiveWeight)
		}
		got := st.Reals[1]
		if got.State != StateDown || got.InTable || got.Weight != 3 || len(got.Checks) != 1 {
			t.Fatalf("rs2 status = %+v", got)
		}
		c := got.Checks[0]
		if c.Name != "TCP_CHECK 198.18.0.12:80" || c.State != StateDown || c.Failures != 1 ||
			c.Last.OK || c.Last.At.Sub(h.start) != time.Second || c.Next.Sub(h.start) != 7*time.Second {
			t.Errorf("rs2 check status = %+v", c)
		}
		d, err := h.c.Desired(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(d) != 1 || len(d[0].Reals) != 1 || d[0].Reals[0] != (lvs.Real{Addr: rs1, Method: lvs.Masq, Weight: 2}) {
			t.Errorf("Desired = %+v", d)
		}
	})
}

// check_misc.c times the next run from the start of the last one; the
// other checkers from its end.
func TestNextRunFromStartOrEnd(t *testing.T) {
	tests := []struct {
		kind config.CheckKind
		want []float64
	}{
		{config.MiscCheck, []float64{1, 6, 11, 16}},
		{config.TCPCheck, []float64{1, 8, 15}},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ck := tcpCheck(timers{delayLoop: 5, retry: 0, delayBeforeRetry: 1})
				ck.Kind = tt.kind
				if tt.kind == config.MiscCheck {
					ck.Misc = &config.MiscExec{Path: "/bin/check", Args: []string{"/bin/check"}}
				}
				h := start(t, []config.Service{serviceWith(realWith(rs1, 1, ck))}, Options{}, func(h *harness) { h.net.hold = 2 * time.Second })
				defer h.stop()
				h.at(17)
				if got := h.net.attemptsOf(rs1); !slices.Equal(got, tt.want) {
					t.Errorf("attempts of a 2 s check every 5 s at %v s, want %v", got, tt.want)
				}
			})
		})
	}
}

// A reload that replaces a service forgets the old one (its live reals
// run notify_down, and quorum_down runs as its quorum goes) and starts the
// new one as at startup.
func TestUpdateReplacesService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tm := timers{delayLoop: 6, retry: 0, delayBeforeRetry: 1}
		old := serviceWith(realWith(rs1, 1, tcpCheck(tm)))
		old.Reals[0].NotifyDown = script("rs1-down")
		old.QuorumDown = script("old-quorum-down")
		h := start(t, []config.Service{old}, Options{})
		defer h.stop()
		h.at(2)

		other := lvs.ServiceKey{Protocol: lvs.UDP, Addr: netip.MustParseAddrPort("198.18.0.20:53")}
		next := serviceWith(realWith(rs2, 1, tcpCheck(tm)))
		next.ServiceKey = other
		next.Reals[0].Alpha = true
		next.Reals[0].Checks[0].Alpha = true
		if err := h.c.Update(context.Background(), []config.Service{next}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := h.tableOf(other); got != "" {
			t.Errorf("new alpha service at once: table %q, want empty", got)
		}
		h.at(3)
		if got, want := h.tableOf(other), "198.18.0.12:80 w1"; got != want {
			t.Errorf("new service after its first check: table %q, want %q", got, want)
		}
		got := h.scriptLog()
		slices.Sort(got)
		if want := []string{"2s old-quorum-down DOWN", "2s rs1-down DOWN"}; !slices.Equal(got, want) {
			t.Errorf("scripts = %q, want %q", got, want)
		}
		st, err := h.c.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(st) != 1 || st[0].Service != other {
			t.Errorf("status lists %d services, want only %s", len(st), other)
		}
		h.at(10)
		if got := h.net.attemptsOf(rs1); !slices.Equal(got, []float64{1}) {
			t.Errorf("the removed real was checked at %v s after removal, want only at 1 s", got)
		}
	})
}

// A reload that shortens delay_loop takes effect at once; one that
// lengthens it lets the pending attempt run.
func TestUpdateDelayLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, []config.Service{serviceWith(realWith(rs1, 1, tcpCheck(timers{delayLoop: 60, retry: 0, delayBeforeRetry: 1})))}, Options{})
		defer h.stop()
		h.at(10)
		faster := serviceWith(realWith(rs1, 1, tcpCheck(timers{delayLoop: 5, retry: 0, delayBeforeRetry: 1})))
		if err := h.c.Update(context.Background(), []config.Service{faster}); err != nil {
			t.Fatal(err)
		}
		h.at(21)
		if got, want := h.net.attemptsOf(rs1), []float64{1, 15, 20}; !slices.Equal(got, want) {
			t.Errorf("attempts at %v s, want %v", got, want)
		}
	})
}
