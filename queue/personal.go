package queue

// Personal data at rest. A bill's personal attrs (the patient's 人员编号,
// 证件号码 and name, the prescribing doctor's, a phone number, a customer
// id) are never written to the queue file in plain text: putBill seals
// them with the device's personal-data key, which lives in its own file
// outside the queue (a lost handheld's queue file alone reveals nothing);
// the readers open them again. A delivery's progress is sealed as a whole,
// since a destination may keep its request there (医保 writes the FSI
// request ahead, with the patient's name in it). Once every destination
// has the bill (done or dropped) its personal attrs are erased and the
// bill notes it (Bill.PersonalErased).
//
// A value that cannot be opened (the key file lost or replaced) stays
// sealed (Bill.Sealed), and a delivery whose destination uses it is held
// with the reason, never sent with a gap or garbage in its place.

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tjfoc/gmsm/sm3"
	"github.com/tjfoc/gmsm/sm4"
	bolt "go.etcd.io/bbolt"
)

// personalAttrs are the bill attrs that are personal data (个人信息), the
// one list everything here keys on. The nhsa ones are the FSI 3505/3506
// row fields of nhsa.md §3.4 (psn_no 人员编号, certno 证件号码,
// psn_name 人员姓名, prsc_dr_certno/prsc_dr_name the prescribing
// doctor's 证件号码 and name); the msfx ones carry the 码上放心 sale
// upload's customer_id/user_tel (upload/msfx/wire: PCustomerID,
// PUserTel); phone and customer_id are the POS's plain keys for the same.
var personalAttrs = []string{
	"nhsa.psn_no", "nhsa.certno", "nhsa.psn_name", "nhsa.prsc_dr_certno", "nhsa.prsc_dr_name",
	"msfx.customer_id", "msfx.user_tel", "customer_id", "phone",
}

// PersonalAttrs lists the bill attr keys that are personal data.
func PersonalAttrs() []string { return slices.Clone(personalAttrs) }

// IsPersonal tells whether a bill attr key is personal data.
func IsPersonal(key string) bool { return slices.Contains(personalAttrs, key) }

// PersonalKeySize is the key's length: SM4 takes 128-bit keys.
const PersonalKeySize = 16

// sealPrefix starts a sealed value: the format's version, then the key's
// id, then base64url(nonce ‖ ciphertext ‖ tag). A new format gets a new
// version; readers keep opening the old ones.
const sealPrefix = "sm4gcm.v1."

// PersonalKey seals personal data: SM4 in GCM mode (an AEAD: a value
// changed or moved to another bill or field fails to open rather than
// reading as garbage). SM4 rather than AES because it is the national
// standard (GB/T 32907) that 医保 and 密评 reviews expect, and the module
// already depends on github.com/tjfoc/gmsm; its sm4.NewCipher is a
// 128-bit cipher.Block, so the standard library's GCM runs over it (SM4-GCM
// as in RFC 8998). gmsm's own Sm4GCM is not used: its tags are not GCM's
// (personal_test.go compares them).
type PersonalKey struct {
	// mu: gmsm's SM4 block keeps scratch buffers in the cipher, so one
	// AEAD must not run in two goroutines at once.
	mu   sync.Mutex
	aead cipher.AEAD
	id   string
}

// NewPersonalKey makes a key of PersonalKeySize random-looking bytes.
func NewPersonalKey(raw []byte) (*PersonalKey, error) {
	if len(raw) != PersonalKeySize {
		return nil, fmt.Errorf("queue: personal-data key has %d bytes, want %d", len(raw), PersonalKeySize)
	}
	block, err := sm4.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("queue: personal-data key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("queue: personal-data key: %w", err)
	}
	// The id names the key in sealed values (so a wrong key is told from
	// a damaged value); a hash prefix reveals nothing of a 128-bit key.
	return &PersonalKey{aead: aead, id: hex.EncodeToString(sm3.Sm3Sum(raw)[:4])}, nil
}

// ID is the key's short id, as sealed values name it.
func (k *PersonalKey) ID() string { return k.id }

func (k *PersonalKey) seal(plain, aad string) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("queue: seal personal data: %w", err)
	}
	k.mu.Lock()
	out := k.aead.Seal(nonce, nonce, []byte(plain), []byte(aad))
	k.mu.Unlock()
	return sealPrefix + k.id + "." + base64.RawURLEncoding.EncodeToString(out), nil
}

// errKey says why a sealed value did not open.
type errKey struct{ msg string }

func (e *errKey) Error() string { return e.msg }

func sealed(v string) bool { return strings.HasPrefix(v, sealPrefix) }

