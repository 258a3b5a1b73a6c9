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
// cluster API which mailboxes the directory holds active and where. No
// backend route lists a backend's own mailboxes, so the observations are
// the directory's: for each poll, one owners operation per backend with the
// mailboxes the directory names it primary for. The ownership checker
// judges them (a name active on two backends at once).
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
	}
}

func (w *Ownership) mailboxes(ctx context.Context, env *Env, node Node) ([]dirMailbox, error) {
	rctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	u := "http://" + node.API + "/v1/mailboxes?limit=100000&prefix=" + url.QueryEscape("user/"+ownUser+"/")
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", clusterapi.Bearer(env.Secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /v1/mailboxes on %s: %s", node.Name, resp.Status)
	}
	var list struct {
		Mailboxes []dirMailbox `json:"mailboxes"`
	}
	return list.Mailboxes, json.Unmarshal(body, &list)
}

func (w *Ownership) Final(context.Context, *Env) {}
