package queue

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tjfoc/gmsm/sm4"
	bolt "go.etcd.io/bbolt"
)

const (
	testCertno = "110101199003074514"
	testName   = "张三丰测"
	testPsnNo  = "35000000000000001234"
	testTel    = "13912345678"
)

func newTestKey(t *testing.T) *PersonalKey {
	t.Helper()
	raw := make([]byte, PersonalKeySize)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	k, err := NewPersonalKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The AEAD is SM4 (GB/T 32907's own example block) in the standard
// library's GCM, and agrees with gmsm's independent SM4-GCM.
func TestPersonalKeyIsSM4GCM(t *testing.T) {
	key, _ := hex.DecodeString("0123456789abcdeffedcba9876543210")
	block, err := sm4.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 16)
	block.Encrypt(got, key)
	if want := "681edf34d206965e86b3e94f536e4246"; hex.EncodeToString(got) != want {
		t.Fatalf("SM4 example block: %x, want %s", got, want)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := []byte("0123456789ab")
	plain := []byte(testCertno + testName)
	aad := []byte(attrAAD("T01-261127-00001", "nhsa.certno"))
	sealed := aead.Seal(nil, nonce, plain, aad)
	ct, tag, err := sm4.Sm4GCM(key, nonce, plain, aad, true)
	if err != nil {
		t.Fatal(err)
	}
	// The counter-mode part agrees with gmsm's own SM4-GCM; its tag does
	// not (gmsm v1.4.1's bit-wise GHASH is not GCM's), which is why the
	// standard library's GCM is used. The tag is the standard library's
	// GCM, the same code as AES-GCM's.
	if len(tag) != 16 || !bytes.Equal(sealed[:len(plain)], ct) {
		t.Fatalf("stdlib GCM over SM4 %x\ngmsm Sm4GCM          %x", sealed[:len(plain)], ct)
	}

	k, err := NewPersonalKey(key)
	if err != nil {
		t.Fatal(err)
	}
	v, err := k.seal(testCertno, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(v, sealPrefix+k.ID()+".") || strings.Contains(v, testCertno) {
		t.Fatalf("sealed form %q", v)
	}
	if p, err := k.open(v, "a"); err != nil || p != testCertno {
		t.Fatalf("open: %q, %v", p, err)
	}
	if _, err := k.open(v, "b"); err == nil {
		t.Fatal("a value moved to another bill or field opened")
	}
	if _, err := newTestKey(t).open(v, "a"); err == nil || !strings.Contains(err.Error(), k.ID()) {
		t.Fatalf("another key: %v", err)
	}
}

// personalSale runs a 医保 sale through the queue as the agent does: the
// POS opens it with the patient's number, sets the certificate number and
// name while it is open (POST /v1/sessions/{s}/attrs, PDA:SET: both end
// in SetAttrs), finishes it to nhsa and msfx; nhsa leases it, writes its
// request ahead (Checkpoint) and is acked. It returns the bill code.
func personalSale(t *testing.T, s *Store, ack bool) string {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "pos", Type: 321, Device: "T01",
		Attrs: map[string]string{"nhsa.psn_no": testPsnNo, "nhsa.mdtrt_sn": "MD001"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetAttrs(ctx, "pos", map[string]string{"nhsa.certno": testCertno, "nhsa.psn_name": testName, "phone": testTel}); err != nil {
		t.Fatal(err)
	}
	mustScan(t, s, scanIn("pos", msfx(1)), Accepted)
	b, err := s.Finish(ctx, "pos", To("nhsa", "msfx"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Attrs["nhsa.certno"] != testCertno || b.Attrs["nhsa.psn_name"] != testName || len(b.Sealed) != 0 {
		t.Fatalf("finished bill as the caller sees it: attrs %v sealed %v", b.Attrs, b.Sealed)
	}
	if !ack {
		return b.Code
	}
	ls, err := s.Lease(ctx, "nhsa", 1, time.Minute)
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lease: %v, %v", ls, err)
	}
	l := ls[0]
	// The delivery gets the values as they were given.
	for k, want := range map[string]string{"nhsa.psn_no": testPsnNo, "nhsa.certno": testCertno, "nhsa.psn_name": testName, "phone": testTel, "nhsa.mdtrt_sn": "MD001"} {
		if got := l.Bill.Attrs[k]; got != want {
			t.Fatalf("leased bill attr %s = %q, want %q", k, got, want)
		}
	}
	progress := `{"v":2,"state":"sending","msgid":"M1","request":{"selinfo":[{"certno":"` + testCertno + `","psn_name":"` + testName + `"}]}}`
	if err := s.Checkpoint(ctx, l.Bill.ID, "nhsa", l.Delivery.Lease, progress, 0); err != nil {
		t.Fatal(err)
	}
	ls2, err := s.Deliveries(l.Bill.ID)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(ls2, func(d Delivery) bool { return d.Dest == "nhsa" }); ls2[i].Progress != progress {
		t.Fatalf("progress read back %q", ls2[i].Progress)
	}
	if err := s.Ack(ctx, l.Bill.ID, "nhsa", AckInfo{Ref: "R1"}); err != nil {
		t.Fatal(err)
	}
	return b.Code
}

func rawContains(t *testing.T, path string, needles ...string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, n := range needles {
		if bytes.Contains(data, []byte(n)) {
			found = append(found, n)
		}
	}
	return found
}

// The raw queue file (live pages, freed pages, the freelist: every byte)
// never holds the certificate number, name, person number or phone; the
// same sale without a key does, so the grep sees them when they are there.
func TestPersonalDataNeverPlainInFile(t *testing.T) {
	needles := []string{testCertno, testName, testPsnNo, testTel}

	plain := filepath.Join(t.TempDir(), "plain.db")
	ps := openTest(t, plain, testOptions(newClock()))
	personalSale(t, ps, false)
	if err := ps.Close(); err != nil {
		t.Fatal(err)
	}
	if found := rawContains(t, plain, needles...); len(found) != len(needles) {
		t.Fatalf("control without a key: found only %v in the file", found)
	}

	path := filepath.Join(t.TempDir(), "queue.db")
	o := testOptions(newClock())
	o.PersonalKey = newTestKey(t)
	s := openTest(t, path, o)
	code := personalSale(t, s, true)
	// Open sale, finish, lease, write-ahead, ack: nothing plain so far.
	if found := rawContains(t, path, needles...); len(found) > 0 {
		t.Fatalf("raw queue file holds %v", found)
	}
	b, err := s.BillByCode(code)
	if err != nil {
		t.Fatal(err)
	}
	// msfx has not got it yet: the personal data is still kept.
	if b.Attrs["nhsa.certno"] != testCertno || !b.PersonalErased.IsZero() {
		t.Fatalf("before every destination has it: %v, erased %v", b.Attrs, b.PersonalErased)
	}
	ls, err := s.Lease(context.Background(), "msfx", 1, time.Minute)
	if err != nil || len(ls) != 1 {
		t.Fatalf("msfx lease: %v %v", ls, err)
	}
	if err := s.Ack(context.Background(), b.ID, "msfx", AckInfo{Ref: "M"}); err != nil {
		t.Fatal(err)
	}
	b, err = s.BillByCode(code)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range PersonalAttrs() {
		if _, ok := b.Attrs[k]; ok {
			t.Errorf("erased bill still has %s", k)
		}
	}
	if len(b.Sealed) > 0 || b.PersonalErased.IsZero() || b.Attrs["nhsa.mdtrt_sn"] != "MD001" {
		t.Fatalf("erased bill: attrs %v sealed %v erased %v", b.Attrs, b.Sealed, b.PersonalErased)
	}
	if last := b.History[len(b.History)-1]; last.What != "personal data erased" || !strings.Contains(last.Detail, "nhsa.certno") {
		t.Fatalf("history ends with %+v", last)
	}
	ds, err := s.Deliveries(b.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if strings.Contains(d.Progress, "request") || strings.Contains(d.Progress, testCertno) {
			t.Fatalf("%s progress after erasure: %s", d.Dest, d.Progress)
		}
	}
	if d := ds[slices.IndexFunc(ds, func(d Delivery) bool { return d.Dest == "nhsa" })]; !strings.Contains(d.Progress, `"msgid":"M1"`) {
		t.Fatalf("erasure dropped more than the request: %s", d.Progress)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if found := rawContains(t, path, needles...); len(found) > 0 {
		t.Fatalf("raw queue file holds %v", found)
	}
}

// A queue read with another key, or none: the 医保 delivery is held with
// the reason and never leased; 码上放心, which sends none of it, goes on.
func TestPersonalWrongKeyHolds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	c := newClock()
	o := testOptions(c)
	o.PersonalKey = newTestKey(t)
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	code := personalSale(t, s, false)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		key  *PersonalKey
		want string
	}{{"other key", newTestKey(t), "this device's key is"}, {"no key", nil, "no personal-data key"}} {
		t.Run(tc.name, func(t *testing.T) {
			c.Add(personalHold + time.Minute) // the earlier run's hold is over
			o := testOptions(c)
			o.PersonalKey, o.PersonalKeyFile = tc.key, "/var/lib/pda-agent/personal.key"
			o.UsesAttr = func(dest, key string) bool { return dest == "nhsa" && strings.HasPrefix(key, "nhsa.") }
			s := openTest(t, path, o)
			ctx := context.Background()
			b, err := s.BillByCode(code)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := b.Attrs["nhsa.certno"]; ok || b.Sealed["nhsa.certno"] == "" {
				t.Fatalf("undecryptable attr shown as %v / sealed %v", b.Attrs, b.Sealed)
			}
			ls, err := s.Lease(ctx, "nhsa", 1, time.Minute)
			if err != nil || len(ls) != 0 {
				t.Fatalf("nhsa leased a bill it cannot read: %v %v", ls, err)
			}
			ds, _ := s.Deliveries(b.ID)
			d := ds[slices.IndexFunc(ds, func(d Delivery) bool { return d.Dest == "nhsa" })]
			if d.State != DeliveryPending || len(d.Missing) == 0 || d.Missing[0].Source != MissingKeySource ||
				!strings.Contains(d.Missing[0].Detail, tc.want) || !strings.Contains(d.Missing[0].Detail, "/var/lib/pda-agent/personal.key") {
				t.Fatalf("held delivery: %+v", d)
			}
			if d.Attempts != 0 || !d.NextAt.After(c.Now()) {
				t.Fatalf("held delivery counted an attempt or is due at once: %+v", d)
			}
			st, err := s.Stats()
			if err != nil {
				t.Fatal(err)
			}
			if st.KeyHeld != 1 || st.Dests["nhsa"].Held != 1 {
				t.Fatalf("stats: key held %d, nhsa held %d", st.KeyHeld, st.Dests["nhsa"].Held)
			}
			if ls, err := s.Lease(ctx, "msfx", 1, time.Minute); err != nil || len(ls) != 1 {
				t.Fatalf("msfx, which uses no personal attr, was held: %v %v", ls, err)
			}
		})
	}

	// The right key back: the held delivery goes when it is looked at.
	o = testOptions(c)
	o.PersonalKey = s.opts.PersonalKey
	s2 := openTest(t, path, o)
	b, _ := s2.BillByCode(code)
	if err := s2.Retry(context.Background(), b.ID, "nhsa"); err != nil {
		t.Fatal(err)
	}
	ls, err := s2.Lease(context.Background(), "nhsa", 1, time.Minute)
	if err != nil || len(ls) != 1 || ls[0].Bill.Attrs["nhsa.certno"] != testCertno {
		t.Fatalf("with the key restored: %v %v", ls, err)
	}
}

// A bill finished to no destination keeps no personal data; a held
// delivery dropped by the operator, being the last, erases it too.
func TestPersonalErasedWithoutDestinationAndOnDrop(t *testing.T) {
	ctx := context.Background()
	o := testOptions(newClock())
	o.PersonalKey = newTestKey(t)
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"), o)
	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "a", Type: 321, Attrs: map[string]string{"nhsa.certno": testCertno}}); err != nil {
		t.Fatal(err)
	}
	mustScan(t, s, scanIn("a", msfx(1)), Accepted)
	b, err := s.Finish(ctx, "a", To())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Attrs) != 0 || b.PersonalErased.IsZero() {
		t.Fatalf("local-only bill: %v erased %v", b.Attrs, b.PersonalErased)
	}

	if _, _, err := s.OpenSession(ctx, SessionSpec{Session: "b", Type: 321, Attrs: map[string]string{"nhsa.psn_name": testName}}); err != nil {
		t.Fatal(err)
	}
	mustScan(t, s, scanIn("b", msfx(2)), Accepted)
	b, err = s.Finish(ctx, "b", To("nhsa"))
	if err != nil {
		t.Fatal(err)
	}
	ls, err := s.Lease(ctx, "nhsa", 1, time.Minute)
	if err != nil || len(ls) != 1 {
		t.Fatal(ls, err)
	}
	if err := s.Nack(ctx, b.ID, "nhsa", ls[0].Delivery.Lease, Retry{At: time.Now().Add(time.Hour), Error: "held",
		Missing: []Missing{{Field: "certno", Source: "attr nhsa.certno"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(ctx, b.ID, "nhsa", "sale not under 医保"); err != nil {
		t.Fatal(err)
	}
	if b, err = s.BillByCode(b.Code); err != nil || len(b.Attrs) != 0 || b.PersonalErased.IsZero() {
		t.Fatalf("after the drop: %v erased %v, %v", b.Attrs, b.PersonalErased, err)
	}
}

func TestMaskPersonal(t *testing.T) {
	b := Bill{Attrs: map[string]string{"nhsa.certno": testCertno, "nhsa.psn_name": testName, "nhsa.mdtrt_sn": "MD001"},
		Sealed: map[string]string{"phone": "sm4gcm.v1.x.y"}}
	m := MaskPersonal(b)
	if m.Attrs["nhsa.certno"] != "1***4" || m.Attrs["nhsa.psn_name"] != "***" || m.Attrs["nhsa.mdtrt_sn"] != "MD001" {
		t.Fatalf("masked %v", m.Attrs)
	}
	if again := MaskPersonal(m); again.Attrs["nhsa.certno"] != "1***4" || again.Attrs["nhsa.psn_name"] != "***" {
		t.Fatalf("masked twice %v", again.Attrs)
	}
	if strings.Contains(m.Sealed["phone"], "sm4gcm") {
		t.Fatalf("masked sealed %v", m.Sealed)
	}
	if b.Attrs["nhsa.certno"] != testCertno {
		t.Fatal("MaskPersonal changed its argument")
	}
	r := MaskRecord(BillRecord{Bill: b, Deliveries: []Delivery{{Dest: "nhsa", Progress: `{"v":2,"request":{"certno":"` + testCertno + `"}}`}}})
	if strings.Contains(r.Deliveries[0].Progress, testCertno) || !strings.Contains(r.Deliveries[0].Progress, `"v":2`) {
		t.Fatalf("masked progress %s", r.Deliveries[0].Progress)
	}
}

// A queue written before personal data was sealed: its next Open with a
// key seals what is still needed and erases what every destination has.
func TestPersonalLegacyFileSealedAtOpen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "queue.db")
	c := newClock()
	s, err := Open(path, testOptions(c))
	if err != nil {
		t.Fatal(err)
	}
	spec := func(session string) SessionSpec {
		return SessionSpec{Session: session, Type: 321, Attrs: map[string]string{"nhsa.certno": testCertno, "nhsa.mdtrt_sn": "MD1"}}
	}
	pending, err := s.SubmitBill(ctx, spec("a"), []ScanInput{scanIn("a", msfx(1))}, To("nhsa"))
	if err != nil {
		t.Fatal(err)
	}
	done, err := s.SubmitBill(ctx, spec("b"), []ScanInput{scanIn("b", msfx(2))}, To("msfx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ack(ctx, done.ID, "msfx", AckInfo{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Bill(done.ID); b.PersonalErased.IsZero() {
		t.Fatal("without a key the delivered bill kept its personal data")
	}
	// An older version kept a delivered bill's attrs: write it so.
	if err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := getBill(tx, done.ID)
		if err != nil {
			return err
		}
		b.Attrs["phone"], b.PersonalErased = testTel, time.Time{}
		return putJSON(tx.Bucket(bktBills), u64(b.ID), b)
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	o := testOptions(c)
	o.PersonalKey = newTestKey(t)
	s = openTest(t, path, o)
	var raw [][]byte
	if err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktBills).ForEach(func(_, v []byte) error {
			raw = append(raw, bytes.Clone(v))
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	for _, v := range raw {
		if bytes.Contains(v, []byte(testCertno)) || bytes.Contains(v, []byte(testTel)) {
			t.Fatalf("a stored bill still holds personal data: %s", v)
		}
	}
	if b, _ := s.Bill(pending.ID); b.Attrs["nhsa.certno"] != testCertno {
		t.Fatalf("the pending bill lost its certno: %v", b.Attrs)
	}
	if b, _ := s.Bill(done.ID); b.Attrs["phone"] != "" {
		t.Fatalf("the delivered bill kept its phone: %v", b.Attrs)
	}
}

// Reads open sealed values beside the committer sealing new ones: one key
// in many goroutines (gmsm's SM4 block keeps scratch state; -race).
func TestPersonalKeyConcurrentUse(t *testing.T) {
	ctx := context.Background()
	o := testOptions(newClock())
	o.PersonalKey = newTestKey(t)
	s := openTest(t, filepath.Join(t.TempDir(), "queue.db"), o)
	b, _, err := s.OpenSession(ctx, SessionSpec{Session: "pos", Type: 321, Attrs: map[string]string{"nhsa.certno": testCertno}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := 0; g < 4; g++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				got, err := s.BillByCode(b.Code)
				if err != nil || got.Attrs["nhsa.certno"] != testCertno {
					errs <- fmt.Sprintf("read %v %v", got.Attrs, err)
					return
				}
			}
		}()
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				if _, err := s.SetAttrs(ctx, "pos", map[string]string{"phone": fmt.Sprintf("139%08d", g*100+i)}); err != nil {
					errs <- err.Error()
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

// A back end that quotes the patient's data in its error: the delivery's
// error, its dead letter, the code issues and the bill's history keep it
// masked, never in plain text in the file.
func TestBackendErrorTextRedacted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "queue.db")
	o := testOptions(newClock())
	o.PersonalKey = newTestKey(t)
	s := openTest(t, path, o)
	code := personalSale(t, s, false)
	b, err := s.BillByCode(code)
	if err != nil {
		t.Fatal(err)
	}
	lease := func(dest string) Lease {
		ls, err := s.Lease(ctx, dest, 1, time.Minute)
		if err != nil || len(ls) != 1 {
			t.Fatalf("%s lease: %v %v", dest, ls, err)
		}
		return ls[0]
	}
	quote := "人员" + testName + "(证件号" + testCertno + ")参保信息不符"
	l := lease("nhsa")
	if err := s.Nack(ctx, b.ID, "nhsa", l.Delivery.Lease, Retry{At: o.Now(), Error: "3505: " + quote, Note: testPsnNo}); err != nil {
		t.Fatal(err)
	}
	l = lease("nhsa")
	if err := s.Dead(ctx, b.ID, "nhsa", l.Delivery.Lease, "3505 refused: "+quote, ""); err != nil {
		t.Fatal(err)
	}
	lease("msfx")
	if err := s.Ack(ctx, b.ID, "msfx", AckInfo{Ref: "R-" + testTel, CodeErrors: map[string]string{msfx(1): quote}}); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Deliveries(b.ID)
	if err != nil {
		t.Fatal(err)
	}
	nh := ds[slices.IndexFunc(ds, func(d Delivery) bool { return d.Dest == "nhsa" })]
	if !strings.Contains(nh.LastError, MaskValue(testCertno)) || strings.Contains(nh.LastError, testCertno) || strings.Contains(nh.Result, testName) {
		t.Fatalf("dead letter text: %q / %q", nh.LastError, nh.Result)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if found := rawContains(t, path, testCertno, testName, testPsnNo, testTel); len(found) > 0 {
		t.Fatalf("raw queue file holds %v", found)
	}
	if found := rawContains(t, path, MaskValue(testCertno), "参保信息不符"); len(found) != 2 {
		t.Fatalf("the redacted errors are not in the file (found %v): the search proves nothing", found)
	}
}

// A store opened without the key under RefusePlainPersonal (a tool on the
// agent's file) writes no personal value; other changes go through.
func TestRefusePlainPersonal(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "queue.db")
	o := testOptions(newClock())
	o.RefusePlainPersonal = true
	s := openTest(t, path, o)
	mustOpenSession(t, s, "pos", 321)
	if _, err := s.SetAttrs(ctx, "pos", map[string]string{"nhsa.certno": testCertno}); !errors.Is(err, ErrPersonalKeyNeeded) {
		t.Fatalf("personal attr without the key: %v", err)
	}
	if _, err := s.SetAttrs(ctx, "pos", map[string]string{"nhsa.mdtrt_sn": "MD1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if found := rawContains(t, path, testCertno); len(found) > 0 {
		t.Fatal("the certno is in the file")
	}
}
