package netns

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Prefix starts the name of every namespace and interface the harness
// makes in the host's namespace, so that leftovers can be found by name.
const Prefix = "rkj-"

// A run's names are Prefix + "<pid>-<nonce>" (the harness's PID in hex and a
// random nonce) + a suffix: "-hub", "-n1", ... for namespaces, none for the
// one interface in the host's namespace. The PID tells whether the harness
// that made them still runs; the whole fits Linux's 15-byte interface names.
type runID string

func newRunID() runID {
	var b [2]byte
	rand.Read(b[:])
	return runID(fmt.Sprintf("%x-%04x", os.Getpid(), binary.BigEndian.Uint16(b[:])))
}

func (id runID) hub() string       { return Prefix + string(id) + "-hub" }
func (id runID) node(i int) string { return fmt.Sprintf("%s%s-n%d", Prefix, id, i+1) }
func (id runID) hostLink() string  { return Prefix + string(id) }
func (id runID) owns(name string) bool {
	return name == id.hostLink() || strings.HasPrefix(name, id.hostLink()+"-")
}

// parseRunID returns the run a harness-made name belongs to and the PID of
// the harness that made it.
func parseRunID(name string) (runID, int, bool) {
	rest, ok := strings.CutPrefix(name, Prefix)
	if !ok {
		return "", 0, false
	}
	parts := strings.SplitN(rest, "-", 3)
	if len(parts) < 2 || len(parts[1]) != 4 {
		return "", 0, false
	}
	pid, err := strconv.ParseInt(parts[0], 16, 32)
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	if _, err := strconv.ParseUint(parts[1], 16, 16); err != nil {
		return "", 0, false
	}
	return runID(parts[0] + "-" + parts[1]), int(pid), true
}

// alive reports whether a process with this PID exists.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// RemoveLeftovers removes the namespaces and host interfaces that earlier
// runs left behind (a harness killed outright, a crash before its cleanup
// ran), found by Prefix, and returns their names. With all false it leaves
// alone those of harnesses still running, so concurrent runs do not
// disturb each other; with all true it removes every one. Processes still
// inside a leftover namespace (nodes of a dead harness) are killed by PID.
func RemoveLeftovers(ctx context.Context, all bool) ([]string, error) {
	ip, err := ipPath()
	if err != nil {
		return nil, err
	}
	nss, err := namespaces(ctx, ip)
	if err != nil {
		return nil, err
	}
	ifs, err := links(ctx, ip, "")
	if err != nil {
		return nil, err
	}
	stale := func(name string) bool {
		_, pid, ok := parseRunID(name)
		return ok && (all || !alive(pid))
	}
	var removed []string
	var errs []error
	// The host side first: deleting it takes its veth peer with it at once,
	// while a namespace's interfaces go only when the kernel gets round to
	// destroying it.
	for _, name := range ifs {
		if stale(name) {
			if _, err := ipRun(ctx, ip, "", "link", "del", name); err != nil {
				errs = append(errs, err)
				continue
			}
			removed = append(removed, name)
		}
	}
	for _, name := range nss {
		if !stale(name) {
			continue
		}
		if err := removeNamespace(ctx, ip, name, true); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, name)
	}
	slices.Sort(removed)
	return removed, errors.Join(errs...)
}

// removeNamespace deletes a named namespace; with kill, it first kills the
// processes inside it by PID, since a namespace lives on, unnamed, as long
// as a process does.
func removeNamespace(ctx context.Context, ip, name string, kill bool) error {
	if kill {
		out, err := ipRun(ctx, ip, "", "netns", "pids", name)
		if err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	_, err := ipRun(ctx, ip, "", "netns", "del", name)
	return err
}
