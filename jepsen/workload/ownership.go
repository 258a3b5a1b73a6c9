package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"

	"github.com/rookery-mail/rookery/internal/clusterapi"
	"github.com/rookery-mail/rookery/jepsen/history"
)

// Ownership CREATEs and DELETEs a few names while pollers ask each node's
// cluster API which mailboxes the directory holds active and where: for
// each poll, one owners operation per backend with the mailboxes the
// directory names it primary for. Each poller also asks its node's backend
// under which placement epochs it acknowledged writes as primary, for
// every workload's mailboxes (an acked operation). The ownership checker
// judges both: a name active on two backends at once, and two backends
// that acknowledged writes to one mailbox under one epoch.
type Ownership struct {
	Clients int
	Names   int
}

var _ Workload = (*Ownership)(nil)

const ownUser, ownPassword = "jown", "jown-password"

func (w *Ownership) Name() string { return "ownership" }

func (w *Ownership) Setup(ctx context.Context, env *Env) error {
	return env.AddUser(ctx, ownUser, ownPassword)
}

func (w *Ownership) Run(ctx context.Context, env *Env) {
	writers := max(1, w.Clients/2)
	runClients(ctx, writers+len(env.Nodes), func(ctx context.Context, id int) {
		if id >= writers {
			w.poll(ctx, env, env.Nodes[id-writers])
			return
		}
		rng := env.rand(700 + id)
		s := &session{env: env, user: ownUser, password: ownPassword, rng: rng}
		defer s.close()
		for env.wait(ctx) {
			name := fmt.Sprintf("own-%d", rng.IntN(w.Names))
			if rng.IntN(2) == 0 {
				s.create(ctx, name)
			} else {
				s.delete(ctx, name)
			}
		}
	})
}

// dirMailbox is the part of a directory record the poller reads.
type dirMailbox struct {
	ID      uint64 `json:"id"`
	Name    string `json:"name"`
	State   string `json:"state"`
	Primary struct {
		Backend string `json:"backend"`
	} `json:"primary"`
}

const stateActive = "active"

// poll asks node's cluster API for the user's mailboxes, one request at a
// time, and records one owners operation per backend for each answer.
func (w *Ownership) poll(ctx context.Context, env *Env, node Node) {
	process := env.process()
	for env.wait(ctx) {
		pending := make(map[string]history.Pending, len(env.Nodes))
		for _, b := range env.Nodes {
			pending[b.Name] = env.invoke(process, history.FOwners, "", b.Name, history.Value{})
		}
		mbs, err := w.mailboxes(ctx, env, node)
		owned := make(map[string][]history.Mailbox)
		for _, m := range mbs {
			if m.State == stateActive {
				owned[m.Primary.Backend] = append(owned[m.Primary.Backend], history.Mailbox{Name: m.Name, ID: fmt.Sprint(m.ID)})
			}
		}
		for _, b := range env.Nodes {
			if err != nil {
				env.complete(pending[b.Name], history.Fail, history.Value{}, err.Error())
				continue
			}
			list := owned[b.Name]
			sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
			if list == nil {
				list = []history.Mailbox{}
			}
			env.complete(pending[b.Name], history.OK, history.Value{Mailboxes: list}, "")
		}
		if err != nil {
			process = env.process()
		}
		w.pollAcked(ctx, env, process, node)
	}
}

// pollAcked records one acked operation: the placement epochs under which
// node's backend acknowledged writes, by mailbox (every workload's).
func (w *Ownership) pollAcked(ctx context.Context, env *Env, process int, node Node) {
	p := env.invoke(process, history.FAcked, "", node.Name, history.Value{})
	var list struct {
		Mailboxes []struct {
			ID     uint64   `json:"id"`
			Epochs []uint64 `json:"epochs"`
		} `json:"mailboxes"`
	}
	if err := w.get(ctx, env, node, "/v1/backend/acknowledged", &list); err != nil {
		env.complete(p, history.Fail, history.Value{}, err.Error())
		return
	}
	out := make([]history.Mailbox, 0, len(list.Mailboxes))
	for _, m := range list.Mailboxes {
		out = append(out, history.Mailbox{ID: fmt.Sprint(m.ID), Epochs: m.Epochs})
	}
	env.complete(p, history.OK, history.Value{Mailboxes: out}, "")
}

func (w *Ownership) mailboxes(ctx context.Context, env *Env, node Node) ([]dirMailbox, error) {
	var list struct {
		Mailboxes []dirMailbox `json:"mailboxes"`
	}
	err := w.get(ctx, env, node, "/v1/mailboxes?limit=100000&prefix="+url.QueryEscape("user/"+ownUser+"/"), &list)
	return list.Mailboxes, err
}

// get reads one JSON answer of node's cluster API into v.
func (w *Ownership) get(ctx context.Context, env *Env, node Node, path string, v any) error {
	rctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+node.API+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", clusterapi.Bearer(env.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s on %s: %s", path, node.Name, resp.Status)
	}
	return json.Unmarshal(body, v)
}

func (w *Ownership) Final(context.Context, *Env) {}