// open opens a value of seal; k may be nil (no key on this device).
func (k *PersonalKey) open(v, aad string) (string, error) {
	rest, ok := strings.CutPrefix(v, sealPrefix)
	id, body, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 {
		return "", &errKey{"not a sealed value of a known format"}
	}
	if k == nil {
		return "", &errKey{fmt.Sprintf("sealed with key %s, and this device has no personal-data key", id)}
	}
	if id != k.id {
		return "", &errKey{fmt.Sprintf("sealed with key %s, and this device's key is %s", id, k.id)}
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return "", &errKey{"sealed value is damaged"}
	}
	n := k.aead.NonceSize()
	k.mu.Lock()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(aad))
	k.mu.Unlock()
	if err != nil {
		return "", &errKey{fmt.Sprintf("sealed value does not open with key %s (damaged, or moved from another bill)", k.id)}
	}
	return string(plain), nil
}

func attrAAD(billCode, key string) string { return "attr\x00" + billCode + "\x00" + key }

func progressAAD(billCode, dest string) string { return "progress\x00" + billCode + "\x00" + dest }

// sealBill is b as it is stored: its personal attrs moved from Attrs to
// Sealed, sealed. b itself is not changed (callers keep the plain view).
// Without a key the store keeps them in plain text (tests and tools; the
// agent always has a key).
func (s *Store) sealBill(b Bill) (Bill, error) {
	k := s.opts.PersonalKey
	if !slices.ContainsFunc(slices.Collect(maps.Keys(b.Attrs)), IsPersonal) {
		return b, nil
	}
	if k == nil {
		if s.opts.RefusePlainPersonal {
			return Bill{}, fmt.Errorf("%w: bill %s: the key file is not readable here (run this where the agent's key is, or through the running agent)", ErrPersonalKeyNeeded, b.Code)
		}
		return b, nil
	}
	attrs := make(map[string]string, len(b.Attrs))
	sl := maps.Clone(b.Sealed)
	if sl == nil {
		sl = map[string]string{}
	}
	for key, v := range b.Attrs {
		if !IsPersonal(key) {
			attrs[key] = v
			continue
		}
		sv, err := k.seal(v, attrAAD(b.Code, key))
		if err != nil {
			return Bill{}, err
		}
		sl[key] = sv
	}
	if len(attrs) == 0 {
		attrs = nil
	}
	b.Attrs, b.Sealed = attrs, sl
	return b, nil
}

// openBill moves the sealed attrs that open back into Attrs; those that
// do not stay in Sealed.
func (s *Store) openBill(b *Bill) {
	if len(b.Sealed) == 0 {
		return
	}
	b.Sealed = maps.Clone(b.Sealed)
	b.Attrs = maps.Clone(b.Attrs)
	for key, sv := range b.Sealed {
		v, err := s.opts.PersonalKey.open(sv, attrAAD(b.Code, key))
		if err != nil {
			continue
		}
		if b.Attrs == nil {
			b.Attrs = map[string]string{}
		}
		b.Attrs[key] = v
		delete(b.Sealed, key)
	}
	if len(b.Sealed) == 0 {
		b.Sealed = nil
	}
}

// decodeBill reads a stored bill and opens it.
func (s *Store) decodeBill(k, v []byte) (Bill, error) {
	var b Bill
	if err := json.Unmarshal(v, &b); err != nil {
		return Bill{}, fmt.Errorf("%w: bill %x: %v", errCorrupt, k, err)
	}
	s.openBill(&b)
	return b, nil
}

// sealProgress is a delivery's progress as it is stored.
func (s *Store) sealProgress(d Delivery) (Delivery, error) {
	k := s.opts.PersonalKey
	if k == nil || d.Progress == "" || sealed(d.Progress) {
		return d, nil
	}
	sv, err := k.seal(d.Progress, progressAAD(d.BillCode, d.Dest))
	if err != nil {
		return Delivery{}, err
	}
	d.Progress = sv
	return d, nil
}

// openProgress opens a delivery's stored progress; on failure it stays
// sealed and the error says why.
func (s *Store) openProgress(d *Delivery) error {
	if !sealed(d.Progress) {
		return nil
	}
	p, err := s.opts.PersonalKey.open(d.Progress, progressAAD(d.BillCode, d.Dest))
	if err != nil {
		return err
	}
	d.Progress = p
	return nil
}

// personalHold is how long a delivery held for personal data it cannot
// open waits before it is looked at again (the key file may be restored
// meanwhile; an operator's retry looks at once).
const personalHold = 10 * time.Minute

// MissingKeySource is Missing.Source of a delivery held because personal
// data of its bill cannot be decrypted.
const MissingKeySource = "personal-data key"

