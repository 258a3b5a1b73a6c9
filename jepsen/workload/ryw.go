package workload

import (
	"context"
	"fmt"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// ReadYourWrites runs CREATE then SELECT, DELETE then SELECT, on one
// connection, for names of its own: the read-your-writes checker judges it.
type ReadYourWrites struct {
	Clients int
}

var _ Workload = (*ReadYourWrites)(nil)

const rywUser, rywPassword = "jryw", "jryw-password"

func (w *ReadYourWrites) Name() string { return "read-your-writes" }

func (w *ReadYourWrites) Setup(ctx context.Context, env *Env) error {
	return env.AddUser(ctx, rywUser, rywPassword)
}

func (w *ReadYourWrites) Run(ctx context.Context, env *Env) {
	runClients(ctx, w.Clients, func(ctx context.Context, id int) {
		s := &session{env: env, user: rywUser, password: rywPassword, rng: env.rand(100 + id)}
		defer s.close()
		for k := 0; env.wait(ctx); k++ {
			name := fmt.Sprintf("ryw-%d-%d", id, k%3)
			// The pair must run on one connection: a failure that drops it
			// ends the pair.
			if s.create(ctx, name) == history.Info || s.selectName(ctx, name) == history.Info {
				continue
			}
			if !env.wait(ctx) {
				return
			}
			if s.delete(ctx, name) != history.Info {
				s.selectName(ctx, name)
			}
		}
	})
}

func (w *ReadYourWrites) Final(context.Context, *Env) {}
