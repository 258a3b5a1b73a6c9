package bench

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const chromium = "/usr/bin/chromium"

// haveChromium finds chromium, installing it when the test runs as root on
// a machine with apt-get.
func haveChromium(t *testing.T) {
	if _, err := os.Stat(chromium); err == nil {
		return
	}
	if _, err := exec.LookPath("apt-get"); err != nil || os.Getuid() != 0 {
		t.Skipf("no %s and cannot install it (root with apt-get needed)", chromium)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-qq", "chromium")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("no %s and apt-get install chromium failed: %v\n%s", chromium, err, out)
	}
}

// TestReportRendersInChromium renders a real run's report in headless
// Chromium and checks the screenshot shows charts, not a blank page.
func TestReportRendersInChromium(t *testing.T) {
	haveChromium(t)
	res := runAgainst(t, startBrokenServer(t, honest))
	res.Command = "rookery bench imap --imap test"
	dir := t.TempDir()
	base := filepath.Join(dir, "report")
	if err := res.Write(base); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(base + ".html")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(html), "<svg"); n != 1+len(res.Ops) {
		t.Fatalf("%d SVG charts, want a throughput chart and one histogram for each of %d ops", n, len(res.Ops))
	}
	if strings.Contains(string(html), "<script") || strings.Contains(string(html), "http://") && !strings.Contains(string(html), "http://www.w3.org/2000/svg") {
		t.Fatal("the report loads scripts or other pages")
	}

	shot := filepath.Join(dir, "shot.png")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--screenshot="+shot, "--window-size=1200,900",
		"file://"+base+".html")
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	b, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	colors := make(map[uint32]bool)
	var inked int
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			colors[(r>>8)<<16|(g>>8)<<8|b>>8] = true
			if r < 0xe000 || g < 0xe000 || b < 0xe000 {
				inked++
			}
		}
	}
	total := bounds.Dx() * bounds.Dy()
	t.Logf("screenshot %dx%d: %d colors, %.1f%% inked", bounds.Dx(), bounds.Dy(), len(colors), 100*float64(inked)/float64(total))
	if len(colors) < 200 || inked < total/50 {
		t.Fatalf("the screenshot looks empty: %d colors, %d of %d pixels inked", len(colors), inked, total)
	}
}
