package report

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// WriteRun writes the run's inputs: test.json, history.jsonl, history.txt
// and nemesis.jsonl. Results come from WriteResults.
func WriteRun(dir string, run Run) error {
	if err := writeJSON(filepath.Join(dir, TestFile), run.Test); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, HistoryFile), func(w io.Writer) error {
		return history.WriteJSONL(w, run.History)
	}); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, HistoryText), func(w io.Writer) error {
		return history.WriteText(w, run.History)
	}); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, NemesisFile), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, r := range run.Nemesis {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// WriteResults writes results.json and timeline.html.
func WriteResults(dir string, run Run) error {
	if err := writeJSON(filepath.Join(dir, ResultsFile), run.Summary); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, TimelineFile), func(w io.Writer) error {
		return WriteTimeline(w, run.History, run.Nemesis, run.Test.Checker.LinearizableTimeout)
	})
}

// ReadRun reads a results directory's inputs, and its results when they
// exist.
func ReadRun(dir string) (Run, error) {
	var run Run
	if err := readJSON(filepath.Join(dir, TestFile), &run.Test); err != nil {
		return run, err
	}
	f, err := os.Open(filepath.Join(dir, HistoryFile))
	if err != nil {
		return run, fmt.Errorf("%w: %v", ErrBadRun, err)
	}
	defer f.Close()
	if run.History, err = history.ReadJSONL(f); err != nil {
		return run, fmt.Errorf("%w: %s: %w", ErrBadRun, HistoryFile, err)
	}
	if run.Nemesis, err = readNemesis(filepath.Join(dir, NemesisFile)); err != nil {
		return run, err
	}
	err = readJSON(filepath.Join(dir, ResultsFile), &run.Summary)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return run, err
	}
	return run, nil
}

func readNemesis(path string) ([]NemesisRecord, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRun, err)
	}
	defer f.Close()
	var out []NemesisRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r NemesisRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %v", ErrBadRun, NemesisFile, line, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadRun, NemesisFile, err)
	}
	return out, nil
}

func writeJSON(path string, v any) error {
	return writeFile(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// readJSON keeps os.ErrNotExist visible to callers for optional files.
func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRun, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadRun, filepath.Base(path), err)
	}
	return nil
}

// writeFile writes through a temporary file and renames it into place, so a
// re-check interrupted half way leaves the old file whole.
func writeFile(path string, fill func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("report: create %s: %w", filepath.Base(path), err)
	}
	defer os.Remove(tmp.Name())
	bw := bufio.NewWriter(tmp)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("report: write %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("report: write %s: %w", filepath.Base(path), err)
	}
	return nil
}
