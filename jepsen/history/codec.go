package history

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// maxLine bounds one stored record; a fetch of a large mailbox is the
// longest line a workload writes.
const maxLine = 16 << 20

// WriteJSONL writes one JSON object per operation, in order.
func WriteJSONL(w io.Writer, h History) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, op := range h {
		if err := enc.Encode(op); err != nil {
			return fmt.Errorf("history: encode op %d: %w", op.Index, err)
		}
	}
	return bw.Flush()
}

// ReadJSONL reads what WriteJSONL wrote and validates it.
func ReadJSONL(r io.Reader) (History, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var h History
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		var op Op
		if err := dec.Decode(&op); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBadHistory, line, err)
		}
		h = append(h, op)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("history: read: %w", err)
	}
	return h, h.Validate()
}

// WriteText writes the history for people: one line per operation with its
// times in seconds from the start of the run, its latency and its result.
func WriteText(w io.Writer, h History) error {
	bw := bufio.NewWriter(w)
	for _, op := range h {
		fmt.Fprintf(bw, "%6d %10.4fs %9s  p%-3d %-4s %-7s %-24s %-4s %s\n",
			op.Index, seconds(op.Invoke), time.Duration(op.Complete-op.Invoke).Round(time.Microsecond),
			op.Process, op.Node, op.F, quoteKey(op.Key), op.Outcome, describe(op))
	}
	return bw.Flush()
}

func seconds(ns int64) float64 { return float64(ns) / 1e9 }

func quoteKey(k string) string {
	if k == "" {
		return "-"
	}
	return fmt.Sprintf("%q", k)
}

func describe(op Op) string {
	var parts []string
	v := op.Value
	if v.MessageID != "" {
		parts = append(parts, "msg="+v.MessageID)
	}
	if v.UIDValidity != 0 {
		parts = append(parts, fmt.Sprintf("uidvalidity=%d", v.UIDValidity))
	}
	if v.UID != 0 {
		parts = append(parts, fmt.Sprintf("uid=%d", v.UID))
	}
	if v.UIDs != nil {
		parts = append(parts, fmt.Sprintf("uids=%v", v.UIDs))
	}
	if v.Names != nil {
		parts = append(parts, fmt.Sprintf("names=%q", v.Names))
	}
	if v.Messages != nil {
		ms := make([]string, len(v.Messages))
		for i, m := range v.Messages {
			ms[i] = fmt.Sprintf("%d:%s", m.UID, m.MessageID)
		}
		parts = append(parts, "messages=["+strings.Join(ms, " ")+"]")
	}
	if v.Mailboxes != nil {
		ms := make([]string, len(v.Mailboxes))
		for i, m := range v.Mailboxes {
			ms[i] = m.Name + "#" + m.ID
		}
		parts = append(parts, "mailboxes=["+strings.Join(ms, " ")+"]")
	}
	if op.Error != "" {
		parts = append(parts, fmt.Sprintf("error=%q", op.Error))
	}
	return strings.Join(parts, " ")
}
