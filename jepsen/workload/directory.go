package workload

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// Directory runs CREATE, DELETE, RENAME and SELECT of a few names, all of
// one user, through random frontends: the linearizable and read-your-writes
// checkers judge it. A RENAME goes between the two names of a pair
// (dir-0 and dir-1, dir-2 and dir-3, ...), so that the checker's groups of
// names joined by renames stay small.
type Directory struct {
	Clients int
	Names   int
}

var _ Workload = (*Directory)(nil)

const dirUser, dirPassword = "jdir", "jdir-password"

func (w *Directory) Name() string { return "directory" }

func (w *Directory) Setup(ctx context.Context, env *Env) error {
	return env.AddUser(ctx, dirUser, dirPassword)
}

func (w *Directory) Run(ctx context.Context, env *Env) {
	runClients(ctx, w.Clients, func(ctx context.Context, id int) {
		rng := env.rand(id)
		s := &session{env: env, user: dirUser, password: dirPassword, rng: rng}
		defer s.close()
		for env.wait(ctx) {
			i := rng.IntN(w.Names)
			name := dirName(i)
			switch rng.IntN(4) {
			case 0:
				s.create(ctx, name)
			case 1:
				s.delete(ctx, name)
			case 2:
				if pair := i ^ 1; pair < w.Names {
					s.rename(ctx, name, dirName(pair))
				}
			default:
				s.selectName(ctx, name)
			}
		}
	})
}

func dirName(i int) string { return fmt.Sprintf("dir-%d", i) }

func (w *Directory) Final(context.Context, *Env) {}

// session is a client's current connection and its process number; it
// reconnects, to a random frontend and as a new process, after a failure
// whose effect it cannot know.
type session struct {
	env            *Env
	user, password string
	rng            *rand.Rand
	node           int // 0: a random frontend; k: node k-1
	ic             *imapConn
	process        int
}

// conn returns the session's connection, opening one when needed.
func (s *session) conn(ctx context.Context) (*imapConn, error) {
	if s.ic != nil {
		return s.ic, nil
	}
	node := s.env.Nodes[s.rng.IntN(len(s.env.Nodes))]
	if s.node > 0 {
		node = s.env.Nodes[s.node-1]
	}
	ic, err := dialIMAP(ctx, node, s.user, s.password, s.env.Timeout)
	if err != nil {
		return nil, err
	}
	s.ic, s.process = ic, s.env.process()
	return ic, nil
}

// drop closes the connection; the next operation opens another.
func (s *session) drop() {
	if s.ic != nil {
		s.ic.close()
		s.ic = nil
	}
}

func (s *session) close() { s.drop() }

// record runs one operation on the session's connection and records it.
// classify turns the command's error into an outcome.
func (s *session) record(ctx context.Context, f, key string, run func(*imapConn) (history.Value, error), classify func(error) (history.Outcome, string)) history.Outcome {
	return s.recordWith(ctx, f, key, history.Value{}, run, classify)
}

// recordWith is record with the arguments the operation is invoked with,
// which the history keeps even if it never completes.
func (s *session) recordWith(ctx context.Context, f, key string, args history.Value, run func(*imapConn) (history.Value, error), classify func(error) (history.Outcome, string)) history.Outcome {
	ic, err := s.conn(ctx)
	if err != nil {
		return history.Fail // no connection: nothing was sent, nothing recorded
	}
	p := s.env.invoke(s.process, f, key, ic.node, args)
	v, err := run(ic)
	outcome, text := classify(err)
	s.env.complete(p, outcome, v, text)
	if err != nil {
		// The history keeps only what the checkers read; the server's own
		// words (which tell a frontend's refusal from a backend's) go here.
		s.env.Log.Info("operation refused", "process", s.process, "f", f, "key", key, "node", ic.node,
			"outcome", outcome, "error", err.Error())
	}
	if broken(err) || outcome == history.Info {
		s.drop()
	}
	return outcome
}

func (s *session) create(ctx context.Context, name string) history.Outcome {
	return s.record(ctx, history.FCreate, name, func(ic *imapConn) (history.Value, error) {
		return history.Value{}, ic.do(ctx, func() error { return ic.c.Create(name, nil).Wait() })
	}, writeOutcome)
}

func (s *session) delete(ctx context.Context, name string) history.Outcome {
	return s.record(ctx, history.FDelete, name, func(ic *imapConn) (history.Value, error) {
		return history.Value{}, ic.do(ctx, func() error { return ic.c.Delete(name).Wait() })
	}, writeOutcome)
}

// rename records RENAME from to with the new name as Value.Names[0].
func (s *session) rename(ctx context.Context, from, to string) history.Outcome {
	return s.recordWith(ctx, history.FRename, from, history.Value{Names: []string{to}}, func(ic *imapConn) (history.Value, error) {
		return history.Value{}, ic.do(ctx, func() error { return ic.c.Rename(from, to, nil).Wait() })
	}, writeOutcome)
}

func (s *session) selectName(ctx context.Context, name string) history.Outcome {
	return s.record(ctx, history.FSelect, name, func(ic *imapConn) (history.Value, error) {
		var v history.Value
		err := ic.do(ctx, func() error {
			sel, err := ic.c.Select(name, nil).Wait()
			if err == nil {
				v.UIDValidity = sel.UIDValidity
			}
			return err
		})
		return v, err
	}, readOutcome)
}
