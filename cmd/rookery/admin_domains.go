package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/rookery-mail/rookery/fsm"
)

// Mail domains and aliases, kept in the directory (fsm/domains.go).

// domainAdd is `domain add NAME [--default]`.
func (a *adminCmd) domainAdd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("domain add", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	def := fs.Bool("default", false, "")
	name, err := parseWithName(fs, args)
	if err != nil {
		return fmt.Errorf("domain add: %w (usage: domain add NAME [--default])", err)
	}
	res, err := a.client.Apply(ctx, fsm.DomainAdd{Name: name, Default: *def})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return err
	}
	line := "serving " + name
	if res.Count == 0 {
		line += " already"
	}
	return a.done(fmt.Sprintf("%s (raft index %d)", line, res.Index), map[string]any{"index": res.Index, "changed": res.Count > 0})
}

func (a *adminCmd) domainList(ctx context.Context) error {
	domains, err := a.client.Domains(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(domains)
	}
	if len(domains) == 0 {
		fmt.Fprintln(a.out, "no domains: every domain is served, and user names are local parts")
		return nil
	}
	var rows [][]string
	for _, d := range domains {
		def := "-"
		if d.Default {
			def = "default"
		}
		rows = append(rows, []string{d.Name, def})
	}
	a.table("DOMAIN\tDEFAULT", rows)
	return nil
}

// aliasAdd is `alias add ADDRESS USER`.
func (a *adminCmd) aliasAdd(ctx context.Context, addr, user string) error {
	res, err := a.client.Apply(ctx, fsm.AliasAdd{Address: addr, User: user})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return err
	}
	line := fmt.Sprintf("%s delivers to %s", addr, user)
	if res.Count == 0 {
		line += " already"
	}
	return a.done(fmt.Sprintf("%s (raft index %d)", line, res.Index), map[string]any{"index": res.Index, "changed": res.Count > 0})
}

// aliasList is `alias list [USER]`.
func (a *adminCmd) aliasList(ctx context.Context, user string) error {
	if user != "" {
		canon, err := fsm.CanonicalUser(user)
		if err != nil {
			return err
		}
		user = canon
	}
	aliases, err := a.client.Aliases(ctx, user)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(aliases)
	}
	var rows [][]string
	for _, al := range aliases {
		rows = append(rows, []string{al.Address, al.User})
	}
	a.table("ADDRESS\tUSER", rows)
	return nil
}
