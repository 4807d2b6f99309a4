package agent

import "github.com/pda-agent/pda-agent/queue"

// DefaultSession is the session of the counter page and of the docs'
// examples: always known, so an idle page is not told its session does
// not exist.
const DefaultSession = "counter"

// SessionKnown reports whether a session name means something here: it has
// an open bill, a configured scanner or an extra source feeds it, it had
// activity since the start, or a bill on file was made in it. A name that
// is none of these is most likely a typo (GET /v1/sessions/{name} answers
// 404 for it rather than an empty session).
func (a *Agent) SessionKnown(name string) (bool, error) {
	if name == DefaultSession {
		return true, nil
	}
	if _, ok, err := a.store.OpenBill(name); err != nil || ok {
		return ok, err
	}
	for _, sc := range a.config().Scanners {
		if sc.Session == name || (sc.Session == "" && sc.Name == name) {
			return true, nil
		}
	}
	for _, b := range a.extra {
		if b.session == name {
			return true, nil
		}
	}
	a.mu.Lock()
	_, active := a.lastScan[name]
	_, commanded := a.state[name]
	a.mu.Unlock()
	if active || commanded {
		return true, nil
	}
	found, err := a.store.RecentBills(0, 1, func(b queue.Bill) bool { return b.Session == name })
	return len(found) > 0, err
}
