package fsm

import (
	"encoding/binary"
	"fmt"
)

// A log entry is one type byte, then the command's fields in declaration
// order: unsigned integers and lengths as uvarints, signed integers as
// zig-zag varints, strings as a length and the bytes. The encoding has no
// field tags, so a command's fields are never changed: a new field means a
// new type id. Trailing bytes are an error, so an older replica never
// silently drops fields it does not know.

// maxEntry bounds a log entry; nothing a command carries comes near it.
const maxEntry = 1 << 20

// Unknown is a command of a type this version does not know, whose proposer
// set IgnoreUnknown: it decodes, and applying it changes nothing.
type Unknown struct {
	T       CommandType
	Payload []byte
}

func (u Unknown) Type() CommandType { return u.T }

// wireCommand is a command that can write its own payload.
type wireCommand interface {
	Command
	appendTo(e *encoder)
}

// Encode returns the log entry for cmd.
func Encode(cmd Command) ([]byte, error) {
	cmd = deref(cmd)
	if u, ok := cmd.(Unknown); ok {
		return append([]byte{byte(u.T)}, u.Payload...), nil
	}
	w, ok := cmd.(wireCommand)
	if !ok {
		return nil, fmt.Errorf("%w: cannot encode %T", ErrInvalidCommand, cmd)
	}
	e := encoder{buf: make([]byte, 1, 64)}
	e.buf[0] = byte(w.Type())
	w.appendTo(&e)
	if len(e.buf) > maxEntry {
		return nil, fmt.Errorf("%w: %T encodes to %d bytes", ErrInvalidCommand, cmd, len(e.buf))
	}
	return e.buf, nil
}

// Decode parses a log entry made by Encode. An unknown type decodes to
// Unknown when its IgnoreUnknown bit is set and is an error otherwise.
func Decode(data []byte) (Command, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty entry", ErrInvalidCommand)
	}
	if len(data) > maxEntry {
		return nil, fmt.Errorf("%w: entry of %d bytes", ErrInvalidCommand, len(data))
	}
	t := CommandType(data[0])
	dec := decoders[t&^IgnoreUnknown]
	if dec == nil {
		if t&IgnoreUnknown != 0 {
			return Unknown{T: t, Payload: append([]byte(nil), data[1:]...)}, nil
		}
		return nil, fmt.Errorf("%w: %d", ErrUnknownCommand, t)
	}
	d := decoder{buf: data[1:]}
	cmd := dec(&d)
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("%w: type %d: %v", ErrInvalidCommand, t, err)
	}
	return cmd, nil
}

// decoders is indexed by command type without the IgnoreUnknown bit.
var decoders = [128]func(d *decoder) Command{
	TypeReserve:             decodeReserve,
	TypeActivate:            decodeActivate,
	TypeRelease:             decodeRelease,
	TypeMarkDeleting:        decodeMarkDeleting,
	TypeRemove:              decodeRemove,
	TypeRename:              decodeRename,
	TypeSetACL:              decodeSetACL,
	TypeUserAdd:             decodeUserAdd,
	TypeUserPasswd:          decodeUserPasswd,
	TypeUserDelete:          decodeUserDelete,
	TypeSubscribe:           decodeSubscribe,
	TypeUnsubscribe:         decodeUnsubscribe,
	TypeBackendRegister:     decodeBackendRegister,
	TypeBackendState:        decodeSetBackendState,
	TypeReleaseReservations: decodeReleaseReservations,
	TypeNoop:                func(*decoder) Command { return Noop{} },
	TypeSetInSync:           decodeSetInSync,
	TypeFailover:            decodeFailover,
	TypeMoveStart:           decodeMoveStart,
	TypeMoveMark:            decodeMoveMark,
	TypeMoveSwitch:          decodeMoveSwitch,
	TypeMoveAbort:           decodeMoveAbort,
	TypeUserQuota:           decodeUserQuota,
	TypeUserAdmin:           decodeUserAdmin,
	TypeRemoveDeletions:     decodeRemoveDeletions,
	TypeModifyACL:           decodeModifyACL,
	TypeRereplicate:         decodeRereplicate,
	TypeDomainAdd:           decodeDomainAdd,
	TypeDomainRemove:        decodeDomainRemove,
	TypeAliasAdd:            decodeAliasAdd,
	TypeAliasRemove:         decodeAliasRemove,
}

type encoder struct {
	buf []byte
}

func (e *encoder) uint(v uint64)   { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) int(v int64)     { e.buf = binary.AppendVarint(e.buf, v) }
func (e *encoder) byte(v byte)     { e.buf = append(e.buf, v) }
func (e *encoder) string(s string) { e.uint(uint64(len(s))); e.buf = append(e.buf, s...) }

func (e *encoder) strings(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.string(s)
	}
}

// decoder reads what encoder wrote. The first error sticks: later reads
// return zero values, and finish reports it.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
	d.buf = nil
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) uint32() uint32 {
	v := d.uint()
	if v > 1<<32-1 {
		d.fail("value %d overflows 32 bits", v)
		return 0
	}
	return uint32(v)
}

func (d *decoder) byte() byte {
	if len(d.buf) == 0 {
		d.fail("truncated")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

// string copies, so that a decoded command never aliases the log's buffer.
func (d *decoder) string() string {
	n := d.uint()
	if n > uint64(len(d.buf)) {
		d.fail("string of %d bytes past the end", n)
		return ""
	}
	s := string(d.buf[:n])
	d.buf = d.buf[n:]
	return s
}

// count reads a length of a list whose elements take at least one byte
// each, so a corrupt length cannot make the decoder allocate without bound.
func (d *decoder) count() int {
	n := d.uint()
	if n > uint64(len(d.buf)) {
		d.fail("list of %d elements past the end", n)
		return 0
	}
	return int(n)
}

func (d *decoder) strings() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string()
	}
	return ss
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.buf) > 0 {
		d.err = fmt.Errorf("%d trailing bytes", len(d.buf))
	}
	return d.err
}
