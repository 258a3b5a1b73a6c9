package fsm

// Subscriptions (IMAP SUBSCRIBE/LSUB) live in the directory so that LSUB
// needs no backend. A user may subscribe to any valid name, whether or not
// it exists or the user may see it, as IMAP allows.

func (f *FSM) registerSubscriptionHandlers() {
	on(f, (*FSM).subscribe)
	on(f, (*FSM).unsubscribe)
}

func (f *FSM) subscribe(c Subscribe) Result {
	s, err := f.subscriptionFor(c.User, c.Name)
	if err != nil {
		return failed(err)
	}
	if _, had := f.work.subs.ReplaceOrInsert(s); had {
		return Result{}
	}
	f.dirty |= dirtySubs
	return Result{Count: 1}
}

// unsubscribe of a name the user is not subscribed to succeeds with Count
// 0: the end state is what the client asked for.
func (f *FSM) unsubscribe(c Unsubscribe) Result {
	s, err := f.subscriptionFor(c.User, c.Name)
	if err != nil {
		return failed(err)
	}
	if _, had := f.work.subs.Delete(s); !had {
		return Result{}
	}
	f.dirty |= dirtySubs
	return Result{Count: 1}
}

func (f *FSM) subscriptionFor(user, name string) (subscription, error) {
	u, err := f.existingUser(user)
	if err != nil {
		return subscription{}, err
	}
	if err := ValidateName(name); err != nil {
		return subscription{}, err
	}
	return subscription{user: u.Name, name: name}, nil
}

// subscriptions lists user's subscribed names in order.
func (t *tables) subscriptions(user string) []string {
	var names []string
	t.subs.AscendGreaterOrEqual(subscription{user: user}, func(s subscription) bool {
		if s.user != user {
			return false
		}
		names = append(names, s.name)
		return true
	})
	return names
}
