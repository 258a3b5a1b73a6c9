package spool

import (
	"io"
	"time"

	"github.com/emersion/go-imap/v2"
)

// MailboxMeta is what the spool knows of a mailbox besides its messages.
// Stride and Slot fix the UIDs this backend may assign (see nextUID).
type MailboxMeta struct {
	ID          uint64
	UIDValidity uint32
	Stride      uint32
	Slot        uint32
}

// Status summarises a mailbox for STATUS and SELECT.
type Status struct {
	Messages, Unseen, UIDNext, UIDValidity uint32
	HighestModSeq                          uint64
	Size                                   int64
	// Recent counts the messages above the recent mark: those the next
	// session to select the mailbox will see as \Recent.
	Recent uint32
}

// Message is one index record: a message as one mailbox holds it.
type Message struct {
	UID          uint32
	GUID         string // hex sha256 of the body
	Flags        []imap.Flag
	ModSeq       uint64
	InternalDate time.Time
	Size         int64
	// Delivery is the id of the LMTP delivery that stored the message in
	// this mailbox (DeliverOnce), or "": copies of the mailbox that meet
	// again (a merge after a partition) tell by it the same delivery made
	// twice, once on each side, from two deliveries of one body.
	Delivery string `json:",omitempty"`
	// SavedAt is when the message was saved in this mailbox (APPEND,
	// delivery, COPY or MOVE; RFC 8514's save date), in Unix seconds; 0
	// for a record written before the store kept it. A replica and a
	// merge keep the primary's.
	SavedAt int64 `json:",omitempty"`
}

// AppendRequest asks for Body to be stored in Mailbox.
type AppendRequest struct {
	Mailbox      uint64
	Flags        []imap.Flag
	InternalDate time.Time // zero: now
	Body         io.Reader
	// Size, when above 0, is the size the body was announced with (an
	// IMAP literal's): a body that ends before it fails with ErrShortBody
	// and nothing is stored; Body is not read past it.
	Size int64
}

// Delivery is the outcome of a delivery to one mailbox.
type Delivery struct {
	Mailbox uint64
	Message Message
	Err     error
	// Duplicate: the delivery had been made before under the same id
	// (DeliverOnce); Message is what it stored then.
	Duplicate bool
}

// FlagOp says how StoreFlags combines the given flags with a message's.
type FlagOp int

const (
	FlagsAdd FlagOp = iota
	FlagsDel
	FlagsSet
)

// UIDPair maps a source message to its copy.
type UIDPair struct {
	Src, Dst uint32
}

// ChangeKind says what a Change did.
type ChangeKind int

const (
	Appended ChangeKind = iota
	Expunged
	FlagsChanged
)

func (k ChangeKind) String() string {
	switch k {
	case Appended:
		return "appended"
	case Expunged:
		return "expunged"
	case FlagsChanged:
		return "flags_changed"
	}
	return "unknown"
}

// Change is one durable change to one mailbox, as Watch reports it.
type Change struct {
	Mailbox uint64
	Kind    ChangeKind
	UIDs    []uint32
	// Gone is, for an expunge, the records as they were, so that a
	// watcher can still serve a message whose expunge it has not yet
	// announced (see Retain).
	Gone []Message
}
