package directory

import (
	"time"

	"github.com/rookery-mail/rookery/fsm"
)

// leaderStamped is data with the times the leader keeps to itself set by
// the leader's own clock: a reservation's At, which the leader compares
// with its own clock to expire it (releaseExpired). Stamped by the
// proposer, a backend whose clock runs behind the leader's would see its
// reservations expire mid-CREATE. Any other command passes unchanged.
func leaderStamped(data []byte, now time.Time) []byte {
	if len(data) == 0 || fsm.CommandType(data[0]) != fsm.TypeReserve {
		return data
	}
	cmd, err := fsm.Decode(data)
	if err != nil {
		return data // the fsm refuses it as it is
	}
	r, ok := cmd.(fsm.Reserve)
	if !ok {
		return data
	}
	r.At = now.UnixNano()
	stamped, err := fsm.Encode(r)
	if err != nil {
		return data
	}
	return stamped
}
