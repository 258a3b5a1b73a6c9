// Package logging holds every adapter that lets a library's own logger write
// to the *slog.Logger a Rookery component was given: hclog for raft, and
// *log.Logger for memberlist, go-imap and go-smtp.
package logging

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// LevelTrace is below slog.LevelDebug; raft's trace messages land there.
const LevelTrace = slog.LevelDebug - 4

var _ hclog.Logger = (*HCLog)(nil)

// HCLog is an hclog.Logger that writes to a *slog.Logger. Keys are turned to
// snake_case (raft writes "last-index", Rookery logs "last_index").
type HCLog struct {
	slog    *slog.Logger
	name    string
	implied []any
	level   *atomic.Int32 // shared with loggers made by With and Named
}

// NewHCLog returns an hclog.Logger over l. name is the component, for
// example "raft"; it is logged under the key "component".
func NewHCLog(l *slog.Logger, name string) *HCLog {
	lv := new(atomic.Int32)
	lv.Store(int32(hclog.Trace))
	return &HCLog{slog: l, name: name, level: lv}
}

func (h *HCLog) Log(level hclog.Level, msg string, args ...any) {
	if level < hclog.Level(h.level.Load()) || level == hclog.Off {
		return
	}
	sl := toSlogLevel(level)
	ctx := context.Background()
	if !h.slog.Enabled(ctx, sl) {
		return
	}
	attrs := make([]any, 0, 2+len(h.implied)+len(args))
	if h.name != "" {
		attrs = append(attrs, "component", h.name)
	}
	attrs = append(attrs, snakeArgs(h.implied)...)
	attrs = append(attrs, snakeArgs(args)...)
	h.slog.Log(ctx, sl, msg, attrs...)
}

func (h *HCLog) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *HCLog) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *HCLog) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *HCLog) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *HCLog) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *HCLog) enabled(level hclog.Level) bool {
	return level >= hclog.Level(h.level.Load()) &&
		h.slog.Enabled(context.Background(), toSlogLevel(level))
}

func (h *HCLog) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *HCLog) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *HCLog) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *HCLog) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *HCLog) IsError() bool { return h.enabled(hclog.Error) }

func (h *HCLog) ImpliedArgs() []any { return h.implied }

func (h *HCLog) With(args ...any) hclog.Logger {
	c := *h
	c.implied = append(append([]any(nil), h.implied...), args...)
	return &c
}

func (h *HCLog) Name() string { return h.name }

func (h *HCLog) Named(name string) hclog.Logger {
	c := *h
	if c.name != "" {
		c.name += "." + name
	} else {
		c.name = name
	}
	return &c
}

func (h *HCLog) ResetNamed(name string) hclog.Logger {
	c := *h
	c.name = name
	return &c
}

func (h *HCLog) SetLevel(level hclog.Level) { h.level.Store(int32(level)) }
func (h *HCLog) GetLevel() hclog.Level      { return hclog.Level(h.level.Load()) }

func (h *HCLog) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *HCLog) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	w := &levelWriter{slog: h.slog.With("component", h.name), level: slog.LevelInfo}
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		w.forced = true
		w.level = toSlogLevel(opts.ForceLevel)
	}
	return w
}

func toSlogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return LevelTrace
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// snakeArgs copies hclog's alternating key/value list with the keys in
// snake_case. An odd trailing value is kept under "extra", as hclog does.
func snakeArgs(args []any) []any {
	out := make([]any, 0, len(args)+1)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			out = append(out, "extra", args[i])
			break
		}
		out = append(out, snakeKey(fmt.Sprint(args[i])), args[i+1])
	}
	return out
}

func snakeKey(k string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' || r == '.' {
			return '_'
		}
		return r
	}, k)
}
