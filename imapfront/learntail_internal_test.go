package imapfront

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// scriptedBackend answers each command read on conn with the next reply,
// in which "TAG" stands for the command's tag.
func scriptedBackend(t *testing.T, conn net.Conn, replies ...string) {
	t.Helper()
	go func() {
		r := bufio.NewReader(conn)
		for _, reply := range replies {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, _, _ := strings.Cut(line, " ")
			if _, err := io.WriteString(conn, strings.ReplaceAll(reply, "TAG", tag)); err != nil {
				return
			}
		}
	}()
}

// TestLearnTailPartialAnswer: a backend that answers FETCH n:* (UID) for
// fewer messages than it announced, or refuses it, leaves those messages
// unknown, to be asked for again, and the view whole: only a UID that
// contradicts the view (not above every known one) breaks it.
func TestLearnTailPartialAnswer(t *testing.T) {
	front, back := net.Pipe()
	defer front.Close()
	defer back.Close()
	bc := &backendConn{id: "b1", nc: front, br: bufio.NewReader(front), bw: bufio.NewWriter(front), timout: 10 * time.Second}
	v := &mboxView{id: 1, uidValidity: 7, uids: []uint32{10, 12}, top: 12, unknown: 3}
	s := &session{log: slog.New(slog.DiscardHandler), bw: bufio.NewWriter(io.Discard), selected: bc, view: v}
	bc.view = v

	scriptedBackend(t, back,
		// Round one: UIDs for the first two of three; round two asks again
		// only in the next learnTail.
		"* 3 FETCH (UID 14)\r\n* 4 FETCH (UID 16)\r\nTAG OK done\r\n",
		// The next call: refused.
		"TAG NO not now\r\n",
		// The next: the last one, then a UID below the top.
		"* 5 FETCH (UID 18)\r\nTAG OK done\r\n",
	)
	if err := s.learnTail(); err != nil || v.broken != "" || v.unknown != 1 || len(v.uids) != 4 {
		t.Fatalf("after a partial answer: err %v, view %+v", err, v)
	}
	if err := s.learnTail(); err != nil || v.broken != "" || v.unknown != 1 {
		t.Fatalf("after a refusal: err %v, view %+v", err, v)
	}
	if err := s.learnTail(); err != nil || v.broken != "" || v.unknown != 0 || v.top != 18 {
		t.Fatalf("after the last answer: err %v, view %+v", err, v)
	}

	v.unknown = 1
	scriptedBackend(t, back, "* 6 FETCH (UID 11)\r\nTAG OK done\r\n")
	if err := s.learnTail(); err != nil || v.broken == "" {
		t.Fatalf("a UID below the top must break the view: err %v, view %+v", err, v)
	}
}
