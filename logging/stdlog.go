package logging

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
)

// StdLogger returns a *log.Logger (what memberlist, go-imap and go-smtp take)
// that writes each line to l under "component". A line that starts with a
// level tag such as "[WARN]" or "[DEBUG]", as memberlist writes them, is
// logged at that level; any other line at level.
func StdLogger(l *slog.Logger, component string, level slog.Level) *log.Logger {
	return log.New(&levelWriter{slog: l.With("component", component), level: level}, "", 0)
}

// levelWriter turns written lines into slog records.
type levelWriter struct {
	slog   *slog.Logger
	level  slog.Level
	forced bool // ignore level tags in the text
}

func (w *levelWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		msg := strings.TrimSpace(string(line))
		if msg == "" {
			continue
		}
		level := w.level
		if !w.forced {
			if tagged, rest, ok := levelTag(msg); ok {
				level, msg = tagged, rest
			}
		}
		w.slog.Log(context.Background(), level, msg)
	}
	return len(p), nil
}

var levelTags = []struct {
	tag   string
	level slog.Level
}{
	{"[TRACE]", LevelTrace},
	{"[DEBUG]", slog.LevelDebug},
	{"[INFO]", slog.LevelInfo},
	{"[WARN]", slog.LevelWarn},
	{"[ERR]", slog.LevelError},
	{"[ERROR]", slog.LevelError},
}

func levelTag(msg string) (slog.Level, string, bool) {
	for _, t := range levelTags {
		if rest, ok := strings.CutPrefix(msg, t.tag); ok {
			return t.level, strings.TrimSpace(rest), true
		}
	}
	return 0, msg, false
}
