package bench

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golvs/internal/testnet"
)

// mode is one way of loading a target.
type mode struct {
	// key names the mode in file names: "close", "keepalive", "ab".
	key string
	// title heads the mode's table and chart.
	title string
}

var (
	modeClose     = mode{"close", "wrk, Connection: close (one connection per request): connections/s"}
	modeKeepAlive = mode{"keepalive", "wrk, keep-alive: requests/s"}
	modeAB        = mode{"ab", "ab -n 10000 -c 100 (the tutorial's command; one connection per request): requests/s"}
	modes         = []mode{modeClose, modeKeepAlive, modeAB}
)

// Load settings. wrk runs as many threads as the machine has CPUs (2 on
// the reference VM) with 50 connections; the durations keep `make bench`
// under 15 minutes on that VM.
const (
	wrkDuration    = 5 * time.Second
	wrkConnections = 50
	abRequests     = 10000
	abConcurrency  = 100
)

// sample is one measured run of one target in one mode.
type sample struct {
	Round    int     `json:"round"`
	RPS      float64 `json:"rps"`
	Requests int     `json:"requests"`
	// P99 is the 99th percentile latency in milliseconds.
	P99 float64 `json:"p99_ms"`
	// Errors are wrk's socket errors (connect, read, write, timeout) and
	// non-2xx/3xx responses, or ab's failed and non-2xx requests.
	Errors int `json:"errors"`
	// Seconds is the run's wall-clock time.
	Seconds float64 `json:"seconds"`
	cpu
}

// cpu is CPU time of the whole machine, in seconds, from /proc/stat.
type cpu struct {
	// Busy is every non-idle state: user, nice, system, irq, softirq,
	// steal.
	Busy    float64 `json:"cpu_busy_s"`
	Softirq float64 `json:"cpu_softirq_s"`
}

// userHZ is the unit of /proc/stat: USER_HZ is 100 on every Linux ABI.
const userHZ = 100

// readCPU returns the machine's CPU time so far from /proc/stat's "cpu"
// line (the sum over all CPUs). Namespaces share the host's CPUs, so there
// is no per-namespace figure: this is everything the machine did.
func readCPU() (cpu, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpu{}, err
	}
	return parseProcStat(string(b))
}

func parseProcStat(s string) (cpu, error) {
	line, _, _ := strings.Cut(s, "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpu{}, fmt.Errorf("parse /proc/stat: unexpected first line %q", line)
	}
	var v [8]float64 // user nice system idle iowait irq softirq steal
	for i := range v {
		n, err := strconv.ParseUint(f[i+1], 10, 64)
		if err != nil {
			return cpu{}, fmt.Errorf("parse /proc/stat: field %d of %q: %w", i+1, line, err)
		}
		v[i] = float64(n) / userHZ
	}
	return cpu{Busy: v[0] + v[1] + v[2] + v[5] + v[6] + v[7], Softirq: v[6]}, nil
}

func (c cpu) sub(o cpu) cpu { return cpu{Busy: c.Busy - o.Busy, Softirq: c.Softirq - o.Softirq} }

// measure runs argv in ns and returns its output with the machine's CPU
// time and the wall-clock time it took.
func measure(ns *testnet.Namespace, argv ...string) (string, cpu, float64, error) {
	before, err := readCPU()
	if err != nil {
		return "", cpu{}, 0, err
	}
	start := time.Now()
	out, err := ns.Exec(argv...)
	wall := time.Since(start).Seconds()
	after, cerr := readCPU()
	if err == nil {
		err = cerr
	}
	return out, after.sub(before), wall, err
}

// wrkArgs returns wrk's command line for url in mode m (close or
// keepalive) for duration d.
func wrkArgs(m mode, url string, threads int, d time.Duration) []string {
	args := []string{"wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(wrkConnections),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--timeout", "5s", "--latency"}
	if m == modeClose {
		args = append(args, "-H", "Connection: close")
	}
	return append(args, url)
}

