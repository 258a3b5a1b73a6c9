package workload

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/rookery-mail/rookery/jepsen/history"
)

func TestOutcomes(t *testing.T) {
	no := func(code imap.ResponseCode) error {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: code, Text: "refused"}
	}
	for _, tc := range []struct {
		name          string
		err           error
		write, read   history.Outcome
		wText, rText  string
		brokenConnect bool
	}{
		{"ok", nil, history.OK, history.OK, "", "", false},
		{"exists", no(imap.ResponseCodeAlreadyExists), history.Fail, history.Fail, history.ErrorExists, "", false},
		{"nonexistent", no(imap.ResponseCodeNonExistent), history.Fail, history.Fail, history.ErrorNonexistent, history.ErrorNonexistent, false},
		{"unavailable", no(imap.ResponseCodeUnavailable), history.Info, history.Fail, "", "", false},
		{"lost connection", io.ErrUnexpectedEOF, history.Info, history.Info, "", "", true},
	} {
		w, wText := writeOutcome(tc.err)
		r, rText := readOutcome(tc.err)
		if w != tc.write || r != tc.read {
			t.Errorf("%s: write %s, read %s; want %s, %s", tc.name, w, r, tc.write, tc.read)
		}
		if tc.wText != "" && wText != tc.wText {
			t.Errorf("%s: write error %q, want %q", tc.name, wText, tc.wText)
		}
		if tc.rText != "" && rText != tc.rText {
			t.Errorf("%s: read error %q, want %q", tc.name, rText, tc.rText)
		}
		if broken(tc.err) != tc.brokenConnect {
			t.Errorf("%s: broken = %v", tc.name, !tc.brokenConnect)
		}
	}
}

func TestParseMessageID(t *testing.T) {
	for hdr, want := range map[string]string{
		"Message-ID: <a@b>\r\n\r\n":       "<a@b>",
		"message-id:   <c@d> \r\n":        "<c@d>",
		"Subject: x\r\nMessage-Id: <e@f>": "<e@f>",
		"\r\n":                            "",
	} {
		if got := parseMessageID([]byte(hdr)); got != want {
			t.Errorf("parseMessageID(%q) = %q, want %q", hdr, got, want)
		}
	}
}

// TestLimiterSpacesTokens: ten tokens at 100 a second take at least 90 ms
// (the first is free), and a cancelled context stops the wait.
func TestLimiterSpacesTokens(t *testing.T) {
	l := newLimiter(100)
	start := time.Now()
	for range 10 {
		if !l.wait(context.Background()) {
			t.Fatal("wait failed")
		}
	}
	if el := time.Since(start); el < 90*time.Millisecond {
		t.Fatalf("ten tokens in %v: not limited", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if newLimiter(0.001).wait(ctx) {
		t.Fatal("a cancelled wait returned a token")
	}
}
