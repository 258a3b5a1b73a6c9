// Package metrics is a Rookery node's Prometheus registry: the counters and
// histograms the roles record into, collectors that pull Raft and spool
// figures when scraped, and the /metrics, /healthz and /readyz handlers.
//
// Every recording method is safe on a nil *Metrics and does nothing, so a
// package can hold an optional *Metrics without checking it.
package metrics

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "rookery"

// latencyBuckets span a cached local read (tens of microseconds) to a
// write waiting out a leader election (seconds).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics holds a node's registry and the metrics the roles record.
type Metrics struct {
	reg     *prometheus.Registry
	labeled prometheus.Registerer // reg, adding the node_id label

	dirApplies        *prometheus.CounterVec
	forwardedWrites   *prometheus.CounterVec
	forwardLatency    prometheus.Histogram
	syncedReads       *prometheus.CounterVec
	syncedReadLatency prometheus.Histogram

	imapCommands *prometheus.CounterVec
	imapLatency  *prometheus.HistogramVec
	lmtpCommands *prometheus.CounterVec
	lmtpLatency  *prometheus.HistogramVec

	connsOpen   *prometheus.GaugeVec
	connsTotal  *prometheus.CounterVec
	replLag     *prometheus.GaugeVec
	replPending *prometheus.GaugeVec
	replUnder   *prometheus.GaugeVec
	replRestore *prometheus.GaugeVec
}

// New returns Metrics with a fresh registry that also carries the Go
// runtime and process collectors. nodeID labels every series, so one
// Prometheus can scrape a whole cluster without relabelling.
func New(nodeID string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f := factory{reg: prometheus.WrapRegistererWith(prometheus.Labels{"node_id": nodeID}, reg)}
	m := &Metrics{reg: reg, labeled: f.reg}
	m.dirApplies = f.counter("directory", "applies_total", "Directory commands applied through this node, by command type and result.", "type", "result")
	m.forwardedWrites = f.counter("directory", "forwarded_writes_total", "Writes this node forwarded to the leader, by result.", "result")
	m.forwardLatency = f.histogram("directory", "forwarded_write_seconds", "Latency of writes forwarded to the leader.")
	m.syncedReads = f.counter("directory", "synced_reads_total", "Synced (ReadIndex) reads, by result.", "result")
	m.syncedReadLatency = f.histogram("directory", "synced_read_seconds", "Latency of synced reads, leader round trip and local catch-up included.")
	m.imapCommands = f.counter("imap", "commands_total", "IMAP commands, by command and result (ok, no, bad, error).", "command", "result")
	m.imapLatency = f.histogramVec("imap", "command_seconds", "IMAP command latency, by command.", "command")
	m.lmtpCommands = f.counter("lmtp", "commands_total", "LMTP commands, by command and result.", "command", "result")
	m.lmtpLatency = f.histogramVec("lmtp", "command_seconds", "LMTP command latency, by command.", "command")
	m.connsOpen = f.gaugeVec("", "connections_open", "Client connections open now, by listener.", "listener")
	m.connsTotal = f.counter("", "connections_total", "Client connections accepted, by listener.", "listener")
	m.replLag = f.gaugeVec("replication", "lag_seconds", "How long a replica of this backend's mailboxes has been out of the in-sync set (0 while in sync: replication is synchronous), by replica backend.", "replica")
	m.replPending = f.gaugeVec("replication", "pending_mailboxes", "Mailboxes of this backend a replica out of the in-sync set has yet to catch up on, by replica backend.", "replica")
	m.replUnder = f.gaugeVec("replication", "under_replicated_mailboxes", "Mailboxes this backend is primary of with fewer live copies than the replication factor.")
	m.replRestore = f.gaugeVec("replication", "restored_copies", "Copies of this backend's mailboxes made again on another backend since the process started, after their replica's backend stayed down.")
	return m
}

// Registerer adds collectors to the registry with the node_id label.
func (m *Metrics) Registerer() prometheus.Registerer { return m.labeled }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Timeout: 10 * time.Second, MaxRequestsInFlight: 4})
}

// DirectoryApply counts one directory command applied through this node.
// typ is the command's name (fsm command types, a small fixed set).
func (m *Metrics) DirectoryApply(typ, result string) {
	if m == nil {
		return
	}
	m.dirApplies.WithLabelValues(typ, result).Inc()
}

// ForwardedWrite records a write forwarded to the leader.
func (m *Metrics) ForwardedWrite(result string, d time.Duration) {
	if m == nil {
		return
	}
	m.forwardedWrites.WithLabelValues(result).Inc()
	m.forwardLatency.Observe(d.Seconds())
}

