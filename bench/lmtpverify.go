package bench

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// dialIMAP connects and logs in, closing the connection if ctx ends first.
func dialIMAP(ctx context.Context, addr string, cred Credential) (*imapclient.Client, func(), error) {
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	c := imapclient.New(conn, nil)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	done := func() { stop(); c.Close() }
	if err := c.Login(cred.User, cred.Password).Wait(); err != nil {
		done()
		return nil, nil, fmt.Errorf("login %s on %s: %w", cred.User, addr, err)
	}
	return c, done, nil
}

// createFolders makes the +detail folders the recipients beyond the users
// deliver to.
func createFolders(ctx context.Context, addr string, rcpts []rcptBox) error {
	for _, r := range rcpts {
		if r.folder == "INBOX" {
			continue
		}
		c, done, err := dialIMAP(ctx, addr, r.cred)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBenchSetup, err)
		}
		err = c.Create(r.folder, nil).Wait()
		if err == nil && c.Caps().Has(imap.CapACL) {
			// Delivery to user+folder needs the p right for the
			// sender (RFC 4314 2.1.1), as a user grants it.
			err = c.SetACL(r.folder, "anyone", imap.RightModificationAdd, imap.RightSet("p")).Wait()
		}
		done()
		if err != nil {
			return fmt.Errorf("%w: create %s for %s: %v", ErrBenchSetup, r.folder, r.cred.User, err)
		}
	}
	return nil
}

// verifyDeliveries reads every recipient's mailbox and checks each
// acknowledged copy is there exactly once, each refused one is not there,
// and nothing of this run is there that was never sent. It returns how
// many copies of this run's messages it found.
func verifyDeliveries(ctx context.Context, addr, runID string, rcpts []rcptBox, all []delivery, rec *recorder, chk *checker) (int, error) {
	found := 0
	sent := make(map[string]bool, len(all))
	for _, d := range all {
		sent[d.msgID] = true
	}
	for i, r := range rcpts {
		began := time.Now()
		counts, err := messageIDs(ctx, addr, r, runID+".")
		rec.observe("verify", began, err)
		if err != nil {
			return 0, fmt.Errorf("verify %s: %w", r.addr, err)
		}
		for _, d := range all {
			n := counts[d.msgID]
			found += n
			switch {
			case n > 1:
				chk.fail("%s: message <%s> delivered %d times", r.addr, d.msgID, n)
			case n == 0 && d.status[i] == acked:
				chk.fail("%s: message <%s> acknowledged but not in %s", r.addr, d.msgID, r.folder)
			case n == 1 && d.status[i] == refused:
				chk.fail("%s: message <%s> refused but delivered to %s", r.addr, d.msgID, r.folder)
			}
		}
		for id := range counts {
			if !sent[id] {
				chk.fail("%s: message <%s> in %s was never sent", r.addr, id, r.folder)
			}
		}
	}
	return found, nil
}

// messageIDs counts the Message-Ids with the given prefix in a mailbox.
func messageIDs(ctx context.Context, addr string, r rcptBox, prefix string) (map[string]int, error) {
	c, done, err := dialIMAP(ctx, addr, r.cred)
	if err != nil {
		return nil, err
	}
	defer done()
	sel, err := c.Select(r.folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, err
	}
	counts := make(map[string]int)
	if sel.NumMessages == 0 {
		return counts, nil
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		return nil, err
	}
	for _, m := range msgs {
		if id := envelopeID(m); strings.HasPrefix(id, prefix) {
			counts[id]++
		}
	}
	c.Logout().Wait()
	return counts, nil
}
