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

// hub fans events out to subscribers.
type hub struct {
	mu   sync.Mutex
	seq  uint64
	subs map[chan Event]*int
}

func newHub() *hub { return &hub{subs: map[chan Event]*int{}} }

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	e.Seq = h.seq
	if e.At.IsZero() {
		e.At = time.Now()
	}
	for ch, dropped := range h.subs {
		select {
		case ch <- e:
		default:
			*dropped++
		}
	}
}

// Subscribe returns a channel of events and a function to stop. A watcher
// that cannot keep up loses events rather than slowing the agent.
func (a *Agent) Subscribe() (<-chan Event, func()) {
	ch := make(chan Event, subscriberBuffer)
	n := 0
	a.events.mu.Lock()
	a.events.subs[ch] = &n
	a.events.mu.Unlock()
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