// SyncedRead records a ReadIndex read.
func (m *Metrics) SyncedRead(result string, d time.Duration) {
	if m == nil {
		return
	}
	m.syncedReads.WithLabelValues(result).Inc()
	m.syncedReadLatency.Observe(d.Seconds())
}

// IMAPCommand records one IMAP command. Clients choose command names, so
// anything outside the known set counts as "OTHER" and cannot grow the
// number of series.
func (m *Metrics) IMAPCommand(name, result string, d time.Duration) {
	if m == nil {
		return
	}
	name = bounded(strings.ToUpper(name), imapCommands, "OTHER")
	m.imapCommands.WithLabelValues(name, bounded(strings.ToLower(result), results, "other")).Inc()
	m.imapLatency.WithLabelValues(name).Observe(d.Seconds())
}

// LMTPCommand records one LMTP command; result is "ok", "tempfail",
// "permfail" or "error" (a reply code's class also works: "2xx" and so on).
func (m *Metrics) LMTPCommand(name, result string, d time.Duration) {
	if m == nil {
		return
	}
	name = bounded(strings.ToUpper(name), lmtpCommands, "OTHER")
	m.lmtpCommands.WithLabelValues(name, bounded(lmtpResult(result), results, "other")).Inc()
	m.lmtpLatency.WithLabelValues(name).Observe(d.Seconds())
}

// Connection counts a connection accepted on listener ("imap", "imaps",
// "lmtp", "backend_imap" ...) and returns the func to call when it closes.
func (m *Metrics) Connection(listener string) (closed func()) {
	if m == nil {
		return func() {}
	}
	m.connsTotal.WithLabelValues(listener).Inc()
	g := m.connsOpen.WithLabelValues(listener)
	g.Inc()
	return g.Dec
}

// ReplicationLag sets how far replica is behind this primary: how long it
// has been out of the in-sync set, and how many mailboxes it has to catch
// up on.
func (m *Metrics) ReplicationLag(replica string, age time.Duration, pending int) {
	if m == nil {
		return
	}
	m.replLag.WithLabelValues(replica).Set(age.Seconds())
	m.replPending.WithLabelValues(replica).Set(float64(pending))
}

// ReplicationRestore sets the restore figures of this primary: its
// mailboxes short of copies, and the copies it has made again.
func (m *Metrics) ReplicationRestore(underReplicated, restored int64) {
	if m == nil {
		return
	}
	m.replUnder.WithLabelValues().Set(float64(underReplicated))
	m.replRestore.WithLabelValues().Set(float64(restored))
}

// ForgetReplica drops a replica's lag series, when it is no longer one.
func (m *Metrics) ForgetReplica(replica string) {
	if m == nil {
		return
	}
	m.replLag.DeleteLabelValues(replica)
	m.replPending.DeleteLabelValues(replica)
}

var imapCommands = set("CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "AUTHENTICATE", "LOGIN", "ID", "ENABLE",
	"SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "LIST", "LSUB",
	"NAMESPACE", "STATUS", "APPEND", "IDLE", "CHECK", "CLOSE", "UNSELECT", "EXPUNGE", "SEARCH",
	"FETCH", "STORE", "COPY", "MOVE", "UID", "UID FETCH", "UID STORE", "UID SEARCH", "UID COPY",
	"UID MOVE", "UID EXPUNGE", "GETACL", "SETACL", "DELETEACL", "LISTRIGHTS", "MYRIGHTS",
	"GETQUOTA", "GETQUOTAROOT", "SETQUOTA", "COMPRESS")

var lmtpCommands = set("LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "STARTTLS", "AUTH")

var results = set("ok", "no", "bad", "error", "tempfail", "permfail", "timeout", "not_leader")

func lmtpResult(r string) string {
	switch r = strings.ToLower(r); {
	case strings.HasPrefix(r, "2"):
		return "ok"
	case strings.HasPrefix(r, "4"):
		return "tempfail"
	case strings.HasPrefix(r, "5"):
		return "permfail"
	}
	return r
}

func set(names ...string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

func bounded(v string, known map[string]bool, other string) string {
	if known[v] {
		return v
	}
	return other
}

// factory registers metrics under the rookery namespace.
type factory struct{ reg prometheus.Registerer }

func (f factory) counter(sub, name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: sub, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) gaugeVec(sub, name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Subsystem: sub, Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(sub, name, help string) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: namespace, Subsystem: sub, Name: name, Help: help, Buckets: latencyBuckets})
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogramVec(sub, name, help string, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: sub, Name: name, Help: help, Buckets: latencyBuckets}, labels)
	f.reg.MustRegister(h)
	return h
}
