package spool

import (
	"encoding/json"
	"fmt"

	"github.com/emersion/go-imap/v2"
	bolt "go.etcd.io/bbolt"
)

// The envelope and body structure of a body are computed once, when the
// body first enters the index, and kept as JSON: FETCH ENVELOPE and
// BODYSTRUCTURE then never parse the message again.

type cacheEntry struct {
	Envelope      *imap.Envelope `json:"envelope"`
	BodyStructure *bodyPart      `json:"body_structure"`
}

// bodyPart is imap.BodyStructure in a form JSON can decode: a tree of one
// concrete type, where multipart nodes have Children.
type bodyPart struct {
	Multipart   bool                           `json:"multipart,omitempty"`
	Type        string                         `json:"type,omitempty"`
	Subtype     string                         `json:"subtype"`
	Params      map[string]string              `json:"params,omitempty"`
	ID          string                         `json:"id,omitempty"`
	Description string                         `json:"description,omitempty"`
	Encoding    string                         `json:"encoding,omitempty"`
	Size        uint32                         `json:"size,omitempty"`
	Text        *imap.BodyStructureText        `json:"text,omitempty"`
	Message     *messagePart                   `json:"message,omitempty"`
	Children    []*bodyPart                    `json:"children,omitempty"`
	Disposition *imap.BodyStructureDisposition `json:"disposition,omitempty"`
	Language    []string                       `json:"language,omitempty"`
	Location    string                         `json:"location,omitempty"`
	HasExt      bool                           `json:"has_ext,omitempty"`
}

type messagePart struct {
	Envelope      *imap.Envelope `json:"envelope"`
	BodyStructure *bodyPart      `json:"body_structure"`
	NumLines      int64          `json:"num_lines"`
}

func fromIMAP(bs imap.BodyStructure) *bodyPart {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		p := &bodyPart{Multipart: true, Subtype: bs.Subtype}
		for _, c := range bs.Children {
			p.Children = append(p.Children, fromIMAP(c))
		}
		if e := bs.Extended; e != nil {
			p.HasExt, p.Params, p.Disposition, p.Language, p.Location = true, e.Params, e.Disposition, e.Language, e.Location
		}
		return p
	case *imap.BodyStructureSinglePart:
		p := &bodyPart{Type: bs.Type, Subtype: bs.Subtype, Params: bs.Params, ID: bs.ID,
			Description: bs.Description, Encoding: bs.Encoding, Size: bs.Size, Text: bs.Text}
		if m := bs.MessageRFC822; m != nil {
			p.Message = &messagePart{Envelope: m.Envelope, BodyStructure: fromIMAP(m.BodyStructure), NumLines: m.NumLines}
		}
		if e := bs.Extended; e != nil {
			p.HasExt, p.Disposition, p.Language, p.Location = true, e.Disposition, e.Language, e.Location
		}
		return p
	}
	return &bodyPart{Type: "text", Subtype: "plain"}
}

// toIMAP rebuilds the body structure; without extended, the extension
// data BODYSTRUCTURE carries but BODY does not is left out.
func (p *bodyPart) toIMAP(extended bool) imap.BodyStructure {
	if p.Multipart {
		bs := &imap.BodyStructureMultiPart{Subtype: p.Subtype}
		for _, c := range p.Children {
			bs.Children = append(bs.Children, c.toIMAP(extended))
		}
		if extended && p.HasExt {
			bs.Extended = &imap.BodyStructureMultiPartExt{Params: p.Params, Disposition: p.Disposition, Language: p.Language, Location: p.Location}
		}
		return bs
	}
	bs := &imap.BodyStructureSinglePart{Type: p.Type, Subtype: p.Subtype, Params: p.Params, ID: p.ID,
		Description: p.Description, Encoding: p.Encoding, Size: p.Size, Text: p.Text}
	if p.Message != nil {
		bs.MessageRFC822 = &imap.BodyStructureMessageRFC822{Envelope: p.Message.Envelope, NumLines: p.Message.NumLines}
		if p.Message.BodyStructure != nil {
			bs.MessageRFC822.BodyStructure = p.Message.BodyStructure.toIMAP(extended)
		}
	}
	if extended && p.HasExt {
		bs.Extended = &imap.BodyStructureSinglePartExt{Disposition: p.Disposition, Language: p.Language, Location: p.Location}
	}
	return bs
}

// computeCache parses body guid. A body that cannot be read yields a nil
// cache, and the record is still stored: the message is durable, and
// Envelope and BodyStructure parse the file when asked.
func (s *Store) computeCache(tx *bolt.Tx, guid string) []byte {
	e, err := s.parseBody(tx, guid)
	if err != nil {
		s.log.Warn("spool: computing envelope and body structure", "guid", guid, "err", err)
		return nil
	}
	b, err := json.Marshal(e)
	if err != nil {
		s.log.Warn("spool: encoding envelope and body structure", "guid", guid, "err", err)
		return nil
	}
	return b
}

func (s *Store) parseBody(tx *bolt.Tx, guid string) (*cacheEntry, error) {
	f, err := s.openBody(tx, guid)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env, bs := readBodyStructure(f)
	return &cacheEntry{Envelope: env, BodyStructure: fromIMAP(bs)}, nil
}

// cached returns the cache entry of guid, parsing the body when the index
// holds none.
func (s *Store) cached(guid string) (*cacheEntry, error) {
	if !validGUID(guid) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidGUID, guid)
	}
	var raw []byte
	var known bool
	err := s.view(func(tx *bolt.Tx) error {
		known = hasBody(tx, guid)
		raw = append(raw, tx.Bucket(bucketCache).Get(guidKey(guid))...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !known {
		// Expunged, but its file retained (Retain): parse it.
		e, err := s.parseBody(nil, guid)
		if err != nil {
			return nil, fmt.Errorf("%w: body %s", ErrNoMessage, guid)
		}
		return e, nil
	}
	if len(raw) > 0 {
		var e cacheEntry
		if err := json.Unmarshal(raw, &e); err == nil {
			return &e, nil
		}
	}
	e, err := s.parseBody(nil, guid)
	if err != nil {
		return nil, fsError("parse body", err)
	}
	return e, nil
}

// Envelope returns the envelope of body guid, as cached when it was stored.
func (s *Store) Envelope(guid string) (*imap.Envelope, error) {
	e, err := s.cached(guid)
	if err != nil {
		return nil, err
	}
	return e.Envelope, nil
}

// BodyStructure returns the body structure of body guid; extended adds the
// extension data of BODYSTRUCTURE.
func (s *Store) BodyStructure(guid string, extended bool) (imap.BodyStructure, error) {
	e, err := s.cached(guid)
	if err != nil {
		return nil, err
	}
	return e.BodyStructure.toIMAP(extended), nil
}
