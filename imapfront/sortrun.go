package imapfront

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Running SORT and THREAD on the selected backend. Three internal
// commands at most, each read to its end: a search with the client's keys
// and charset, as it wrote them ([UID] SEARCH RETURN (ALL) CHARSET UTF-8
// ...), a FETCH of what the keys need, and for RETURN (SAVE MIN) or (SAVE
// MAX) a search that saves just those. A non-UID SORT or THREAD uses the
// non-UID SEARCH and FETCH, during which the backend sends no EXPUNGE
// (RFC 3501 section 7.4.1): the sequence numbers it answers with are the
// client's, and the client hears no EXPUNGE during the command, which RFC
// 5256 forbids. The UID forms use UID SEARCH and UID FETCH, during which
// EXPUNGE may come and goes to the client as it does for UID SEARCH. Any
// response that is not the internal commands' own data (EXISTS, EXPUNGE,
// FLAGS from other sessions) is relayed to the client as it comes, and so
// keeps the client's view (mboxView) in step.

// cmdSort answers SORT, THREAD and their UID forms.
func (s *session) cmdSort(cmd *Command) bool {
	q, err := parseSort(cmd, s.condstoreOffered())
	if err != nil {
		s.fail(cmd.Tag, err)
		return true
	}
	if len(q.spoolKeys) > 0 {
		expanded, edits, err := s.expandSpoolKeys(cmd, q.spoolKeys, nil, q.uid)
		if err != nil {
			return s.condstoreFailed(cmd, err, false, nil)
		}
		s.cmdEdit = nil // the answer is the frontend's own (sortOnce)
		shiftKeys(q.within, edits)
		cmd = expanded
	}
	if len(q.within) > 0 {
		return s.withinOnce(cmd, q.within, true, func(cmd *Command, retry bool) bool {
			return s.sortOnce(cmd, q, retry)
		})
	}
	return s.sortOnce(cmd, q, true)
}

// sortOnce runs q on the selected backend; retry allows one more attempt
// where the mailbox is selected again if that backend is lost.
func (s *session) sortOnce(cmd *Command, q *sortRequest, retry bool) bool {
	bc := s.selected
	answer, refused, err := s.runSort(bc, cmd, q)
	switch {
	case err != nil && bc.broken && retry:
		return s.selectedLost(cmd, bc, err, func() bool { return s.sortOnce(cmd, q, false) })
	case err != nil && bc.broken:
		s.dropBackend(bc.id)
		return s.byeLost(err)
	case err != nil:
		s.log.Warn("sort failed", "backend_id", bc.id, "command", q.name(), "err", err)
		s.fail(cmd.Tag, err)
	case refused != nil:
		// The backend's own answer to the client's search keys.
		st, text := refusal(refused)
		s.tagged(cmd.Tag, st, "%s", text)
	default:
		if hasModSeq(q.spoolKeys) && q.thread == "" && answer != "" {
			// RFC 7162 section 3.1.9: SORT's answer ends with the highest
			// modseq of what it returns, as SEARCH's does.
			byAll := q.ret == nil || q.ret.all
			answer = strings.TrimSuffix(strings.TrimPrefix(string(s.searchWithModSeq([]byte("* "+answer+"\r\n"), q.uid, byAll, false)), "* "), "\r\n")
		}
		if answer != "" {
			s.untagged("%s", answer)
		}
		s.ok(cmd.Tag, q.name()+" completed")
	}
	return true
}

// runSort runs q on bc. answer is the untagged response's data ("" when
// there is none: RETURN (SAVE) alone); refused is the backend's tagged
// NO or BAD to the search.
func (s *session) runSort(bc *backendConn, cmd *Command, q *sortRequest) (answer string, refused []byte, err error) {
	found, refused, err := s.sortSearch(bc, cmd, q)
	if err != nil || refused != nil {
		return "", refused, err
	}
	if q.ret != nil && q.ret.countOnly() {
		if !q.ret.count {
			return "", nil, nil
		}
		return esearchAnswer(cmd.Tag, q.uid, q.ret, nil, found.count), nil, nil
	}
	var msgs []*sortMsg
	if found.set != "" {
		if msgs, err = s.fetchSortKeys(bc, q, found.set); err != nil {
			return "", nil, err
		}
	}
	switch q.thread {
	case "ORDEREDSUBJECT":
		return threadAnswer(threadOrderedSubject(msgs)), nil, nil
	case "REFERENCES":
		return threadAnswer(threadReferences(msgs)), nil, nil
	}
	sortMessages(msgs, q.criteria)
	if q.ret == nil {
		return sortAnswer(msgs), nil, nil
	}
	if q.ret.save && !q.ret.all && !q.ret.count && len(msgs) > 0 {
		if err := s.saveEnds(bc, q, msgs); err != nil {
			return "", nil, err
		}
	}
	return esearchAnswer(cmd.Tag, q.uid, q.ret, msgs, len(msgs)), nil, nil
}

// sortFound is the backend's answer to the search: the matching messages
// as a set, and how many there are (asked for only when nothing else is).
type sortFound struct {
	set   string
	count int
}

// sortSearch has bc search with the client's search keys, literals and
// all. The search saves its result when SAVE is asked for (RFC 5182:
// SORT RETURN (SAVE) saves the messages it finds; with MIN or MAX alone,
// saveEnds narrows it afterwards).
func (s *session) sortSearch(bc *backendConn, cmd *Command, q *sortRequest) (sortFound, []byte, error) {
	opts := "ALL"
	if q.ret != nil && q.ret.save {
		opts = "SAVE ALL"
	}
	if q.ret != nil && q.ret.countOnly() {
		opts += " COUNT"
	}
	tag := bc.nextTag()
	raw, lits := withPrefix(cmd, q.keysAt, tag+" "+uidPrefix(q.uid)+"SEARCH RETURN ("+opts+") CHARSET UTF-8 ")
	rejected, err := s.send(bc, raw, lits, 0, tag)
	if err != nil || rejected != nil {
		bc.nc.SetDeadline(time.Time{})
		return sortFound{}, rejected, err
	}
	return s.collectESearch(bc, tag, "search for sort")
}

