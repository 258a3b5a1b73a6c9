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
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// IMAPConfig is a mixed IMAP load in the style of imaptest: each client
// logs in, lists, checks STATUS, selects its own mailbox and runs a random
// mix of FETCH, SEARCH, STORE, APPEND and EXPUNGE, checking every answer
// against what it alone has put in that mailbox.
type IMAPConfig struct {
	Addr     string
	Users    []Credential // client i logs in as Users[i % len(Users)]
	Clients  int
	Duration time.Duration
	// KeepOpen keeps each client's session logged in for the whole run;
	// otherwise a session runs SessionOps commands and logs out.
	KeepOpen   bool
	SessionOps int
	Size       int   // bytes of each appended message
	Seed       int64 // the command mix of client i is seeded with Seed+i
	// MailboxPrefix names the clients' mailboxes, created at the start and
	// deleted at the end.
	MailboxPrefix string
	Logger        *slog.Logger
}

func (c *IMAPConfig) validate() error {
	switch {
	case c.Addr == "":
		return fmt.Errorf("%w: no IMAP address", ErrBenchConfig)
	case len(c.Users) == 0:
		return fmt.Errorf("%w: no user", ErrBenchConfig)
	case c.Clients < 1 || c.Duration <= 0 || c.Size < 1:
		return fmt.Errorf("%w: clients, duration and size must be positive", ErrBenchConfig)
	case !c.KeepOpen && c.SessionOps < 1:
		return fmt.Errorf("%w: session ops must be positive", ErrBenchConfig)
	}
	if c.MailboxPrefix == "" {
		c.MailboxPrefix = "rookery-bench"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// imapOps is the order ops appear in reports.
var imapOps = []string{"connect", "login", "create", "list", "status", "select",
	"fetch_envelope", "fetch_body", "search", "store", "append", "expunge", "noop", "logout"}

// RunIMAP runs the IMAP load until cfg.Duration has passed or ctx ends.
func RunIMAP(ctx context.Context, cfg IMAPConfig) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	runID := strconv.FormatInt(start.UnixNano()%(36*36*36*36*36*36), 36)
	end := start.Add(cfg.Duration)
	chk := &checker{}
	clients := make([]*imapClient, cfg.Clients)
	var wg sync.WaitGroup
	for i := range clients {
		cl := &imapClient{cfg: &cfg, id: i, cred: cfg.Users[i%len(cfg.Users)],
			mailbox: fmt.Sprintf("%s-%s-%d", cfg.MailboxPrefix, runID, i), runID: runID,
			rng: rand.New(rand.NewSource(cfg.Seed + int64(i))), rec: newRecorder(start), chk: chk,
			log: cfg.Logger.With("client", i)}
		cl.fill = filler(cl.rng, min(cfg.Size, 64<<10))
		clients[i] = cl
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl.run(ctx, end)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	rec := newRecorder(start)
	var created int
	for _, cl := range clients {
		rec.merge(cl.rec)
		if cl.created {
			created++
		}
	}
	if created == 0 {
		return nil, fmt.Errorf("%w: no client could log in and create its mailbox on %s", ErrBenchSetup, cfg.Addr)
	}
	r := &Result{Kind: "imap", Date: start, Machine: ThisMachine(), Targets: []string{cfg.Addr},
		Params: map[string]string{
			"clients": strconv.Itoa(cfg.Clients), "duration": cfg.Duration.String(),
			"keep_open": strconv.FormatBool(cfg.KeepOpen), "session_ops": strconv.Itoa(cfg.SessionOps),
			"size": strconv.Itoa(cfg.Size), "seed": strconv.FormatInt(cfg.Seed, 10),
			"users": strconv.Itoa(len(cfg.Users)),
		}}
	r.finish(rec, imapOps, elapsed, chk)
	var total int
	for _, o := range r.Ops {
		total += o.Count
	}
	r.Figures = append(r.Figures, Figure{Name: "commands", Value: float64(total)},
		Figure{Name: "commands_per_second", Value: float64(total) / elapsed.Seconds(), Unit: "/s"},
		Figure{Name: "clients_that_ran", Value: float64(created)})
	return r, nil
}

// imapClient is one simulated IMAP user with a mailbox of its own, so it
// knows exactly what the server must answer.
type imapClient struct {
	cfg            *IMAPConfig
	id             int
	cred           Credential
	mailbox, runID string
	rng            *rand.Rand
	rec            *recorder
	chk            *checker
	log            *slog.Logger
	fill           []byte

	c       *imapclient.Client
	exists  atomic.Int64 // messages in the selected mailbox, by the server's EXISTS and EXPUNGE
	created bool
	box     mailboxModel
	sent    int // messages appended so far, for unique Message-Ids
}

func (cl *imapClient) run(ctx context.Context, end time.Time) {
	for ctx.Err() == nil && time.Now().Before(end) {
		if err := cl.session(ctx, end); err != nil && ctx.Err() == nil {
			cl.log.Debug("session ended", "err", err)
			if !cl.created {
				// Nothing works for this client; do not spin.
				return
			}
		}
	}
	cl.cleanup()
}

// session is one connection: log in, look around, select, then commands
// until the session's share or the run is over.
func (cl *imapClient) session(ctx context.Context, end time.Time) error {
	if err := cl.connect(ctx); err != nil {
		return err
	}
	defer cl.c.Close()
	stop := context.AfterFunc(ctx, func() { cl.c.Close() })
	defer stop()
	if !cl.created {
		if err := cl.timed("create", cl.c.Create(cl.mailbox, nil).Wait); err != nil {
			return err
		}
		cl.created = true
	}
	if err := cl.list(); err != nil {
		return err
	}
	if err := cl.status(); err != nil {
		return err
	}
	if err := cl.selectMailbox(); err != nil {
		return err
	}
	for n := 0; (cl.cfg.KeepOpen || n < cl.cfg.SessionOps) && time.Now().Before(end) && ctx.Err() == nil; n++ {
		if cl.box.lost {
			if err := cl.selectMailbox(); err != nil {
				return err
			}
		}
		if err := cl.step(); err != nil && !isProtocolError(err) {
			return err
		}
	}
	return cl.timed("logout", cl.c.Logout().Wait)
}

func (cl *imapClient) connect(ctx context.Context) error {
	began := time.Now()
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", cl.cfg.Addr)
	if err == nil {
		cl.c = imapclient.New(conn, &imapclient.Options{UnilateralDataHandler: cl.unilateral()})
		err = cl.c.WaitGreeting()
		if err != nil {
			cl.c.Close()
		}
	}
	cl.rec.observe("connect", began, err)
	if err != nil {
		return err
	}
	if err := cl.timed("login", cl.c.Login(cl.cred.User, cl.cred.Password).Wait); err != nil {
		cl.c.Close()
		return err
	}
	return nil
}

// unilateral follows the server's count of messages. The client library
// keeps one too, but it updates it after a SELECT completes rather than
// before, so it cannot be read right after SELECT.
func (cl *imapClient) unilateral() *imapclient.UnilateralDataHandler {
	return &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				cl.exists.Store(int64(*d.NumMessages))
			}
		},
		Expunge: func(uint32) { cl.exists.Add(-1) },
	}
}

