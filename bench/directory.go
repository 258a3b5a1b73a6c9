package bench

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
)

// DirectoryConfig is a mailbox-directory load through IMAP frontends:
// each client CREATEs, RENAMEs and DELETEs mailboxes on one frontend and
// watches LIST on the next, measuring how long the change takes to show
// there (the list lag).
type DirectoryConfig struct {
	Addrs    []string // IMAP frontends; client i writes on Addrs[i] and watches Addrs[i+1]
	Users    []Credential
	Clients  int
	Duration time.Duration
	Seed     int64
	// LagBound is the longest list lag that is not a violation: a
	// connected frontend lags the leader by at most its staleness bound.
	LagBound time.Duration
	// Strict: a LIST on another frontend begun after a change's OK must
	// show it (Rookery's LIST reads the directory synced); a miss is a
	// violation. Either way misses are counted (list_misses).
	Strict        bool
	MailboxPrefix string
	Logger        *slog.Logger
}

func (c *DirectoryConfig) validate() error {
	switch {
	case len(c.Addrs) == 0:
		return fmt.Errorf("%w: no IMAP address", ErrBenchConfig)
	case len(c.Users) == 0:
		return fmt.Errorf("%w: no user", ErrBenchConfig)
	case c.Clients < 1 || c.Duration <= 0:
		return fmt.Errorf("%w: clients and duration must be positive", ErrBenchConfig)
	}
	if c.LagBound <= 0 {
		c.LagBound = 5 * time.Second
	}
	if c.MailboxPrefix == "" {
		c.MailboxPrefix = "rookery-dirbench"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

var directoryOps = []string{"login", "create", "rename", "delete", "list", "list_lag_create", "list_lag_rename", "list_lag_delete"}

// RunDirectory runs the directory load until cfg.Duration has passed or
// ctx ends.
func RunDirectory(ctx context.Context, cfg DirectoryConfig) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	runID := strconv.FormatInt(start.UnixNano()%(36*36*36*36*36*36), 36)
	end := start.Add(cfg.Duration)
	chk := &checker{}
	recs := make([]*recorder, cfg.Clients)
	clients := make([]*dirClient, cfg.Clients)
	errs := make([]error, cfg.Clients)
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		recs[i] = newRecorder(start)
		d := &dirClient{cfg: &cfg, id: i, cred: cfg.Users[i%len(cfg.Users)], rec: recs[i], chk: chk,
			prefix: fmt.Sprintf("%s-%s-%d", cfg.MailboxPrefix, runID, i)}
		clients[i] = d
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.run(ctx, end)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	rec := newRecorder(start)
	ran := 0
	for i, r := range recs {
		rec.merge(r)
		if errs[i] == nil {
			ran++
		} else {
			cfg.Logger.Info("directory client stopped", "client", i, "err", errs[i])
		}
	}
	if ran == 0 {
		return nil, fmt.Errorf("%w: no client could run: %v", ErrBenchSetup, errs[0])
	}
	r := &Result{Kind: "directory", Date: start, Machine: ThisMachine(), Targets: cfg.Addrs,
		Params: map[string]string{
			"clients": strconv.Itoa(cfg.Clients), "duration": cfg.Duration.String(),
			"lag_bound": cfg.LagBound.String(), "seed": strconv.FormatInt(cfg.Seed, 10),
			"frontends": strconv.Itoa(len(cfg.Addrs)), "users": strconv.Itoa(len(cfg.Users)),
		}}
	r.finish(rec, directoryOps, elapsed, chk)
	var tries, misses int
	for _, c := range clients {
		tries += c.tries
		misses += c.misses
	}
	r.Figures = append(r.Figures, Figure{Name: "list_tries", Value: float64(tries)},
		Figure{Name: "list_misses", Value: float64(misses)})
	return r, nil
}

// dirClient writes on one connection and watches LIST on another,
// normally on another frontend.
type dirClient struct {
	cfg           *DirectoryConfig
	id            int
	cred          Credential
	prefix        string
	rec           *recorder
	chk           *checker
	writer, watch *imapclient.Client
	// tries and misses count the first LISTs on the watching connection
	// after a change, and those that did not show it.
	tries, misses int
}

func (d *dirClient) run(ctx context.Context, end time.Time) error {
	addrs := d.cfg.Addrs
	var err error
	var done1, done2 func()
	began := time.Now()
	d.writer, done1, err = dialIMAP(ctx, addrs[d.id%len(addrs)], d.cred)
	d.rec.observe("login", began, err)
	if err != nil {
		return err
	}
	defer done1()
	began = time.Now()
	d.watch, done2, err = dialIMAP(ctx, addrs[(d.id+1)%len(addrs)], d.cred)
	d.rec.observe("login", began, err)
	if err != nil {
		return err
	}
	defer done2()
	for n := 1; ctx.Err() == nil && time.Now().Before(end); n++ {
		if err := d.cycle(n); err != nil && !isProtocolError(err) {
			return err
		}
	}
	return nil
}

// cycle creates, renames and deletes one mailbox. After each change the
// writing connection must see it at once (read-your-writes) and the
// watching one within the lag bound.
func (d *dirClient) cycle(n int) error {
	name := fmt.Sprintf("%s-%d", d.prefix, n)
	renamed := name + "-renamed"
	if err := d.timed("create", d.writer.Create(name, nil).Wait); err != nil {
		return err
	}
	if err := d.change("create", name, true); err != nil {
		return err
	}
	if err := d.timed("rename", d.writer.Rename(name, renamed, nil).Wait); err != nil {
		d.writer.Delete(name).Wait()
		return err
	}
	if err := d.change("rename", renamed, true); err != nil {
		return err
	}
	if listed, err := d.listed(d.writer, name); err != nil || listed {
		if err == nil {
			d.chk.fail("client %d: %s still listed after RENAME to %s", d.id, name, renamed)
		}
		return err
	}
	if err := d.timed("delete", d.writer.Delete(renamed).Wait); err != nil {
		return err
	}
	return d.change("delete", renamed, false)
}

// change checks a change the writer just made: the writer lists it
// straight away, and the watcher within the lag bound.
func (d *dirClient) change(op, name string, present bool) error {
	ok := time.Now()
	listed, err := d.listed(d.writer, name)
	if err != nil {
		return err
	}
	if listed != present {
		d.chk.fail("client %d: after %s OK, LIST on the same connection shows %s: %v", d.id, strings.ToUpper(op), name, listed)
	}
	for first := true; ; first = false {
		listed, err := d.listed(d.watch, name)
		if err != nil {
			return err
		}
		lag := time.Since(ok)
		if first {
			d.tries++
			if listed != present {
				d.misses++
				if d.cfg.Strict {
					d.chk.fail("client %d: a LIST on another frontend begun after %s OK of %s does not show it", d.id, strings.ToUpper(op), name)
				}
			}
		}
		if listed == present {
			d.rec.observeTook("list_lag_"+op, ok, lag)
			return nil
		}
		if lag > d.cfg.LagBound {
			d.chk.fail("client %d: after %s of %s, another frontend's LIST still disagrees %v later", d.id, strings.ToUpper(op), name, lag.Round(time.Millisecond))
			return nil
		}
	}
}

func (d *dirClient) listed(c *imapclient.Client, name string) (bool, error) {
	found := false
	err := d.timed("list", func() error {
		boxes, err := c.List("", name, nil).Collect()
		for _, b := range boxes {
			found = found || b.Mailbox == name
		}
		return err
	})
	return found, err
}

func (d *dirClient) timed(op string, wait func() error) error {
	began := time.Now()
	err := wait()
	d.rec.observe(op, began, err)
	return err
}
