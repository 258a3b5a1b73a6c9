package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// LMTPConfig is a delivery load: Conns connections each deliver messages
// of Size bytes to Rcpts recipients, one transaction after another. When
// IMAPAddr is set, every recipient's mailbox is read afterwards to check
// each acknowledged message arrived exactly once.
type LMTPConfig struct {
	LMTPAddr string
	IMAPAddr string
	Users    []Credential
	Domain   string
	// Rcpts recipients per message: the users in turn, then the users'
	// +detail folders (created over IMAP first) when there are more
	// recipients than users.
	Rcpts    int
	Conns    int
	Duration time.Duration
	Size     int
	Seed     int64
	Logger   *slog.Logger
}

func (c *LMTPConfig) validate() error {
	switch {
	case c.LMTPAddr == "":
		return fmt.Errorf("%w: no LMTP address", ErrBenchConfig)
	case len(c.Users) == 0:
		return fmt.Errorf("%w: no user", ErrBenchConfig)
	case c.Rcpts < 1 || c.Conns < 1 || c.Duration <= 0 || c.Size < 1:
		return fmt.Errorf("%w: rcpts, conns, duration and size must be positive", ErrBenchConfig)
	case c.Rcpts > len(c.Users) && c.IMAPAddr == "":
		return fmt.Errorf("%w: more recipients than users needs --imap to create the +detail folders", ErrBenchConfig)
	}
	if c.Domain == "" {
		c.Domain = "localhost"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// rcptBox is one recipient and the mailbox its mail lands in.
type rcptBox struct {
	addr   string
	cred   Credential
	folder string // INBOX or the +detail folder
}

func (c *LMTPConfig) recipients(runID string) []rcptBox {
	out := make([]rcptBox, c.Rcpts)
	for i := range out {
		cred := c.Users[i%len(c.Users)]
		out[i] = rcptBox{addr: cred.User + "@" + c.Domain, cred: cred, folder: "INBOX"}
		if i >= len(c.Users) {
			out[i].folder = fmt.Sprintf("bench-%s-%d", runID, i/len(c.Users))
			out[i].addr = fmt.Sprintf("%s+%s@%s", cred.User, out[i].folder, c.Domain)
		}
	}
	return out
}

var lmtpOps = []string{"connect", "lhlo", "deliver"}

// delivery is one message and what each recipient's reply was.
type delivery struct {
	msgID  string
	status []rcptStatus // by recipient index
}

type rcptStatus int8

const (
	unknown rcptStatus = iota // no reply: the message may or may not be there
	acked                     // 250: it must be there exactly once
	refused                   // an error reply: it must not be there
)

// RunLMTP runs the delivery load, then the verification.
func RunLMTP(ctx context.Context, cfg LMTPConfig) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	runID := strconv.FormatInt(start.UnixNano()%(36*36*36*36*36*36), 36)
	rcpts := cfg.recipients(runID)
	if err := createFolders(ctx, cfg.IMAPAddr, rcpts); err != nil {
		return nil, err
	}
	start = time.Now()
	end := start.Add(cfg.Duration)
	recs := make([]*recorder, cfg.Conns)
	sent := make([][]delivery, cfg.Conns)
	var wg sync.WaitGroup
	for i := range cfg.Conns {
		recs[i] = newRecorder(start)
		g := &lmtpConn{cfg: &cfg, id: i, runID: runID, rcpts: rcpts, rec: recs[i],
			rng: rand.New(rand.NewSource(cfg.Seed + int64(i)))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.run(ctx, end)
			sent[i] = g.sent
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	rec := newRecorder(start)
	for _, r := range recs {
		rec.merge(r)
	}
	var all []delivery
	for _, s := range sent {
		all = append(all, s...)
	}
	chk := &checker{}
	r := &Result{Kind: "lmtp", Date: start, Machine: ThisMachine(), Targets: []string{cfg.LMTPAddr},
		Params: map[string]string{
			"conns": strconv.Itoa(cfg.Conns), "rcpts": strconv.Itoa(cfg.Rcpts), "duration": cfg.Duration.String(),
			"size": strconv.Itoa(cfg.Size), "seed": strconv.FormatInt(cfg.Seed, 10), "users": strconv.Itoa(len(cfg.Users)),
		}}
	r.Figures = deliveryFigures(all, elapsed, cfg.Size)
	if cfg.IMAPAddr == "" {
		r.finish(rec, lmtpOps, elapsed, chk)
		return r, nil
	}
	// The verification is timed apart: it is not part of the load.
	r.Targets = append(r.Targets, cfg.IMAPAddr)
	vstart := time.Now()
	vrec := newRecorder(vstart)
	found, err := verifyDeliveries(ctx, cfg.IMAPAddr, runID, rcpts, all, vrec, chk)
	if err != nil {
		return nil, err
	}
	r.finish(rec, lmtpOps, elapsed, chk)
	verify, _ := vrec.summarise([]string{"verify"}, time.Since(vstart))
	r.Ops = append(r.Ops, verify...)
	r.Figures = append(r.Figures, Figure{Name: "verified_copies", Value: float64(found)})
	return r, nil
}

func deliveryFigures(all []delivery, elapsed time.Duration, size int) []Figure {
	var acks, refusals int
	for _, d := range all {
		for _, st := range d.status {
			switch st {
			case acked:
				acks++
			case refused:
				refusals++
			}
		}
	}
	return []Figure{
		{Name: "messages", Value: float64(len(all))},
		{Name: "acknowledged_copies", Value: float64(acks)},
		{Name: "refused_copies", Value: float64(refusals)},
		{Name: "copies_per_second", Value: float64(acks) / elapsed.Seconds(), Unit: "/s"},
		{Name: "megabytes_per_second", Value: float64(acks) * float64(size) / elapsed.Seconds() / 1e6, Unit: "MB/s"},
	}
}

// lmtpConn is one LMTP connection delivering one message after another.
type lmtpConn struct {
	cfg   *LMTPConfig
	id    int
	runID string
	rcpts []rcptBox
	rec   *recorder
	rng   *rand.Rand
	sent  []delivery
}

func (g *lmtpConn) run(ctx context.Context, end time.Time) {
	fill := filler(g.rng, min(g.cfg.Size, 64<<10))
	for ctx.Err() == nil && time.Now().Before(end) {
		c, err := g.dial(ctx)
		if err != nil {
			if ctx.Err() == nil && time.Now().Before(end) {
				// A refused connection is a result, not a reason to spin.
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
			continue
		}
		for ctx.Err() == nil && time.Now().Before(end) {
			if err := g.deliver(c, fill); err != nil && !isSMTPError(err) {
				break
			}
		}
		c.Quit()
		c.Close()
	}
}

func isSMTPError(err error) bool {
	var se *smtp.SMTPError
	return errors.As(err, &se)
}

func (g *lmtpConn) dial(ctx context.Context) (*smtp.Client, error) {
	began := time.Now()
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", g.cfg.LMTPAddr)
	g.rec.observe("connect", began, err)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClientLMTP(conn)
	c.CommandTimeout = 30 * time.Second
	c.SubmissionTimeout = 60 * time.Second
	began = time.Now()
	err = c.Hello("bench.rookery.invalid")
	g.rec.observe("lhlo", began, err)
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// deliver sends one message to every recipient and records which of them
// the server acknowledged.
func (g *lmtpConn) deliver(c *smtp.Client, fill []byte) error {
	d := delivery{msgID: fmt.Sprintf("%s.%d.%d@bench.rookery.invalid", g.runID, g.id, len(g.sent)+1),
		status: make([]rcptStatus, len(g.rcpts))}
	msg := message(d.msgID, g.rcpts[0].addr, g.cfg.Size, fill)
	began := time.Now()
	err := g.transaction(c, msg, &d)
	g.rec.observe("deliver", began, err)
	g.sent = append(g.sent, d)
	return err
}

func (g *lmtpConn) transaction(c *smtp.Client, msg []byte, d *delivery) error {
	if err := c.Mail("bench@bench.rookery.invalid", nil); err != nil {
		return err
	}
	var accepted []int
	for i, r := range g.rcpts {
		err := c.Rcpt(r.addr, nil)
		switch {
		case err == nil:
			accepted = append(accepted, i)
		case isSMTPError(err):
			d.status[i] = refused
		default:
			return err
		}
	}
	if len(accepted) == 0 {
		c.Reset()
		return &smtp.SMTPError{Code: 550, Message: "every recipient refused"}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	resp, err := w.CloseWithLMTPResponse()
	var lerr smtp.LMTPDataError
	errors.As(err, &lerr)
	for _, i := range accepted {
		if _, ok := resp[g.rcpts[i].addr]; ok {
			d.status[i] = acked
		} else if _, ok := lerr[g.rcpts[i].addr]; ok {
			d.status[i] = refused
		}
	}
	if lerr != nil {
		// Some recipients refused: the connection is still good.
		return &smtp.SMTPError{Code: 451, Message: lerr.Error()}
	}
	return err
}
