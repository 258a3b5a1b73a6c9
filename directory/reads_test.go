package directory

import (
	"context"
	"errors"
	"testing"

	"github.com/rookery-mail/rookery/fsm"
)

// laggingDirectory is a Directory whose local copy lacks the commands in
// pending until a Synced read applies them, as a node behind the leader.
type laggingDirectory struct {
	f       *fsm.FSM
	index   uint64
	pending []fsm.Command
	reads   []Level
	fail    error // returned by Synced reads when set
}

var _ Directory = (*laggingDirectory)(nil)

func (d *laggingDirectory) Read(_ context.Context, level Level) (*fsm.View, error) {
	d.reads = append(d.reads, level)
	if level == Synced {
		if d.fail != nil {
			return nil, d.fail
		}
		for _, c := range d.pending {
			d.index++
			d.f.ApplyCommand(d.index, c)
		}
		d.pending = nil
	}
	return d.f.View(), nil
}

func (d *laggingDirectory) Apply(_ context.Context, c fsm.Command) (fsm.Result, error) {
	d.index++
	return d.f.ApplyCommand(d.index, c), nil
}

func (d *laggingDirectory) WaitApplied(ctx context.Context, index uint64) error {
	return d.f.WaitApplied(ctx, index)
}

func findUser(name string) func(*fsm.View) (*fsm.User, bool) {
	return func(v *fsm.View) (*fsm.User, bool) { return v.User(name) }
}

func TestFind(t *testing.T) {
	ctx := context.Background()
	add := func(name string) fsm.Command { return fsm.UserAdd{Name: name, PasswordHash: "$2a$x", At: 1} }
	for _, tc := range []struct {
		name      string
		level     Level
		local     []string // users in the local copy
		pending   []string // users a synced read brings
		fail      error
		lookFor   string
		wantErr   error
		wantFound bool
		wantReads []Level
	}{
		{name: "found locally", level: Local, local: []string{"ann"}, lookFor: "ann",
			wantFound: true, wantReads: []Level{Local}},
		{name: "found fresh", level: Fresh, local: []string{"ann"}, pending: []string{"bob"}, lookFor: "ann",
			wantFound: true, wantReads: []Level{Fresh}},
		{name: "found after the synced read", level: Fresh, pending: []string{"bob"}, lookFor: "bob",
			wantFound: true, wantReads: []Level{Fresh, Synced}},
		{name: "missing even synced", level: Local, local: []string{"ann"}, lookFor: "carol",
			wantErr: ErrNotFound, wantReads: []Level{Local, Synced}},
		{name: "synced reads once", level: Synced, pending: []string{"bob"}, lookFor: "carol",
			wantErr: ErrNotFound, wantReads: []Level{Synced}},
		{name: "the synced read fails", level: Local, lookFor: "bob", fail: ErrNoLeader,
			wantErr: ErrNoLeader, wantReads: []Level{Local, Synced}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &laggingDirectory{f: fsm.New(), fail: tc.fail}
			for _, u := range tc.local {
				d.Apply(ctx, add(u))
			}
			for _, u := range tc.pending {
				d.pending = append(d.pending, add(u))
			}
			u, v, err := Find(ctx, d, tc.level, findUser(tc.lookFor))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if found := u != nil; found != tc.wantFound {
				t.Fatalf("found %v, want %v", u, tc.wantFound)
			}
			if tc.fail == nil && (v == nil || v.Index() != d.index) {
				t.Fatalf("view %v, want one at index %d", v, d.index)
			}
			if tc.fail != nil && v != nil {
				t.Fatal("a failed read returned a view")
			}
			if len(d.reads) != len(tc.wantReads) {
				t.Fatalf("reads %v, want %v", d.reads, tc.wantReads)
			}
			for i := range d.reads {
				if d.reads[i] != tc.wantReads[i] {
					t.Fatalf("reads %v, want %v", d.reads, tc.wantReads)
				}
			}
		})
	}
}

func TestLevelString(t *testing.T) {
	for l, want := range map[Level]string{Local: "local", Fresh: "fresh", Synced: "synced", 9: "level(9)"} {
		if got := l.String(); got != want {
			t.Errorf("%d: %q, want %q", l, got, want)
		}
	}
}
