package imapfront

import (
	"fmt"
	"strings"
)

// SORT, THREAD and ESORT (RFC 5256, RFC 5267 section 3) are answered by
// the frontend: the backend's IMAP server has neither. The frontend has
// the selected backend search with the client's own search keys, fetches
// what the sort keys need and orders the messages itself (sortrun.go).
// This file reads the commands:
//
//	sort   = ["UID" SP] "SORT" [SP "RETURN" SP "(" [opt *(SP opt)] ")"]
//	         SP "(" ["REVERSE" SP] key *(SP ["REVERSE" SP] key) ")"
//	         SP charset 1*(SP search-key)
//	thread = ["UID" SP] "THREAD" SP algorithm SP charset 1*(SP search-key)

// sortRequest is a SORT or THREAD command as read.
type sortRequest struct {
	uid       bool
	thread    string // "ORDEREDSUBJECT" or "REFERENCES"; "" for SORT
	criteria  []sortCriterion
	ret       *esortReturn // RETURN's options; nil without RETURN
	keysAt    int          // offset in the command's Raw of the search keys
	within    []withinKey  // the keys' WITHIN keys, which the frontend expands
	spoolKeys []spoolKey   // and their MODSEQ, EMAILID and THREADID keys (condstore.go)
}

// name is the command as the client would call it in its tagged OK.
func (q *sortRequest) name() string {
	n := "SORT"
	if q.thread != "" {
		n = "THREAD"
	}
	if q.uid {
		n = "UID " + n
	}
	return n
}

// parseSort reads a SORT or THREAD command (cmd.Name or, with UID, its
// subcommand), search keys included. Errors are ErrSyntax (BAD) and
// ErrBadCharset (NO [BADCHARSET]).
func parseSort(cmd *Command, condstore bool) (*sortRequest, error) {
	a := cmd.argReader()
	a.condstore = condstore
	q := &sortRequest{}
	name := cmd.Name
	if name == "UID" {
		q.uid = true
		name, _ = a.atom()
	}
	var err error
	if name == "THREAD" {
		q.thread, err = threadAlgorithm(a)
	} else {
		err = q.readSortProgram(a)
	}
	if err != nil {
		return nil, err
	}
	charset, err := a.astring()
	if err != nil {
		return nil, fmt.Errorf("%w: charset missing", ErrSyntax)
	}
	if a.pos+1 >= a.end || a.cmd.Raw[a.pos] != ' ' {
		return nil, fmt.Errorf("%w: search criteria missing", ErrSyntax)
	}
	q.keysAt = a.pos + 1
	// The keys are checked as SEARCH's are (searchargs.go): the backend's
	// library would answer an unknown one NO [SERVERBUG].
	first, err := a.searchToken()
	if err == nil {
		err = a.searchKeys(first)
	}
	if err != nil {
		return nil, err
	}
	q.within, q.spoolKeys = a.within, a.spoolKeys
	// RFC 5256 section 3: US-ASCII and UTF-8 must be taken, others may.
	// Both reach the backend as UTF-8, of which US-ASCII is a part.
	switch strings.ToUpper(charset) {
	case "US-ASCII", "UTF-8":
	default:
		return nil, fmt.Errorf("%w: %q", ErrBadCharset, charset)
	}
	return q, nil
}

// sortKeys are RFC 5256's sort criteria by name.
var sortKeys = map[string]sortKey{
	"ARRIVAL": keyArrival, "CC": keyCc, "DATE": keyDate, "FROM": keyFrom,
	"SIZE": keySize, "SUBJECT": keySubject, "TO": keyTo,
}

func threadAlgorithm(a *argReader) (string, error) {
	alg, err := a.atom()
	if err != nil {
		return "", fmt.Errorf("%w: threading algorithm missing", ErrSyntax)
	}
	if alg != "ORDEREDSUBJECT" && alg != "REFERENCES" {
		return "", fmt.Errorf("%w: unknown threading algorithm %s", ErrSyntax, alg)
	}
	return alg, nil
}

// readSortProgram reads SORT's optional RETURN options and its sort
// criteria.
func (q *sortRequest) readSortProgram(a *argReader) error {
	pos, lit := a.pos, a.lit
	if w, err := a.atom(); err == nil && w == "RETURN" {
		opts, err := a.list(false)
		if err != nil {
			return fmt.Errorf("%w: RETURN needs a list of options", ErrSyntax)
		}
		if q.ret, err = readReturnOptions(opts); err != nil {
			return err
		}
	} else {
		a.pos, a.lit = pos, lit
	}
	items, err := a.list(false)
	if err != nil {
		return fmt.Errorf("%w: sort criteria must be a list", ErrSyntax)
	}
	q.criteria, err = readCriteria(items)
	return err
}

// readReturnOptions: MIN, MAX, ALL and COUNT (RFC 5267 section 3), SAVE
// (RFC 5182); RETURN () means ALL, as it does for SEARCH (RFC 4731).
// PARTIAL belongs to CONTEXT=SORT, which is not offered.
func readReturnOptions(opts []string) (*esortReturn, error) {
	r := &esortReturn{}
	for _, o := range opts {
		switch strings.ToUpper(o) {
		case "MIN":
			r.min = true
		case "MAX":
			r.max = true
		case "ALL":
			r.all = true
		case "COUNT":
			r.count = true
		case "SAVE":
			r.save = true
		default:
			return nil, fmt.Errorf("%w: unknown RETURN option %s", ErrSyntax, o)
		}
	}
	if !r.min && !r.max && !r.all && !r.count && !r.save {
		r.all = true
	}
	return r, nil
}

// readCriteria reads the items of the sort criteria list.
func readCriteria(items []string) ([]sortCriterion, error) {
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: empty sort criteria", ErrSyntax)
	}
	var out []sortCriterion
	reverse := false
	for _, it := range items {
		w := strings.ToUpper(it)
		if w == "REVERSE" && !reverse {
			reverse = true
			continue
		}
		k, ok := sortKeys[w]
		if !ok {
			return nil, fmt.Errorf("%w: unknown sort criterion %s", ErrSyntax, it)
		}
		out = append(out, sortCriterion{key: k, reverse: reverse})
		reverse = false
	}
	if reverse {
		return nil, fmt.Errorf("%w: REVERSE with no sort key after it", ErrSyntax)
	}
	return out, nil
}
