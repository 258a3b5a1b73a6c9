package readend

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

// A chunk read with a limit reader, as go-smtp reads BDAT, takes the end
// of the connection for the end of the chunk; Body tells them apart.
func TestBodyCutOff(t *testing.T) {
	client, server := net.Pipe()
	c := Wrap(server)
	go func() {
		io.WriteString(client, "0123456789")
		client.Close()
	}()
	chunk := io.LimitReader(c, 26)
	got, err := io.ReadAll(Body(chunk, func() net.Conn { return c }))
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(got) != "0123456789" {
		t.Fatalf("cut-off chunk: %q, %v; want its 10 bytes and io.ErrUnexpectedEOF", got, err)
	}
	if !Ended(c) {
		t.Fatal("Ended is false after the end of input")
	}
}

func TestBodyWhole(t *testing.T) {
	client, server := net.Pipe()
	c := Wrap(server)
	go func() {
		io.WriteString(client, "0123456789")
		client.Close()
	}()
	got, err := io.ReadAll(Body(io.LimitReader(c, 10), func() net.Conn { return c }))
	if err != nil || string(got) != "0123456789" {
		t.Fatalf("whole chunk: %q, %v", got, err)
	}
	if Ended(c) {
		t.Fatal("Ended is true though nothing read past the chunk")
	}
}

func TestEndedOfOtherConnections(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Ended(a) {
		t.Fatal("a connection Wrap did not make has not ended")
	}
	got, err := io.ReadAll(Body(strings.NewReader("x"), func() net.Conn { return a }))
	if err != nil || string(got) != "x" {
		t.Fatalf("body over an unwrapped connection: %q %v", got, err)
	}
}
