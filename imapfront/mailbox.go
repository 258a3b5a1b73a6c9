package imapfront

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// Mailbox life cycle commands. CREATE and DELETE run on the backend, which
// updates the directory itself; the frontend waits until its local copy
// shows the change before it answers, so that the client reads its own
// writes on any frontend. RENAME and ACLs are directory-only.

func (s *session) cmdCreate(cmd *Command) bool {
	a := cmd.argReader()
	name, err := a.astring()
	if n := len(name); n > 1 && name[n-1] == '/' {
		// "foo/" declares that names will be created under foo: it
		// creates foo (RFC 3501 section 6.3.3), here and on the backend.
		name = name[:n-1]
	}
	if err == nil {
		name, err = s.internalName(name)
	}
	if err == nil {
		err = s.checkCreate(name)
	}
	var bc *backendConn
	if err == nil {
		var id string
		if id, err = s.srv.pickBackend(name); err == nil {
			bc, err = s.backend(id)
		}
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	tagged, err := s.forwardHold(bc, cmd)
	if err != nil {
		return s.backendLost(cmd.Tag, bc, s.settleLostCreate(name, bc.id, err))
	}
	if status(tagged) == "OK" {
		if err := s.awaitMailbox(name, true); err != nil {
			s.fail(cmd.Tag, err)
			return true
		}
		if v, err := s.local(); err == nil && s.objectIDOffered() {
			if m, ok := v.Mailbox(name); ok {
				tagged = withMailboxID(tagged, m)
			}
		}
	}
	s.bw.Write(tagged)
	s.bw.WriteString("\r\n")
	return true
}

// checkCreate: the name must be free, and outside the user's own
// namespace the parent must grant 'k' in a synced read. A name the user
// may not see answers as a missing one does without 'k' (NOPERM), never
// ALREADYEXISTS: whether another user's hidden folder exists is not told.
// In the user's own namespace the local copy decides, read again synced
// only when it shows the name taken: a name it shows free may have been
// taken since, and the backend's Reserve, which the directory checks
// against the name, says so (ALREADYEXISTS) and makes nothing.
func (s *session) checkCreate(name string) error {
	own := fsm.Owner(name) == s.user
	level := directory.Synced
	if own {
		level = directory.Local
	}
	dir, err := s.read(level)
	if err != nil {
		return err
	}
	m, exists := dir.Mailbox(name)
	if exists && own && level == directory.Local {
		// Perhaps deleted since: read again, synced.
		if dir, err = s.read(directory.Synced); err != nil {
			return err
		}
		m, exists = dir.Mailbox(name)
	}
	if exists && fsm.HasRight(s.user, m, 'l') {
		return fsm.NameTaken(m)
	}
	if own {
		return nil
	}
	p, ok := dir.Mailbox(fsm.Parent(name))
	if exists || !ok || !fsm.HasRight(s.user, p, 'k') {
		return fmt.Errorf("%w: k on parent of %s", ErrNoRights, name)
	}
	return nil
}

// inboxInUse refuses DELETE of a user's INBOX while the user exists,
// whoever asks and whatever rights they hold (fsm's rule, checked here
// too so that nothing reaches the backend).
func (s *session) inboxInUse(name string) error {
	owner := fsm.Owner(name)
	if owner == "" || name != fsm.Inbox(owner) {
		return nil
	}
	v, err := s.local()
	if err != nil {
		return err
	}
	if _, ok := v.User(owner); ok {
		return fmt.Errorf("%w: %s", fsm.ErrInboxInUse, name)
	}
	return nil
}

// awaitMailbox waits until the local copy has name active (present) or
// gone (!present). The backend answered only after its directory write was
// committed: a copy on the backend's own node already has it, and another
// learns of it at once (the leader's nudge after each write), so the local
// copy is watched first and read synced only if it has not caught up
// within localCatchUp.
func (s *session) awaitMailbox(name string, present bool) error {
	ctx, cancel := s.ctx()
	defer cancel()
	dir := s.cfg.Directory
	level := directory.Local
	for {
		v, err := dir.Read(ctx, level)
		if err != nil {
			return err
		}
		m, ok := v.Mailbox(name)
		if present == (ok && m.State == fsm.Active) {
			return nil
		}
		wait, waitCancel := ctx, context.CancelFunc(func() {})
		if level == directory.Local {
			wait, waitCancel = context.WithTimeout(ctx, localCatchUp)
		}
		err = dir.WaitApplied(wait, v.Index()+1)
		waitCancel()
		if err != nil && level == directory.Local && ctx.Err() == nil {
			level = directory.Synced
			continue
		}
		if err != nil {
			return err
		}
	}
}

// localCatchUp bounds awaitMailbox's wait for the local copy to learn of
// a commit before it reads synced.
const localCatchUp = 200 * time.Millisecond

func (s *session) cmdDelete(cmd *Command) bool {
	a := cmd.argReader()
	name, err := s.mailboxArg(a)
	if err == nil {
		err = a.done()
	}
	var m *fsm.Mailbox
	if err == nil {
		m, err = s.lookup(name)
	}
	if err == nil {
		err = s.need(m, 'x')
	}
	if err == nil {
		err = s.inboxInUse(name)
	}
	var bc *backendConn
	if err == nil {
		bc, err = s.backend(m.Primary.Backend)
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	tagged, err := s.forwardHold(bc, cmd)
	if err != nil {
		return s.backendLost(cmd.Tag, bc, err)
	}
	if status(tagged) == "OK" {
		if s.selName == name {
			s.selected, s.selName = nil, ""
		}
		if err := s.awaitGone(name, m.ID); err != nil {
			s.fail(cmd.Tag, err)
			return true
		}
	}
	s.bw.Write(tagged)
	s.bw.WriteString("\r\n")
	return true
}

// awaitGone waits until the mailbox with id is no longer active under name.
func (s *session) awaitGone(name string, id uint64) error {
	ctx, cancel := s.ctx()
	defer cancel()
	dir := s.cfg.Directory
	for {
		v, err := dir.Read(ctx, directory.Synced)
		if err != nil {
			return err
		}
		m, ok := v.Mailbox(name)
		if !ok || m.ID != id || m.State != fsm.Active {
			return nil
		}
		if err := dir.WaitApplied(ctx, v.Index()+1); err != nil {
			return err
		}
	}
}

// cmdRename is a directory change: the spool stores mailboxes by id, so a
// renamed mailbox stays where it is, whatever backend its new parent has.
// With a third argument, Cyrus-style (RENAME a b SERVER), the mailbox also
// moves to backend SERVER (a live move, see Config.Mover); a equal to b
// means a move alone.
func (s *session) cmdRename(cmd *Command) bool {
	from, to, server, err := s.renameArgs(cmd)
	if err == nil && from == fsm.Inbox(s.user) && to != from {
		// RFC 3501 6.3.5 makes it a move of every message: not offered
		// (imapfront/DESIGN.md, "RENAME INBOX").
		err = ErrRenameInbox
	}
	var m *fsm.Mailbox
	if err == nil {
		m, err = s.lookup(from)
	}
	if err == nil {
		err = s.need(m, 'x')
	}
	if err == nil && server != "" {
		err = s.mayMove(m)
	}
	if err == nil && to != from {
		if err = s.checkCreate(to); err == nil {
			err = s.apply(fsm.Rename{From: from, To: to})
		}
	}
	if err == nil && to != from && s.selName == from {
		s.selName = to
	}
	if err == nil && server != "" {
		err = s.moveMailbox(to, server)
	}
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	s.ok(cmd.Tag, "RENAME completed")
	return true
}

// renameArgs parses RENAME's arguments: two mailbox names and, for a
// move, a backend id (a Cyrus "server!partition" is taken as its server).
func (s *session) renameArgs(cmd *Command) (from, to, server string, err error) {
	a := cmd.argReader()
	if from, err = s.mailboxArg(a); err != nil {
		return
	}
	if to, err = s.mailboxArg(a); err != nil {
		return
	}
	if a.peek() != tokEnd {
		if server, err = a.astring(); err != nil {
			return
		}
		server, _, _ = strings.Cut(server, "!")
		if err = fsm.ValidateBackendID(server); err != nil {
			return
		}
	}
	err = a.done()
	return
}

// mayMove checks that a move of m can be done by this user, here: moving
// needs the administer right, and a frontend that can reach the backends'
// move route.
func (s *session) mayMove(m *fsm.Mailbox) error {
	if s.cfg.Mover == nil {
		return fmt.Errorf("%w: this frontend does not move mailboxes", fsm.ErrInvalidCommand)
	}
	return s.need(m, 'a')
}

// moveMailbox moves name to backend server and waits for the local copy
// to show it there. A client with the mailbox selected here is deselected
// first: its backend connection would serve a copy that goes away.
func (s *session) moveMailbox(name, server string) error {
	v, err := s.local()
	if err != nil {
		return err
	}
	if _, ok := v.Backend(server); !ok {
		return fmt.Errorf("%w: %q", fsm.ErrNoBackend, server)
	}
	if s.selName == name {
		s.deselect()
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.MoveTimeout)
	defer cancel()
	if err := s.cfg.Mover.Move(ctx, name, server); err != nil {
		return err
	}
	_, err = s.cfg.Directory.Read(ctx, directory.Synced)
	return err
}

// backendLoad holds the directory's mailbox counts per backend, taken at
// most once a second, plus the picks made since: a burst of creates
// spreads before its Reserves apply. The directory keeps the counts as
// it applies, so taking them costs one look-up per backend.
type backendLoad struct {
	mu     sync.Mutex
	at     time.Time
	counts map[string]int
}

// pickBackend chooses where a new mailbox goes: with its parent when the
// parent's backend is up (a user's top-level folder, which has no parent,
// with the user's INBOX, so that a user's folders stay together), else the
// up backend with the fewest mailboxes per unit of weight.
func (srv *Server) pickBackend(name string) (string, error) {
	dir, err := srv.cfg.Directory.Read(context.Background(), directory.Local)
	if err != nil {
		return "", err
	}
	home := fsm.Parent(name)
	if owner := fsm.Owner(name); home == "" && owner != "" {
		home = fsm.Inbox(owner)
	}
	if p, ok := dir.Mailbox(home); ok {
		if b, ok := dir.Backend(p.Primary.Backend); ok && b.State == fsm.BackendUp {
			return b.ID, nil
		}
	}
	return srv.load.leastLoaded(dir)
}

func (l *backendLoad) leastLoaded(dir *fsm.View) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	backends := dir.Backends()
	if l.counts == nil || time.Since(l.at) > time.Second {
		l.counts = make(map[string]int, len(backends))
		for _, b := range backends {
			l.counts[b.ID] = dir.MailboxesOn(b.ID)
		}
		l.at = time.Now()
	}
	best, bestLoad := "", 0.0
	for _, b := range backends {
		if b.State != fsm.BackendUp {
			continue
		}
		w := float64(max(b.Weight, 1))
		if load := float64(l.counts[b.ID]) / w; best == "" || load < bestLoad {
			best, bestLoad = b.ID, load
		}
	}
	if best == "" {
		return "", fmt.Errorf("%w: no backend is up", ErrBackendDown)
	}
	l.counts[best]++ // spread a burst of creates before the next count
	return best, nil
}
