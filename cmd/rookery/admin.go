package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rookery-mail/rookery/auth"
	"github.com/rookery-mail/rookery/backend"
	"github.com/rookery-mail/rookery/directory"
	"github.com/rookery-mail/rookery/fsm"
	"github.com/rookery-mail/rookery/internal/node"
	"github.com/rookery-mail/rookery/replication"
	"github.com/rookery-mail/rookery/tlsutil"
)

const adminUsage = `Usage: rookery admin [flags] COMMAND [ARGS]

Talks to any node's cluster API. The node and the cluster secret come from
--config (a node's config file), or --addr and $ROOKERY_CLUSTER_SECRET. A
cluster with node TLS needs a certificate of its CA: the config's
tls.node_dir, or --tls-dir (a directory made by rookery tls issue).

Commands:
%s
Every command takes --help for its own usage and an example
(rookery admin snapshot save --help); --json prints JSON for every command.

Examples:
  rookery admin --config /etc/rookery/node.toml status
  echo 's3cret-pw' | rookery admin --addr 127.0.0.1:7001 user add alice
  rookery admin --addr 127.0.0.1:7001 --json mailbox list user/alice/
  rookery admin --config /etc/rookery/node.toml mailbox move user/alice/INBOX b2

Flags:
`

type adminCmd struct {
	client *directory.Client
	secret string
	json   bool
	stdin  io.Reader
	out    io.Writer
	errOut io.Writer // progress lines
}

// adminFlags are rookery admin's own flags, which go before or after the
// command.
type adminFlags struct {
	fs                       *flag.FlagSet
	configPath, addr, tlsDir *string
	asJSON                   *bool
	timeout                  *time.Duration
}

func newAdminFlags() adminFlags {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	return adminFlags{
		fs:         fs,
		configPath: fs.String("config", "", "a node's TOML config `file` (cluster API address and secret)"),
		addr:       fs.String("addr", "", "cluster API `host:port` of any node"),
		asJSON:     fs.Bool("json", false, "print JSON instead of a table"),
		timeout:    fs.Duration("timeout", 30*time.Second, "give up after this long"),
		tlsDir:     fs.String("tls-dir", "", "`directory` with node.crt, node.key and ca.crt for a cluster with node TLS"),
	}
}

