package metrics

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RaftStatser is what the Raft collector reads at each scrape: the map
// hashicorp/raft's (*Raft).Stats() returns.
type RaftStatser interface {
	RaftStats() map[string]string
}

// RaftStatsFunc adapts a function, such as (*raft.Raft).Stats, to
// RaftStatser.
type RaftStatsFunc func() map[string]string

func (f RaftStatsFunc) RaftStats() map[string]string { return f() }

// SpoolStats are a backend spool's sizes.
type SpoolStats struct {
	Mailboxes int64
	Messages  int64
	Bytes     int64 // message files on disk, each stored once
}

// SpoolStatser is what the spool collector reads at each scrape. It must
// answer from counters the spool keeps, not by walking the disk.
type SpoolStatser interface {
	SpoolStats() SpoolStats
}

var (
	_ prometheus.Collector = (*raftCollector)(nil)
	_ prometheus.Collector = (*spoolCollector)(nil)
)

// RegisterRaft adds the collector that reports Raft's state, term,
// indexes and last contact from src at every scrape.
func (m *Metrics) RegisterRaft(src RaftStatser) error {
	return m.labeled.Register(newRaftCollector(src))
}

// RegisterSpool adds the collector that reports the spool's sizes.
func (m *Metrics) RegisterSpool(src SpoolStatser) error {
	return m.labeled.Register(newSpoolCollector(src))
}

// raftStates are the values of Stats()["state"], one series each, so an
// alert can say `rookery_raft_state{state="Leader"} == 1`.
var raftStates = []string{"Follower", "Candidate", "Leader", "Shutdown"}

// raftGauges maps Stats() keys holding counters to their metrics.
var raftGauges = []struct{ key, name, help string }{
	{"term", "term", "Current Raft term."},
	{"commit_index", "commit_index", "Highest log index known to be committed."},
	{"applied_index", "applied_index", "Highest log index applied to the directory state machine."},
	{"last_log_index", "last_log_index", "Highest index in this node's log."},
	{"last_snapshot_index", "last_snapshot_index", "Index of the latest snapshot."},
	{"fsm_pending", "fsm_pending", "Committed entries queued for the state machine."},
	{"num_peers", "peers", "Other voters in the Raft configuration."},
}

type raftCollector struct {
	src         RaftStatser
	state       *prometheus.Desc
	lastContact *prometheus.Desc
	gauges      []*prometheus.Desc
}

func newRaftCollector(src RaftStatser) *raftCollector {
	c := &raftCollector{
		src: src,
		state: prometheus.NewDesc("rookery_raft_state", "1 for this node's current Raft state, 0 for the others.",
			[]string{"state"}, nil),
		lastContact: prometheus.NewDesc("rookery_raft_last_contact_seconds",
			"Time since this node last heard from the leader; 0 on the leader, absent before the first contact.", nil, nil),
	}
	for _, g := range raftGauges {
		c.gauges = append(c.gauges, prometheus.NewDesc("rookery_raft_"+g.name, g.help, nil, nil))
	}
	return c
}

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.state
	ch <- c.lastContact
	for _, d := range c.gauges {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.src.RaftStats()
	for _, s := range raftStates {
		v := 0.0
		if stats["state"] == s {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, s)
	}
	for i, g := range raftGauges {
		if v, err := strconv.ParseUint(stats[g.key], 10, 64); err == nil {
			ch <- prometheus.MustNewConstMetric(c.gauges[i], prometheus.GaugeValue, float64(v))
		}
	}
	if d, ok := parseLastContact(stats["last_contact"]); ok {
		ch <- prometheus.MustNewConstMetric(c.lastContact, prometheus.GaugeValue, d.Seconds())
	}
}

// parseLastContact reads raft's last_contact: "0" on the leader, "never"
// before any contact, else a time.Duration's String.
func parseLastContact(s string) (time.Duration, bool) {
	switch s {
	case "0":
		return 0, true
	case "", "never":
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

type spoolCollector struct {
	src                       SpoolStatser
	mailboxes, messages, size *prometheus.Desc
}

func newSpoolCollector(src SpoolStatser) *spoolCollector {
	return &spoolCollector{
		src:       src,
		mailboxes: prometheus.NewDesc("rookery_spool_mailboxes", "Mailboxes in this backend's spool.", nil, nil),
		messages:  prometheus.NewDesc("rookery_spool_messages", "Messages in this backend's spool, counted per mailbox.", nil, nil),
		size:      prometheus.NewDesc("rookery_spool_bytes", "Bytes of message files in this backend's spool.", nil, nil),
	}
}

func (c *spoolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.mailboxes
	ch <- c.messages
	ch <- c.size
}

func (c *spoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.SpoolStats()
	ch <- prometheus.MustNewConstMetric(c.mailboxes, prometheus.GaugeValue, float64(s.Mailboxes))
	ch <- prometheus.MustNewConstMetric(c.messages, prometheus.GaugeValue, float64(s.Messages))
	ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(s.Bytes))
}
