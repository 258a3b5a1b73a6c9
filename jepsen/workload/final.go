package workload

import (
	"context"
	"time"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// finalAttempts bounds the tries of one final read; finalGap is the pause
// between two of them.
const (
	finalAttempts = 20
	finalGap      = 500 * time.Millisecond
)

// finalRead records one successful final read of mailbox as key. Each try
// goes to the next frontend in turn, starting from one the seed picks, so
// that a node the last fault left unable to serve cannot leave a mailbox
// unread; each failed try is logged with the server's words, since a try
// that never logged in leaves nothing in the history.
func finalRead(ctx context.Context, env *Env, seed int, key, user, password, mailbox string) bool {
	start := env.rand(seed).IntN(len(env.Nodes))
	for attempt := 0; attempt < finalAttempts; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				env.Log.Warn("final read abandoned", "key", key, "attempts", attempt, "error", ctx.Err())
				return false
			case <-time.After(finalGap):
			}
		}
		node := env.Nodes[(start+attempt)%len(env.Nodes)]
		ic, err := dialIMAP(ctx, node, user, password, env.Timeout)
		if err != nil {
			env.Log.Warn("final read could not log in", "key", key, "node", node.Name, "attempt", attempt, "error", err)
			continue
		}
		s := &session{env: env, user: user, password: password, ic: ic, process: env.process()}
		outcome := s.record(ctx, history.FRead, key, func(ic *imapConn) (history.Value, error) {
			return ic.readMailbox(ctx, mailbox)
		}, readOutcome)
		s.close()
		if outcome == history.OK {
			return true
		}
	}
	env.Log.Warn("final read gave up", "key", key, "attempts", finalAttempts)
	return false
}
