package imapfront

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rookery-mail/rookery/fsm"
)

// COPY and MOVE within one backend pass through. To a mailbox on another
// backend the frontend does the work: it fetches each message from the
// source and appends it to the destination's backend (the body streamed
// from one to the other), then, for MOVE, expunges the originals, and
// answers with the COPYUID the client expects.

// copyMeta is what must survive the copy besides the body.
type copyMeta struct {
	uid   uint32
	flags string // the FLAGS list without parentheses, \Recent removed
	date  string // INTERNALDATE, quoted as the backend sent it
}

var (
	reFetchUID   = regexp.MustCompile(`\bUID (\d+)`)
	reFetchFlags = regexp.MustCompile(`\bFLAGS \(([^)]*)\)`)
	reFetchDate  = regexp.MustCompile(`\bINTERNALDATE ("[^"]*")`)
	reAppendUID  = regexp.MustCompile(`\[APPENDUID (\d+) (\d+)\]`)
	reSeqSet     = regexp.MustCompile(`^[0-9:*,$]+$`)
)

func (s *session) cmdCopy(cmd *Command, uid, move bool) bool {
	a := cmd.argReader()
	if uid {
		a.atom() // COPY or MOVE, checked by the caller
	}
	set, err := a.atom()
	if err == nil && !reSeqSet.MatchString(set) {
		err = fmt.Errorf("%w: bad sequence set", ErrSyntax)
	}
	var dest string
	if err == nil {
		dest, err = s.mailboxArg(a)
	}
	if err == nil {
		err = a.done()
	}
	var m *fsm.Mailbox
	if err == nil {
		if m, err = s.lookup(dest); err != nil {
			err = errTryCreate
		}
	}
	if err == nil {
		err = s.need(m, 'i')
	}
	if err != nil {
		return s.refuseAppend(cmd, err)
	}
	if m.Primary.Backend == s.selected.id {
		return s.passThrough(cmd)
	}
	if err := s.mayCopyOut(move); err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	return s.crossCopy(cmd, uid, set, m, move)
}

