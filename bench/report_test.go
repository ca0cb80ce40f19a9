package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// summary condenses a target's samples in one mode.
type summary struct {
	Median, Min, Max float64
	// P99 is the median over the rounds of each run's 99th percentile
	// latency, in milliseconds.
	P99 float64
	// CPUPerReq is the median over the rounds of the machine's CPU time
	// per request, in microseconds, and SoftirqPerReq its softirq part.
	CPUPerReq, SoftirqPerReq float64
	// CPU and Softirq are the median CPU seconds of one run.
	CPU, Softirq float64
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func summarize(ss []sample) summary {
	var rps, p99, per, soft, busy, sirq []float64
	for _, s := range ss {
		rps = append(rps, s.RPS)
		p99 = append(p99, s.P99)
		busy = append(busy, s.Busy)
		sirq = append(sirq, s.Softirq)
		if s.Requests > 0 {
			per = append(per, s.Busy/float64(s.Requests)*1e6)
			soft = append(soft, s.Softirq/float64(s.Requests)*1e6)
		}
	}
	sum := summary{Median: median(rps), Min: slices.Min(rps), Max: slices.Max(rps), P99: median(p99), CPU: median(busy), Softirq: median(sirq)}
	if len(per) > 0 {
		sum.CPUPerReq, sum.SoftirqPerReq = median(per), median(soft)
	}
	return sum
}

// results holds every sample of a run: results[mode key][target key].
type results map[string]map[string][]sample

// machine describes the machine in the report's header.
func machine() string {
	var b strings.Builder
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	fmt.Fprintf(&b, "- date: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "- kernel: Linux %s (%s)\n", strings.TrimSpace(string(kernel)), runtime.GOARCH)
	fmt.Fprintf(&b, "- CPU: %d × %s\n", runtime.NumCPU(), cpuModel())
	fmt.Fprintf(&b, "- memory: %s\n", memTotal())
	fmt.Fprintf(&b, "- golvs: %s\n", command("git", "describe", "--always", "--dirty"))
	fmt.Fprintf(&b, "- tools: %s; %s; %s; %s; %s\n",
		firstLine(command("wrk", "-v")), firstLine(command("ab", "-V")),
		firstLine(command("nginx", "-v")), firstLine(command("haproxy", "-v")), firstLine(command("nft", "--version")))
	return b.String()
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown model"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown model"
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	var kb int
	for _, l := range strings.Split(string(b), "\n") {
		if _, err := fmt.Sscanf(l, "MemTotal: %d kB", &kb); err == nil {
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "unknown"
}

// command returns what argv prints (standard output and error: nginx and
// wrk print their versions on standard error), or why it could not run.
func command(argv ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	s := strings.TrimSpace(string(out))
	if s == "" && err != nil {
		return argv[0] + ": " + err.Error()
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(l)
}

// modeTable renders mode m's results as a markdown table, targets in order,
// with ratios to the floor (the first target).
func modeTable(m mode, targets []target, res results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", m.title)
	b.WriteString("| target | median | min | max | vs A | p99 latency | machine CPU per run (softirq) | machine CPU per request (softirq) |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	floor := summarize(res[m.key][targets[0].key]).Median
	for _, t := range targets {
		s := summarize(res[m.key][t.key])
		fmt.Fprintf(&b, "| %s | %.0f | %.0f | %.0f | %.2f | %s | %.2f s (%.2f s) | %.0f µs (%.0f µs) |\n",
			t.label, s.Median, s.Min, s.Max, s.Median/floor, fmtMS(s.P99), s.CPU, s.Softirq, s.CPUPerReq, s.SoftirqPerReq)
	}
	return b.String()
}

func fmtMS(ms float64) string {
	if ms < 10 {
		return fmt.Sprintf("%.2f ms", ms)
	}
	return fmt.Sprintf("%.0f ms", ms)
}

// writeResults writes bench.md, runs.json and one chart per mode into
// dir, and returns the markdown.
func writeResults(dir, header string, targets []target, res results, rounds int) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	var b strings.Builder
	b.WriteString("# golvs benchmark\n\n")
	b.WriteString(header)
	fmt.Fprintf(&b, "\nEnd to end on the classic layout in network namespaces on this one machine (client, director, two nginx real servers), IPv4. "+
		"%d interleaved rounds (every target once per round, in the order below); median, min and max over the rounds. "+
		"wrk: %d threads, %d connections, %v per run, p99 from --latency; ab: -n %d -c %d. "+
		"CPU is the whole machine's (/proc/stat, user+system+irq+softirq+steal): the namespaces share its CPUs, "+
		"so it includes the client, the real servers and the director alike; softirq is mostly the packet path.\n\n",
		rounds, runtime.NumCPU(), wrkConnections, wrkDuration, abRequests, abConcurrency)
	for _, t := range targets {
		fmt.Fprintf(&b, "- **%s**: %s\n", t.label, t.about)
	}
	b.WriteString("\n")
	for _, m := range modes {
		b.WriteString(modeTable(m, targets, res))
		fmt.Fprintf(&b, "\n![%s](%s)\n\n", m.title, chartName(m))
		if err := chart(filepath.Join(dir, chartName(m)), m, targets, res); err != nil {
			return "", err
		}
	}
	if dp, err := os.ReadFile(filepath.Join(dir, "dataplane.txt")); err == nil {
		b.WriteString("## Data plane (BPF_PROG_TEST_RUN, ns/packet)\n\n```\n")
		b.Write(dp)
		b.WriteString("```\n")
	}
	md := b.String()
	if err := os.WriteFile(filepath.Join(dir, "bench.md"), []byte(md), 0o644); err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	raw, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "runs.json"), raw, 0o644); err != nil {
		return "", fmt.Errorf("results: %w", err)
	}
	return md, nil
}

func chartName(m mode) string { return "rps-" + m.key + ".png" }
