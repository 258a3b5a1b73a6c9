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
// 1939 section 3): every line ends in CRLF, a line starting with "." gets
// another in front, and ".\r\n" ends it. With bodyLines >= 0 it stops
// after the header, the blank line and that many lines of the body.
func writeStuffed(w *bufio.Writer, r *bufio.Reader, bodyLines int) error {
	inBody := false
	for bodyLines != 0 || !inBody {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: write it in pieces, stuffing
			// only the first.
			if err := writeLine(w, line, false); err != nil {
				return err
			}
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = r.ReadSlice('\n')
				w.Write(line)
			}
			line = nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if len(line) > 0 {
			if err := writeLine(w, line, true); err != nil {
				return err
			}
			if inBody && bodyLines > 0 {
				bodyLines--
			}
			if !inBody && len(bytes.TrimRight(line, "\r\n")) == 0 {
				inBody = true
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
	}
	_, err := w.WriteString(".\r\n")
	return err
}

// writeLine writes one line, dot-stuffed, ending it in CRLF when whole is
// set (a bare LF or a last line without one gets CRLF).
func writeLine(w *bufio.Writer, line []byte, whole bool) error {
	if len(line) > 0 && line[0] == '.' {
		w.WriteByte('.')
	}
	if !whole {
		_, err := w.Write(line)
		return err
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	w.Write(line)
	_, err := w.WriteString("\r\n")
	return err
}
