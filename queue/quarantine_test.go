package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestQuarantineTruncatedOnAPage cuts a multi-megabyte queue file on page
// boundaries: the metas then name a freelist and pages past the end of the
// file, whose reads fault. Open must quarantine the file, not die with
// "fatal error: fault" (which would crash every restart of the agent).
func TestQuarantineTruncatedOnAPage(t *testing.T) {
	dir := t.TempDir()
	orig := filepath.Join(dir, "orig.db")
	s, err := Open(orig, testOptions(newClock()))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		var codes []ScanInput
		for j := 0; j < 300; j++ {
			codes = append(codes, scanIn("erp", msfx(i*1000+j)))
		}
		if _, err := s.SubmitBill(context.Background(), SessionSpec{Session: "erp", Type: 102}, codes, To("msfx")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	t.Logf("%d bytes", len(data))
	for _, at := range []int{2 * page, 3 * page, 16 * page, len(data) / 2 &^ (page - 1)} {
		path := filepath.Join(dir, "q.db")
		for _, m := range append(mustGlob(t, path+"*"), path) {
			os.Remove(m)
		}
		if err := os.WriteFile(path, data[:at], 0o600); err != nil {
			t.Fatal(err)
		}
		s := openTest(t, path, testOptions(newClock()))
		// One alarm, not the persisted copy and the raised one twice.
		if a := s.Alarms(); len(a) != 1 || a[0].Kind != "quarantine" {
			t.Fatalf("cut at %d: alarms %+v", at, a)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestQuarantineSkipsBillCodes: the quarantined file's bills of today may
// be at the back ends already, which take a repeated bill_code for a bill
// they have; the fresh queue must not hand today's codes out again.
func TestQuarantineSkipsBillCodes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	c := newClock()
	s := openTest(t, path, testOptions(c))
	old := map[string]bool{}
	for i := 0; i < 3; i++ {
		old[finishedBill(t, s, "s", i*10, 2, "msfx").Code] = true
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		if err := os.WriteFile(path, []byte(strings.Repeat("not a bbolt file ", 500)), 0o600); err != nil {
			t.Fatal(err)
		}
		c.Add(time.Second) // quarantined names differ by the second
		s = openTest(t, path, testOptions(c))
		b := finishedBill(t, s, "s", 1000*round, 2, "msfx")
		if old[b.Code] || !strings.HasSuffix(b.Code, "-"+string(rune('0'+round))+"00001") {
			t.Fatalf("after quarantine %d the fresh queue made bill %s (earlier: %v)", round, b.Code, old)
		}
		old[b.Code] = true
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Tomorrow's numbering starts afresh: the lost files had no bills then.
	c.Add(24 * time.Hour)
	s = openTest(t, path, testOptions(c))
	if b := finishedBill(t, s, "s", 5000, 2, "msfx"); !strings.HasSuffix(b.Code, "-00001") {
		t.Fatalf("next day's first bill %s", b.Code)
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestFreeTailCutIsNoDamage: bbolt grows its file ahead of the pages in
// use; losing that free tail (a copy cut short there, a filesystem
// repair) loses nothing, so the file must be kept, not quarantined.
func TestFreeTailCutIsNoDamage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	s := openTest(t, path, testOptions(newClock()))
	var bills []Bill
	for i := 0; i < 5; i++ {
		bills = append(bills, finishedBill(t, s, "s", i*100, 50, "msfx"))
	}
	var used int64
	if err := s.db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() <= used {
		t.Fatalf("the file (%d bytes) has no free tail past %d: the test proves nothing", fi.Size(), used)
	}
	if err := os.Truncate(path, used); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, path, testOptions(newClock()))
	if a := s.Alarms(); len(a) != 0 || len(mustGlob(t, path+".corrupt-*")) != 0 {
		t.Fatalf("a cut in the free tail was taken for damage: alarms %+v", a)
	}
	for _, want := range bills {
		b, err := s.Bill(want.ID)
		if err != nil || b.Code != want.Code || b.Items != 50 {
			t.Fatalf("bill %s after the cut: %+v, %v", want.Code, b, err)
		}
	}
}
