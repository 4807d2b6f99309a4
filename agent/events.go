package agent

import (
	"sync"
	"time"
)

// Event is what the agent tells its watchers (the local API's event stream,
// the clerk page): a scan's result, a bill opened, finished or cancelled, a
// delivery's outcome, an alarm.
type Event struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"` // scan, bill, delivery, alarm
	Session string    `json:"session,omitempty"`
	Source  string    `json:"source,omitempty"`
	Code    string    `json:"code,omitempty"`
	Status  string    `json:"status,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	Bill    string    `json:"bill,omitempty"`
	Dest    string    `json:"dest,omitempty"`
	// Line is the sale line a scanned pack went to (kind "line").
	Line string `json:"line,omitempty"`
}

// subscriberBuffer bounds what a slow watcher may fall behind; beyond it
// events are dropped for that watcher (and counted), never blocking scans.
const subscriberBuffer = 256

// replayBuffer is how many recent events the hub keeps for watchers that
// reconnect with Last-Event-ID.
const replayBuffer = 1024

// hub fans events out to subscribers and keeps the last replayBuffer
// events. Its sequence starts at the start time in milliseconds × 1000, so
// ids keep growing across restarts and an id of an earlier run is never
// mistaken for one of this run.
type hub struct {
	mu   sync.Mutex
	seq  uint64
	subs map[chan Event]*int
	// recent is a ring of the last events, oldest at start.
	recent []Event
	start  int
}

func newHub() *hub {
	return &hub{subs: map[chan Event]*int{}, seq: uint64(time.Now().UnixMilli()) * 1000}
}

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e.Seq = h.seq
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if len(h.recent) < replayBuffer {
		h.recent = append(h.recent, e)
	} else {
		h.recent[h.start] = e
		h.start = (h.start + 1) % replayBuffer
	}
	for ch, dropped := range h.subs {
		select {
		case ch <- e:
		default:
			*dropped++
		}
	}
}

// since returns the kept events after seq after, oldest first, and whether
// they are all of them (false: after is older than what is kept, or not an
// id of this run).
func (h *hub) since(after uint64) ([]Event, bool) {
	oldest := h.seq + 1
	if len(h.recent) > 0 {
		oldest = h.recent[h.start].Seq
	}
	if after > h.seq || after+1 < oldest {
		return nil, false
	}
	var out []Event
	for i := range h.recent {
		if e := h.recent[(h.start+i)%len(h.recent)]; e.Seq > after {
			out = append(out, e)
		}
	}
	return out, true
}

// SubscribeFrom is Subscribe for a watcher that reconnects having seen
// every event up to id after: it also returns the events it missed. ok is
// false when they are not all kept any more (or after is not an id of this
// run): the watcher must reload what it shows. last is the id of the
// latest event now.
func (a *Agent) SubscribeFrom(after uint64) (ch <-chan Event, stop func(), missed []Event, ok bool, last uint64) {
	a.events.mu.Lock()
	missed, ok = a.events.since(after)
	last = a.events.seq
	c, stop := a.subscribeLocked()
	a.events.mu.Unlock()
	return c, stop, missed, ok, last
}

// Subscribe returns a channel of events and a function to stop. A watcher
// that cannot keep up loses events rather than slowing the agent.
func (a *Agent) Subscribe() (<-chan Event, func()) {
	a.events.mu.Lock()
	defer a.events.mu.Unlock()
	return a.subscribeLocked()
}

// subscribeLocked registers a watcher; the caller holds a.events.mu.
func (a *Agent) subscribeLocked() (<-chan Event, func()) {
	ch := make(chan Event, subscriberBuffer)
	n := 0
	a.events.subs[ch] = &n
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			a.events.mu.Lock()
			delete(a.events.subs, ch)
			a.events.mu.Unlock()
			close(ch)
		})
	}
}
