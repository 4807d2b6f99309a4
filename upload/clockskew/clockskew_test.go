package clockskew

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a local clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestOneSampleIsNotTrusted(t *testing.T) {
	local := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return local }})
	server := local.Add(7*time.Minute + 12*time.Second)
	if !s.Observe("gw", local, local, server.Format(http.TimeFormat)) {
		t.Fatal("a valid sample was not used")
	}
	if _, ok := s.Offset(); ok {
		t.Fatal("one sample was trusted")
	}
	if !s.Now().Equal(local) {
		t.Fatalf("Now corrected on one sample: %v", s.Now())
	}
}

func TestAgreeingSamplesCorrectTheClock(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)}
	s := New(Options{Now: clk.now})
	behind := 7*time.Minute + 12*time.Second
	for range 2 {
		sent := clk.now()
		clk.add(200 * time.Millisecond)
		server := sent.Add(100 * time.Millisecond).Add(behind)
		s.Observe("gw", sent, clk.now(), server.Format(http.TimeFormat))
	}
	off, ok := s.Offset()
	if !ok {
		t.Fatal("two agreeing samples not trusted")
	}
	if d := off - behind; d < -time.Second || d > time.Second {
		t.Fatalf("offset %v, want %v ± 1 s", off, behind)
	}
	if got := s.Now().Sub(clk.now()); got != off {
		t.Fatalf("Now is local%+v, want local%+v", got, off)
	}
	st := s.State()
	if !st.Wrong || st.OffsetSeconds < 431 || st.OffsetSeconds > 433 || st.Source != "gw" {
		t.Fatalf("state %+v", st)
	}
	if !strings.Contains(st.Message, "7 min 12 s behind") || !strings.Contains(st.Message, "本机时钟慢 7 分 12 秒") {
		t.Fatalf("message %q", st.Message)
	}
}

func TestDisagreeingSamplesChangeNothing(t *testing.T) {
	local := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return local }})
	s.Observe("gw", local, local, local.Add(10*time.Minute).Format(http.TimeFormat))
	s.Observe("gw", local, local, local.Add(-3*time.Hour).Format(http.TimeFormat))
	if _, ok := s.Offset(); ok {
		t.Fatal("disagreeing samples trusted")
	}
}

func TestSmallOffsetIsNotCorrected(t *testing.T) {
	local := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return local }})
	for range 2 {
		s.Observe("gw", local, local, local.Add(5*time.Second).Format(http.TimeFormat))
	}
	if _, ok := s.Offset(); !ok {
		t.Fatal("not measured")
	}
	if s.Wrong() || !s.Now().Equal(local) || s.State().Message != "" {
		t.Fatalf("5 s treated as wrong: %+v", s.State())
	}
}

func TestIgnoredSamples(t *testing.T) {
	local := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return local }})
	for _, c := range []struct {
		name       string
		sent, recv time.Time
		date       string
	}{
		{"no Date", local, local, ""},
		{"garbage Date", local, local, "yesterday"},
		{"slow answer", local, local.Add(30 * time.Second), local.Format(http.TimeFormat)},
		{"received before sent", local, local.Add(-time.Second), local.Format(http.TimeFormat)},
	} {
		if s.Observe("gw", c.sent, c.recv, c.date) {
			t.Errorf("%s: sample used", c.name)
		}
	}
}

func TestClockRightAgainClearsTheCorrection(t *testing.T) {
	local := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var changes []State
	s := New(Options{Now: func() time.Time { return local }, OnChange: func(st State) { changes = append(changes, st) }})
	for range 2 {
		s.Observe("gw", local, local, local.Add(-2*time.Hour).Format(http.TimeFormat))
	}
	if !s.Wrong() || !strings.Contains(s.State().Message, "2 h 0 min ahead") {
		t.Fatalf("2 h ahead not reported: %+v", s.State())
	}
	for range 2 {
		s.Observe("gw", local, local, local.Format(http.TimeFormat))
	}
	if s.Wrong() || !s.Now().Equal(local) {
		t.Fatalf("still corrected after the clock was set: %+v", s.State())
	}
	if len(changes) != 2 || !changes[0].Wrong || changes[1].Wrong {
		t.Fatalf("changes reported: %+v", changes)
	}
}

// TestTransportMeasuresRealAnswers runs requests through a real HTTP
// server on loopback whose Date header runs 25 days ahead.
func TestTransportMeasuresRealAnswers(t *testing.T) {
	ahead := 25*24*time.Hour + 3*time.Hour
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(ahead).UTC().Format(http.TimeFormat))
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	s := New(Options{})
	hc := Client(&http.Client{Timeout: 5 * time.Second}, s)
	for range 2 {
		resp, err := hc.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	off, ok := s.Offset()
	if !ok || off < ahead-2*time.Second || off > ahead+2*time.Second {
		t.Fatalf("offset %v (trusted %v), want %v", off, ok, ahead)
	}
	if d := time.Until(s.Now()); d < ahead-2*time.Second || d > ahead+2*time.Second {
		t.Fatalf("corrected clock is %v off, want %v", d, ahead)
	}
	if !strings.Contains(s.State().Message, "25 d 3 h behind") {
		t.Fatalf("message %q", s.State().Message)
	}
	if hc.Timeout != 5*time.Second {
		t.Fatal("Client lost the timeout")
	}
}
