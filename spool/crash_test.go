package spool

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// The crash test runs appenders in a child process (this test binary,
// re-executed), kills it with SIGKILL mid-flight, and checks that the
// reopened store holds every message the child acknowledged.

const crashDirEnv = "ROOKERY_SPOOL_CRASH_DIR"

func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashKeepsAcknowledged")
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	for id := uint64(1); id <= 4; id++ {
		if err := s.CreateMailbox(MailboxMeta{ID: id, UIDValidity: 1, Stride: 2, Slot: 1}); err != nil {
			fmt.Fprintln(os.Stderr, "create:", err)
			os.Exit(2)
		}
	}
	var out sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				id := uint64(1 + (w+n)%4)
				body := fmt.Sprintf("Subject: crash %d %d %d\r\n\r\nbody\r\n", os.Getpid(), w, n)
				if n%5 == 0 {
					body = fmt.Sprintf("Subject: shared %d\r\n\r\nsame body everywhere\r\n", n%3)
				}
				if n%7 == 3 {
					body += strings.Repeat("a body too large to be inline\r\n", inlineMax/30) // a file
				}
				var flags []imap.Flag
				if n%2 == 0 {
					flags = []imap.Flag{imap.FlagSeen, imap.Flag(fmt.Sprintf("k%d", w))}
				}
				m, err := s.Append(context.Background(), AppendRequest{Mailbox: id, Flags: flags, Body: strings.NewReader(body)})
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(2)
				}
				out.Lock()
				fmt.Printf("ack %d %d %s %s\n", id, m.UID, m.GUID, flagString(m.Flags))
				out.Unlock()
			}
		}()
	}
	wg.Wait()
}

func flagString(flags []imap.Flag) string {
	var parts []string
	for _, f := range flags {
		parts = append(parts, string(f))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

type ack struct {
	mailbox uint64
	uid     uint32
	guid    string
	flags   string
}

func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	dir := t.TempDir()
	var all []ack
	for round := 0; round < 3; round++ {
		acks := runAndKill(t, dir, 150)
		if len(acks) < 150 {
			t.Fatalf("round %d: only %d acks", round, len(acks))
		}
		all = append(all, acks...)
		checkAcked(t, dir, all)
	}
}

// runAndKill starts the child on dir, kills it after n acknowledgements,
// and returns every acknowledgement it printed.
func runAndKill(t *testing.T, dir string, n int) []ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []ack
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		var a ack
		if _, err := fmt.Sscanf(sc.Text(), "ack %d %d %s %s", &a.mailbox, &a.uid, &a.guid, &a.flags); err != nil {
			continue // the test framework's own lines
		}
		acks = append(acks, a)
		if len(acks) == n && !killed {
			// Lines already in the pipe are acknowledgements too: keep reading.
			cmd.Process.Signal(syscall.SIGKILL)
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d acks: %v", len(acks), err)
	}
	return acks
}

func checkAcked(t *testing.T, dir string, acks []ack) {
	t.Helper()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer s.Close()
	if err := s.Verify(); err != nil {
		t.Fatalf("verify after crash: %v", err)
	}
	for _, a := range acks {
		m, err := s.Message(a.mailbox, a.uid)
		if err != nil {
			t.Fatalf("acknowledged message %+v lost: %v", a, err)
		}
		if m.GUID != a.guid || flagString(m.Flags) != a.flags {
			t.Fatalf("acknowledged message %+v came back as %+v", a, m)
		}
		f, err := s.Body(m.GUID)
		if err != nil {
			t.Fatalf("body of acknowledged message %+v: %v", a, err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil || hex.EncodeToString(h.Sum(nil)) != m.GUID {
			t.Fatalf("body of acknowledged message %+v does not hash to its guid (%v)", a, err)
		}
	}
	for id := uint64(1); id <= 4; id++ {
		ms, err := s.Messages(id)
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(ms); i++ {
			if ms[i].UID <= ms[i-1].UID {
				t.Fatalf("mailbox %d: uids do not ascend: %d then %d", id, ms[i-1].UID, ms[i].UID)
			}
		}
	}
}
