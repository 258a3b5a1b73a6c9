package fsm

import (
	"fmt"
	"strings"
)

// SETACL's "+r" and "-r" (RFC 4314 section 3.1) are applied by the
// directory to the rights it holds when the command applies, never
// computed by the proposer from a copy that may be stale: two concurrent
// SETACLs on one entry both hold.

// ACLMode says how ModifyACL's Rights change the entry.
type ACLMode uint8

const (
	ACLReplace ACLMode = iota // the entry's rights become Rights
	ACLAdd                    // Rights are added to the entry's
	ACLRemove                 // Rights are taken from the entry's
)

// ModifyACL changes Identifier's rights on Name as Mode says. An entry
// left with no rights is removed.
type ModifyACL struct {
	Name       string
	Identifier string
	Mode       ACLMode
	Rights     string
}

func (ModifyACL) Type() CommandType { return TypeModifyACL }

// ParseRightsModification splits SETACL's rights argument into its mode
// and canonical rights. An unknown right is ErrInvalidACL: a frontend
// answers BAD without proposing anything.
func ParseRightsModification(mod string) (ACLMode, string, error) {
	mode := ACLReplace
	switch {
	case strings.HasPrefix(mod, "+"):
		mode, mod = ACLAdd, mod[1:]
	case strings.HasPrefix(mod, "-"):
		mode, mod = ACLRemove, mod[1:]
	}
	rights, err := CanonicalRights(mod)
	return mode, rights, err
}

func (f *FSM) modifyACL(c ModifyACL) Result {
	if c.Mode > ACLRemove {
		return failed(fmt.Errorf("%w: ACL mode %d", ErrInvalidCommand, c.Mode))
	}
	old, ok := f.work.mailbox(c.Name)
	if !ok {
		return failed(ErrNoMailbox)
	}
	id, err := CanonicalIdentifier(c.Identifier)
	if err != nil {
		return failed(err)
	}
	rights, err := CanonicalRights(c.Rights)
	if err != nil {
		return failed(err)
	}
	switch cur := entryRights(old, id); c.Mode {
	case ACLAdd:
		rights, _ = CanonicalRights(cur + rights)
	case ACLRemove:
		rights = strings.Map(func(r rune) rune {
			if strings.ContainsRune(rights, r) {
				return -1
			}
			return r
		}, cur)
	}
	mb := withEntry(old, id, rights)
	f.replaceMailbox(old, mb)
	return Result{Mailbox: mb}
}

// entryRights is the rights of m's entry for id, or "".
func entryRights(m *Mailbox, id string) string {
	for _, ace := range m.ACL {
		if ace.Identifier == id {
			return ace.Rights
		}
	}
	return ""
}

// withEntry is a copy of old whose entry for id has rights (none: no
// entry). The ACL is a new slice: the old record may be in a reader's hands.
func withEntry(old *Mailbox, id, rights string) *Mailbox {
	acl := make([]ACE, 0, len(old.ACL)+1)
	for _, ace := range old.ACL {
		if ace.Identifier != id {
			acl = append(acl, ace)
		}
	}
	if rights != "" {
		acl = append(acl, ACE{Identifier: id, Rights: rights})
	}
	sortACL(acl)
	if len(acl) == 0 {
		acl = nil
	}
	mb := *old
	mb.ACL = acl
	return &mb
}

// dropGrants removes every entry naming user ("user" and "-user") from
// every mailbox: a deleted account's grants never pass to a new account of
// the same name.
func (f *FSM) dropGrants(user string) int {
	var changed []*Mailbox
	f.work.names.Ascend(func(e nameEntry) bool {
		for _, ace := range e.mb.ACL {
			if strings.TrimPrefix(ace.Identifier, "-") == user {
				changed = append(changed, e.mb)
				break
			}
		}
		return true
	})
	for _, old := range changed {
		mb := withEntry(withEntry(old, user, ""), "-"+user, "")
		f.replaceMailbox(old, mb)
	}
	return len(changed)
}

func (c ModifyACL) appendTo(e *encoder) {
	e.string(c.Name)
	e.string(c.Identifier)
	e.byte(byte(c.Mode))
	e.string(c.Rights)
}

func decodeModifyACL(d *decoder) Command {
	return ModifyACL{Name: d.string(), Identifier: d.string(), Mode: ACLMode(d.byte()), Rights: d.string()}
}
