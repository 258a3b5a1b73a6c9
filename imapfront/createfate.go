package imapfront

import (
	"context"
	"fmt"
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// A CREATE whose backend connection is lost before the backend answered
// may be anywhere between its Reserve and its Activate, and the backend
// may still be working on it. The frontend settles its fate before it
// answers, so that a CREATE answered NO never takes effect later:
//   - the name is active (or past it): this create took effect, or
//     another did, which the frontend cannot tell apart (OK could answer
//     two CREATEs of one name, ALREADYEXISTS deny one that took effect);
//     the answer is NO [UNAVAILABLE], saying the mailbox exists now;
//   - the name is reserved by the lost backend: the frontend releases that
//     reservation, after which no Activate of it can commit, and answers
//     NO [UNAVAILABLE];
//   - the name is free in two synced reads settleQuiet apart: no Reserve
//     was in flight (a backend that restarts releases every reservation it
//     holds, Reconcile), and the answer is NO [UNAVAILABLE].
//
// All of it within DirectoryTimeout; past it the answer is NO [UNAVAILABLE]
// and the reservation, if one comes, is released by the leader's TTL or
// the backend's restart, never activated by them.
const settleQuiet = time.Second

// settleLostCreate returns the error to answer a CREATE of name whose
// connection to backend was lost with lost.
func (s *session) settleLostCreate(name, backend string, lost error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DirectoryTimeout)
	defer cancel()
	var freeSince time.Time
	for delay := 50 * time.Millisecond; ; delay = min(2*delay, settleQuiet/2) {
		v, err := s.cfg.Directory.Read(ctx, directory.Synced)
		if err == nil {
			m, ok := v.Mailbox(name)
			switch {
			case ok && m.State != fsm.Reserved:
				s.log.Info("create lost with its backend found the mailbox made", "mailbox", name, "backend_id", backend)
				return fmt.Errorf("%w: %w", ErrCreateLostMade, lost)
			case ok && m.ReservedBy == backend:
				res, err := s.cfg.Directory.Apply(ctx, fsm.Release{Name: name, Reservation: m.Reservation})
				if err == nil && res.Err == nil {
					s.cfg.Directory.WaitApplied(ctx, res.Index)
					s.log.Info("create lost with its backend: its reservation released", "mailbox", name, "backend_id", backend)
					return fmt.Errorf("%w: %w", ErrCreateLostNotMade, lost)
				}
				freeSince = time.Time{} // settled meanwhile, or not reached: read again
			case ok:
				return fmt.Errorf("%w: %w", ErrCreateLostNotMade, lost) // another backend's create
			case freeSince.IsZero():
				freeSince = time.Now()
			case time.Since(freeSince) >= settleQuiet:
				return fmt.Errorf("%w: %w", ErrCreateLostNotMade, lost)
			}
		}
		select {
		case <-ctx.Done():
			s.log.Warn("create lost with its backend: its fate is not settled", "mailbox", name, "backend_id", backend)
			return lost
		case <-time.After(delay):
		}
	}
}
