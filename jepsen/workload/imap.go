package workload

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/rookery-mail/rookery/jepsen/history"
)

// imapConn is one logged-in client connection to one frontend, with a
// deadline on every command.
type imapConn struct {
	node    string
	conn    net.Conn
	c       *imapclient.Client
	timeout time.Duration
}

// dialIMAP connects to node's frontend and logs in.
func dialIMAP(ctx context.Context, node Node, user, password string, timeout time.Duration) (*imapConn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", node.IMAP)
	if err != nil {
		return nil, err
	}
	ic := &imapConn{node: node.Name, conn: conn, c: imapclient.New(conn, nil), timeout: timeout}
	err = ic.do(ctx, func() error { return ic.c.Login(user, password).Wait() })
	if err != nil {
		ic.close()
		return nil, err
	}
	return ic, nil
}

// do runs one command within the timeout. The client library sets its own
// read and write deadlines (30 s and more) as it goes, so a deadline set
// here would not hold: the connection is closed instead when the command
// overruns or ctx ends, and the command fails as a broken connection.
func (ic *imapConn) do(ctx context.Context, cmd func() error) error {
	return within(ctx, ic.timeout, ic.conn, cmd)
}

// within runs op, closing conn if op is still running when timeout has
// passed or ctx has ended.
func within(ctx context.Context, timeout time.Duration, conn net.Conn, op func() error) error {
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stop := context.AfterFunc(octx, func() { conn.Close() })
	defer stop()
	return op()
}

func (ic *imapConn) close() {
	ic.conn.SetDeadline(time.Now().Add(time.Second))
	ic.c.Close()
}

// responseCode returns the response code of a tagged NO or BAD, and whether
// err was such a response at all (and not a broken connection).
func responseCode(err error) (imap.ResponseCode, bool) {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code, true
	}
	return "", false
}

// writeOutcome classifies the result of a CREATE or DELETE. A NO with a
// code the directory model reads is a certain failure; any other refusal
// may come from a write whose fate the frontend did not learn (a timeout
// towards the leader), so it is info, as is a broken connection.
func writeOutcome(err error) (history.Outcome, string) {
	if err == nil {
		return history.OK, ""
	}
	code, ok := responseCode(err)
	switch {
	case ok && code == imap.ResponseCodeAlreadyExists:
		return history.Fail, history.ErrorExists
	case ok && code == imap.ResponseCodeNonExistent:
		return history.Fail, history.ErrorNonexistent
	}
	return history.Info, err.Error()
}

// readOutcome classifies the result of a command that changes nothing: any
// refusal is a failure.
func readOutcome(err error) (history.Outcome, string) {
	if err == nil {
		return history.OK, ""
	}
	code, ok := responseCode(err)
	switch {
	case ok && code == imap.ResponseCodeNonExistent:
		return history.Fail, history.ErrorNonexistent
	case ok:
		return history.Fail, err.Error()
	}
	return history.Info, err.Error()
}

// broken reports whether err leaves the connection unusable: anything but
// a tagged refusal.
func broken(err error) bool {
	if err == nil {
		return false
	}
	_, ok := responseCode(err)
	return !ok
}

// messageIDSection is the FETCH item the UID and LMTP reads ask for.
var messageIDSection = &imap.FetchItemBodySection{
	Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID"}, Peek: true,
}

// readMailbox selects mailbox and reads every message's UID and Message-ID:
// UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]).
func (ic *imapConn) readMailbox(ctx context.Context, mailbox string) (history.Value, error) {
	var v history.Value
	err := ic.do(ctx, func() error {
		sel, err := ic.c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return err
		}
		v.UIDValidity = sel.UIDValidity
		if sel.NumMessages == 0 {
			return nil
		}
		var all imap.UIDSet
		all.AddRange(1, 0)
		msgs, err := ic.c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{messageIDSection}}).Collect()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			var hdr []byte
			for _, s := range m.BodySection {
				hdr = append(hdr, s.Bytes...)
			}
			v.Messages = append(v.Messages, history.Message{UID: uint32(m.UID), MessageID: parseMessageID(hdr)})
		}
		return nil
	})
	if v.Messages == nil && err == nil {
		v.Messages = []history.Message{}
	}
	return v, err
}

// parseMessageID reads the Message-ID field of a header block.
func parseMessageID(hdr []byte) string {
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(hdr, '\r', '\n'))))
	h, _ := r.ReadMIMEHeader()
	return strings.TrimSpace(h.Get("Message-Id"))
}

// message is a small RFC 5322 message with its own Message-ID.
func message(id, subject string) []byte {
	return []byte(fmt.Sprintf("From: jepsen@rookery.test\r\nTo: jepsen@rookery.test\r\nSubject: %s\r\nMessage-ID: %s\r\nDate: %s\r\n\r\n%s\r\n",
		subject, id, time.Now().UTC().Format(time.RFC1123Z), subject))
}
