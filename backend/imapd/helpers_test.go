package imapd_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/backend/backendtest"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// dial opens an IMAP connection to the test backend, closed with the test.
func dial(t testing.TB, env *backendtest.Env, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(env.Backend.IMAPAddr(), opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// proxyLogin logs in as a frontend does, acting for user.
func proxyLogin(c *imapclient.Client, user string) error {
	return c.Authenticate(sasl.NewPlainClient(user, auth.ProxyUser, backendtest.Secret))
}

// asUser dials and logs in as a frontend acting for user.
func asUser(t testing.TB, env *backendtest.Env, user string, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	c := dial(t, env, opts)
	if err := proxyLogin(c, user); err != nil {
		t.Fatalf("proxy login for %s: %v", user, err)
	}
	return c
}

func appendMsg(t testing.TB, c *imapclient.Client, mailbox, body string, flags ...imap.Flag) *imap.AppendData {
	t.Helper()
	cmd := c.Append(mailbox, int64(len(body)), &imap.AppendOptions{Flags: flags})
	if _, err := cmd.Write([]byte(body)); err != nil {
		t.Fatalf("append write: %v", err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("append close: %v", err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("append to %s: %v", mailbox, err)
	}
	return data
}

// message builds a small RFC 5322 message.
func message(subject, text string) string {
	return strings.Join([]string{
		"From: Alice Example <alice@example.org>",
		"To: Bob <bob@example.org>",
		"Subject: " + subject,
		"Date: Mon, 02 Jan 2006 15:04:05 -0700",
		"Message-ID: <" + strings.ReplaceAll(subject, " ", "-") + "@example.org>",
		"Content-Type: text/plain; charset=utf-8",
		"",
		text,
		"",
	}, "\r\n")
}

// multipart builds a two-part message.
func multipart(subject string) string {
	return strings.Join([]string{
		"From: alice@example.org",
		"To: bob@example.org",
		"Subject: " + subject,
		"MIME-Version: 1.0",
		`Content-Type: multipart/mixed; boundary="XX"`,
		"",
		"--XX",
		"Content-Type: text/plain",
		"",
		"first part with needle",
		"--XX",
		"Content-Type: text/html",
		"",
		"<p>second part</p>",
		"--XX--",
		"",
	}, "\r\n")
}

// responseCode extracts the response code of an IMAP error.
func responseCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

func wantCode(t testing.TB, what string, err error, code imap.ResponseCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: succeeded, want NO [%s]", what, code)
	}
	if got := responseCode(err); got != code {
		t.Fatalf("%s: %v (code %q), want code %q", what, err, got, code)
	}
}

// updates collects unilateral data a client receives.
type updates struct {
	ch chan string
}

func newUpdates() (*updates, *imapclient.Options) {
	u := &updates{ch: make(chan string, 1000)}
	return u, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { u.ch <- fmt.Sprintf("EXPUNGE %d", seq) },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				u.ch <- fmt.Sprintf("EXISTS %d", *d.NumMessages)
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			u.ch <- fmt.Sprintf("FETCH %d", msg.SeqNum)
			for msg.Next() != nil {
			}
		},
	}}
}

// waitFor reads updates until want arrives, failing after 30 seconds.
func (u *updates) waitFor(t testing.TB, want string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	var seen []string
	for {
		select {
		case got := <-u.ch:
			if got == want {
				return
			}
			seen = append(seen, got)
		case <-timeout:
			t.Fatalf("no %q; saw %v", want, seen)
		}
	}
}

// readLocal is the local copy of dir as it is.
func readLocal(t testing.TB, dir directory.Directory) *fsm.View {
	t.Helper()
	v, err := dir.Read(context.Background(), directory.Local)
	if err != nil {
		t.Fatalf("local read of the directory: %v", err)
	}
	return v
}