func abArgs(url string) []string {
	return []string{"ab", "-q", "-n", strconv.Itoa(abRequests), "-c", strconv.Itoa(abConcurrency), "-s", "10", url}
}

var (
	wrkRate      = regexp.MustCompile(`(?m)^Requests/sec:\s+([0-9.]+)`)
	wrkTotal     = regexp.MustCompile(`(?m)^\s*(\d+) requests in `)
	wrkP99       = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkSocketErr = regexp.MustCompile(`(?m)^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx    = regexp.MustCompile(`(?m)^\s*Non-2xx or 3xx responses: (\d+)`)

	abRate    = regexp.MustCompile(`(?m)^Requests per second:\s+([0-9.]+)`)
	abDone    = regexp.MustCompile(`(?m)^Complete requests:\s+(\d+)`)
	abFailed  = regexp.MustCompile(`(?m)^Failed requests:\s+(\d+)`)
	abNon2xx  = regexp.MustCompile(`(?m)^Non-2xx responses:\s+(\d+)`)
	abP99     = regexp.MustCompile(`(?m)^\s+99%\s+(\d+)`)
	latencyMS = map[string]float64{"us": 1e-3, "ms": 1, "s": 1e3}
)

// parseWrk reads wrk's report (with --latency).
func parseWrk(out string) (sample, error) {
	var s sample
	m := wrkRate.FindStringSubmatch(out)
	t := wrkTotal.FindStringSubmatch(out)
	p := wrkP99.FindStringSubmatch(out)
	if m == nil || t == nil || p == nil {
		return s, fmt.Errorf("parse wrk: no Requests/sec, request count or 99%% latency in:\n%s", out)
	}
	s.RPS, _ = strconv.ParseFloat(m[1], 64)
	s.Requests, _ = strconv.Atoi(t[1])
	v, _ := strconv.ParseFloat(p[1], 64)
	s.P99 = v * latencyMS[p[2]]
	if e := wrkSocketErr.FindStringSubmatch(out); e != nil {
		for _, f := range e[1:] {
			n, _ := strconv.Atoi(f)
			s.Errors += n
		}
	}
	if e := wrkNon2xx.FindStringSubmatch(out); e != nil {
		n, _ := strconv.Atoi(e[1])
		s.Errors += n
	}
	return s, nil
}

// parseAB reads ab's report.
func parseAB(out string) (sample, error) {
	var s sample
	m := abRate.FindStringSubmatch(out)
	d := abDone.FindStringSubmatch(out)
	f := abFailed.FindStringSubmatch(out)
	p := abP99.FindStringSubmatch(out)
	if m == nil || d == nil || f == nil || p == nil {
		return s, fmt.Errorf("parse ab: no rate, complete or failed requests or 99%% latency in:\n%s", out)
	}
	s.RPS, _ = strconv.ParseFloat(m[1], 64)
	s.Requests, _ = strconv.Atoi(d[1])
	s.P99, _ = strconv.ParseFloat(p[1], 64)
	s.Errors, _ = strconv.Atoi(f[1])
	if e := abNon2xx.FindStringSubmatch(out); e != nil {
		n, _ := strconv.Atoi(e[1])
		s.Errors += n
	}
	return s, nil
}

// run loads url from ns in mode m once and returns what it measured. A
// run with errors on more than 0.1% of its requests, or none at all, is
// an error: the target is broken, and a figure from it would mislead.
func run(ns *testnet.Namespace, m mode, url string, threads int, d time.Duration) (sample, error) {
	var argv []string
	parse := parseWrk
	if m == modeAB {
		argv, parse = abArgs(url), parseAB
	} else {
		argv = wrkArgs(m, url, threads, d)
	}
	out, used, wall, err := measure(ns, argv...)
	if err != nil {
		return sample{}, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	s, err := parse(out)
	if err != nil {
		return s, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	s.cpu, s.Seconds = used, wall
	if s.Requests == 0 || s.Errors*1000 > s.Requests {
		return s, fmt.Errorf("%s: %d errors in %d requests:\n%s", strings.Join(argv, " "), s.Errors, s.Requests, out)
	}
	return s, nil
}
