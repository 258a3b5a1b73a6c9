package report

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/rookery-mail/rookery/jepsen/checker"
	"github.com/rookery-mail/rookery/jepsen/history"
	"github.com/rookery-mail/rookery/jepsen/nemesis"
)

// faultColors tells the nemesis rows apart at a glance.
var faultColors = map[string]string{"partition": "#f8d7a8", "kill": "#f4a6a6", "pause": "#b8d4f4"}

// WriteTimeline writes porcupine's visualization of the directory operations
// (each name a partition, with its linearization or the point where none
// exists), the history's other operations on their processes' rows, and one
// row per nemesis kind showing when each fault was in force.
func WriteTimeline(w io.Writer, h history.History, nem []NemesisRecord, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = checker.Default().LinearizableTimeout
	}
	model := checker.DirectoryModel()
	_, info := porcupine.CheckOperationsVerbose(model, checker.DirectoryOperations(h), timeout)
	info.AddAnnotations(otherOps(h))
	info.AddAnnotations(faultSpans(nem, h.End()))
	return porcupine.Visualize(model, info, w)
}

// otherOps shows the operations the directory model does not read.
func otherOps(h history.History) []porcupine.Annotation {
	var out []porcupine.Annotation
	for _, op := range h {
		if op.F == history.FCreate || op.F == history.FDelete || op.F == history.FSelect {
			continue
		}
		desc := fmt.Sprintf("%s %s -> %s", op.F, op.Key, op.Outcome)
		out = append(out, porcupine.Annotation{
			ClientId: op.Process, Start: op.Invoke, End: op.Complete,
			Description: desc, Details: fmt.Sprintf("#%d via %s %s", op.Index, op.Node, op.Error),
		})
	}
	return out
}

// faultSpans pairs each fault's start with its stop; a fault never stopped
// lasts to the end of the history.
func faultSpans(nem []NemesisRecord, end int64) []porcupine.Annotation {
	var out []porcupine.Annotation
	for _, s := range Faults(nem, end) {
		family := strings.SplitN(string(s.Fault.Kind), "-", 2)[0]
		out = append(out, porcupine.Annotation{
			Tag: "nemesis " + string(s.Fault.Kind), Start: s.Start, End: s.End,
			Description: describeFault(s.Fault), Details: s.Error,
			BackgroundColor: faultColors[family],
		})
	}
	return out
}

func describeFault(f nemesis.Fault) string {
	names := make([]string, 0)
	for _, n := range f.Affected() {
		names = append(names, nemesis.NodeName(n))
	}
	return fmt.Sprintf("%s %s", f.Kind, strings.Join(names, ","))
}

// FaultSpan is one fault while it was in force.
type FaultSpan struct {
	Fault      nemesis.Fault
	Start, End int64
	Error      string
}

// Faults pairs the nemesis log's starts and stops by fault id, in start
// order. A fault never stopped lasts until end.
func Faults(nem []NemesisRecord, end int64) []FaultSpan {
	open := make(map[int]int)
	var out []FaultSpan
	for _, r := range nem {
		switch r.Action {
		case nemesis.Start:
			open[r.Fault.ID] = len(out)
			out = append(out, FaultSpan{Fault: r.Fault, Start: r.Time, End: end, Error: r.Error})
		case nemesis.Stop:
			if i, ok := open[r.Fault.ID]; ok {
				out[i].End = r.Time
				delete(open, r.Fault.ID)
			}
		}
	}
	return out
}
