package workload

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// List CREATEs a name through one frontend, then polls LIST on another
// until the name shows or a bound passes: the list-staleness checker
// judges it.
type List struct {
	Clients int
}

var _ Workload = (*List)(nil)

const listUser, listPassword = "jlist", "jlist-password"

// listPattern is what the lister asks for; a LIST op's key, so the
// checker judges it only by the names it could show.
const listPattern = "ls-*"

func (w *List) Name() string { return "list" }

func (w *List) Setup(ctx context.Context, env *Env) error {
	return env.AddUser(ctx, listUser, listPassword)
}

func (w *List) Run(ctx context.Context, env *Env) {
	if len(env.Nodes) < 2 {
		return
	}
	runClients(ctx, w.Clients, func(ctx context.Context, id int) {
		rng := env.rand(600 + id)
		creator := &session{env: env, user: listUser, password: listPassword, rng: rng}
		lister := &session{env: env, user: listUser, password: listPassword, rng: rng}
		defer creator.close()
		defer lister.close()
		for seq := 0; env.wait(ctx); seq++ {
			a := 1 + rng.IntN(len(env.Nodes))
			b := 1 + (a+rng.IntN(len(env.Nodes)-1))%len(env.Nodes)
			if creator.node != a {
				creator.drop()
				creator.node = a
			}
			if lister.node != b {
				lister.drop()
				lister.node = b
			}
			name := fmt.Sprintf("ls-%d-%d", id, seq)
			if creator.create(ctx, name) != history.OK {
				continue
			}
			w.pollUntilSeen(ctx, env, lister, name)
		}
	})
}

// pollUntilSeen lists on the lister's frontend until name shows, for at
// most ten seconds.
func (w *List) pollUntilSeen(ctx context.Context, env *Env, s *session, name string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && env.wait(ctx) {
		var seen bool
		s.record(ctx, history.FList, listPattern, func(ic *imapConn) (history.Value, error) {
			var v history.Value
			err := ic.do(ctx, func() error {
				list, err := ic.c.List("", listPattern, nil).Collect()
				for _, d := range list {
					v.Names = append(v.Names, d.Mailbox)
				}
				return err
			})
			if v.Names == nil {
				v.Names = []string{}
			}
			seen = slices.Contains(v.Names, name)
			return v, err
		}, readOutcome)
		if seen {
			return
		}
	}
}

func (w *List) Final(context.Context, *Env) {}
