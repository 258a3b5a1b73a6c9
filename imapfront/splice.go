package imapfront

// textEdit puts text in place of Raw[from:to] of a command, a part
// outside its literals.
type textEdit struct {
	from, to int
	text     string
}

// splice returns cmd with edits (in order, not overlapping) made, its
// literals moved with the text around them.
func splice(cmd *Command, edits []textEdit) *Command {
	var raw []byte
	var lits []literal
	last, shift, lit := 0, 0, 0
	for _, e := range edits {
		raw = append(append(raw, cmd.Raw[last:e.from]...), e.text...)
		for ; lit < len(cmd.Lits) && cmd.Lits[lit].Marker < e.from; lit++ {
			l := cmd.Lits[lit]
			l.Marker += shift
			l.Start += shift
			lits = append(lits, l)
		}
		shift += len(e.text) - (e.to - e.from)
		last = e.to
	}
	raw = append(raw, cmd.Raw[last:]...)
	for ; lit < len(cmd.Lits); lit++ {
		l := cmd.Lits[lit]
		l.Marker += shift
		l.Start += shift
		lits = append(lits, l)
	}
	out := *cmd
	out.Raw, out.Lits = raw, lits
	return &out
}

// shiftKeys moves the WITHIN keys of a command to their places after
// edits made before them.
func shiftKeys(keys []withinKey, edits []textEdit) {
	for i := range keys {
		shift := 0
		for _, e := range edits {
			if e.to <= keys[i].from {
				shift += len(e.text) - (e.to - e.from)
			}
		}
		keys[i].from += shift
		keys[i].to += shift
	}
}
