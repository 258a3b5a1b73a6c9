package pop3d

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// send answers RETR (bodyLines < 0) or TOP: the message, byte-stuffed, or
// its header and the first bodyLines lines of its body. A message an IMAP
// session expunged since login answers -ERR. It reports whether the
// message was sent.
func (s *session) send(i, bodyLines int) bool {
	d := s.drop
	rec, err := s.srv.cfg.Store.Message(d.id, d.msgs[i].UID)
	if err != nil {
		s.reply(err)
		return false
	}
	f, err := s.srv.cfg.Store.Body(rec.GUID)
	if err != nil {
		s.reply(err)
		return false
	}
	defer f.Close()
	if bodyLines < 0 {
		s.ok("%d octets", rec.Size)
	} else {
		s.ok("top of message follows")
	}
	if err := writeStuffed(s.bw, bufio.NewReaderSize(f, 32<<10), bodyLines); err != nil {
		// Part of the message is out: the client's stream is broken, so
		// the session ends (without UPDATE).
		s.log.Warn("reading a message failed", "mailbox_id", d.id, "uid", rec.UID, "err", err)
		s.nc.Close()
		return false
	}
	return true
}

// writeStuffed copies a message to w as a POP3 multi-line response (RFC
// 1939 section 3): every line ends in CRLF (a bare LF, or a last line
// without one, gets it), a line starting with "." gets another in front,
// and ".\r\n" ends it. With bodyLines >= 0 it stops after the header, the
// blank line and that many lines of the body. Lines longer than r's
// buffer are copied in pieces.
func writeStuffed(w *bufio.Writer, r *bufio.Reader, bodyLines int) error {
	lineStart, lineEmpty, inBody := true, true, false
	cr := false // a CR ended the last piece: it belongs to the line ending, or not
	for !inBody || bodyLines != 0 {
		chunk, err := r.ReadSlice('\n')
		if len(chunk) > 0 {
			if lineStart && chunk[0] == '.' {
				w.WriteByte('.')
			}
			if cr && chunk[0] != '\n' {
				w.WriteByte('\r')
			}
			whole := chunk[len(chunk)-1] == '\n'
			text := bytes.TrimSuffix(chunk, []byte("\n"))
			cr = bytes.HasSuffix(text, []byte("\r"))
			text = bytes.TrimSuffix(text, []byte("\r"))
			w.Write(text)
			lineEmpty = lineEmpty && len(text) == 0
			lineStart = whole
			if whole {
				w.WriteString("\r\n")
				switch {
				case inBody:
					bodyLines--
				case lineEmpty:
					inBody = true
				}
				cr, lineEmpty = false, true
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			if cr {
				w.WriteByte('\r')
			}
			if !lineStart {
				w.WriteString("\r\n")
			}
			break
		}
		if err != nil {
			return err
		}
	}
	_, err := w.WriteString(".\r\n")
	return err
}
