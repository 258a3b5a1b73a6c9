package workload

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// UID APPENDs messages with unique Message-IDs to a few mailboxes through
// random frontends, and now and then reads a whole mailbox with UID FETCH
// 1:*: the uid checker judges it. After healing, one final read per
// mailbox, in which the acknowledged checker looks for every APPEND that
// was answered OK.
type UID struct {
	Clients   int
	Mailboxes int
}

var _ Workload = (*UID)(nil)

const uidUser, uidPassword = "juid", "juid-password"

func (w *UID) Name() string { return "uid" }

func (w *UID) mailbox(i int) string { return fmt.Sprintf("uid-%d", i) }

func (w *UID) Setup(ctx context.Context, env *Env) error {
	if err := env.AddUser(ctx, uidUser, uidPassword); err != nil {
		return err
	}
	for i := range w.Mailboxes {
		if err := createMailbox(ctx, env, uidUser, uidPassword, w.mailbox(i)); err != nil {
			return err
		}
	}
	return nil
}

// createMailbox creates a mailbox for setup, unrecorded, retrying through
// each frontend in turn.
func createMailbox(ctx context.Context, env *Env, user, password, name string) error {
	attempt := 0
	err := retry(ctx, 20, func() error {
		node := env.Nodes[attempt%len(env.Nodes)]
		attempt++
		ic, err := dialIMAP(ctx, node, user, password, env.Timeout)
		if err != nil {
			return err
		}
		defer ic.close()
		err = ic.do(ctx, func() error { return ic.c.Create(name, nil).Wait() })
		if code, ok := responseCode(err); ok && code == imap.ResponseCodeAlreadyExists {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%w: create %s for %s: %v", ErrSetup, name, user, err)
	}
	return nil
}

func (w *UID) Run(ctx context.Context, env *Env) {
	runClients(ctx, w.Clients, func(ctx context.Context, id int) {
		rng := env.rand(200 + id)
		s := &session{env: env, user: uidUser, password: uidPassword, rng: rng}
		defer s.close()
		for seq := 0; env.wait(ctx); seq++ {
			mb := w.mailbox(rng.IntN(w.Mailboxes))
			if rng.IntN(4) == 0 {
				s.fetch(ctx, mb)
				continue
			}
			s.appendMessage(ctx, mb, fmt.Sprintf("<uid-%d-%d-%d@jepsen.rookery.test>", env.seed, id, seq))
		}
	})
}

// appendMessage APPENDs a message and records the UID APPENDUID gave it.
func (s *session) appendMessage(ctx context.Context, mailbox, messageID string) {
	ic, err := s.conn(ctx)
	if err != nil {
		return
	}
	p := s.env.invoke(s.process, history.FAppend, mailbox, ic.node, history.Value{MessageID: messageID})
	var v history.Value
	err = ic.do(ctx, func() error {
		body := message(messageID, "uid workload")
		cmd := ic.c.Append(mailbox, int64(len(body)), nil)
		if _, err := io.Copy(cmd, bytes.NewReader(body)); err != nil {
			cmd.Close()
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		data, err := cmd.Wait()
		if err == nil && data != nil {
			v.UID, v.UIDValidity = uint32(data.UID), data.UIDValidity
		}
		return err
	})
	// A refused APPEND may still have been stored (the frontend may have
	// lost the backend's answer), so only a clean OK is certain.
	outcome, text := history.OK, ""
	if err != nil {
		outcome, text = history.Info, err.Error()
	}
	s.env.complete(p, outcome, v, text)
	if err != nil {
		s.drop()
	}
}

// fetch reads the whole mailbox and records what it holds.
func (s *session) fetch(ctx context.Context, mailbox string) {
	s.record(ctx, history.FFetch, mailbox, func(ic *imapConn) (history.Value, error) {
		return ic.readMailbox(ctx, mailbox)
	}, readOutcome)
}

func (w *UID) Final(ctx context.Context, env *Env) {
	for i := range w.Mailboxes {
		mb := w.mailbox(i)
		finalRead(ctx, env, 300+i, mb, uidUser, uidPassword, mb)
	}
}
