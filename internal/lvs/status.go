package lvs

import (
	"net/netip"
	"time"
)

// Stats are the counters IPVS keeps per service and per real server.
// Bytes are IP lengths (no link-layer header), as IPVS counts them.
type Stats struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"inpkts"`
	OutPkts  uint64 `json:"outpkts"`
	InBytes  uint64 `json:"inbytes"`
	OutBytes uint64 `json:"outbytes"`
}

// Rates are the estimator's rates (ip_vs_est.c): connections, packets and
// bytes per second, averaged over the last few 2-second samples.
type Rates struct {
	CPS    uint64 `json:"cps"`
	InPPS  uint64 `json:"inpps"`
	OutPPS uint64 `json:"outpps"`
	InBPS  uint64 `json:"inbps"`
	OutBPS uint64 `json:"outbps"`
}

// ServiceStatus is a service with its counters, as ipvsadm -L shows it.
type ServiceStatus struct {
	Service
	Stats Stats        `json:"stats"`
	Rates Rates        `json:"rates"`
	Reals []RealStatus `json:"reals"`
}

// RealStatus is a real server with its connection counts and counters.
type RealStatus struct {
	Real
	ActiveConns  uint32 `json:"activeconns"`
	InActConns   uint32 `json:"inactconns"`
	PersistConns uint32 `json:"persistconns"`
	Stats        Stats  `json:"stats"`
	Rates        Rates  `json:"rates"`
}

// Conn is one entry of the connection table, as ipvsadm -Lc shows it.
type Conn struct {
	Protocol Protocol       `json:"protocol"`
	Client   netip.AddrPort `json:"client"`
	Virtual  netip.AddrPort `json:"virtual"`
	Real     netip.AddrPort `json:"real"`
	// State is the IPVS state name: "ESTABLISHED", "SYN_RECV", "UDP", ...
	State string `json:"state"`
	// Expires is the time left before the entry expires.
	Expires time.Duration `json:"expires"`
}

// TCP connection states, with IPVS's indexes (ip_vs_proto_tcp.c).
const (
	StateNone = iota
	StateEstablished
	StateSynSent
	StateSynRecv
	StateFinWait
	StateTimeWait
	StateClose
	StateCloseWait
	StateLastAck
	StateListen
	StateSynAck
)

var tcpStateNames = [...]string{"NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK"}

// TCPStateName returns IPVS's name of TCP state s ("ERR!" when out of range,
// as tcp_state_name does).
func TCPStateName(s int) string {
	if s < 0 || s >= len(tcpStateNames) {
		return "ERR!"
	}
	return tcpStateNames[s]
}
