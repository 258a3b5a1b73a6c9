package imapd

import (
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/rookery-mail/rookery/backend/quota"
	"github.com/rookery-mail/rookery/spool"
)

// Server is a backend IMAP server.
type Server struct {
	cfg  Config
	log  *slog.Logger
	imap *imapserver.Server

	mu sync.Mutex
	// open holds the state of every mailbox some session has selected,
	// by mailbox id; the last session to leave removes it.
	open map[uint64]*mailboxState
	// stale holds open mailboxes the store has changed since they were last
	// refreshed; refreshLoop works them off.
	stale map[uint64]*mailboxState
	// sessions are the connections open now, for the placement check.
	sessions map[*session]struct{}

	wake      chan struct{}
	done      chan struct{}
	wg        sync.WaitGroup
	stopWatch func()
	closeOnce sync.Once
}

// capabilities is everything go-imap's server can offer over this backend.
var capabilities = imap.CapSet{
	imap.CapIMAP4rev1:        {},
	imap.CapIMAP4rev2:        {},
	imap.CapNamespace:        {},
	imap.CapUIDPlus:          {},
	imap.CapESearch:          {},
	imap.CapSearchRes:        {},
	imap.CapListExtended:     {},
	imap.CapListStatus:       {},
	imap.CapMove:             {},
	imap.CapStatusSize:       {},
	imap.CapBinary:           {},
	imap.CapChildren:         {},
	imap.CapSpecialUse:       {},
	imap.CapCreateSpecialUse: {},
	imap.CapLiteralPlus:      {},
}

// New makes a server; Serve starts it.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Quota == nil {
		cfg.Quota = quota.NewMeter(quota.MeterConfig{Backend: cfg.BackendID, Store: cfg.Store})
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "imapd", "backend", cfg.BackendID),
		open:     make(map[uint64]*mailboxState),
		stale:    make(map[uint64]*mailboxState),
		sessions: make(map[*session]struct{}),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	s.imap = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         capabilities,
		Logger:       imapLogger{s.log},
		TLSConfig:    cfg.TLS,
		InsecureAuth: cfg.AllowPlaintextAuth,
	})
	s.stopWatch = cfg.Store.Watch(s.storeChanged)
	s.wg.Add(2)
	go s.refreshLoop()
	go s.placementLoop()
	return s, nil
}

// Serve accepts IMAP connections on ln until Close.
func (s *Server) Serve(ln net.Listener) error {
	return s.imap.Serve(originListener{Listener: ln, wrapTLS: s.cfg.AllowPlaintextAuth && s.cfg.TLS == nil})
}

// Close stops the listeners and every connection, and waits for the
// server's own goroutines.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.stopWatch()
		err = s.imap.Close()
		close(s.done)
		s.wg.Wait()
	})
	return err
}

func (s *Server) newSession(conn *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	sess := newSession(s, conn)
	s.addSession(sess)
	return sess, nil, nil
}

// storeChanged is the store's Watch callback. It runs in the store's commit
// path, so it only notes the change; refreshLoop does the work.
func (s *Server) storeChanged(c spool.Change) {
	s.mu.Lock()
	st := s.open[c.Mailbox]
	if st != nil {
		s.stale[c.Mailbox] = st
	}
	s.mu.Unlock()
	if st == nil {
		return
	}
	if c.Kind == spool.Expunged && len(c.Gone) > 0 {
		st.retainGone(c.Gone)
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// refreshLoop brings open mailboxes up to date with the store, queueing
// EXISTS, EXPUNGE and FETCH updates for the sessions that have them open
// (IDLE sessions write them at once).
func (s *Server) refreshLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		stale := s.stale
		s.stale = make(map[uint64]*mailboxState)
		s.mu.Unlock()
		for _, st := range stale {
			if err := st.refresh(nil); err != nil {
				s.log.Warn("refresh of open mailbox failed", "mailbox_id", st.id, "err", err)
			}
		}
	}
}

// openMailbox returns the shared state of mailbox id, creating and loading
// it if no session has it open, and counts one more user of it.
func (s *Server) openMailbox(id uint64) (*mailboxState, error) {
	s.mu.Lock()
	st := s.open[id]
	if st == nil {
		// Registered before it is loaded, so that a change committed
		// during the load marks it stale rather than going unseen.
		st = newMailboxState(s.cfg.Store, id)
		s.open[id] = st
	}
	st.users++
	s.mu.Unlock()
	if err := st.load(); err != nil {
		s.closeMailbox(st)
		return nil, err
	}
	return st, nil
}

// closeMailbox drops one user of st, forgetting it after the last.
func (s *Server) closeMailbox(st *mailboxState) {
	s.mu.Lock()
	st.users--
	last := st.users == 0 && s.open[st.id] == st
	if last {
		delete(s.open, st.id)
		delete(s.stale, st.id)
	}
	s.mu.Unlock()
	if last {
		st.releaseAll()
	}
}

// imapLogger carries go-imap's log lines into slog.
type imapLogger struct{ log *slog.Logger }

func (l imapLogger) Printf(format string, args ...any) {
	l.log.Warn("imap server", "detail", fmt.Sprintf(format, args...))
}

// takeStale reports whether st had a change waiting for refreshLoop, and
// takes it over for the caller to apply.
func (s *Server) takeStale(st *mailboxState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stale[st.id] != st {
		return false
	}
	delete(s.stale, st.id)
	return true
}
