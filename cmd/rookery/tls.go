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

const tlsInitUsage = `Usage: rookery tls init [--dir DIR]

Makes a new cluster CA (ca.crt, ca.key) and gossip key (gossip.key) in DIR.
Keep ca.key off the nodes.

Example:
  rookery tls init --dir ./cluster-ca

Flags:
`

const tlsIssueUsage = `Usage: rookery tls issue [--ca DIR] [--out DIR] NODE HOST...

Makes a certificate for node NODE signed by the cluster CA, valid for the
host names and IP addresses HOST that other nodes dial it by, and writes
node.crt, node.key (mode 0600) and ca.crt to --out. Run it again to renew.

Example:
  rookery tls issue --ca ./cluster-ca --out ./mx1-tls mx1 mx1.example.com 10.0.0.1

Flags:
`

const tlsShowUsage = `Usage: rookery tls show FILE

Prints a certificate's subject, names, validity, issuer and serial.

Example:
  rookery tls show /etc/rookery/tls/node.crt
`

func runTLS(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErrorf("tls", "name a command: init, issue or show")
	}
	fs := flag.NewFlagSet("tls "+args[0], flag.ContinueOnError)
	cmd := "tls " + args[0]
	switch args[0] {
	case "init":
		dir := fs.String("dir", "rookery-ca", "CA `directory` to create")
		if err := parseFlags(fs, cmd, tlsInitUsage, args[1:], stdout); err != nil {
			return helpDone(err)
		}
		if fs.NArg() != 0 {
			return usageErrorf(cmd, "unexpected argument %q (the directory goes in --dir)", fs.Arg(0))
		}
		return tlsInit(*dir, stdout)
	case "issue":
		caDir := fs.String("ca", "rookery-ca", "CA `directory` made by rookery tls init")
		out := fs.String("out", "", "output `directory` (default: NODE-tls beside the CA directory)")
		if err := parseFlags(fs, cmd, tlsIssueUsage, args[1:], stdout); err != nil {
			return helpDone(err)
		}
		if fs.NArg() < 2 {
			return usageErrorf(cmd, "name the node and at least one host name or address it is dialled by")
		}
		node := fs.Arg(0)
		if *out == "" {
			*out = filepath.Join(filepath.Dir(filepath.Clean(*caDir)), node+"-tls")
		}
		return tlsIssue(*caDir, node, fs.Args()[1:], *out, stdout)
	case "show":
		if err := parseFlags(fs, cmd, tlsShowUsage, args[1:], stdout); err != nil {
			return helpDone(err)
		}
		if fs.NArg() != 1 {
			return usageErrorf(cmd, "name one certificate file")
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
	return usageErrorf("tls", "unknown command %q: init, issue or show", args[0])
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
