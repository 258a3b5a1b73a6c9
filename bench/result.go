package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Result is what one bench run measured and checked. It is written as JSON
// and rendered as an HTML report.
type Result struct {
	Kind       string            `json:"kind"` // imap, lmtp or directory
	Command    string            `json:"command,omitempty"`
	Date       time.Time         `json:"date"`
	Machine    Machine           `json:"machine"`
	Targets    []string          `json:"targets"`
	Params     map[string]string `json:"params"`
	Seconds    float64           `json:"seconds"`
	Ops        []OpStats         `json:"ops"`
	Throughput Series            `json:"throughput"`
	// Figures are the bench's own totals (messages acknowledged, verified).
	Figures []Figure `json:"figures,omitempty"`
	// Violations counts invariant violations the bench saw; Examples
	// describes the first of them.
	Violations int      `json:"violations"`
	Examples   []string `json:"examples,omitempty"`
}

// Figure is one named total of a run.
type Figure struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit,omitempty"`
}

// Machine is where the bench ran: figures mean little without it.
type Machine struct {
	Hostname    string `json:"hostname"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	CPUs        int    `json:"cpus"`
	CPUModel    string `json:"cpu_model,omitempty"`
	MemoryBytes int64  `json:"memory_bytes,omitempty"`
	GoVersion   string `json:"go_version"`
}

// ThisMachine describes the machine the process runs on.
func ThisMachine() Machine {
	host, _ := os.Hostname()
	m := Machine{Hostname: host, OS: runtime.GOOS, Arch: runtime.GOARCH,
		CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.MemoryBytes = procField("/proc/meminfo", "MemTotal", func(v string) int64 {
		kb, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
		return kb * 1024
	})
	procField("/proc/cpuinfo", "model name", func(v string) int64 { m.CPUModel = v; return 0 })
	return m
}

// procField finds the first "key: value" line of a /proc file.
func procField(path, key string, parse func(string) int64) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return parse(strings.TrimSpace(v))
		}
	}
	return 0
}

// Op returns the statistics of one op, if the run did any.
func (r *Result) Op(name string) (OpStats, bool) {
	for _, o := range r.Ops {
		if o.Op == name {
			return o, true
		}
	}
	return OpStats{}, false
}

// Figure returns the value of a named figure.
func (r *Result) Figure(name string) (float64, bool) {
	for _, f := range r.Figures {
		if f.Name == name {
			return f.Value, true
		}
	}
	return 0, false
}

// Err is ErrBenchViolations when the run saw any, else nil.
func (r *Result) Err() error {
	if r.Violations == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d violations, first: %s", ErrBenchViolations, r.Violations, r.Examples[0])
}

// Write saves the result as <base>.json and <base>.html.
func (r *Result) Write(base string) error {
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		return err
	}
	f, err := os.Create(base + ".html")
	if err != nil {
		return err
	}
	if err := r.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// finish fills the parts every bench computes the same way.
func (r *Result) finish(rec *recorder, ops []string, elapsed time.Duration, chk *checker) {
	r.Seconds = elapsed.Seconds()
	r.Ops, r.Throughput = rec.summarise(ops, elapsed)
	r.Violations, r.Examples = chk.violations()
}
