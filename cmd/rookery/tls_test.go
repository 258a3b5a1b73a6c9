package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rookery-mail/rookery/tlsutil"
)

func TestTLSCommand(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca")
	var out, errOut bytes.Buffer
	if err := runTLS([]string{"init", "--dir", ca}, &out, &errOut); err != nil {
		t.Fatalf("init: %v\n%s", err, errOut.String())
	}
	if err := runTLS([]string{"init", "--dir", ca}, &out, &errOut); err == nil {
		t.Fatal("second init replaced the CA")
	}
	out.Reset()
	if err := runTLS([]string{"issue", "--ca", ca, "mx1", "mx1.example.com", "127.0.0.1"}, &out, &errOut); err != nil {
		t.Fatalf("issue: %v", err)
	}
	nodeDir := filepath.Join(dir, "mx1-tls")
	if !strings.Contains(out.String(), "mx1.example.com, 127.0.0.1") {
		t.Errorf("issue output %q", out.String())
	}
	if _, err := tlsutil.MutualServerConfig(nodeDir); err != nil {
		t.Fatalf("issued material does not load: %v", err)
	}
	if _, err := tlsutil.GossipKey(filepath.Join(ca, tlsutil.GossipKeyFile)); err != nil {
		t.Fatalf("gossip key: %v", err)
	}
	out.Reset()
	if err := runTLS([]string{"show", filepath.Join(nodeDir, tlsutil.NodeCertFile)}, &out, &errOut); err != nil ||
		!strings.Contains(out.String(), "issuer Rookery cluster CA") {
		t.Fatalf("show: %v %q", err, out.String())
	}
	if err := runTLS([]string{"issue", "--ca", ca, "mx2", "bad_host!"}, &out, &errOut); err == nil {
		t.Fatal("bad host accepted")
	}
	if _, err := os.Stat(filepath.Join(dir, "mx2-tls")); err == nil {
		t.Error("a refused issue left a directory behind")
	}
	if err := runTLS([]string{"issue", "--ca", ca, "mx2"}, &out, &errOut); !errors.Is(err, errUsage) {
		t.Errorf("issue without hosts: %v", err)
	}
	if err := runTLS([]string{"frobnicate"}, &out, &errOut); err == nil {
		t.Error("unknown subcommand accepted")
	}
}
