package statuspage

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const chromiumPath = "/usr/bin/chromium"

// chromium runs headless Chromium with extra arguments and the URL, in its
// own process group so that a run past its deadline is killed with every
// child process it started.
func chromium(t *testing.T, url string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--window-size=1200,900", "--virtual-time-budget=5000"}
	args = append(append(args, extra...), url)
	cmd := exec.CommandContext(ctx, chromiumPath, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String(), 2000))
	}
	return stdout.Bytes()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// TestPageInBrowser renders the page in headless Chromium against a fixed
// cluster and checks that the script drew it: the DOM after the script ran
// names every node and backend, and the screenshot holds the colours of the
// leader's badge and of each backend's bar.
func TestPageInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("headless browser test skipped: %s not installed", chromiumPath)
	}
	src := &fixedSource{c: fiveNodes()}
	url := servePage(t, src)

	dom := string(chromium(t, url, "--dump-dom"))
	for _, want := range []string{">mx1<", ">mx2<", ">mx3<", ">mx4<", ">edge1<", "unreachable", " draining<", ">42<", "3.5 s"} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM after the script ran lacks %q", want)
		}
	}
	if !strings.Contains(dom, `id="leader">mx1<`) {
		t.Errorf("leader not shown in the header")
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", tail(dom, 4000))
	}
	// The page polls: the virtual time budget covers at least one refresh
	// after the first load.
	if n := src.calls.Load(); n < 2 {
		t.Errorf("source read %d times: the page did not poll", n)
	}

	shot := filepath.Join(t.TempDir(), "status.png")
	chromium(t, url, "--screenshot="+shot, "--hide-scrollbars")
	if dst := os.Getenv("ROOKERY_STATUSPAGE_PNG"); dst != "" {
		if b, err := os.ReadFile(shot); err == nil {
			os.WriteFile(dst, b, 0o644)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Errorf("screenshot %v, want 1200x900", b)
	}
	colours := countColours(img)
	if len(colours) < 50 {
		t.Errorf("screenshot has %d distinct colours: the page did not render", len(colours))
	}
	for name, c := range map[string]color.RGBA{
		"leader badge":      {0x2b, 0x6c, 0xb0, 0xff},
		"follower badge":    {0x6b, 0x46, 0xc1, 0xff},
		"first backend bar": {0x31, 0x82, 0xce, 0xff},
		"second backend":    {0x38, 0xa1, 0x69, 0xff},
		"third backend":     {0xdd, 0x6b, 0x20, 0xff},
	} {
		if colours[c] < 20 {
			t.Errorf("%s colour #%02x%02x%02x: %d pixels", name, c.R, c.G, c.B, colours[c])
		}
	}
}

func countColours(img image.Image) map[color.RGBA]int {
	out := map[color.RGBA]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			out[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}]++
		}
	}
	return out
}

// TestPageInBrowserNodeDown renders the page with a voter down: the
// header counts voters as the CLI does, the dead node stays in the table
// marked down with how long, and replication to it is not "ok".
func TestPageInBrowserNodeDown(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("headless browser test skipped: %s not installed", chromiumPath)
	}
	url := servePage(t, &fixedSource{c: oneDown(now)})
	dom := string(chromium(t, url, "--dump-dom"))
	for _, want := range []string{`id="voters">2 of 3<`, ">node3<", ">down for 1m30s<", ">replica down<"} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM after the script ran lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("DOM:\n%s", tail(dom, 4000))
	}
}
