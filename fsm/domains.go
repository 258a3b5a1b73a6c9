package fsm

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Mail domains and aliases: which addresses the cluster takes mail and
// logins for, and which user each address names.
//
// A directory with no domains serves every domain, as before domains
// existed: a recipient local@any.domain reaches the user local@any.domain,
// else the user local. Once a domain is added, only the domains recorded
// are served, and one of them is the default: a user name without a
// domain is a user of the default domain, so "alice" is reached as
// alice@default.example and logs in as "alice" or "alice@default.example".

// Domain is a mail domain the cluster serves.
type Domain struct {
	Name    string `json:"name"`    // lower case, LDH labels
	Default bool   `json:"default"` // user names without a domain belong to it
}

// Alias is an address that delivers to a user: many aliases may name one
// user. Its domain is a served one; it is never a user's own address.
type Alias struct {
	Address string `json:"address"` // local@domain, lower case
	User    string `json:"user"`    // canonical user name
}

// DomainAdd adds a served domain. With Default, or when no domain is the
// default yet, it becomes the default and the previous default loses the
// mark. Count 0: the domain was already there as the command would leave
// it.
type DomainAdd struct {
	Name    string
	Default bool
}

// DomainRemove stops serving a domain. It is refused while aliases in it
// remain, and for the default while other domains remain.
type DomainRemove struct {
	Name string
}

// AliasAdd makes Address deliver to User. Count 0: it already did.
type AliasAdd struct {
	Address string
	User    string
}

// AliasRemove drops an alias.
type AliasRemove struct {
	Address string
}

func (DomainAdd) Type() CommandType    { return TypeDomainAdd }
func (DomainRemove) Type() CommandType { return TypeDomainRemove }
func (AliasAdd) Type() CommandType     { return TypeAliasAdd }
func (AliasRemove) Type() CommandType  { return TypeAliasRemove }

func lessAlias(a, b *Alias) bool { return a.Address < b.Address }

// CanonicalDomain checks a domain name and returns it in lower case: LDH
// labels as RFC 5321 has them (no address literal), as a user name's
// domain part may be.
func CanonicalDomain(name string) (string, error) {
	if strings.HasPrefix(name, "[") {
		return "", fmt.Errorf("%w: %q: an address literal is not a mail domain", ErrInvalidDomain, name)
	}
	if why := checkDomain(name); why != "" {
		return "", fmt.Errorf("%w: %q: %s", ErrInvalidDomain, name, why)
	}
	name = strings.ToLower(name)
	if !validUserPart(name, ".-") {
		return "", fmt.Errorf("%w: %q", ErrInvalidDomain, name)
	}
	return name, nil
}

// CanonicalAddress checks an alias address, local@domain, and returns it
// in lower case; its local part follows the rules of a user name's.
func CanonicalAddress(addr string) (string, error) {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok {
		return "", fmt.Errorf("%w: %q has no domain", ErrInvalidAddress, addr)
	}
	d, err := CanonicalDomain(domain)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidAddress, err)
	}
	local = strings.ToLower(local)
	if !validUserPart(local, "._-") || len(local) > maxLocalPart {
		return "", fmt.Errorf("%w: %q: bad local part", ErrInvalidAddress, addr)
	}
	return local + "@" + d, nil
}

func (f *FSM) registerDomainHandlers() {
	on(f, (*FSM).domainAdd)
	on(f, (*FSM).domainRemove)
	on(f, (*FSM).aliasAdd)
	on(f, (*FSM).aliasRemove)
}

func (f *FSM) domainAdd(c DomainAdd) Result {
	name, err := CanonicalDomain(c.Name)
	if err != nil {
		return failed(err)
	}
	old := f.work.domains
	makeDefault := c.Default || f.work.defaultDomain() == ""
	i, found := f.work.domainIndex(name)
	if found && (old[i].Default || !makeDefault) {
		return Result{}
	}
	next := make([]Domain, 0, len(old)+1)
	for _, d := range old {
		if d.Name == name {
			continue
		}
		if makeDefault {
			d.Default = false
		}
		next = append(next, d)
	}
	next = append(next, Domain{Name: name, Default: makeDefault})
	slices.SortFunc(next, func(a, b Domain) int { return strings.Compare(a.Name, b.Name) })
	f.work.domains = next
	return Result{Count: 1}
}

