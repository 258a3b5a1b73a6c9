package imapfront

import (
	"errors"
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
	failures   map[string]*loginFailures
	load       backendLoad
	wg         sync.WaitGroup
}

type loginFailures struct {
	count int
	since time.Time
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
		failures:  make(map[string]*loginFailures),
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

// loginBlocked reports whether addr has failed too many logins lately.
func (s *Server) loginBlocked(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[addr]
	if f == nil {
		return false
	}
	if time.Since(f.since) > s.cfg.FailedLoginWindow {
		delete(s.failures, addr)
		return false
	}
	return f.count >= s.cfg.MaxFailedLogins
}

func (s *Server) loginFailed(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.failures[addr]
	if f == nil || time.Since(f.since) > s.cfg.FailedLoginWindow {
		f = &loginFailures{since: time.Now()}
		s.failures[addr] = f
	}
	f.count++
	if len(s.failures) > 100000 {
		s.pruneFailuresLocked()
	}
}

func (s *Server) pruneFailuresLocked() {
	for addr, f := range s.failures {
		if time.Since(f.since) > s.cfg.FailedLoginWindow {
			delete(s.failures, addr)
		}
	}
}
