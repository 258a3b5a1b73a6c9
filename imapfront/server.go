package imapfront

import (
	"errors"

	"github.com/rookery-mail/rookery/fsm"
	"net"
	"sync"
	"time"
)

// Server is an IMAP frontend: it accepts client connections and serves each
// in its own session.
type Server struct {
	cfg Config

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	sessions  map[*session]struct{}
	perUser   map[string]int
	// preAuth counts the sessions not yet logged in, by client address;
	// preAuthAll is their sum.
	preAuth    map[string]int
	preAuthAll int
	penalty    *loginPenalty
	stopping   chan struct{} // closed by Close: ends penalty waits
	load       backendLoad
	wg         sync.WaitGroup
}

// New checks cfg and returns a server that is not yet listening.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Server{
		cfg:       cfg,
		listeners: make(map[net.Listener]struct{}),
		sessions:  make(map[*session]struct{}),
		perUser:   make(map[string]int),
		preAuth:   make(map[string]int),
		penalty:   newLoginPenalty(cfg.LoginPenaltyBase, cfg.LoginPenaltyMax, cfg.FailedLoginWindow),
		stopping:  make(chan struct{}),
	}, nil
}

// Serve accepts connections on l until Close. It returns ErrClosed after
// Close, or the listener's error.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay) // back off while out of file descriptors
				continue
			}
			return err
		}
		delay = 0
		if !s.start(nc) {
			nc.Close()
			return ErrClosed
		}
	}
}

// start registers and runs a session, unless the server is closing. A
// connection over the pre-authentication limits is told BYE and closed.
func (s *Server) start(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	sess := newSession(s, nc)
	if s.preAuthAll >= s.cfg.MaxPreAuthConns || s.preAuth[sess.addr] >= s.cfg.MaxPreAuthConnsPerAddr {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sess.refuse("BYE too many connections not logged in; try later")
		}()
		return true
	}
	sess.preAuth = true
	s.preAuth[sess.addr]++
	s.preAuthAll++
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sess.serve()
		s.mu.Lock()
		delete(s.sessions, sess)
		s.leavePreAuthLocked(sess)
		s.mu.Unlock()
	}()
	return true
}

// leavePreAuth stops counting sess as not logged in.
func (s *Server) leavePreAuth(sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.leavePreAuthLocked(sess)
}

func (s *Server) leavePreAuthLocked(sess *session) {
	if !sess.preAuth {
		return
	}
	sess.preAuth = false
	s.preAuthAll--
	if s.preAuth[sess.addr]--; s.preAuth[sess.addr] <= 0 {
		delete(s.preAuth, sess.addr)
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops accepting, tells every client BYE, closes its connections and
// waits for the sessions to end.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.stopping)
	for l := range s.listeners {
		l.Close()
	}
	for sess := range s.sessions {
		sess.shutdown()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// addUserConn counts a session logged in as user; false when the user is
// at MaxConnsPerUser.
func (s *Server) addUserConn(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser[user] >= s.cfg.MaxConnsPerUser {
		return false
	}
	s.perUser[user]++
	return true
}

func (s *Server) dropUserConn(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perUser[user]--; s.perUser[user] <= 0 {
		delete(s.perUser, user)
	}
}

// NotePenalty records a failed or successful login another frontend
// reported (Config.Penalties).
func (s *Server) NotePenalty(h PenaltyHint) { s.penalty.note(h) }

// LoginDelay is how long this frontend now waits before it checks a
// password from addr (a client IP) for user.
func (s *Server) LoginDelay(addr, user string) time.Duration {
	return s.penalty.delay(addr, penaltyUser(user))
}

// waitPenalty waits out the delay past failures impose on a login from
// addr as user; false when the server or the session (done) stops first.
func (s *Server) waitPenalty(addr, user string, done <-chan struct{}) bool {
	d := s.penalty.delay(addr, penaltyUser(user))
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stopping:
	case <-done:
	}
	return false
}

// loginResult records a login's outcome here and on the other frontends.
func (s *Server) loginResult(addr, user string, ok bool) {
	h := PenaltyHint{Addr: addr, User: penaltyUser(user), Failed: !ok}
	if ok && s.penalty.delay(addr, h.User) == 0 {
		return // nothing to clear anywhere
	}
	s.penalty.note(h)
	if s.cfg.Penalties != nil {
		s.cfg.Penalties.Publish(h)
	}
}

// penaltyUser is the name failures count under: the canonical user, or
// none for a name no user could have.
func penaltyUser(name string) string {
	u, err := fsm.CanonicalUser(name)
	if err != nil {
		return ""
	}
	return u
}