func runAdmin(args []string, stdout, stderr io.Writer) error {
	f := newAdminFlags()
	fs, configPath, addr, asJSON, timeout, tlsDir := f.fs, f.configPath, f.addr, f.asJSON, f.timeout, f.tlsDir
	if err := parseFlags(fs, "admin", fmt.Sprintf(adminUsage, adminCommandList()), hoistFlags(fs, args), stdout); err != nil {
		return helpDone(err)
	}
	a := &adminCmd{json: *asJSON, stdin: os.Stdin, out: stdout, errOut: stderr}
	cmdArgs := fs.Args()
	if len(cmdArgs) == 0 {
		return usageErrorf("admin", "name a command")
	}
	if asked, err := a.commandHelp(cmdArgs); asked || err != nil {
		return err
	}
	if err := checkAdminArgs(cmdArgs); err != nil {
		return err
	}
	secret := os.Getenv("ROOKERY_CLUSTER_SECRET")
	if *configPath != "" {
		cfg := Default()
		if err := cfg.LoadFile(*configPath); err != nil {
			return err
		}
		if *addr == "" {
			*addr = cfg.Directory.APIAddr
		}
		if secret == "" {
			secret = cfg.ClusterSecret
		}
		if *tlsDir == "" {
			*tlsDir = cfg.TLS.NodeDir
		}
	}
	if *addr == "" {
		return usageErrorf("admin", "no node to talk to: give --config FILE (a node's config) or --addr HOST:PORT")
	}
	if secret == "" {
		return usageErrorf("admin", "no cluster secret: give --config FILE or set $ROOKERY_CLUSTER_SECRET")
	}
	a.client = directory.NewClient(*addr, secret)
	a.secret = secret
	if *tlsDir != "" {
		tc, err := tlsutil.MutualClientConfig(*tlsDir)
		if err != nil {
			return fmt.Errorf("--tls-dir: %w", err)
		}
		a.client.WithTLS(tc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	return a.reportError(a.run(ctx, cmdArgs))
}

// reportError prints a failed command's error as JSON with --json, and
// returns errReported so it is not printed again; without --json it
// returns err for main to print.
func (a *adminCmd) reportError(err error) error {
	if err == nil || !a.json || errors.Is(err, errUsage) {
		return err
	}
	if perr := a.printJSON(map[string]any{"ok": false, "error": err.Error()}); perr != nil {
		return err
	}
	return errReported
}

func (a *adminCmd) run(ctx context.Context, args []string) error {
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch strings.Join(args[:min(2, len(args))], " ") {
	case "snapshot save":
		return a.snapshotSave(ctx, arg(2))
	case "snapshot restore":
		return a.snapshotRestore(ctx, arg(2), slices.Contains(args[2:], "--yes"))
	case "members join":
		return a.membersJoin(ctx, args[2:])
	case "members remove":
		args = []string{"remove-node", arg(2)}
	case "status":
		return a.status(ctx)
	case "bootstrap":
		if err := a.client.Bootstrap(ctx); err != nil {
			return err
		}
		return a.done("bootstrapped", nil)
	case "mailbox list":
		return a.mailboxList(ctx, arg(2))
	case "mailbox show":
		return a.mailboxShow(ctx, arg(2))
	case "mailbox create":
		return a.mailboxCreate(ctx, args[2:])
	case "mailbox move":
		return a.mailboxMove(ctx, arg(2), arg(3))
	case "backend drain":
		return a.backendDrain(ctx, arg(2))
	case "backend undrain":
		return a.apply(ctx, fsm.SetBackendState{ID: arg(2), State: fsm.BackendUp, At: time.Now().UnixNano()},
			"backend "+arg(2)+" takes new mailboxes again")
	case "user add":
		return a.userAdd(ctx, args[2:])
	case "user passwd":
		return a.userPassword(ctx, arg(2))
	case "user admin":
		return a.userAdmin(ctx, arg(2), arg(3))
	case "user import":
		return a.userImport(ctx, args[2:])
	case "user gather":
		return a.userGather(ctx, arg(2))
	case "user quota":
		return a.userQuota(ctx, arg(2), arg(3))
	case "user delete":
		return a.userDelete(ctx, arg(2))
	case "user list":
		return a.userList(ctx)
	case "domain add":
		return a.domainAdd(ctx, args[2:])
	case "domain remove":
		return a.apply(ctx, fsm.DomainRemove{Name: arg(2)}, "stopped serving "+arg(2))
	case "domain list":
		return a.domainList(ctx)
	case "alias add":
		return a.aliasAdd(ctx, arg(2), arg(3))
	case "alias remove":
		return a.apply(ctx, fsm.AliasRemove{Address: arg(2)}, "removed alias "+arg(2))
	case "alias list":
		return a.aliasList(ctx, arg(2))
	}
	if args[0] == "failover" && (len(args) == 2 || len(args) == 3 && args[2] == "--force") {
		cmd := fsm.Failover{Backend: args[1], Force: len(args) == 3, At: time.Now().UnixNano()}
		res, err := a.client.Apply(ctx, cmd)
		if err == nil {
			err = res.Err
		}
		if err != nil {
			return err
		}
		return a.done(fmt.Sprintf("failed over %d mailboxes from %s (raft index %d)", res.Count, args[1], res.Index),
			map[string]any{"mailboxes": res.Count, "index": res.Index})
	}
	if args[0] == "remove-node" && len(args) == 2 {
		if err := a.client.RemoveNode(ctx, args[1]); err != nil {
			return err
		}
		return a.done("removed "+args[1], nil)
	}
	return usageErrorf("admin", "unknown command %q", strings.Join(args, " "))
}

func (a *adminCmd) apply(ctx context.Context, cmd fsm.Command, done string) error {
	res, err := a.client.Apply(ctx, cmd)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return err
	}
	return a.done(fmt.Sprintf("%s (raft index %d)", done, res.Index), map[string]any{"index": res.Index})
}

func (a *adminCmd) userPassword(ctx context.Context, name string) error {
	user, err := fsm.CanonicalUser(name)
	if err != nil {
		return err
	}
	hash, err := a.hashFromStdin()
	if err != nil {
		return err
	}
	return a.apply(ctx, fsm.UserPasswd{Name: user, PasswordHash: hash}, "set password of "+user)
}

// hashFromStdin reads a password, one line, from stdin and hashes it.
func (a *adminCmd) hashFromStdin() (string, error) {
	pw, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return auth.HashPassword(strings.TrimRight(pw, "\r\n"))
}

func (a *adminCmd) userQuota(ctx context.Context, name, size string) error {
	n, err := parseSize(size)
	if err != nil {
		return err
	}
	done := fmt.Sprintf("quota of %s set to %d bytes", name, n)
	if n == 0 {
		done = "quota of " + name + " removed"
	}
	return a.apply(ctx, fsm.UserQuota{Name: name, QuotaBytes: n}, done)
}

// parseSize reads a byte count: a number with an optional binary suffix
// (K, M, G, T, for KiB and so on), or "none" for 0.
func parseSize(s string) (int64, error) {
	if s == "none" {
		return 0, nil
	}
	mult := int64(1)
	if i := len(s) - 1; i > 0 {
		if k := strings.IndexByte("KMGT", s[i]&^0x20); k >= 0 {
			mult = int64(1) << (10 * (k + 1))
			s = s[:i]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: want bytes, or a number with K, M, G or T, or none", s)
	}
	return n * mult, nil
}

func (a *adminCmd) printJSON(v any) error {
	enc := json.NewEncoder(a.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *adminCmd) table(header string, rows [][]string) {
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// memberRow is one node of `admin status`, in the table and in --json.
type memberRow struct {
	NodeID       string    `json:"node_id"`
	Roles        []string  `json:"roles"`
	RaftState    string    `json:"raft_state"` // "" when the node could not be asked
	LeaderID     string    `json:"leader_id"`
	Voter        bool      `json:"voter"`
	AppliedIndex uint64    `json:"applied_index"`
	Lag          *int64    `json:"lag"`          // the leader's commit index minus this node's applied index; null unknown
	LastContact  string    `json:"last_contact"` // "" on the leader or when unknown
	Health       string    `json:"health"`       // ok, no leader, catching up, unreachable, down
	Error        string    `json:"error,omitempty"`
	DownSince    time.Time `json:"down_since,omitzero"`
	// UnderReplicated: of the mailboxes this backend is primary for, those
	// with fewer copies than the replication factor; null on a node that
	// is no backend or could not be asked.
	UnderReplicated *int64 `json:"under_replicated"`
	// Quorum is the cluster's summary, the same on every row, so that the
	// JSON is one list of nodes and each row stands on its own.
	Quorum quorumSummary `json:"quorum"`
}

// quorumSummary is the last line of `admin status`.
type quorumSummary struct {
	Leader  string `json:"leader"`
	Voters  int    `json:"voters"`
	Healthy int    `json:"healthy_voters"`
	Quorum  int    `json:"quorum"`
	CanLose int    `json:"can_lose"`
	Summary string `json:"summary"`
}

// catchingUpLag is how far behind the leader's commit index a node's
// applied index may be and still count as serving.
const catchingUpLag = 100

func (a *adminCmd) status(ctx context.Context) error {
	members, err := a.client.ClusterStatus(ctx)
	if err != nil {
		return err
	}
	rows, q := statusRows(members, time.Now())
	a.underReplicated(ctx, members, rows)
	if a.json {
		for i := range rows {
			rows[i].Quorum = q
		}
		return a.printJSON(rows)
	}
	var table [][]string
	for _, r := range rows {
		applied, lag, raftState := fmt.Sprint(r.AppliedIndex), "-", r.RaftState
		if r.Lag != nil {
			lag = fmt.Sprint(*r.Lag)
		}
		health := r.Health
		switch {
		case !r.DownSince.IsZero():
			health = "down for " + time.Since(r.DownSince).Round(time.Second).String()
			applied, raftState = "-", "-"
		case r.Error != "":
			health = "unreachable: " + r.Error
			applied, raftState = "-", "-"
		}
		table = append(table, []string{r.NodeID, strings.Join(r.Roles, ","), raftState, cmp.Or(r.LeaderID, "-"),
			applied, lag, cmp.Or(r.LastContact, "-"), health})
	}
	a.table("NODE\tROLES\tRAFT\tLEADER\tAPPLIED\tLAG\tLAST CONTACT\tHEALTH", table)
	fmt.Fprintln(a.out)
	fmt.Fprintln(a.out, q.Summary)
	fmt.Fprintln(a.out, replicationLine(rows))
	return nil
}

// underReplicated asks each reachable backend how many of its mailboxes
// lack copies, into rows (which statusRows made from members, in order).
func (a *adminCmd) underReplicated(ctx context.Context, members []directory.MemberStatus, rows []memberRow) {
	for i, m := range members {
		if m.Error != "" || !m.DownSince.IsZero() || !slices.Contains(m.Roles, node.RoleBackend) {
			continue
		}
		st, err := replication.StatsRemote(ctx, a.client.API(), m.APIAddr)
		if err != nil {
			continue
		}
		rows[i].UnderReplicated = &st.UnderReplicated
	}
}

// replicationLine says whether every mailbox has its copies: backends
// restore them by themselves once a replica's backend has been down for
// restore_after.
func replicationLine(rows []memberRow) string {
	var parts []string
	total := int64(0)
	asked := 0
	for _, r := range rows {
		if r.UnderReplicated == nil {
			continue
		}
		asked++
		if n := *r.UnderReplicated; n > 0 {
			total += n
			parts = append(parts, fmt.Sprintf("%s: %d", r.NodeID, n))
		}
	}
	switch {
	case asked == 0:
		return "replication: no backend could be asked"
	case total == 0:
		return "replication: every mailbox has its copies"
	}
	return fmt.Sprintf("replication: %d mailboxes short of copies (%s); their primaries restore them after restore_after",
		total, strings.Join(parts, ", "))
}

// statusRows turns the members' statuses into the rows of `admin status`
// and the quorum summary under them.
func statusRows(members []directory.MemberStatus, now time.Time) ([]memberRow, quorumSummary) {
	var leader *directory.MemberStatus
	for i, m := range members {
		if m.Error == "" && m.RaftState == "Leader" {
			leader = &members[i]
		}
	}
	var rows []memberRow
	healthy := 0
	for _, m := range members {
		r := memberRow{NodeID: m.NodeID, Roles: m.Roles, RaftState: m.RaftState, LeaderID: m.LeaderID, Voter: m.Voter,
			AppliedIndex: m.AppliedIndex, Health: "ok", Error: m.Error, DownSince: m.DownSince}
		if r.Roles == nil {
			r.Roles = []string{}
		}
		if leader != nil && m.Error == "" {
			lag := max(0, int64(leader.CommitIndex)-int64(m.AppliedIndex))
			r.Lag = &lag
		}
		switch {
		case !m.DownSince.IsZero():
			r.Health = "down"
		case m.Error != "":
			r.Health = "unreachable"
		case m.LeaderID == "":
			r.Health = "no leader"
		case r.Lag != nil && *r.Lag > catchingUpLag, m.AppliedIndex == 0:
			r.Health = "catching up"
		}
		if m.Voter && r.Health == "ok" {
			healthy++
		}
		if !m.LastContact.IsZero() && m.RaftState != "Leader" {
			r.LastContact = now.Sub(m.LastContact).Round(time.Millisecond).String()
		}
		rows = append(rows, r)
	}
	q := quorumSummary{Healthy: healthy, Summary: quorumLine(leader, healthy)}
	if leader != nil {
		q.Leader, q.Voters, q.Quorum = leader.NodeID, leader.Voters, leader.Voters/2+1
		q.CanLose = max(0, healthy-q.Quorum)
	}
	return rows, q
}

// quorumLine says how many more directory voters the cluster can lose. The
// voters are those of the leader's Raft configuration: a voter that died
// is still one, though gossip has stopped listing it.
func quorumLine(leader *directory.MemberStatus, healthy int) string {
	if leader == nil {
		return "no leader: the directory cannot take writes (fewer than a quorum of voters can reach each other)"
	}
	voters := leader.Voters
	quorum := voters/2 + 1
	return fmt.Sprintf("%d of %d directory voters healthy; quorum %d; can lose %d more",
		healthy, voters, quorum, max(0, healthy-quorum))
}

func (a *adminCmd) mailboxList(ctx context.Context, prefix string) error {
	list, err := a.client.Mailboxes(ctx, prefix, 0)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(mailboxListView(list))
	}
	var rows [][]string
	for _, m := range list.Mailboxes {
		rows = append(rows, []string{m.Name, fmt.Sprint(m.ID), m.State.String(), m.Primary.Backend, fmt.Sprint(m.UIDValidity)})
	}
	a.table("NAME\tID\tSTATE\tPRIMARY\tUIDVALIDITY", rows)
	if list.Truncated {
		fmt.Fprintln(a.out, "(more mailboxes match; narrow the prefix)")
	}
	return nil
}

func (a *adminCmd) mailboxShow(ctx context.Context, name string) error {
	mb, err := a.client.Mailbox(ctx, name)
	if err != nil {
		return err
	}
	return a.printJSON(mailboxView(mb))
}

func (a *adminCmd) userList(ctx context.Context) error {
	users, err := a.client.Users(ctx)
	if err != nil {
		return err
	}
	if a.json {
		return a.printJSON(userViews(users))
	}
	var rows [][]string
	for _, u := range users {
		role := "-"
		if u.Admin {
			role = "admin"
		}
		rows = append(rows, []string{u.Name, u.State, fmt.Sprint(u.QuotaBytes), role})
	}
	a.table("USER\tSTATE\tQUOTA\tROLE", rows)
	return nil
}

// mailboxCreate creates a mailbox through the cluster API of a backend
// node: the one named, or a healthy one picked at random. With --backend
// B the mailbox's primary is placed on backend B whichever node is asked.
func (a *adminCmd) mailboxCreate(ctx context.Context, args []string) error {
	var pos []string
	target := ""
	for i := 0; i < len(args); i++ {
		switch v, ok := strings.CutPrefix(args[i], "--backend="); {
		case ok:
			target = v
		case args[i] == "--backend" && i+1 < len(args):
			target = args[i+1]
			i++
		case strings.HasPrefix(args[i], "-"):
			return usageErrorf("admin mailbox create", "unknown flag %s", args[i])
		default:
			pos = append(pos, args[i])
		}
	}
	if len(pos) == 0 || len(pos) > 2 {
		return usageErrorf("admin mailbox create", "give NAME and at most one NODE")
	}
	name, nodeID := pos[0], ""
	if len(pos) == 2 {
		nodeID = pos[1]
	}
	if err := fsm.ValidateName(name); err != nil {
		return err
	}
	nodes, err := a.backendNodes(ctx, nodeID)
	if err != nil {
		return err
	}
	mb, err := a.createPlaced(ctx, nodes, name, target)
	if err != nil {
		return err
	}
	return a.done(fmt.Sprintf("created %s (id %d) on %s", mb.Name, mb.ID, mb.Primary.Backend), map[string]any{"mailbox": mailboxView(mb)})
}

// backendNodes are the healthy nodes with the backend role: all of them,
// or the one named nodeID.
func (a *adminCmd) backendNodes(ctx context.Context, nodeID string) ([]directory.MemberStatus, error) {
	members, err := a.client.ClusterStatus(ctx)
	if err != nil {
		return nil, err
	}
	var candidates []directory.MemberStatus
	for _, m := range members {
		if m.Error == "" && slices.Contains(m.Roles, node.RoleBackend) && (nodeID == "" || m.NodeID == nodeID) {
			candidates = append(candidates, m)
		}
	}
	if len(candidates) == 0 {
		return nil, fmt.Errorf("no healthy backend node%s", map[bool]string{true: " named " + nodeID}[nodeID != ""])
	}
	return candidates, nil
}

// createOn creates a mailbox on one of nodes, picked at random.
func (a *adminCmd) createOn(ctx context.Context, nodes []directory.MemberStatus, name string) (*fsm.Mailbox, error) {
	return a.createPlaced(ctx, nodes, name, "")
}

// createPlaced creates a mailbox through one of nodes, picked at random,
// with its primary on backend target ("": that node's backend).
func (a *adminCmd) createPlaced(ctx context.Context, nodes []directory.MemberStatus, name, target string) (*fsm.Mailbox, error) {
	m := nodes[rand.IntN(len(nodes))]
	return backend.CreateRemote(ctx, a.client.API(), m.APIAddr, backend.CreateRequest{Name: name, Backend: target})
}
