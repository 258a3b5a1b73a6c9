package imapfront

import (
	"fmt"
	"strings"
)

// parseList reads LIST's arguments (RFC 3501 and the LIST-EXTENDED form):
// [(selection options)] reference (pattern | (patterns)) [RETURN (options)].
func parseList(cmd *Command) (*listOptions, string, []string, error) {
	opts := &listOptions{}
	a := cmd.argReader()
	if a.listNext() {
		opts.extendedSyntax = true
		sel, err := a.list(false)
		if err != nil {
			return nil, "", nil, err
		}
		if err := opts.selection(sel); err != nil {
			return nil, "", nil, err
		}
	}
	ref, err := a.astring()
	if err != nil {
		return nil, "", nil, err
	}
	patterns, err := a.list(true)
	if err != nil {
		return nil, "", nil, err
	}
	if len(patterns) == 0 {
		return nil, "", nil, fmt.Errorf("%w: no pattern", ErrSyntax)
	}
	if a.pos < a.end {
		if kw, err := a.atom(); err != nil || kw != "RETURN" {
			return nil, "", nil, fmt.Errorf("%w: expected RETURN", ErrSyntax)
		}
		opts.extendedSyntax = true
		if err := opts.returns(a); err != nil {
			return nil, "", nil, err
		}
	}
	return opts, ref, patterns, a.done()
}

// listNext reports whether a space and a parenthesised list come next.
func (a *argReader) listNext() bool {
	return a.pos+1 < a.end && a.cmd.Raw[a.pos] == ' ' && a.cmd.Raw[a.pos+1] == '('
}

func (o *listOptions) selection(sel []string) error {
	for _, opt := range sel {
		switch strings.ToUpper(opt) {
		case "SUBSCRIBED":
			o.subscribedOnly = true
		case "RECURSIVEMATCH":
			o.recursive = true
		case "SPECIAL-USE":
			o.specialOnly = true
		case "REMOTE":
			// Every mailbox of the cluster is local to the frontend.
		default:
			return fmt.Errorf("%w: unknown selection option %s", ErrSyntax, opt)
		}
	}
	if o.recursive && !o.subscribedOnly {
		return fmt.Errorf("%w: RECURSIVEMATCH needs another selection option", ErrSyntax)
	}
	return nil
}

// returns reads RETURN's option list, in which STATUS carries a list of its own.
func (o *listOptions) returns(a *argReader) error {
	if !a.listNext() {
		return fmt.Errorf("%w: expected a list after RETURN", ErrSyntax)
	}
	a.pos += 2
	for first := true; ; first = false {
		if a.peek() == tokClose {
			a.pos++
			return nil
		}
		if !first && !a.sp() {
			return fmt.Errorf("%w: expected a space", ErrSyntax)
		}
		k, opt, err := a.next()
		if err != nil {
			return err
		}
		if k != tokAtom {
			return fmt.Errorf("%w: bad RETURN option", ErrSyntax)
		}
		switch strings.ToUpper(opt) {
		case "CHILDREN":
			o.retChildren = true
		case "SUBSCRIBED":
			o.retSubscribed = true
		case "SPECIAL-USE":
		case "STATUS":
			items, err := a.list(false)
			if err != nil {
				return err
			}
			if err := checkStatusItems(items); err != nil {
				return err
			}
			o.status = strings.Join(items, " ")
		default:
			return fmt.Errorf("%w: unknown RETURN option %s", ErrSyntax, opt)
		}
	}
}

// checkStatusItems allows only the STATUS items the backends answer, so a
// client cannot smuggle arbitrary text into a backend command.
func checkStatusItems(items []string) error {
	if len(items) == 0 {
		return fmt.Errorf("%w: empty STATUS item list", ErrSyntax)
	}
	for _, it := range items {
		switch strings.ToUpper(it) {
		case "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "SIZE", "DELETED", "HIGHESTMODSEQ", "APPENDLIMIT", "MAILBOXID":
		default:
			return fmt.Errorf("%w: unknown STATUS item %s", ErrSyntax, it)
		}
	}
	return nil
}
