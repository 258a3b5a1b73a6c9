package pop3front

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// backendConn is a session's connection to the POP3 server of the
// backend holding the user's INBOX, logged in as the user.
type backendConn struct {
	nc net.Conn
	br *bufio.Reader
}

func (bc *backendConn) Close() error { return bc.nc.Close() }

// openBackend logs in to the POP3 server of the INBOX's primary as user
// and returns the backend's answer to the login (the maildrop's size),
// which the client gets as the answer to its own. The frontend's copy of
// the directory may lag a failover or a move: a backend that no longer
// serves the INBOX says so, and a synced read finds the one that does.
func (s *session) openBackend(user string) (*backendConn, string, error) {
	bc, greeting, err := s.tryBackend(user, directory.Fresh)
	if errors.Is(err, ErrBackendRefused) || errors.Is(err, ErrBackendDown) {
		bc, greeting, err = s.tryBackend(user, directory.Synced)
	}
	return bc, greeting, err
}

func (s *session) tryBackend(user string, level directory.Level) (*backendConn, string, error) {
	backendID, err := s.inboxBackend(user, level)
	if err != nil {
		return nil, "", err
	}
	addr, ok := s.cfg.Backends.POP3Addr(backendID)
	if !ok {
		return nil, "", fmt.Errorf("%w: backend %s has no POP3 listener", ErrBackendDown, backendID)
	}
	nc, err := s.cfg.dial(addr)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrBackendDown, err)
	}
	bc := &backendConn{nc: nc, br: bufio.NewReaderSize(nc, 32<<10)}
	nc.SetDeadline(time.Now().Add(s.cfg.BackendTimeout))
	answer, err := bc.proxyLogin(user, s.cfg.ClusterSecret)
	if err != nil {
		nc.Close()
		return nil, "", fmt.Errorf("backend %s: %w", backendID, err)
	}
	nc.SetDeadline(time.Time{})
	return bc, answer, nil
}

// inboxBackend is the backend holding the primary copy of user's INBOX.
func (s *session) inboxBackend(user string, level directory.Level) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DirectoryTimeout)
	defer cancel()
	name := fsm.Inbox(user)
	m, _, err := directory.Find(ctx, s.cfg.Directory, level, func(v *fsm.View) (*fsm.Mailbox, bool) {
		m, ok := v.Mailbox(name)
		return m, ok && m.State == fsm.Active
	})
	switch {
	case errors.Is(err, directory.ErrNotFound) && m == nil:
		return "", ErrNoInbox
	case m == nil:
		return "", fmt.Errorf("%w: %w", ErrDirectory, err)
	case m.State != fsm.Active:
		return "", fmt.Errorf("%w: %s is %s", ErrBackendDown, name, m.State)
	}
	return m.Primary.Backend, nil
}

// proxyLogin reads the backend's greeting and logs in with SASL PLAIN as
// the proxy identity acting for user, as the IMAP frontend does.
func (bc *backendConn) proxyLogin(user, secret string) (string, error) {
	greeting, err := bc.br.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBackendDown, err)
	}
	if !strings.HasPrefix(greeting, "+OK") {
		return "", fmt.Errorf("%w: greeting %q", ErrBackendRefused, greeting)
	}
	ir := base64.StdEncoding.EncodeToString([]byte(user + "\x00" + auth.ProxyUser + "\x00" + secret))
	if _, err := io.WriteString(bc.nc, "AUTH PLAIN "+ir+"\r\n"); err != nil {
		return "", fmt.Errorf("%w: %w", ErrBackendDown, err)
	}
	answer, err := bc.br.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBackendDown, err)
	}
	if !strings.HasPrefix(answer, "+OK") {
		return "", fmt.Errorf("%w: %q", ErrBackendRefused, strings.TrimSpace(answer))
	}
	return answer, nil
}

// pipe joins the client to the backend until the backend ends the
// session (after QUIT, or when it fails) or the client does. A client that
// goes away only half-closes the backend connection, so a QUIT it sent
// just before is still carried out, and one that never sent QUIT leaves
// the backend to end its session without the UPDATE state.
func (s *session) pipe(bc *backendConn) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.copyFromClient(bc.nc)
		if cw, ok := bc.nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			bc.nc.Close()
		}
	}()
	if _, err := io.Copy(s.nc, bc.br); err != nil {
		s.log.Info("backend session ended", "err", err)
	}
	bc.nc.Close()
	s.nc.Close()
	<-done
}

// copyFromClient copies the client's commands to the backend, each read
// within IdleTimeout: a client silent for longer is cut off.
func (s *session) copyFromClient(w io.Writer) {
	buf := make([]byte, 32<<10)
	for {
		s.nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		n, err := s.br.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
