package nemesis

import (
	"math/rand/v2"
	"sort"
	"time"
)

// Plan makes the schedule for a run: the same config and seed always give
// the same events. Each family of faults (partitions, kills, pauses) runs
// its own stream, so faults of different families may overlap while faults
// of one family never do. In a stream, a fault lasts, and the quiet gap
// before the next one lasts, a staggered interval: uniform in [I/2, 3I/2).
// The kinds of a family take turns in a seeded order. Every fault stops by
// Duration.
func Plan(c Config) ([]Event, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(c.Seed), 0x6e656d65736973))
	families := make(map[string][]Kind)
	var order []string
	for _, k := range c.Kinds {
		f, _ := k.family()
		if _, ok := families[f]; !ok {
			order = append(order, f)
		}
		families[f] = append(families[f], k)
	}
	var events []Event
	id := 0
	for _, f := range order {
		evs, err := planStream(c, families[f], rng, &id)
		if err != nil {
			return nil, err
		}
		events = append(events, evs...)
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].At < events[j].At })
	return events, nil
}

func planStream(c Config, kinds []Kind, rng *rand.Rand, id *int) ([]Event, error) {
	var out []Event
	var turn []Kind
	for at := stagger(c.Interval, rng); at < c.Duration; {
		if len(turn) == 0 {
			turn = append([]Kind(nil), kinds...)
			rng.Shuffle(len(turn), func(i, j int) { turn[i], turn[j] = turn[j], turn[i] })
		}
		k := turn[0]
		turn = turn[1:]
		f, err := shape(c.Nodes, k, rng)
		if err != nil {
			return nil, err
		}
		f.ID = *id
		*id++
		stop := min(at+stagger(c.Interval, rng), c.Duration)
		out = append(out, Event{At: at, Action: Start, Fault: f}, Event{At: stop, Action: Stop, Fault: f})
		at = stop + stagger(c.Interval, rng)
	}
	return out, nil
}

func stagger(d time.Duration, rng *rand.Rand) time.Duration {
	return d/2 + time.Duration(rng.Int64N(int64(d)))
}

// shape picks the fault's targets. Kills and pauses take a random minority,
// so that the cluster can still make progress.
func shape(n int, k Kind, rng *rand.Rand) (Fault, error) {
	f := Fault{Kind: k}
	var err error
	switch k {
	case PartitionOne:
		f.Grudge = Isolate(n, rng.IntN(n))
	case PartitionMajority:
		f.Grudge = Halves(n, rng)
	case PartitionMajoritiesRing:
		f.Grudge, err = MajoritiesRing(n, rng)
	case PartitionBridge:
		f.Grudge, err = Bridge(n, rng)
	case PartitionOneWay:
		f.Grudge = OneWay(n, rng.IntN(n))
	case FailoverLagging:
		f.Nodes = []int{rng.IntN(n)}
	case Kill, Pause:
		size := 1 + rng.IntN(max(1, (n-1)/2))
		f.Nodes = rng.Perm(n)[:size]
		sort.Ints(f.Nodes)
	}
	return f, err
}
