package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func records(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("bad record %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestHCLogLevelsAndKeys(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := NewHCLog(l, "raft").Named("snapshot").With("peer-id", "n2")
	h.Trace("dropped below debug")
	h.Info("stored", "last-index", 7, "odd")
	h.Warn("slow")
	if h.IsTrace() || !h.IsDebug() {
		t.Fatalf("IsTrace %v IsDebug %v with a debug handler", h.IsTrace(), h.IsDebug())
	}
	h.SetLevel(hclog.Error)
	h.Warn("filtered by SetLevel")

	got := records(t, &buf)
	if len(got) != 2 {
		t.Fatalf("got %d records, want 2: %v", len(got), got)
	}
	r := got[0]
	if r["msg"] != "stored" || r["level"] != "INFO" || r["component"] != "raft.snapshot" ||
		r["peer_id"] != "n2" || r["last_index"] != float64(7) || r["extra"] != "odd" {
		t.Fatalf("record %v", r)
	}
	if got[1]["level"] != "WARN" {
		t.Fatalf("second record %v", got[1])
	}
}

func TestStdLoggerInfersLevel(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	std := StdLogger(l, "memberlist", slog.LevelInfo)
	std.Printf("[WARN] memberlist: Refuting a suspect message")
	std.Printf("[DEBUG] memberlist: probe")
	std.Printf("plain line")

	got := records(t, &buf)
	want := []struct{ level, msg string }{
		{"WARN", "memberlist: Refuting a suspect message"},
		{"DEBUG", "memberlist: probe"},
		{"INFO", "plain line"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i]["level"] != w.level || got[i]["msg"] != w.msg || got[i]["component"] != "memberlist" {
			t.Errorf("record %d = %v, want %s %q", i, got[i], w.level, w.msg)
		}
	}
}
