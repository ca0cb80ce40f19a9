package bench

import (
	"math"
	"testing"
)

const wrkReport = `Running 5s test @ http://198.18.0.10/
  2 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.01ms    1.10ms  25.40ms   80.00%
    Req/Sec    12.50k     1.20k   14.00k    70.00%
  Latency Distribution
     50%    1.80ms
     75%    2.40ms
     90%    3.10ms
     99%  812.00us
  124800 requests in 5.00s, 33.21MB read
  Socket errors: connect 1, read 2, write 3, timeout 4
  Non-2xx or 3xx responses: 5
Requests/sec:  24958.12
Transfer/sec:      6.64MB
`

const abReport = `Server Software:        nginx/1.22.1
Concurrency Level:      100
Complete requests:      10000
Failed requests:        3
Non-2xx responses:      2
Requests per second:    8123.45 [#/sec] (mean)
Percentage of the requests served within a certain time (ms)
  50%     11
  66%     12
  99%     27
 100%     40 (longest request)
`

func TestParseLoadReports(t *testing.T) {
	tests := []struct {
		name  string
		parse func(string) (sample, error)
		in    string
		want  sample
	}{
		{"wrk with errors and a p99 in microseconds", parseWrk, wrkReport, sample{RPS: 24958.12, Requests: 124800, P99: 0.812, Errors: 15}},
		{"ab with failed and non-2xx requests", parseAB, abReport, sample{RPS: 8123.45, Requests: 10000, P99: 27, Errors: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.RPS != tt.want.RPS || got.Requests != tt.want.Requests || math.Abs(got.P99-tt.want.P99) > 1e-9 || got.Errors != tt.want.Errors {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	for _, p := range []func(string) (sample, error){parseWrk, parseAB} {
		if _, err := p("connection refused\n"); err == nil {
			t.Error("a report without figures parsed without error")
		}
	}
}

func TestParseProcStat(t *testing.T) {
	c, err := parseProcStat("cpu  100 20 300 5000 7 40 50 60 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
	if err != nil {
		t.Fatal(err)
	}
	// user+nice+system+irq+softirq+steal, idle and iowait left out.
	if want := (cpu{Busy: 5.7, Softirq: 0.5}); math.Abs(c.Busy-want.Busy) > 1e-9 || math.Abs(c.Softirq-want.Softirq) > 1e-9 {
		t.Errorf("got %+v, want %+v", c, want)
	}
	if _, err := parseProcStat("intr 1 2 3\n"); err == nil {
		t.Error("a /proc/stat without a cpu line parsed without error")
	}
}

func TestSummarize(t *testing.T) {
	s := summarize([]sample{{RPS: 30, P99: 3}, {RPS: 10, P99: 1}, {RPS: 20, P99: 2}, {RPS: 40, P99: 4}})
	// Even counts take the mean of the middle two.
	if s.Median != 25 || s.Min != 10 || s.Max != 40 || s.P99 != 2.5 {
		t.Errorf("got %+v", s)
	}
}