// keyMissing says what a delivery whose bill (or progress) cannot be
// opened misses, or nil when it can go: only the sealed attrs its
// destination uses count.
func (s *Store) keyMissing(b Bill, d *Delivery) []Missing {
	var out []Missing
	file := s.opts.PersonalKeyFile
	if file == "" {
		file = "the personal-data key file"
	}
	fix := fmt.Sprintf("restore %s this queue was written with (from a backup or the HQ bundle), then retry the delivery", file)
	for _, key := range slices.Sorted(maps.Keys(b.Sealed)) {
		if s.opts.UsesAttr != nil && !s.opts.UsesAttr(d.Dest, key) {
			continue
		}
		_, err := s.opts.PersonalKey.open(b.Sealed[key], attrAAD(b.Code, key))
		out = append(out, Missing{Field: key, Source: MissingKeySource,
			Detail: fmt.Sprintf("personal data cannot be decrypted (%v): the key file is missing or not the one it was written with; %s", err, fix)})
	}
	if err := s.openProgress(d); err != nil {
		out = append(out, Missing{Field: "progress", Source: MissingKeySource,
			Detail: fmt.Sprintf("the delivery's saved progress cannot be decrypted (%v); %s", err, fix)})
	}
	return out
}

// holdForKey keeps a due delivery from its lease: it is held, with why,
// and looked at again after personalHold.
func (w *wtx) holdForKey(d Delivery, missing []Missing) error {
	if d.State == DeliveryLeased {
		// An expired lease: its attempt may have gone out.
		if err := w.del(w.tx.Bucket(bktLeased), deliveryKey(d.BillID, d.Dest)); err != nil {
			return err
		}
		d.State, d.Unknown, d.LeaseUntil = DeliveryPending, true, time.Time{}
	}
	d.Missing = missing
	d.LastError = "held: personal data of the bill cannot be decrypted with this device's key"
	d.LastAt = w.now
	w.s.opts.Logger.Error("queue: delivery held: personal data cannot be decrypted", "bill", d.BillCode, "dest", d.Dest, "field", missing[0].Field)
	return w.reschedule(&d, w.now.Add(personalHold))
}

// erasePersonal removes the personal attrs of a finished bill whose every
// destination has it (done or dropped), and the write-ahead request copy a
// destination keeps in its progress (the "request" member of a JSON
// progress, as 医保's): nothing is needed from them any more. The bill
// keeps a note of it.
func (w *wtx) erasePersonal(billID uint64) error { return w.erasePersonalIf(billID, false) }

// erasePersonalIf is erasePersonal; unless force, a bill kept by
// Options.PersonalRetention keeps its personal attrs (ErasePersonalDue
// forces it later).
func (w *wtx) erasePersonalIf(billID uint64, force bool) error {
	b, err := getBill(w.tx, billID)
	if err != nil {
		return abort(err)
	}
	if b.State != BillFinished {
		return nil
	}
	ds, err := readDeliveries(w.tx, billID)
	if err != nil {
		return abort(err)
	}
	for _, d := range ds {
		if d.State != DeliveryDone && d.State != DeliveryDropped {
			return nil
		}
	}
	if !force && w.s.retains(ds) {
		return nil
	}
	var gone []string
	for key := range b.Attrs {
		if IsPersonal(key) {
			gone = append(gone, key)
			delete(b.Attrs, key)
		}
	}
	for key := range b.Sealed {
		gone = append(gone, key)
	}
	b.Sealed = nil
	if len(b.Attrs) == 0 {
		b.Attrs = nil
	}
	for _, d := range ds {
		if w.s.openProgress(&d) != nil {
			continue // sealed by a key gone: unreadable anyway
		}
		if p, ok := scrubProgress(d.Progress); ok {
			d.Progress = p
			if err := w.putDelivery(d); err != nil {
				return err
			}
		}
	}
	if len(gone) == 0 {
		return nil
	}
	slices.Sort(gone)
	b.PersonalErased = w.now
	b.History = append(b.History, Event{At: w.now, What: "personal data erased",
		Detail: strings.Join(gone, ", ") + ": every destination has the bill"})
	return w.putBill(b)
}

// stripPersonal erases the personal attrs of a bill finished without a
// destination: nothing will ever need them.
func stripPersonal(b *Bill, now time.Time) {
	var gone []string
	for key := range b.Attrs {
		if IsPersonal(key) {
			gone = append(gone, key)
		}
	}
	gone = append(gone, slices.Collect(maps.Keys(b.Sealed))...)
	if len(gone) == 0 {
		return
	}
	b.Attrs = maps.Clone(b.Attrs)
	for _, key := range gone {
		delete(b.Attrs, key)
	}
	if len(b.Attrs) == 0 {
		b.Attrs = nil
	}
	b.Sealed = nil
	slices.Sort(gone)
	b.PersonalErased = now
	b.History = append(b.History, Event{At: now, What: "personal data erased",
		Detail: strings.Join(gone, ", ") + ": no destination"})
}

