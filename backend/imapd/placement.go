package imapd

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rookery-mail/rookery/directory"
)

// A session's selected mailbox can leave this backend under it: a failover
// promotes a replica elsewhere, or a live move switches the primary. The
// copy here may stay (as a replica) or go; either way a session that kept
// reading or writing it would see a mailbox that is no longer the one
// clients share. So the server checks every open selection against the
// directory and ends the session with BYE once its mailbox is placed
// elsewhere: the frontend then finds the new primary.

// placementCheckEvery is how often selections are checked: the directory
// changes rarely, and a check costs one lookup per session.
const placementCheckEvery = 500 * time.Millisecond

// selectedID is the id of the mailbox a session has selected, 0 when none;
// the placement check reads it from another goroutine.
type selectedID struct{ atomic.Uint64 }

func (s *Server) addSession(sess *session) {
	s.mu.Lock()
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
}

func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}

// placementLoop ends the sessions whose selected mailbox this backend no
// longer serves as primary.
func (s *Server) placementLoop() {
	defer s.wg.Done()
	t := time.NewTicker(placementCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		for _, sess := range s.displaced() {
			s.log.Info("ending a session whose mailbox moved to another backend", "mailbox_id", sess.selected.Load())
			sess.conn.Bye("[UNAVAILABLE] mailbox moved to another server; please reconnect")
		}
	}
}

// displaced lists the sessions whose selected mailbox is gone from the
// directory or has its primary copy on another backend.
func (s *Server) displaced() []*session {
	f, err := s.cfg.Directory.Read(context.Background(), directory.Local)
	if err != nil {
		s.log.Warn("placement check could not read the directory", "err", err)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*session
	for sess := range s.sessions {
		id := sess.selected.Load()
		if id == 0 || sess.byeSent {
			continue
		}
		mb, ok := f.MailboxByID(id)
		if !ok || mb.Primary.Backend != s.cfg.BackendID {
			sess.byeSent = true
			out = append(out, sess)
		}
	}
	return out
}
