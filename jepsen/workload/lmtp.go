package workload

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/emersion/go-smtp"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// LMTP delivers messages with unique Message-IDs to a few users through
// random frontends' LMTP; after healing it reads every INBOX over IMAP. The
// acknowledged checker judges it.
type LMTP struct {
	Clients int
	Users   int
}

var _ Workload = (*LMTP)(nil)

func (w *LMTP) Name() string { return "lmtp" }

func (w *LMTP) user(i int) string { return fmt.Sprintf("jlmtp%d", i) }

func lmtpPassword(user string) string { return user + "-password" }

// inboxKey is the history key of a user's INBOX, for deliveries and reads.
func inboxKey(user string) string { return user + "/INBOX" }

func (w *LMTP) Setup(ctx context.Context, env *Env) error {
	for i := range w.Users {
		if err := env.AddUser(ctx, w.user(i), lmtpPassword(w.user(i))); err != nil {
			return err
		}
	}
	return nil
}

// lmtpConn is one LMTP connection to one frontend, as one process.
type lmtpConn struct {
	node    string
	conn    net.Conn
	c       *smtp.Client
	process int
}

func dialLMTP(ctx context.Context, env *Env, node Node) (*lmtpConn, error) {
	d := net.Dialer{Timeout: env.Timeout}
	conn, err := d.DialContext(ctx, "tcp", node.LMTP)
	if err != nil {
		return nil, err
	}
	c := smtp.NewClientLMTP(conn)
	// The client sets a deadline of its own at every command (minutes by
	// default); within closes the connection at the operation's timeout.
	c.CommandTimeout, c.SubmissionTimeout = env.Timeout, env.Timeout
	if err := within(ctx, env.Timeout, conn, func() error { return c.Hello("jepsen.rookery.test") }); err != nil {
		conn.Close()
		return nil, err
	}
	return &lmtpConn{node: node.Name, conn: conn, c: c, process: env.process()}, nil
}

func (w *LMTP) Run(ctx context.Context, env *Env) {
	runClients(ctx, w.Clients, func(ctx context.Context, id int) {
		rng := env.rand(400 + id)
		var lc *lmtpConn
		defer func() {
			if lc != nil {
				lc.conn.Close()
			}
		}()
		for seq := 0; env.wait(ctx); seq++ {
			if lc == nil {
				var err error
				if lc, err = dialLMTP(ctx, env, env.Nodes[rng.IntN(len(env.Nodes))]); err != nil {
					continue
				}
			}
			user := w.user(rng.IntN(w.Users))
			id := fmt.Sprintf("<lmtp-%d-%d-%d@jepsen.rookery.test>", env.seed, id, seq)
			if !deliver(ctx, env, lc, user, id) {
				lc.conn.Close()
				lc = nil
			}
		}
	})
}

// deliver sends one message to user and records the outcome; false when the
// connection can no longer be used.
func deliver(ctx context.Context, env *Env, lc *lmtpConn, user, messageID string) bool {
	p := env.invoke(lc.process, history.FDeliver, inboxKey(user), lc.node, history.Value{MessageID: messageID})
	err := within(ctx, env.Timeout, lc.conn, func() error {
		return sendOne(lc.c, user+"@jepsen.rookery.test", message(messageID, "lmtp workload"))
	})
	var se *smtp.SMTPError
	switch {
	case err == nil:
		env.complete(p, history.OK, history.Value{}, "")
		return true
	case errors.As(err, &se) && se.Code >= 500:
		env.complete(p, history.Fail, history.Value{}, err.Error())
		lc.c.Reset()
		return true
	default:
		// A 4xx from the proxy may follow a delivery whose answer the proxy
		// lost; a broken connection tells nothing.
		env.complete(p, history.Info, history.Value{}, err.Error())
		return false
	}
}

func sendOne(c *smtp.Client, rcpt string, msg []byte) error {
	if err := c.Mail("jepsen@rookery.test", nil); err != nil {
		return err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// Final reads every user's INBOX once the cluster has healed.
func (w *LMTP) Final(ctx context.Context, env *Env) {
	for i := range w.Users {
		user := w.user(i)
		finalRead(ctx, env, 500+i, inboxKey(user), user, lmtpPassword(user), "INBOX")
	}
}