func (f *FSM) domainRemove(c DomainRemove) Result {
	name, err := CanonicalDomain(c.Name)
	if err != nil {
		return failed(err)
	}
	i, ok := f.work.domainIndex(name)
	if !ok {
		return failed(fmt.Errorf("%w: %s", ErrNoDomain, name))
	}
	if f.work.domains[i].Default && len(f.work.domains) > 1 {
		return failed(fmt.Errorf("%w: %s is the default domain; make another the default first", ErrDomainInUse, name))
	}
	inUse := false
	f.work.aliases.Ascend(func(a *Alias) bool {
		inUse = strings.HasSuffix(a.Address, "@"+name)
		return !inUse
	})
	if inUse {
		return failed(fmt.Errorf("%w: aliases in %s remain", ErrDomainInUse, name))
	}
	f.work.domains = slices.Delete(slices.Clone(f.work.domains), i, i+1)
	return Result{Count: 1}
}

func (f *FSM) aliasAdd(c AliasAdd) Result {
	addr, err := CanonicalAddress(c.Address)
	if err != nil {
		return failed(err)
	}
	u, err := f.existingUser(c.User)
	if err != nil {
		return failed(err)
	}
	_, domain, _ := strings.Cut(addr, "@")
	if _, ok := f.work.domainIndex(domain); !ok {
		return failed(fmt.Errorf("%w: %s", ErrNoDomain, domain))
	}
	if old, ok := f.work.alias(addr); ok {
		if old.User == u.Name {
			return Result{}
		}
		return failed(fmt.Errorf("%w: %s is an alias of %s", ErrAddressTaken, addr, old.User))
	}
	local, _, _ := strings.Cut(addr, "@")
	if owner, ok := f.work.addressUser(local, domain); ok {
		return failed(fmt.Errorf("%w: %s is the address of user %s", ErrAddressTaken, addr, owner))
	}
	f.work.aliases.ReplaceOrInsert(&Alias{Address: addr, User: u.Name})
	f.dirty |= dirtyAliases
	return Result{Count: 1}
}

func (f *FSM) aliasRemove(c AliasRemove) Result {
	addr, err := CanonicalAddress(c.Address)
	if err != nil {
		return failed(err)
	}
	if _, ok := f.work.aliases.Delete(&Alias{Address: addr}); !ok {
		return failed(fmt.Errorf("%w: %s", ErrNoAlias, addr))
	}
	f.dirty |= dirtyAliases
	return Result{Count: 1}
}

// dropAliases removes every alias of user, so that a new account of the
// same name does not inherit them. Like dropGrants it walks the table:
// deleting a user is rare.
func (f *FSM) dropAliases(user string) {
	var gone []*Alias
	f.work.aliases.Ascend(func(a *Alias) bool {
		if a.User == user {
			gone = append(gone, a)
		}
		return true
	})
	for _, a := range gone {
		f.work.aliases.Delete(a)
		f.dirty |= dirtyAliases
	}
}

func (t *tables) domainIndex(name string) (int, bool) {
	return slices.BinarySearchFunc(t.domains, name, func(d Domain, n string) int { return strings.Compare(d.Name, n) })
}

func (t *tables) defaultDomain() string {
	for _, d := range t.domains {
		if d.Default {
			return d.Name
		}
	}
	return ""
}

func (t *tables) alias(addr string) (*Alias, bool) {
	return t.aliases.Get(&Alias{Address: addr})
}

// userNames lists the user names that local@domain may be, most specific
// first. With no domains recorded: local@domain, then local (domain ""
// gives local alone). Else only in a served domain (domain "" is the
// default): local@domain, then local when domain is the default.
func (t *tables) userNames(local, domain string) []string {
	var names []string
	add := func(n string) {
		if u, err := CanonicalUser(n); err == nil {
			names = append(names, u)
		}
	}
	if len(t.domains) == 0 {
		if domain != "" {
			return Recipient{User: local, Domain: domain}.Users()
		}
		add(local)
		return names
	}
	def := t.defaultDomain()
	if domain == "" {
		domain = def
	}
	if _, ok := t.domainIndex(domain); !ok {
		return nil
	}
	add(local + "@" + domain)
	if domain == def {
		add(local)
	}
	return names
}

