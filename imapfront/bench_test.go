package imapfront

import (
	"bufio"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// idleClients is run by python3 in a child process, so that the client
// side's sockets and memory stay out of the frontend's figures (and its
// file descriptor limit).
const idleClients = `
import socket, sys, zlib
n, host, port, compress = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4] == "compress"
socks = []
def until(s, want, z=None):
    buf = b""
    while want not in buf:
        chunk = s.recv(4096)
        if not chunk:
            sys.exit("closed after %d" % len(socks))
        buf += z.decompress(chunk) if z else chunk
for i in range(n):
    s = socket.create_connection((host, port))
    s.sendall(b"a LOGIN alice secret\r\n")
    until(s, b"\r\na OK")
    if compress:
        s.sendall(b"b COMPRESS DEFLATE\r\n")
        until(s, b"b OK")
        # One command each way compressed, then the client's own
        # compressor and decompressor go: the server keeps its state.
        c, d = zlib.compressobj(6, zlib.DEFLATED, -15), zlib.decompressobj(-15)
        s.sendall(c.compress(b"c NOOP\r\n") + c.flush(zlib.Z_SYNC_FLUSH))
        until(s, b"c OK", d)
    socks.append(s)
print("ready", flush=True)
sys.stdin.read()
`

// BenchmarkIdleConnMemory measures the frontend's heap and stack per idle
// authenticated connection, over 10,000 connections, plain and after
// COMPRESS=DEFLATE (with one command each way compressed).
func BenchmarkIdleConnMemory(b *testing.B) {
	b.Run("plain", func(b *testing.B) { benchIdleConnMemory(b, "plain") })
	b.Run("compressed", func(b *testing.B) { benchIdleConnMemory(b, "compress") })
}

func benchIdleConnMemory(b *testing.B, mode string) {
	py, err := exec.LookPath("python3")
	if err != nil {
		b.Skip("python3 not installed")
	}
	const n = 10000
	dir := newLocalDirectory()
	dir.addUser(b, "alice", "secret")
	cfg := testConfig(b, dir)
	cfg.MaxConnsPerUser = n
	addr, _ := startFrontend(b, cfg)
	host, port, _ := strings.Cut(addr, ":")
	for i := 0; i < b.N; i++ {
		before := memInUse()
		cmd := exec.Command(py, "-c", idleClients, fmt.Sprint(n), host, port, mode)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "ready" {
			b.Fatalf("clients: %q %v", line, err)
		}
		after := memInUse()
		b.ReportMetric(float64(after-before)/n, "bytes/conn")
		stdin.Close()
		cmd.Wait()
	}
}

func memInUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc + ms.StackInuse)
}

// BenchmarkMixedLoad runs one IMAP session (login, list, select, fetch,
// store, append, expunge, logout) per iteration, through a frontend and
// straight at the backend, over the same cluster.
func BenchmarkMixedLoad(b *testing.B) {
	cl := startTestCluster(b, 1, 1)
	cl.addUser("alice", 0)
	backendAddr := cl.backends[0].IMAPAddr()
	seed := benchClient(b, cl.frontends[0])
	for i := 0; i < 20; i++ {
		benchAppend(b, seed)
	}
	seed.Logout().Wait()
	b.Run("frontend", func(b *testing.B) { mixed(b, cl.frontends[0]) })
	b.Run("backend", func(b *testing.B) { mixed(b, backendAddr) })
}

func mixed(b *testing.B, addr string) {
	for i := 0; i < b.N; i++ {
		c := benchClient(b, addr)
		if _, err := c.List("", "*", nil).Collect(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Fetch(imap.SeqSetNum(1, 2, 3, 4, 5), &imap.FetchOptions{Flags: true, Envelope: true,
			BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect(); err != nil {
			b.Fatal(err)
		}
		benchAppend(b, c)
		if _, err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Collect(); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Expunge().Collect(); err != nil {
			b.Fatal(err)
		}
		if err := c.Logout().Wait(); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func benchClient(b *testing.B, addr string) *imapclient.Client {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Login("alice", "secret").Wait(); err != nil {
		b.Fatal(err)
	}
	return c
}

func benchAppend(b *testing.B, c *imapclient.Client) {
	body := "From: a@example.org\r\nSubject: bench\r\n\r\n" + strings.Repeat("line of text\r\n", 200)
	cmd := c.Append("INBOX", int64(len(body)), &imap.AppendOptions{Time: time.Now()})
	cmd.Write([]byte(body))
	cmd.Close()
	if _, err := cmd.Wait(); err != nil {
		b.Fatal(err)
	}
}