// timed runs one command and records its latency.
func (cl *imapClient) timed(op string, wait func() error) error {
	began := time.Now()
	err := wait()
	cl.rec.observe(op, began, err)
	return err
}

// step runs one command picked at random, weighted like a mail client's
// day: mostly reading, some flag changes, appends balanced by expunges.
func (cl *imapClient) step() error {
	n := len(cl.box.msgs)
	appendWeight := 20
	if n >= 100 {
		appendWeight = 0 // keep the mailbox small enough to fetch whole
	}
	weights := []int{25, 15, 5, 15, appendWeight, 10, 5, 5}
	if n == 0 {
		weights = []int{0, 0, 5, 0, 20, 0, 5, 5}
	}
	switch pick(cl.rng, weights) {
	case 0:
		return cl.fetchEnvelopes()
	case 1:
		return cl.fetchBody()
	case 2:
		return cl.search()
	case 3:
		return cl.store()
	case 4:
		return cl.appendMessage()
	case 5:
		return cl.expunge()
	case 6:
		return cl.noop()
	default:
		return cl.list()
	}
}

func pick(rng *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	r := rng.Intn(total)
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(weights) - 1
}

// isProtocolError is a NO or BAD: the session can go on.
func isProtocolError(err error) bool {
	var ie *imap.Error
	return errors.As(err, &ie)
}

// cleanup deletes the client's mailbox in a session of its own; it is not
// part of the measured load.
func (cl *imapClient) cleanup() {
	if !cl.created {
		return
	}
	conn, err := net.DialTimeout("tcp", cl.cfg.Addr, 10*time.Second)
	if err != nil {
		return
	}
	c := imapclient.New(conn, nil)
	defer c.Close()
	if err := c.Login(cl.cred.User, cl.cred.Password).Wait(); err != nil {
		return
	}
	if err := c.Delete(cl.mailbox).Wait(); err != nil {
		cl.log.Info("could not delete the bench mailbox", "mailbox", cl.mailbox, "err", err)
	}
	c.Logout().Wait()
}
