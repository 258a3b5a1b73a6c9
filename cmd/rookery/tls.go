package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/rookery-mail/rookery/tlsutil"
)

const tlsUsage = `Usage: rookery tls COMMAND [flags] [ARGS]

Makes the TLS material of a cluster: a cluster CA, node certificates signed
by it (mutual TLS between nodes) and the gossip encryption key.

Commands:
  init [--dir DIR]                          a new cluster CA and gossip key in DIR
  issue [--ca DIR] [--out DIR] NODE HOST... a certificate for node NODE, valid for the
                                            host names and IP addresses HOST that other
                                            nodes dial it by; renews it when one exists
  show FILE                                 a certificate's subject, names and validity

Keys are written with mode 0600. Keep the CA directory off the nodes: a node
needs only its own directory (node.crt, node.key, ca.crt) and gossip.key.

Example:
  rookery tls init --dir ./cluster-ca
  rookery tls issue --ca ./cluster-ca --out ./mx1-tls mx1 mx1.example.com 10.0.0.1
  scp -r ./mx1-tls mx1:/etc/rookery/tls && scp ./cluster-ca/gossip.key mx1:/etc/rookery/
`

func runTLS(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, tlsUsage)
		return errUsage
	}
	fs := flag.NewFlagSet("tls "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tlsUsage); fs.PrintDefaults() }
	switch args[0] {
	case "init":
		dir := fs.String("dir", "rookery-ca", "CA `directory` to create")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 {
			return errUsage
		}
		return tlsInit(*dir, stdout)
	case "issue":
		caDir := fs.String("ca", "rookery-ca", "CA `directory` made by rookery tls init")
		out := fs.String("out", "", "output `directory` (default: NODE-tls beside the CA directory)")
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() < 2 {
			fs.Usage()
			return errUsage
		}
		node := fs.Arg(0)
		if *out == "" {
			*out = filepath.Join(filepath.Dir(filepath.Clean(*caDir)), node+"-tls")
		}
		return tlsIssue(*caDir, node, fs.Args()[1:], *out, stdout)
	case "show":
		if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
			fs.Usage()
			return errUsage
		}
		cert, err := tlsutil.LoadCert(fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\nissuer %s, serial %x\n", tlsutil.Describe(cert), cert.Issuer.CommonName, cert.SerialNumber)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, tlsUsage)
		return nil
	}
	fmt.Fprint(stderr, tlsUsage)
	return fmt.Errorf("unknown tls command %q", args[0])
}

func tlsInit(dir string, stdout io.Writer) error {
	ca, err := tlsutil.InitCA(dir)
	if err != nil {
		return err
	}
	keyPath := filepath.Join(dir, tlsutil.GossipKeyFile)
	if err := tlsutil.InitGossipKey(keyPath); err != nil && !errors.Is(err, tlsutil.ErrExists) {
		return err
	}
	fmt.Fprintf(stdout, "cluster CA %s\n  %s (copy to every node)\n  %s (mode 0600; keep it off the nodes)\n  %s (gossip key, mode 0600; copy to every node)\n",
		tlsutil.Describe(ca.Cert), filepath.Join(dir, tlsutil.CACertFile), filepath.Join(dir, tlsutil.CAKeyFile), keyPath)
	fmt.Fprintf(stdout, "next: rookery tls issue --ca %s NODE HOST... for each node\n", dir)
	return nil
}

func tlsIssue(caDir, node string, hosts []string, out string, stdout io.Writer) error {
	cert, err := tlsutil.IssueNode(caDir, node, hosts, out)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "node certificate %s\n  %s, %s (mode 0600), %s\n", tlsutil.Describe(cert),
		filepath.Join(out, tlsutil.NodeCertFile), filepath.Join(out, tlsutil.NodeKeyFile), filepath.Join(out, tlsutil.CACertFile))
	return nil
}
