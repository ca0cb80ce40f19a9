package configfile

import (
	"encoding/json"
	"testing"
	"time"

	"golvs/internal/health"
	"golvs/internal/lvs"
)

// The health view is what GET /v1/health answers: its JSON is pinned.
func TestHealthViewJSON(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	sorry := lvs.Real{Addr: rsNew, Method: lvs.Masq, Weight: 1}
	st := []health.ServiceStatus{{
		Service: web, QuorumUp: true, Quorum: 1, Hysteresis: 0, LiveWeight: 3,
		SorryServer: &sorry,
		Reals: []health.RealStatus{{
			Addr: rs1, State: health.StateUp, Weight: 3, InTable: true, TableWeight: 3, LastChange: at,
			Checks: []health.CheckStatus{{
				Name: "TCP_CHECK 198.19.0.11:80", State: health.StateUp,
				Last:     health.Result{At: at, OK: true, Reason: "TCP_CHECK 198.19.0.11:80: connected", Latency: time.Millisecond},
				Failures: 0, Next: at.Add(6 * time.Second),
			}},
		}, {
			Addr: rs2, State: health.StateDown, Weight: 1, LastChange: at, Reason: "TCP_CHECK 198.19.0.12:80: connection refused",
		}},
	}, {Service: mail}}
	b, err := json.Marshal(healthView(st))
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"service":{"protocol":6,"addr":"198.18.0.10:80"},"quorum_up":true,"quorum":1,"hysteresis":0,"live_weight":3,` +
		`"sorry_server":{"addr":"198.19.0.14:80","method":0,"weight":1},"reals":[` +
		`{"addr":"198.19.0.11:80","state":"up","weight":3,"in_table":true,"table_weight":3,"last_change":"2026-11-24T10:00:00Z",` +
		`"checks":[{"name":"TCP_CHECK 198.19.0.11:80","state":"up",` +
		`"last":{"at":"2026-11-24T10:00:00Z","ok":true,"reason":"TCP_CHECK 198.19.0.11:80: connected","latency":1000000},` +
		`"last_failure":{"at":"0001-01-01T00:00:00Z","ok":false,"reason":"","latency":0},"failures":0,"next":"2026-11-24T10:00:06Z"}]},` +
		`{"addr":"198.19.0.12:80","state":"down","weight":1,"in_table":false,"table_weight":0,"last_change":"2026-11-24T10:00:00Z",` +
		`"reason":"TCP_CHECK 198.19.0.12:80: connection refused"}]},` +
		`{"service":{"protocol":6,"addr":"198.18.0.10:25"},"quorum_up":false,"quorum":0,"hysteresis":0,"live_weight":0,"reals":[]}]`
	if string(b) != want {
		t.Errorf("health JSON:\n%s\nwant:\n%s", b, want)
	}
}
