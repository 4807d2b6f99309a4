package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pda-agent/pda-agent/queue"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

const corruptConfig = `device: {id: CORR1}
data_dir: %[1]s
log: {level: warn}
sessions: {default_type: 102, default_partner: ` + msfxsb.DefaultSupplierEntID + `}
api: {listen: "127.0.0.1:%[2]s"}
scanners:
  - {name: gun, type: stdin, echo: true}
upload: {lease: 5s, initial_backoff: 20ms, max_backoff: 300ms}
`

// damage is one way a queue file breaks while the agent is stopped; n
// varies where, for the long form.
type damage struct {
	name string
	do   func(t *testing.T, path string, n int)
}

var damages = []damage{
	{"truncate", func(t *testing.T, path string, n int) {
		// Right after the meta pages, on a page boundary further on, and
		// off one: the metas still name pages the file no longer has. The
		// cut is within the pages in use: bbolt grows the file ahead of
		// them, and losing that free tail is no damage.
		used := usedSize(t, path)
		page := int64(os.Getpagesize())
		at := []int64{2 * page, used / 2 &^ (page - 1), used*3/4 + 1000}[n%3]
		if err := os.Truncate(path, at); err != nil {
			t.Fatal(err)
		}
	}},
	{"flip_page", func(t *testing.T, path string, n int) {
		// Scribble over the header of a page in use (a bucket's branch or
		// leaf): free pages are no damage.
		used := usedPages(t, path)
		page := used[n%len(used)]
		ps := int64(os.Getpagesize())
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 16)
		if _, err := f.ReadAt(b, int64(page)*ps); err != nil {
			t.Fatal(err)
		}
		for i := range b {
			b[i] ^= 0xa5
		}
		if _, err := f.WriteAt(b, int64(page)*ps); err != nil {
			t.Fatal(err)
		}
	}},
	{"zero_metas", func(t *testing.T, path string, _ int) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(make([]byte, 2*os.Getpagesize()), 0); err != nil {
			t.Fatal(err)
		}
	}},
}

// usedSize is how far a (sound) bbolt file's pages in use reach: its
// high-water mark, below the file's size when bbolt grew it ahead.
func usedSize(t *testing.T, path string) int64 {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int64
	if err := db.View(func(tx *bolt.Tx) error { n = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// usedPages lists the branch and leaf pages of a (sound) bbolt file.
func usedPages(t *testing.T, path string) []int {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []int
	if err := db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			p, err := tx.Page(id)
			if err != nil || p == nil {
				return err
			}
			if p.Type == "branch" || p.Type == "leaf" {
				out = append(out, id)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("no page in use")
	}
	return out
}

// corruptQueue is the suite's corrupt_queue class: a stopped agent's
// queue.db is truncated, has a page scribbled over, or loses both meta
// pages. The next start must move the file aside as queue.db.corrupt-<time>
// (kept byte for byte), raise an alarm the status and the log show, start
// a fresh queue and go on working; bills made afterwards must reach the
// back end exactly once, as themselves.
func corruptQueue(t *testing.T) faultRow {
	var row faultRow
	for round := 0; round < pick(1, 3); round++ {
		for _, d := range damages {
			t.Run(fmt.Sprintf("%s_%d", d.name, round), func(t *testing.T) {
				row.tally.add(corruptOnce(t, d, round))
				row.cycles++
				row.faults++
			})
		}
	}
	return row
}

func corruptOnce(t *testing.T, d damage, n int) tally {
	gw, err := msfxsb.Start("127.0.0.1:0", msfxsb.Options{Apps: msfxsb.DefaultApps(), Logger: slog.New(slog.DiscardHandler), ProcessAfter: msfxsb.ProcessAtOnce})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	dir := t.TempDir()
	port := freePort(t)
	config := writeFile(t, dir, "config.yaml", fmt.Sprintf(corruptConfig, dir, port)+msfxYAML(gw.URL()))
	path := filepath.Join(dir, "queue.db")
	delivered := func() int { return len(gw.Bills(msfxsb.DefaultStoreRefEntID)) }
	acks := map[ackKey]string{}
	next := 0
	work := func(p *agentProc, bills, codes int) {
		for b := 0; b < bills; b++ {
			for i := 0; i < codes; i++ {
				next++
				code := fmt.Sprintf("8101235%09d%04d", 700000+next, next%10000)
				ack := sendLine(t, p, code)
				if !strings.HasPrefix(ack, "ACCEPTED") {
					t.Fatalf("scan %s: %s", code, ack)
				}
				acks[ackKey{typ: 102, code: code}] = "ACCEPTED"
			}
			if ack := sendLine(t, p, "PDA:FINISH"); !strings.HasPrefix(ack, "COMMAND") {
				t.Fatalf("finish: %s", ack)
			}
		}
	}

	// A day's work, delivered, then the agent stops and the file breaks.
	// The ERP's bills make the file big enough that a cut sends bbolt
	// past the mapped file.
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	c := waitAPI(t, dir, port, &stderr)
	for b := 0; b < 4; b++ {
		var lines []map[string]string
		for i := 0; i < 300; i++ {
			next++
			code := fmt.Sprintf("8101235%09d%04d", 700000+next, next%10000)
			lines = append(lines, map[string]string{"code": code})
			acks[ackKey{typ: 102, code: code}] = "ACCEPTED"
		}
		c.ok("POST", "/v1/bills", map[string]any{"kind": "receive", "partner": msfxsb.DefaultSupplierEntID, "lines": lines}, nil)
	}
	work(p, 4, 30)
	s := drainAndOpen(t, p, config, dir, &stderr, delivered)
	tl := compareLedgers(t, s, acks, backends{msfx: gw.Server})
	before := map[string]bool{}
	for _, b := range gw.Bills(msfxsb.DefaultStoreRefEntID) {
		before[b.BillCode] = true
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	d.do(t, path, n)
	broken, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}

	// The next start quarantines it, says so, and works on a fresh queue.
	stderr = lockedBuffer{}
	p = startAgent(t, config, &stderr)
	c = waitAPI(t, dir, port, &stderr)
	moved, _ := filepath.Glob(path + ".corrupt-*")
	if len(moved) != 1 {
		t.Fatalf("quarantined files %v\n%s", moved, stderr.String())
	}
	if kept, err := os.ReadFile(moved[0]); err != nil || !bytes.Equal(kept, broken) {
		t.Fatalf("the quarantined file is not the damaged file byte for byte (%v)", err)
	}
	var quarantine []queue.Alarm
	for _, a := range agentStatus(c).Alarms {
		if a.Kind == "quarantine" {
			quarantine = append(quarantine, a)
		}
	}
	if len(quarantine) != 1 || !strings.Contains(quarantine[0].Message, moved[0]) {
		t.Errorf("status alarms: %+v, want one quarantine alarm naming %s", quarantine, moved[0])
	}
	if log := stderr.String(); !strings.Contains(log, "ALARM") || !strings.Contains(log, filepath.Base(moved[0])) {
		t.Errorf("the log does not raise the alarm:\n%s", log)
	}
	acks = map[ackKey]string{}
	work(p, 3, 10)
	s = drainAndOpen(t, p, config, dir, &stderr, delivered)
	defer s.Close()
	// The bills of the quarantined file were checked above; the fresh
	// queue's must be at the back end as themselves, not taken for them.
	tl.add(compareLedgers(t, s, acks, backends{msfx: gw.Server, elsewhere: before}))
	if a := s.Alarms(); len(a) != 1 || a[0].Kind != "quarantine" {
		t.Errorf("alarms on file after a restart: %+v", a)
	}
	tl.records++ // the quarantined file itself
	return tl
}
