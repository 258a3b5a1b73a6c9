package main

import (
	"time"

	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
)

// The JSON of `rookery admin --json` is one dialect: snake_case keys,
// states by name, times in RFC 3339, and an error as {"ok": false,
// "error": ...}. These views put the directory's records into it.

// mailboxJSON is a mailbox record as admin prints it.
type mailboxJSON struct {
	ID          uint64     `json:"id"`
	Name        string     `json:"name"`
	State       string     `json:"state"` // reserved, active, moving, deleting...
	Primary     fsm.Copy   `json:"primary"`
	Replicas    []fsm.Copy `json:"replicas"`
	Stride      uint32     `json:"stride"`
	UIDValidity uint32     `json:"uidvalidity"`
	ACL         []fsm.ACE  `json:"acl"`
	SpecialUse  string     `json:"special_use,omitempty"`
	ReservedBy  string     `json:"reserved_by,omitempty"`
	ReservedAt  string     `json:"reserved_at,omitempty"`
}

func mailboxView(mb *fsm.Mailbox) mailboxJSON {
	v := mailboxJSON{ID: mb.ID, Name: mb.Name, State: mb.State.String(), Primary: mb.Primary, Replicas: mb.Replicas,
		Stride: mb.Stride, UIDValidity: mb.UIDValidity, ACL: mb.ACL, SpecialUse: mb.SpecialUse,
		ReservedBy: mb.ReservedBy, ReservedAt: rfc3339(mb.ReservedAt)}
	if v.Replicas == nil {
		v.Replicas = []fsm.Copy{}
	}
	if v.ACL == nil {
		v.ACL = []fsm.ACE{}
	}
	return v
}

// mailboxListJSON is `admin mailbox list --json`.
type mailboxListJSON struct {
	Mailboxes []mailboxJSON `json:"mailboxes"`
	Truncated bool          `json:"truncated"`
}

func mailboxListView(list directory.MailboxList) mailboxListJSON {
	v := mailboxListJSON{Mailboxes: []mailboxJSON{}, Truncated: list.Truncated}
	for _, mb := range list.Mailboxes {
		v.Mailboxes = append(v.Mailboxes, mailboxView(mb))
	}
	return v
}

// userJSON is one user of `admin user list --json`.
type userJSON struct {
	Name       string `json:"name"`
	State      string `json:"state"`
	QuotaBytes int64  `json:"quota_bytes"`
	CreatedAt  string `json:"created_at,omitempty"`
	Admin      bool   `json:"admin"`
}

func userViews(users []directory.UserInfo) []userJSON {
	out := []userJSON{}
	for _, u := range users {
		out = append(out, userJSON{Name: u.Name, State: u.State, QuotaBytes: u.QuotaBytes, CreatedAt: rfc3339(u.CreatedAt), Admin: u.Admin})
	}
	return out
}

// rfc3339 is unix nanoseconds as an RFC 3339 time in UTC; "" for 0.
func rfc3339(unixNano int64) string {
	if unixNano == 0 {
		return ""
	}
	return time.Unix(0, unixNano).UTC().Format(time.RFC3339Nano)
}