// scrubProgress drops the "request" member of a JSON-object progress.
func scrubProgress(p string) (string, bool) {
	if !strings.Contains(p, `"request"`) {
		return p, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(p), &m) != nil {
		return p, false
	}
	if _, ok := m["request"]; !ok {
		return p, false
	}
	delete(m, "request")
	out, err := json.Marshal(m)
	if err != nil {
		return p, false
	}
	return string(out), true
}

// MaskValue hides a personal value for display: the first and last
// character of a long value, stars for the rest. A masked value stays as
// it is (a view masked by the API and again by the command).
func MaskValue(v string) string {
	r := []rune(v)
	if v == "***" || (len(r) == 5 && string(r[1:4]) == "***") {
		return v
	}
	if len(r) < 6 {
		return "***"
	}
	return string(r[0]) + "***" + string(r[len(r)-1])
}

// MaskPersonal is b with its personal attrs masked (MaskValue) and its
// undecryptable ones only named, for views that do not ask for personal
// data.
func MaskPersonal(b Bill) Bill {
	if len(b.Attrs) > 0 {
		b.Attrs = maps.Clone(b.Attrs)
		for key, v := range b.Attrs {
			if IsPersonal(key) {
				b.Attrs[key] = MaskValue(v)
			}
		}
	}
	if len(b.Sealed) > 0 {
		b.Sealed = maps.Clone(b.Sealed)
		for key := range b.Sealed {
			b.Sealed[key] = "(cannot be decrypted with this device's key)"
		}
	}
	return b
}

// MaskRecord is MaskPersonal for a bill record; deliveries lose the
// request copy in their progress (scrubProgress).
func MaskRecord(r BillRecord) BillRecord {
	r.Bill = MaskPersonal(r.Bill)
	if len(r.Deliveries) > 0 {
		r.Deliveries = slices.Clone(r.Deliveries)
		for i := range r.Deliveries {
			if p, ok := scrubProgress(r.Deliveries[i].Progress); ok {
				r.Deliveries[i].Progress = p
			}
		}
	}
	return r
}

// keyLegacySealed marks a file whose bills written before personal data
// was sealed have been gone through (sealLegacy).
var keyLegacySealed = []byte("personal:sealed")

// sealLegacy seals, once per file, the personal attrs a queue written
// before this version keeps in plain text, and erases those of bills every
// destination has. It runs at Open, before the committer starts.
func (s *Store) sealLegacy() error {
	if s.opts.PersonalKey == nil {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bktMeta)
		if meta.Get(keyLegacySealed) != nil {
			return nil
		}
		w := &wtx{tx: tx, s: s, now: s.opts.Now(), due: map[string]bool{}, budget: -1}
		var plain []Bill
		if err := tx.Bucket(bktBills).ForEach(func(k, v []byte) error {
			var b Bill
			if err := json.Unmarshal(v, &b); err != nil {
				return fmt.Errorf("%w: bill %x: %v", errCorrupt, k, err)
			}
			if slices.ContainsFunc(slices.Collect(maps.Keys(b.Attrs)), IsPersonal) {
				plain = append(plain, b)
			}
			return nil
		}); err != nil {
			return err
		}
		for _, b := range plain {
			if err := w.putBill(b); err != nil {
				return err
			}
			if err := w.erasePersonal(b.ID); err != nil {
				return err
			}
		}
		return meta.Put(keyLegacySealed, []byte{1})
	})
}

// RedactPersonal masks, in a text about bill b (a back end's error or
// reason), every personal value b carries in Attrs: a back end that quotes
// the patient's 证件号码 or name in its message must not have it kept or
// logged in plain text. Values of one character are left (they would mask
// half the text and identify no one).
func RedactPersonal(b Bill, text string) string {
	if text == "" {
		return text
	}
	var vals []string
	for key, v := range b.Attrs {
		if IsPersonal(key) && len([]rune(v)) > 1 && strings.Contains(text, v) {
			vals = append(vals, v)
		}
	}
	// Longest first: a name inside a longer value is masked with it.
	slices.SortFunc(vals, func(a, b string) int { return len(b) - len(a) })
	for _, v := range vals {
		text = strings.ReplaceAll(text, v, MaskValue(v))
	}
	return text
}

// redactor is RedactPersonal for the bill billID as the transaction sees
// it (opened with the device's key).
func (w *wtx) redactor(billID uint64) (func(string) string, error) {
	b, err := getBill(w.tx, billID)
	if err != nil {
		return nil, abort(err)
	}
	w.s.openBill(&b)
	return func(s string) string { return RedactPersonal(b, s) }, nil
}

// ErrPersonalKeyNeeded: a write would store personal data, and the store
// was opened without the personal-data key under Options.RefusePlainPersonal.
var ErrPersonalKeyNeeded = errors.New("personal data can only be written with the personal-data key")
