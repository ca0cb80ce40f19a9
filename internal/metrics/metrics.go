// Package metrics exposes lvsd's state to Prometheus: the node_exporter
// ipvs collector's series, with its names, help texts and labels, so that
// dashboards and alerts written for IPVS work unchanged, and golvs's own
// (health checks, connection table, data-plane verdicts, attachment).
package metrics

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"golvs/internal/api"
	"golvs/internal/lvs"
)

// Sources are where a Collector reads lvsd's state at each scrape. Only
// Services is required.
type Sources struct {
	// Services lists the services with their counters (as lvsadm -Ln
	// --stats sees them: counted from the last zero).
	Services func(ctx context.Context) ([]lvs.ServiceStatus, error)
	// Health is the health checker's view; nil without a configuration
	// file.
	Health func(ctx context.Context) ([]api.ServiceHealth, error)
	// Counters are the data plane's verdict counters by reason.
	Counters func() (map[string]uint64, error)
	// Attached maps each attached link to its hook ("tcx" or "clsact").
	Attached func() map[string]string
	// ConnTableSize is the connection table's capacity.
	ConnTableSize int
}

// scrapeTimeout bounds how long one scrape waits for lvsd's engine.
const scrapeTimeout = 10 * time.Second

// The node_exporter ipvs collector's label names (collector/ipvs_linux.go).
var backendLabels = []string{"local_address", "local_port", "remote_address", "remote_port", "proto", "local_mark"}

var (
	serviceLabels = []string{"local_address", "local_port", "proto"}
	realLabels    = []string{"local_address", "local_port", "remote_address", "remote_port", "proto"}
	checkLabels   = append(append([]string{}, realLabels...), "check")
)

func desc(name, help string, labels []string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// node_exporter's series: the totals over every service, and per real.
var (
	ipvsConnections = desc("node_ipvs_connections_total", "The total number of connections made.", nil)
	ipvsInPackets   = desc("node_ipvs_incoming_packets_total", "The total number of incoming packets.", nil)
	ipvsOutPackets  = desc("node_ipvs_outgoing_packets_total", "The total number of outgoing packets.", nil)
	ipvsInBytes     = desc("node_ipvs_incoming_bytes_total", "The total amount of incoming data.", nil)
	ipvsOutBytes    = desc("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.", nil)
	ipvsActive      = desc("node_ipvs_backend_connections_active", "The current active connections by local and remote address.", backendLabels)
	ipvsInactive    = desc("node_ipvs_backend_connections_inactive", "The current inactive connections by local and remote address.", backendLabels)
	ipvsWeight      = desc("node_ipvs_backend_weight", "The current backend weight by local and remote address.", backendLabels)
)

// golvs's own series.
var (
	realUp           = desc("golvs_real_up", "Whether the health checks find the real server up (1), or down or not checked yet (0).", realLabels)
	realInTable      = desc("golvs_real_in_table", "Whether the health checker keeps the real server in the table (an inhibited real is, with weight 0).", realLabels)
	checkUp          = desc("golvs_real_check_up", "Whether the health check of a real server passes (1) or not (0).", checkLabels)
	checkLatency     = desc("golvs_real_check_latency_seconds", "How long the latest attempt of the health check took.", checkLabels)
	checkFailures    = desc("golvs_real_check_failures", "Failed attempts of the health check since its last success.", checkLabels)
	quorumUp         = desc("golvs_service_quorum_up", "Whether the virtual service has its quorum of live real servers.", serviceLabels)
	sorryActive      = desc("golvs_service_sorry_server_active", "Whether the sorry server stands in for the real servers of the virtual service.", serviceLabels)
	connEntries      = desc("golvs_conn_table_entries", "Connections of the reals in the table (ActiveConn plus InActConn; not persistence templates, nor connections still draining from deleted reals).", nil)
	connCapacity     = desc("golvs_conn_table_capacity", "Capacity of the connection table (lvsadm's size=).", nil)
	datapathVerdicts = desc("golvs_datapath_events_total", "Data-plane counters by reason: pass_*, drop_* and fwd_* count packets by verdict, the others events such as conn_reused or tmpl_new.", []string{"reason"})
	attached         = desc("golvs_datapath_attached", "Links the data plane program is attached to, with the hook used.", []string{"interface", "hook"})
	scrapeErrors     = desc("golvs_scrape_errors", "Sources of this scrape that could not be read (see lvsd's log).", nil)
)

// Collector is a prometheus.Collector over lvsd's state.
type Collector struct {
	src Sources
	log *slog.Logger

	// mu guards the totals' memory: Prometheus may scrape concurrently.
	mu sync.Mutex
	// last is each service's counters at the previous scrape, and gone
	// what services that were deleted or zeroed since had counted, so
	// that the node_ipvs_*_total counters never go down.
	last map[lvs.ServiceKey]lvs.Stats
	gone lvs.Stats
}

// New returns a Collector reading src; errors while scraping go to log.
func New(src Sources, log *slog.Logger) *Collector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Collector{src: src, log: log, last: map[lvs.ServiceKey]lvs.Stats{}}
}

// Describe sends every series' description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ipvsConnections, ipvsInPackets, ipvsOutPackets, ipvsInBytes, ipvsOutBytes,
		ipvsActive, ipvsInactive, ipvsWeight, realUp, realInTable, checkUp, checkLatency, checkFailures, quorumUp,
		sorryActive, connEntries, connCapacity, datapathVerdicts, attached, scrapeErrors} {
		ch <- d
	}
}