// collectESearch reads the answer to the internal search tagged tag (what
// names it in errors): its ESEARCH, with every other response passed on to
// the client. A tagged NO or BAD is returned as refused.
func (s *session) collectESearch(bc *backendConn, tag, what string) (found sortFound, refused []byte, err error) {
	var seen bool
	var bad error
	tagged, err := bc.collect(tag, func(resp []byte) error {
		if f, ok, err := parseESearch(resp, tag); ok {
			found, seen, bad = f, true, err
		} else {
			s.pass(resp)
		}
		return nil
	})
	switch {
	case err != nil:
		return sortFound{}, nil, err
	case status(tagged) != "OK":
		return sortFound{}, tagged, nil
	case bad != nil:
		return sortFound{}, nil, bad
	case !seen:
		return sortFound{}, nil, fmt.Errorf("%w: %s: no ESEARCH before %q", ErrBackendProtocol, what, tagged)
	}
	return found, nil, nil
}

// withPrefix is the command made of prefix and cmd.Raw from offset from
// on, with the literals there moved along.
func withPrefix(cmd *Command, from int, prefix string) ([]byte, []literal) {
	raw := make([]byte, 0, len(prefix)+len(cmd.Raw)-from)
	raw = append(append(raw, prefix...), cmd.Raw[from:]...)
	shift := len(prefix) - from
	var lits []literal
	for _, l := range cmd.Lits {
		if l.Marker >= from {
			l.Marker += shift
			l.Start += shift
			lits = append(lits, l)
		}
	}
	return raw, lits
}

func uidPrefix(uid bool) string {
	if uid {
		return "UID "
	}
	return ""
}

var (
	reESearch = regexp.MustCompile(`(?i)^\* ESEARCH \(TAG "([^"]*)"\)(.*)`)
	reNumSet  = regexp.MustCompile(`^[0-9][0-9:,]*$`)
)

// parseESearch reads resp if it is the ESEARCH response to the internal
// command tagged tag: its ALL set and COUNT.
func parseESearch(resp []byte, tag string) (f sortFound, ok bool, err error) {
	line, _, _ := bytes.Cut(resp, []byte("\r\n")) // whole: ALL may be long
	m := reESearch.FindSubmatch(line)
	if m == nil || string(m[1]) != tag {
		return f, false, nil
	}
	fields := strings.Fields(string(m[2]))
	if len(fields) > 0 && strings.EqualFold(fields[0], "UID") {
		fields = fields[1:]
	}
	for i := 0; i+1 < len(fields); i += 2 {
		switch strings.ToUpper(fields[i]) {
		case "ALL":
			if !reNumSet.MatchString(fields[i+1]) {
				return f, true, fmt.Errorf("%w: ESEARCH ALL %q", ErrBackendProtocol, fields[i+1])
			}
			f.set = fields[i+1]
		case "COUNT":
			if f.count, err = strconv.Atoi(fields[i+1]); err != nil {
				return f, true, fmt.Errorf("%w: ESEARCH COUNT %q", ErrBackendProtocol, fields[i+1])
			}
		}
	}
	return f, true, nil
}

// pass gives a backend response that an internal command read whole on
// to the client. A write error stays in the client's writer and ends the
// session at the next flush; the callback must not stop reading the
// backend's responses part way.
func (s *session) pass(resp []byte) {
	if edit := s.responseEdit(s.selected); edit != nil {
		if i := bytes.IndexByte(resp, '\n'); i >= 0 {
			s.bw.Write(edit(resp[:i+1]))
			resp = resp[i+1:]
		}
	}
	s.bw.Write(resp)
}

// refusal is a backend's tagged NO or BAD split into its status and text,
// for the client's tag.
func refusal(tagged []byte) (status, text string) {
	_, rest, _ := bytes.Cut(tagged, []byte(" "))
	st, txt, _ := bytes.Cut(rest, []byte(" "))
	return string(st), string(txt)
}

// saveEnds makes the saved search result the first or last message in
// sort order, or both, as RFC 5182 section 2.1 says SAVE with MIN or MAX
// alone does.
func (s *session) saveEnds(bc *backendConn, q *sortRequest, msgs []*sortMsg) error {
	var nums []string
	if q.ret.min {
		nums = append(nums, strconv.FormatUint(uint64(msgs[0].num), 10))
	}
	if q.ret.max && (!q.ret.min || len(msgs) > 1) {
		nums = append(nums, strconv.FormatUint(uint64(msgs[len(msgs)-1].num), 10))
	}
	key := strings.Join(nums, ",")
	if q.uid {
		key = "UID " + key
	}
	tag, err := bc.start(uidPrefix(q.uid) + "SEARCH RETURN (SAVE) " + key)
	if err != nil {
		return err
	}
	tagged, err := bc.collect(tag, func(resp []byte) error {
		if _, ok, _ := parseESearch(resp, tag); !ok {
			s.pass(resp)
		}
		return nil
	})
	if err == nil && status(tagged) != "OK" {
		err = fmt.Errorf("%w: saving the sort's ends: %q", ErrBackendProtocol, tagged)
	}
	return err
}
