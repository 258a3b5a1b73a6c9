package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// `user import FILE`: users with their hashes from a Dovecot passwd-file or
// a CSV. Re-running it is safe: a user already there with the same hash
// (and quota) is left alone, one with another is updated, and a missing
// INBOX is created either way.

// importRecord is one user a file names, with the line it came from.
type importRecord struct {
	line     int
	name     string
	hash     string
	quota    int64
	setQuota bool
	err      error // the line could not be read
}

// importSummary is what an import did, line by line.
type importSummary struct {
	Added     []string        `json:"added"`
	Unchanged []string        `json:"unchanged"`
	Updated   []string        `json:"updated"`
	Refused   []importRefusal `json:"refused"`
}

type importRefusal struct {
	Line   int    `json:"line"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason"`
}

func (a *adminCmd) userImport(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("user import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := fs.String("format", "", "")
	path, err := parseWithName(fs, args)
	if err != nil {
		return fmt.Errorf("user import: %w (usage: user import FILE [--format passwd|csv])", err)
	}
	if *format == "" {
		*format = "passwd"
		if strings.HasSuffix(strings.ToLower(path), ".csv") {
			*format = "csv"
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var records []importRecord
	switch *format {
	case "passwd":
		records, err = readPasswdFile(f)
	case "csv":
		records, err = readUserCSV(f)
	default:
		return fmt.Errorf("user import: --format %q: want passwd or csv", *format)
	}
	if err != nil {
		return fmt.Errorf("user import: %s: %w", path, err)
	}
	nodes, err := a.backendNodes(ctx, "")
	if err != nil {
		return err
	}
	var sum importSummary
	seen := map[string]int{}
	for i, r := range records {
		a.importProgress(i, len(records))
		user, reason := checkImportRecord(r, seen)
		if reason != "" {
			sum.Refused = append(sum.Refused, importRefusal{Line: r.line, Name: r.name, Reason: reason})
			continue
		}
		outcome, err := a.importUser(ctx, nodes, user, r)
		if errors.Is(err, fsm.ErrInvalidUser) || errors.Is(err, fsm.ErrInvalidCommand) {
			sum.Refused = append(sum.Refused, importRefusal{Line: r.line, Name: r.name, Reason: err.Error()})
			continue
		}
		if err != nil {
			a.importProgress(i, len(records))
			_ = a.printImportSummary(sum)
			return fmt.Errorf("user import stopped at line %d (%s): %w; run it again to go on", r.line, user, err)
		}
		switch outcome {
		case importAdded:
			sum.Added = append(sum.Added, user)
		case importUnchanged:
			sum.Unchanged = append(sum.Unchanged, user)
		case importUpdated:
			sum.Updated = append(sum.Updated, user)
		}
	}
	a.importProgress(len(records), len(records))
	return a.printImportSummary(sum)
}

// checkImportRecord returns the canonical user of r, or why r is refused.
func checkImportRecord(r importRecord, seen map[string]int) (string, string) {
	if r.err != nil {
		return "", r.err.Error()
	}
	user, err := fsm.CanonicalUser(r.name)
	if err != nil {
		return "", err.Error()
	}
	if first, dup := seen[user]; dup {
		return "", fmt.Sprintf("%s is on line %d already", user, first)
	}
	seen[user] = r.line
	if err := auth.ValidHash(r.hash); err != nil {
		return "", err.Error()
	}
	return user, ""
}

type importOutcome int

const (
	importAdded importOutcome = iota
	importUnchanged
	importUpdated
)

// importUser adds the user as `user add` does, or brings an existing one
// to the file's hash and quota; commands that change nothing count 0, which
// tells unchanged from updated. The INBOX is created when it is missing,
// so a run cut off between a user and its INBOX is mended by the next.
func (a *adminCmd) importUser(ctx context.Context, nodes []directory.MemberStatus, user string, r importRecord) (importOutcome, error) {
	add := fsm.UserAdd{Name: user, PasswordHash: r.hash, QuotaBytes: r.quota, At: time.Now().UnixNano()}
	if _, err := a.addUser(ctx, nodes, add); !errors.Is(err, fsm.ErrUserExists) {
		return importAdded, err
	}
	changed := 0
	cmds := []fsm.Command{fsm.UserPasswd{Name: user, PasswordHash: r.hash}}
	if r.setQuota {
		cmds = append(cmds, fsm.UserQuota{Name: user, QuotaBytes: r.quota})
	}
	for _, c := range cmds {
		res, err := a.client.Apply(ctx, c)
		if err == nil {
			err = res.Err
		}
		if err != nil {
			return 0, err
		}
		changed += res.Count
	}
	if _, err := a.createOn(ctx, nodes, fsm.Inbox(user)); err != nil && !errors.Is(err, fsm.ErrNameExists) {
		return 0, fmt.Errorf("INBOX: %w", err)
	}
	if changed == 0 {
		return importUnchanged, nil
	}
	return importUpdated, nil
}

// importProgress rewrites one line on the progress output.
func (a *adminCmd) importProgress(done, total int) {
	if a.errOut == nil || a.json {
		return
	}
	end := ""
	if done == total {
		end = "\n"
	} else if done%50 != 0 {
		return
	}
	fmt.Fprintf(a.errOut, "\rimporting users: %d/%d%s", done, total, end)
}

func (a *adminCmd) printImportSummary(sum importSummary) error {
	line := fmt.Sprintf("added %d, already there with the same hash %d, updated %d, refused %d",
		len(sum.Added), len(sum.Unchanged), len(sum.Updated), len(sum.Refused))
	if a.json {
		return a.done(line, map[string]any{"summary": sum})
	}
	fmt.Fprintln(a.out, line)
	for _, r := range sum.Refused {
		name := ""
		if r.Name != "" {
			name = " " + r.Name
		}
		fmt.Fprintf(a.out, "  refused line %d%s: %s\n", r.Line, name, r.Reason)
	}
	return nil
}

// readPasswdFile reads a Dovecot passwd-file:
// user:{SCHEME}hash:uid:gid:gecos:home:shell:extra fields. Only the user,
// the hash and a quota in the extra fields (userdb_quota_rule=*:storage=N)
// are taken; uid, gid, home and shell mean nothing to Rookery.
func readPasswdFile(r io.Reader) ([]importRecord, error) {
	var out []importRecord
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.SplitN(line, ":", 8)
		rec := importRecord{line: n, name: fields[0]}
		if len(fields) < 2 || fields[1] == "" {
			rec.err = errors.New("no password hash")
			out = append(out, rec)
			continue
		}
		rec.hash = fields[1]
		if len(fields) == 8 {
			rec.quota, rec.setQuota, rec.err = dovecotQuota(fields[7])
		}
		out = append(out, rec)
	}
	return out, sc.Err()
}

// dovecotQuota finds a storage limit among a passwd-file's extra fields.
func dovecotQuota(extra string) (int64, bool, error) {
	for _, f := range strings.Fields(extra) {
		v, ok := strings.CutPrefix(f, "userdb_quota_rule=*:storage=")
		if !ok {
			continue
		}
		n, err := parseSize(strings.TrimSuffix(strings.TrimSuffix(v, "B"), "b"))
		if err != nil {
			return 0, false, fmt.Errorf("quota rule %q: %w", f, err)
		}
		return n, true, nil
	}
	return 0, false, nil
}

// readUserCSV reads name,hash[,quota] records; a first record whose name
// column says "name" is a header.
func readUserCSV(r io.Reader) ([]importRecord, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	var out []importRecord
	for first := true; ; first = false {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			out = append(out, importRecord{line: perr.StartLine, err: perr.Err})
			continue
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if first && strings.EqualFold(strings.TrimSpace(fields[0]), "name") {
			continue
		}
		rec := importRecord{line: line, name: strings.TrimSpace(fields[0])}
		switch {
		case len(fields) < 2 || len(fields) > 3:
			rec.err = fmt.Errorf("%d fields, want name,hash[,quota]", len(fields))
		case len(fields) == 3 && strings.TrimSpace(fields[2]) != "":
			rec.quota, rec.err = parseSize(strings.TrimSpace(fields[2]))
			rec.setQuota = rec.err == nil
		}
		if len(fields) >= 2 {
			rec.hash = strings.TrimSpace(fields[1])
		}
		out = append(out, rec)
	}
}
