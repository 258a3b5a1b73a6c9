package fsm

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// every command type with every field set, for round trips.
func sampleCommands() []Command {
	return []Command{
		Reserve{Name: "user/a/INBOX", Backend: "b1", Replicas: []string{"b2", "b3"}, Stride: 4, Reservation: "r", At: -5, SpecialUse: `\Sent`},
		Activate{Name: "n", Reservation: "r"},
		Release{Name: "n", Reservation: "r"},
		MarkDeleting{Name: "n"},
		Remove{Name: "n", ID: 1 << 60},
		Rename{From: "a", To: "b"},
		SetACL{Name: "n", Identifier: "anyone", Rights: "lr"},
		ModifyACL{Name: "n", Identifier: "-bob", Mode: ACLRemove, Rights: "w"},
		UserAdd{Name: "u", PasswordHash: "$argon2id$x", QuotaBytes: 1 << 40, At: 3},
		UserPasswd{Name: "u", PasswordHash: "h"},
		UserDelete{Name: "u"},
		Subscribe{User: "u", Name: "n"},
		Unsubscribe{User: "u", Name: "n"},
		BackendRegister{ID: "b", IMAPAddr: "i", LMTPAddr: "l", APIAddr: "a", Weight: 7, At: 9},
		SetBackendState{ID: "b", State: BackendDown, At: 11},
		ReleaseReservations{Backend: "b", Before: 12},
		RemoveDeletions{Backend: "b"},
		Rereplicate{Primary: "b1", Add: "b3", Items: []RereplicateItem{{Mailbox: 4, Epoch: 2, Drop: "b2"}, {Mailbox: 5}}, At: 18},
		Noop{},
		SetInSync{Primary: "b1", Replica: "b2", InSync: true, At: 13},
		Failover{Backend: "b1", Force: true, At: 14},
		MoveStart{Name: "n", MoveID: "m", Target: "b2", KeepSource: true, At: 15},
		MoveMark{Mailbox: 3, MoveID: "m"},
		MoveSwitch{Mailbox: 3, MoveID: "m", At: 16},
		MoveAbort{Mailbox: 3, MoveID: "m", At: 17},
		UserQuota{Name: "alice", QuotaBytes: 1 << 30},
		UserAdmin{Name: "alice", Admin: true},
		DomainAdd{Name: "example.org", Default: true},
		DomainRemove{Name: "example.org"},
		AliasAdd{Address: "info@example.org", User: "alice"},
		AliasRemove{Address: "info@example.org"},
	}
}

func TestCodecRoundTrip(t *testing.T) {
	seen := map[CommandType]bool{}
	for _, cmd := range sampleCommands() {
		data, err := Encode(cmd)
		if err != nil {
			t.Fatalf("Encode(%T): %v", cmd, err)
		}
		if CommandType(data[0]) != cmd.Type() {
			t.Fatalf("%T: type byte %d", cmd, data[0])
		}
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("Decode(%T): %v", cmd, err)
		}
		if !reflect.DeepEqual(got, cmd) {
			t.Fatalf("round trip: got %#v, want %#v", got, cmd)
		}
		seen[cmd.Type()] = true
		// A pointer encodes like the value.
		ptr := reflect.New(reflect.TypeOf(cmd))
		ptr.Elem().Set(reflect.ValueOf(cmd))
		data2, err := Encode(ptr.Interface().(Command))
		if err != nil || !bytes.Equal(data, data2) {
			t.Fatalf("pointer to %T encodes differently: %v", cmd, err)
		}
	}
	for typ := range decoders {
		if decoders[typ] != nil && !seen[CommandType(typ)] {
			t.Fatalf("type %d has a decoder but no sample", typ)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	good, _ := Encode(Reserve{Name: "user/a/INBOX", Backend: "b1", Reservation: "r"})
	tests := map[string][]byte{
		"empty":         {},
		"unknown type":  {100},
		"truncated":     good[:len(good)-2],
		"trailing":      append(append([]byte{}, good...), 0),
		"huge string":   {byte(TypeActivate), 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad varint":    {byte(TypeRemove), 1, 'n', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		"huge list":     {byte(TypeReserve), 0, 0, 0xff, 0xff, 0x03},
		"stride > 2^32": append([]byte{byte(TypeReserve), 0, 0, 0}, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0, 0),
	}
	for name, data := range tests {
		if cmd, err := Decode(data); err == nil {
			t.Errorf("%s: Decode = %#v, want error", name, cmd)
		}
	}
	if _, err := Decode([]byte{100}); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("unknown type: %v", err)
	}
}

func TestDecodeIgnoreUnknown(t *testing.T) {
	cmd, err := Decode([]byte{byte(IgnoreUnknown | 77), 9, 9})
	if err != nil {
		t.Fatal(err)
	}
	u, ok := cmd.(Unknown)
	if !ok || u.T != IgnoreUnknown|77 || !bytes.Equal(u.Payload, []byte{9, 9}) {
		t.Fatalf("Decode = %#v", cmd)
	}
	// A known type proposed with the flag decodes as that type.
	data, _ := Encode(Activate{Name: "n", Reservation: "r"})
	data[0] |= byte(IgnoreUnknown)
	if cmd, err := Decode(data); err != nil || cmd != (Activate{Name: "n", Reservation: "r"}) {
		t.Fatalf("flagged known type: %#v, %v", cmd, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, cmd := range sampleCommands() {
		data, _ := Encode(cmd)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cmd, err := Decode(data)
		if err != nil {
			return
		}
		if _, isUnknown := cmd.(Unknown); isUnknown {
			return
		}
		// Whatever decodes re-encodes to a form that decodes the same.
		again, err := Encode(cmd)
		if err != nil {
			t.Fatalf("re-encode %#v: %v", cmd, err)
		}
		cmd2, err := Decode(again)
		if err != nil || !reflect.DeepEqual(cmd, cmd2) {
			t.Fatalf("unstable: %#v then %#v (%v)", cmd, cmd2, err)
		}
		// And applying it to an empty directory must not panic.
		New().ApplyCommand(1, cmd)
	})
}