// Collect reads the sources and sends the series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	errs := 0
	fail := func(what string, err error) {
		errs++
		c.log.Error("metrics: read "+what, slog.Any("err", err))
	}
	if svcs, err := c.src.Services(ctx); err != nil {
		fail("services", err)
	} else {
		c.collectIPVS(ch, svcs)
	}
	ch <- gauge(connCapacity, float64(c.src.ConnTableSize))
	if c.src.Health != nil {
		if st, err := c.src.Health(ctx); err != nil {
			fail("health", err)
		} else {
			collectHealth(ch, st)
		}
	}
	if c.src.Counters != nil {
		if cnt, err := c.src.Counters(); err != nil {
			fail("data-plane counters", err)
		} else {
			for reason, v := range cnt {
				ch <- prometheus.MustNewConstMetric(datapathVerdicts, prometheus.CounterValue, float64(v), reason)
			}
		}
	}
	if c.src.Attached != nil {
		for link, hook := range c.src.Attached() {
			ch <- gauge(attached, 1, link, hook)
		}
	}
	ch <- gauge(scrapeErrors, float64(errs))
}

// collectIPVS sends node_exporter's series: /proc/net/ip_vs_stats's
// totals (IPVS counts every packet of every service there) and
// /proc/net/ip_vs's per-real lines. The totals are counters: like the
// kernel's global stats they keep what a deleted service counted, and
// they keep what a zeroed one had counted too (the kernel clears its
// totals on a zero of everything), so they never go down while lvsd runs.
func (c *Collector) collectIPVS(ch chan<- prometheus.Metric, svcs []lvs.ServiceStatus) {
	c.mu.Lock()
	now := make(map[lvs.ServiceKey]lvs.Stats, len(svcs))
	for _, s := range svcs {
		now[s.ServiceKey] = s.Stats
		if prev, ok := c.last[s.ServiceKey]; ok && below(s.Stats, prev) {
			c.gone = add(c.gone, prev)
		}
	}
	for k, prev := range c.last {
		if _, ok := now[k]; !ok {
			c.gone = add(c.gone, prev)
		}
	}
	c.last = now
	tot := c.gone
	c.mu.Unlock()

	var entries uint64
	type sums struct{ active, inactive, weight uint64 }
	byLabels := map[[6]string]*sums{}
	var order [][6]string
	for _, s := range svcs {
		tot = add(tot, s.Stats)
		for _, r := range s.Reals {
			entries += uint64(r.ActiveConns) + uint64(r.InActConns)
			// node_exporter sums reals whose labels coincide.
			k := [6]string{addrLabel(s.Addr.Addr()), strconv.Itoa(int(s.Addr.Port())),
				addrLabel(r.Addr.Addr()), strconv.Itoa(int(r.Addr.Port())), s.Protocol.String(), ""}
			if byLabels[k] == nil {
				byLabels[k] = &sums{}
				order = append(order, k)
			}
			byLabels[k].active += uint64(r.ActiveConns)
			byLabels[k].inactive += uint64(r.InActConns)
			byLabels[k].weight += uint64(r.Weight)
		}
	}
	ch <- counter(ipvsConnections, float64(tot.Conns))
	ch <- counter(ipvsInPackets, float64(tot.InPkts))
	ch <- counter(ipvsOutPackets, float64(tot.OutPkts))
	ch <- counter(ipvsInBytes, float64(tot.InBytes))
	ch <- counter(ipvsOutBytes, float64(tot.OutBytes))
	for _, k := range order {
		v := byLabels[k]
		ch <- gauge(ipvsActive, float64(v.active), k[:]...)
		ch <- gauge(ipvsInactive, float64(v.inactive), k[:]...)
		ch <- gauge(ipvsWeight, float64(v.weight), k[:]...)
	}
	ch <- gauge(connEntries, float64(entries))
}

// add returns a+b, field by field.
func add(a, b lvs.Stats) lvs.Stats {
	return lvs.Stats{Conns: a.Conns + b.Conns, InPkts: a.InPkts + b.InPkts, OutPkts: a.OutPkts + b.OutPkts,
		InBytes: a.InBytes + b.InBytes, OutBytes: a.OutBytes + b.OutBytes}
}

// below says whether any counter of a is below b's: the service was zeroed
// (or deleted and added again) since b was read.
func below(a, b lvs.Stats) bool {
	return a.Conns < b.Conns || a.InPkts < b.InPkts || a.OutPkts < b.OutPkts || a.InBytes < b.InBytes ||
		a.OutBytes < b.OutBytes
}

// collectHealth sends the health checker's series.
func collectHealth(ch chan<- prometheus.Metric, st []api.ServiceHealth) {
	for _, s := range st {
		sl := []string{addrLabel(s.Service.Addr.Addr()), strconv.Itoa(int(s.Service.Addr.Port())), s.Service.Protocol.String()}
		ch <- gauge(quorumUp, boolValue(s.QuorumUp), sl...)
		ch <- gauge(sorryActive, boolValue(s.SorryActive), sl...)
		for _, r := range s.Reals {
			rl := []string{sl[0], sl[1], addrLabel(r.Addr.Addr()), strconv.Itoa(int(r.Addr.Port())), sl[2]}
			ch <- gauge(realUp, boolValue(r.State == "up"), rl...)
			ch <- gauge(realInTable, boolValue(r.InTable), rl...)
			for _, k := range r.Checks {
				cl := append(append([]string{}, rl...), k.Name)
				ch <- gauge(checkUp, boolValue(k.State == "up"), cl...)
				ch <- gauge(checkLatency, k.Last.Latency.Seconds(), cl...)
				ch <- gauge(checkFailures, float64(k.Failures), cl...)
			}
		}
	}
}

// addrLabel writes an address as node_exporter does (Go's net.IP form:
// IPv4 dotted, IPv6 compressed).
func addrLabel(a netip.Addr) string { return a.Unmap().String() }

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func counter(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
}

var _ prometheus.Collector = (*Collector)(nil)