// addressUser is the existing user whose own address local@domain is.
func (t *tables) addressUser(local, domain string) (string, bool) {
	for _, n := range t.userNames(local, domain) {
		if _, ok := t.user(n); ok {
			return n, true
		}
	}
	return "", false
}

// Domains lists the served domains in name order; none means every
// domain is served.
func (v *View) Domains() []Domain { return slices.Clone(v.domains) }

// DefaultDomain is the domain of user names without one; "" when no
// domains are recorded.
func (v *View) DefaultDomain() string { return v.defaultDomain() }

// Serves reports whether mail and logins for domain are taken: every
// domain when none are recorded.
func (v *View) Serves(domain string) bool {
	if len(v.domains) == 0 {
		return true
	}
	_, ok := v.domainIndex(strings.ToLower(domain))
	return ok
}

// Alias looks up an alias by address (any case).
func (v *View) Alias(addr string) (*Alias, bool) {
	return v.alias(strings.ToLower(addr))
}

// Aliases calls fn for every alias in address order until fn returns
// false.
func (v *View) Aliases(fn func(*Alias) bool) {
	v.aliases.Ascend(func(a *Alias) bool { return fn(a) })
}

// LoginUser is the user a login name names: the name itself with no
// domains recorded; else local@domain in a served domain, or the user
// local of the default domain ("alice" and "alice@default.example" name
// the same user). Aliases never log in.
func (v *View) LoginUser(name string) (*User, bool) {
	canon, err := CanonicalUser(name)
	if err != nil {
		return nil, false
	}
	if len(v.domains) == 0 {
		return v.user(canon)
	}
	local, domain, _ := strings.Cut(canon, "@")
	if n, ok := v.addressUser(local, domain); ok {
		return v.user(n)
	}
	return nil, false
}

// Deliver is where mail to r goes: the user it names (userNames), else
// the user its alias names, and that user's DeliveryTarget for r's
// detail. A domain not served is ErrNoDomain; an address that names no
// active user is ErrNoUser.
func (v *View) Deliver(r Recipient) (string, *Mailbox, error) {
	if !v.Serves(r.Domain) {
		return "", nil, fmt.Errorf("%w: %s", ErrNoDomain, r.Domain)
	}
	for _, user := range v.userNames(r.User, r.Domain) {
		mb, err := v.DeliveryTarget(user, r.Detail)
		if !errors.Is(err, ErrNoUser) {
			return user, mb, err
		}
	}
	if a, ok := v.alias(strings.ToLower(r.User) + "@" + r.Domain); ok {
		mb, err := v.DeliveryTarget(a.User, r.Detail)
		return a.User, mb, err
	}
	return "", nil, fmt.Errorf("%w: %s@%s", ErrNoUser, r.User, r.Domain)
}

func (c DomainAdd) appendTo(e *encoder) { e.string(c.Name); e.byte(boolByte(c.Default)) }

func decodeDomainAdd(d *decoder) Command { return DomainAdd{Name: d.string(), Default: d.bool()} }

func (c DomainRemove) appendTo(e *encoder) { e.string(c.Name) }

func decodeDomainRemove(d *decoder) Command { return DomainRemove{Name: d.string()} }

func (c AliasAdd) appendTo(e *encoder) { e.string(c.Address); e.string(c.User) }

func decodeAliasAdd(d *decoder) Command { return AliasAdd{Address: d.string(), User: d.string()} }

func (c AliasRemove) appendTo(e *encoder) { e.string(c.Address) }

func decodeAliasRemove(d *decoder) Command { return AliasRemove{Address: d.string()} }

// aliasOfUserName is the alias, if any, whose address a user of that name
// would have as its own: a user is never added under an alias's address.
func (t *tables) aliasOfUserName(name string) (*Alias, bool) {
	addr := name
	if !strings.Contains(name, "@") {
		def := t.defaultDomain()
		if def == "" {
			return nil, false
		}
		addr = name + "@" + def
	}
	return t.alias(addr)
}