// mayCopyOut checks, before a cross-backend COPY or MOVE has any effect,
// every right it needs on the selected mailbox: r to read the messages
// and, for MOVE, t and e to expunge them, in a mailbox not opened with
// EXAMINE. Checked after the copy, a refused expunge would leave the
// copies behind, one more set at each retry.
func (s *session) mayCopyOut(move bool) error {
	src, err := s.lookup(s.selName)
	if err != nil {
		return err
	}
	want := "r"
	if move {
		want = "rte"
		if s.view != nil && s.view.readOnly {
			return fmt.Errorf("%w: %s is read-only", ErrNoRights, s.selName)
		}
	}
	for i := 0; i < len(want); i++ {
		if err := s.need(src, want[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *session) crossCopy(cmd *Command, uid bool, set string, dest *fsm.Mailbox, move bool) bool {
	src := s.selected
	metas, err := s.fetchMeta(src, uid, set)
	if err != nil {
		return s.backendLost(cmd.Tag, src, err)
	}
	dst, err := s.backend(dest.Primary.Backend)
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	var srcUIDs, dstUIDs []string
	for _, meta := range metas {
		n, err := s.copyOne(src, dst, meta, s.externalName(dest.Name))
		if err != nil {
			if src.broken {
				return s.backendLost(cmd.Tag, src, err)
			}
			if dst.broken {
				s.dropBackend(dst.id)
			}
			s.fail(cmd.Tag, err)
			return true
		}
		srcUIDs = append(srcUIDs, strconv.FormatUint(uint64(meta.uid), 10))
		dstUIDs = append(dstUIDs, strconv.FormatUint(uint64(n), 10))
	}
	code := ""
	if len(metas) > 0 {
		code = fmt.Sprintf("[COPYUID %d %s %s] ", dest.UIDValidity, strings.Join(srcUIDs, ","), strings.Join(dstUIDs, ","))
	}
	if !move {
		s.ok(cmd.Tag, code+"COPY completed")
		return true
	}
	if len(metas) > 0 {
		// resp-text-code is followed by text (RFC 3501 7.1, RFC 6851 4.3).
		s.untagged("OK %sMoved", code)
		if err := s.expungeSource(src, strings.Join(srcUIDs, ",")); err != nil {
			return s.backendLost(cmd.Tag, src, err)
		}
	}
	s.ok(cmd.Tag, "MOVE completed")
	return true
}

// fetchMeta reads UID, flags and date of the messages in set, relaying
// every other response to the client.
func (s *session) fetchMeta(src *backendConn, uid bool, set string) ([]copyMeta, error) {
	verb := "FETCH "
	if uid {
		verb = "UID FETCH "
	}
	var metas []copyMeta
	_, err := src.run(verb+set+" (UID FLAGS INTERNALDATE)", func(resp []byte) error {
		u, d := reFetchUID.FindSubmatch(resp), reFetchDate.FindSubmatch(resp)
		f := reFetchFlags.FindSubmatch(resp)
		if !bytes.Contains(resp, []byte(" FETCH ")) || u == nil || d == nil || f == nil {
			s.pass(resp)
			return nil
		}
		n, _ := strconv.ParseUint(string(u[1]), 10, 32)
		flags := strings.Fields(string(f[1]))
		kept := flags[:0]
		for _, fl := range flags {
			if !strings.EqualFold(fl, `\Recent`) {
				kept = append(kept, fl)
			}
		}
		metas = append(metas, copyMeta{uid: uint32(n), flags: strings.Join(kept, " "), date: string(d[1])})
		return nil
	})
	return metas, err
}

// copyOne streams one message from src to an APPEND on dst and returns its
// new UID.
func (s *session) copyOne(src, dst *backendConn, meta copyMeta, destName string) (uint32, error) {
	tag := src.nextTag()
	src.nc.SetDeadline(time.Now().Add(src.timout))
	defer src.nc.SetDeadline(time.Time{})
	src.bw.WriteString(tag + " UID FETCH " + strconv.FormatUint(uint64(meta.uid), 10) + " (BODY.PEEK[])\r\n")
	if err := src.bw.Flush(); err != nil {
		return 0, src.fail(err)
	}
	var newUID uint32
	var appendErr error
	for {
		var line bytes.Buffer
		tail, head, err := src.copyLine(&line, true)
		if err != nil {
			return 0, src.fail(err)
		}
		if isTagged(head, tag) {
			if status(head) != "OK" {
				return 0, fmt.Errorf("%w: fetch for copy: %q", ErrBackendProtocol, head)
			}
			break
		}
		if isBye(head) {
			return 0, src.fail(errBackendBye)
		}
		src.observe(head)
		lit := literalSuffix(tail)
		if lit == nil || !bytes.Contains(head, []byte("BODY[]")) || newUID != 0 {
			first := line.Bytes()
			if edit := s.responseEdit(src); edit != nil {
				first = edit(first)
			}
			s.bw.Write(first)
			if err := src.readRest(s.bw, tail); err != nil {
				s.torn = true // part of the response reached the client
				return 0, src.fail(err)
			}
			continue
		}
		newUID, appendErr = s.appendFrom(src, dst, meta, destName, lit)
		if appendErr != nil && (src.broken || dst.broken) {
			return 0, appendErr
		}
		// The rest of the FETCH response, such as ")" or " UID 5)".
		if tail, _, err = src.copyLine(io.Discard, false); err != nil {
			return 0, src.fail(err)
		} else if err := src.readRest(io.Discard, tail); err != nil {
			return 0, src.fail(err)
		}
	}
	if appendErr == nil && newUID == 0 {
		appendErr = fmt.Errorf("%w: message %d vanished during copy", ErrBackendProtocol, meta.uid)
	}
	return newUID, appendErr
}

// appendFrom appends the literal src is about to send to destName on dst.
// On a refusal by dst the literal is still read from src, to keep it in step.
func (s *session) appendFrom(src, dst *backendConn, meta copyMeta, destName string, lit *literal) (uint32, error) {
	tag := dst.nextTag()
	dst.nc.SetDeadline(time.Now().Add(dst.timout))
	defer dst.nc.SetDeadline(time.Time{})
	fmt.Fprintf(dst.bw, "%s APPEND %s (%s) %s {%d}\r\n", tag, destName, meta.flags, meta.date, lit.Size)
	rejected, err := s.awaitContinuation(dst, tag)
	if err != nil || rejected != nil {
		if _, cerr := io.CopyN(io.Discard, src.br, lit.Size); cerr != nil {
			src.fail(cerr)
		}
		if err == nil {
			err = copyRefused(rejected)
		}
		return 0, err
	}
	if _, err := io.CopyN(dst.bw, src.br, lit.Size); err != nil {
		src.fail(err)
		return 0, dst.fail(err)
	}
	dst.bw.WriteString("\r\n")
	if err := dst.bw.Flush(); err != nil {
		return 0, dst.fail(err)
	}
	for {
		head, err := dst.readResponse(io.Discard)
		if err != nil {
			return 0, dst.fail(err)
		}
		if !isTagged(head, tag) {
			continue
		}
		m := reAppendUID.FindSubmatch(head)
		if status(head) != "OK" || m == nil {
			return 0, copyRefused(head)
		}
		n, _ := strconv.ParseUint(string(m[2]), 10, 32)
		return uint32(n), nil
	}
}

// copyRefused is the error for the destination's answer to a copy's
// APPEND: over quota is the client's to hear (RFC 9208 section 4.3), any
// other refusal a failure of the mail store.
func copyRefused(head []byte) error {
	if bytes.Contains(head, []byte("[OVERQUOTA]")) {
		return fmt.Errorf("%w: append for copy: %q", errOverQuota, head)
	}
	return fmt.Errorf("%w: append for copy: %q", ErrBackendProtocol, head)
}

// expungeSource ends a cross-backend MOVE: the originals are flagged
// \Deleted and expunged by UID, and the EXPUNGE responses go to the client.
func (s *session) expungeSource(src *backendConn, uids string) error {
	relay := func(resp []byte) error {
		if src == s.selected {
			s.pass(resp)
			return nil
		}
		_, err := s.bw.Write(resp)
		return err
	}
	if _, err := src.run("UID STORE "+uids+" +FLAGS.SILENT (\\Deleted)", relay); err != nil {
		return err
	}
	tagged, err := src.run("UID EXPUNGE "+uids, relay)
	if err == nil && status(tagged) != "OK" {
		err = fmt.Errorf("%w: expunge after move: %q", ErrBackendProtocol, tagged)
	}
	return err
}
