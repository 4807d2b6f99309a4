// Package queue is the agent's durable store: bills and their codes, the
// per-code ledger, the scan journal, and one delivery per bill and back end
// with its own retry schedule. It is a single bbolt file.
//
// Every write goes through one committer goroutine that groups the requests
// waiting at that moment into one transaction (application-level group
// commit): a caller returns only when the commit holding its record has been
// fsynced. bbolt's own DB.Batch is not used: it adds a 10 ms delay and only
// pays off with hundreds of concurrent writers.
//
// Nothing regulated is ever dropped: when the size cap or the disk is reached
// new scans are refused (ErrQueueFull) while acks and deletes keep working in
// the reserved headroom; a file that fails to open or check is moved aside as
// *.corrupt-<time> and a fresh one started, with an alarm.
package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/pda-agent/pda-agent/durable"
)

// schemaVersion is bumped when the on-disk layout changes incompatibly.
const schemaVersion = 1

// Bucket names.
var (
	bktMeta       = []byte("meta")
	bktBills      = []byte("bills")
	bktBillCodes  = []byte("billcodes")
	bktItems      = []byte("items")
	bktSessions   = []byte("sessions")
	bktLedger     = []byte("ledger")
	bktScans      = []byte("scans")
	bktDeliveries = []byte("deliveries")
	bktDue        = []byte("due")
	bktLeased     = []byte("leased")
	bktDead       = []byte("dead")
	bktAlarms     = []byte("alarms")
	bktIssues     = []byte("codeissues")
	bktExpected   = []byte("expected")
	bktUpstream   = []byte("upstream")
	bktReconcile  = []byte("reconcile")
	bktChecks     = []byte("checks")
	bktIdem       = []byte("idempotency")
	bktCompliance = []byte("compliance")

	allBuckets = [][]byte{bktMeta, bktBills, bktBillCodes, bktItems, bktSessions, bktLedger,
		bktScans, bktDeliveries, bktDue, bktLeased, bktDead, bktAlarms, bktIssues, bktExpected, bktUpstream, bktReconcile, bktChecks, bktIdem, bktCompliance}

	keySchema = []byte("schema")
)

// Errors callers act on.
var (
	// ErrQueueFull: the size cap or the disk is reached; new scans are
	// refused until space is freed. Acks still work.
	ErrQueueFull = errors.New("queue full")
	// ErrLocked: another process holds the queue file.
	ErrLocked = errors.New("queue file is locked by another process (is another pda-agent running?)")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("queue closed")
	// ErrNewerSchema: the file was written by a newer pda-agent.
	ErrNewerSchema = errors.New("queue file was written by a newer pda-agent version")
)

// Options configure a Store. The zero value of each field means its default.
type Options struct {
	// MaxSize caps the file size in bytes (bbolt MaxSize); 0 = no cap.
	MaxSize int64
	// Headroom is kept free below MaxSize and on the disk for acks and
	// deletes once scans are refused. Default 4 MiB.
	Headroom int64
	// MaxBatch bounds how many requests share one transaction. Default 4096.
	MaxBatch int
	// CheckOnOpen runs bbolt's consistency check when opening.
	CheckOnOpen bool
	// CompactFreeRatio compacts the file at open when at least this share of
	// it is free pages (and it is larger than 4 MiB); 0 disables.
	CompactFreeRatio float64
	// LockTimeout bounds the wait for the file lock. Default 2s.
	LockTimeout time.Duration
	// BillPrefix starts every generated bill_code; it must be unique per
	// device within an enterprise (typically the device id).
	BillPrefix string
	// Location is the zone of bill dates in bill codes. Default China
	// Standard Time (UTC+8, no DST).
	Location *time.Location
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives alarms and notable events. Default slog.Default().
	Logger *slog.Logger
	// OnDue is called after a commit that made deliveries due for the named
	// destinations (new bills, retries, operator retries). It must not block.
	OnDue func(dest string)
	// OnAlarm is called when an alarm is raised. It must not block.
	OnAlarm func(Alarm)
	// OnCommit, if set, is told after each durable (fsynced) write
	// transaction how long it took and how many requests it held (metrics).
	// It runs on the committer goroutine once the callers are answered, so
	// it must be cheap and never block: the next batch waits behind it.
	OnCommit func(d time.Duration, records int)
	// PersonalKey seals the personal attrs of bills and the deliveries'
	// progress in the file (personal.go); nil keeps them in plain text
	// (tests and tools only: the agent always gives one).
	PersonalKey *PersonalKey
	// RefusePlainPersonal refuses, without a PersonalKey, every write that
	// would put a personal value in the file in plain text
	// (ErrPersonalKeyNeeded): a tool opening the agent's file without its
	// key.
	RefusePlainPersonal bool
	// PersonalKeyFile names the key's file in the reason of a delivery
	// held for data the key cannot decrypt.
	PersonalKeyFile string
	// UsesAttr tells whether dest sends the bill attr key (nil: every
	// destination every attr): a delivery is held for an undecryptable
	// personal attr only when its destination uses it.
	UsesAttr func(dest, key string) bool
	// PersonalRetention keeps the personal attrs (sealed, as always) of a
	// delivered bill that went to one of RetainPersonalFor, so that a
	// reconciliation finding can still be repaired by a resend; 0 erases
	// them once every destination has the bill. ErasePersonalDue erases
	// them later (retention.go).
	PersonalRetention time.Duration
	RetainPersonalFor []string
}

// chinaTime is UTC+8, the zone of bill times on both platforms.
var chinaTime = time.FixedZone("CST", 8*3600)

func (o Options) withDefaults() Options {
	if o.Headroom <= 0 {
		o.Headroom = 4 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 4096
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = 2 * time.Second
	}
	if o.BillPrefix == "" {
		o.BillPrefix = "PDA"
	}
	if o.Location == nil {
		o.Location = chinaTime
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is the durable queue. It is safe for concurrent use.
type Store struct {
	path  string
	opts  Options
	db    *bolt.DB
	reqs  chan *request
	stop  chan struct{}
	done  chan struct{}
	space *space

	mu       sync.Mutex
	alarms   []Alarm
	closed   bool
	closeErr error
	// sending counts submitters between their closed check and their send,
	// so Close can stop the committer only after they are queued.
	sending sync.WaitGroup
	commits atomic.Uint64
	// idemPruned is when the idempotency records were last pruned (unix ns).
	idemPruned atomic.Int64
}

// Alarm is a condition the operator must see: a quarantined file, a full
// queue or disk. Quarantine alarms are persisted in the new file.
type Alarm struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
}

// Open opens (or creates) the queue file at path. A file that cannot be
// opened or fails its check is quarantined and replaced by a fresh one; the
// returned Store then carries an alarm. Errors that are not corruption (lock
// held, permissions, a newer schema) are returned as they are.
func Open(path string, o Options) (*Store, error) {
	o = o.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("queue: create directory: %w", err)
	}
	removeCompactLeftover(path)

	var alarms []Alarm
	db, err := openChecked(path, o)
	if err != nil {
		if !isCorruption(err) {
			return nil, fmt.Errorf("queue: open %s: %w", path, err)
		}
		moved, qerr := quarantine(path, o.Now())
		if qerr != nil {
			return nil, fmt.Errorf("queue: open %s: %w; quarantine failed: %v", path, err, qerr)
		}
		a := Alarm{At: o.Now(), Kind: "quarantine",
			Message: fmt.Sprintf("queue file was corrupt (%v); moved to %s and started a fresh queue — records in it were not lost but must be recovered from that file", err, moved)}
		o.Logger.Error("queue file quarantined", "path", path, "moved_to", moved, "err", err)
		alarms = append(alarms, a)
		if db, err = openChecked(path, o); err != nil {
			return nil, fmt.Errorf("queue: open fresh %s after quarantine: %w", path, err)
		}
		if err := skipBillCodes(db, path, o); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("queue: open fresh %s after quarantine: %w", path, err)
		}
	}

	if o.CompactFreeRatio > 0 {
		if db, err = compactIfWorth(db, path, o); err != nil {
			return nil, err
		}
	}

	s := &Store{
		path:  path,
		opts:  o,
		db:    db,
		reqs:  make(chan *request, o.MaxBatch),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
		space: newSpace(path, o),
	}
	if err := s.recover(alarms); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("queue: recover %s: %w", path, err)
	}
	if err := s.sealLegacy(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("queue: seal the personal data of %s: %w", path, err)
	}
	// recover loaded the new alarms with the persisted ones: only tell.
	for _, a := range alarms {
		if o.OnAlarm != nil {
			o.OnAlarm(a)
		}
	}
	s.space.ensureReserve()
	go s.commitLoop()
	return s, nil
}

// openChecked opens the bbolt file, turns panics into errors, creates the
// buckets and checks schema and (optionally) page consistency.
func openChecked(path string, o Options) (db *bolt.DB, err error) {
	// A damaged file can send bbolt to addresses past the mapped file (a
	// truncated file, a scribbled page number): the read faults. As a
	// panic it is recovered below and the file quarantined; as the
	// runtime's default fatal error it would kill every start on it.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				_ = db.Close()
			}
			db, err = nil, fmt.Errorf("%w: panic: %v", errCorrupt, r)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      o.LockTimeout,
		FreelistType: bolt.FreelistMapType,
		MaxSize:      int(o.MaxSize),
	})
	if err != nil {
		if isTimeout(err) {
			return nil, ErrLocked
		}
		return nil, err
	}
	fail := func(e error) (*bolt.DB, error) {
		_ = db.Close()
		return nil, e
	}
	// Pages past the end of the file fault when read (SIGBUS), also in
	// bbolt's checker goroutine, where no recover reaches.
	if fi, serr := os.Stat(path); serr == nil {
		if err := db.View(func(tx *bolt.Tx) error {
			if fi.Size() < tx.Size() {
				return fmt.Errorf("%w: truncated: the file has %d bytes, its pages reach %d", errCorrupt, fi.Size(), tx.Size())
			}
			return nil
		}); err != nil {
			return fail(err)
		}
	}
	if o.CheckOnOpen {
		err := db.View(func(tx *bolt.Tx) error {
			for cerr := range tx.Check() {
				return fmt.Errorf("%w: %v", errCorrupt, cerr)
			}
			return nil
		})
		if err != nil {
			return fail(err)
		}
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("%w: bucket %s: %v", errCorrupt, name, err)
			}
		}
		meta := tx.Bucket(bktMeta)
		v := meta.Get(keySchema)
		if v == nil {
			return meta.Put(keySchema, u64(schemaVersion))
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: schema key has %d bytes", errCorrupt, len(v))
		}
		if got := btou(v); got > schemaVersion {
			return fmt.Errorf("%w (file schema %d, this build %d)", ErrNewerSchema, got, schemaVersion)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	return db, nil
}

var errCorrupt = errors.New("corrupt queue file")

// billCodeBlock is how far a fresh queue that replaced a quarantined one
// moves today's bill numbering per quarantined file.
const billCodeBlock = 100000

// skipBillCodes keeps a fresh queue that replaced a quarantined one from
// handing out today's bill codes again. The lost file's bills of today
// may already be at the back ends, which answer a repeated bill_code as
// "already uploaded": a new bill under an old code would be taken as
// delivered and never arrive. Today's numbering resumes one block per
// quarantined file further on (…-100001); other days cannot collide (the
// lost file's days are over, later days had no bills in it).
func skipBillCodes(db *bolt.DB, path string, o Options) error {
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return err
	}
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), filepath.Base(path)+".corrupt-") {
			n++
		}
	}
	// Nine blocks keep the code within fixmedins_bchno's 30 characters
	// for the longest device id.
	n = min(max(n, 1), 9)
	day := o.Now().In(o.Location).Format("060102")
	return db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bktMeta).Put([]byte("billseq:"+day), u64(uint64(n)*billCodeBlock))
	})
}

func isTimeout(err error) bool { return errors.Is(err, berrors.ErrTimeout) }

// isCorruption tells a damaged file from conditions a fresh file would not
// fix (another process, permissions, read-only or full disk, newer schema).
func isCorruption(err error) bool {
	switch {
	case errors.Is(err, errCorrupt):
		return true
	case errors.Is(err, ErrLocked), errors.Is(err, ErrNewerSchema),
		errors.Is(err, fs.ErrPermission), errors.Is(err, syscall.EROFS),
		errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.ENOENT),
		errors.Is(err, berrors.ErrMaxSizeReached):
		return false
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return false // the OS refused the file itself, not its contents
	}
	// bbolt's ErrInvalid, ErrVersionMismatch, ErrChecksum, bad page data…
	return true
}

func quarantine(path string, now time.Time) (string, error) {
	moved := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	if err := os.Rename(path, moved); err != nil {
		return "", err
	}
	return moved, durable.SyncDir(filepath.Dir(path))
}

// recover puts back deliveries that were leased when the last process
// stopped: their outcome is unknown, so the next attempt queries first.
// It also reloads persisted alarms and persists new ones.
func (s *Store) recover(newAlarms []Alarm) error {
	now := s.opts.Now()
	return s.db.Update(func(tx *bolt.Tx) error {
		w := &wtx{tx: tx, s: s, now: now, due: map[string]bool{}, budget: -1}
		leased := tx.Bucket(bktLeased)
		var keys [][]byte
		if err := leased.ForEach(func(k, _ []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		}); err != nil {
			return err
		}
		for _, k := range keys {
			billID, dest, err := splitDeliveryKey(k)
			if err != nil {
				return err
			}
			d, err := getDelivery(tx, billID, dest)
			if err != nil {
				return err
			}
			if d.State == DeliveryLeased {
				d.State = DeliveryPending
				d.Unknown = true
				d.LeaseUntil = time.Time{}
				if err := w.reschedule(&d, now); err != nil {
					return err
				}
			}
			if err := leased.Delete(k); err != nil {
				return err
			}
		}
		ab := tx.Bucket(bktAlarms)
		for _, a := range newAlarms {
			seq, _ := ab.NextSequence()
			if err := putJSON(ab, u64(seq), a); err != nil {
				return err
			}
		}
		return ab.ForEach(func(_, v []byte) error {
			var a Alarm
			if json.Unmarshal(v, &a) == nil {
				s.alarms = append(s.alarms, a)
			}
			return nil
		})
	})
}

// Alarms returns the alarms raised since open plus persisted ones, and the
// current full-queue condition if any.
func (s *Store) Alarms() []Alarm {
	s.mu.Lock()
	out := append([]Alarm(nil), s.alarms...)
	s.mu.Unlock()
	if a, ok := s.space.alarm(); ok {
		out = append(out, a)
	}
	return out
}

// ClearAlarms removes persisted alarms (the operator has dealt with them).
func (s *Store) ClearAlarms(ctx context.Context) error {
	_, err := s.submit(ctx, false, func(w *wtx) (any, error) {
		if err := w.tx.DeleteBucket(bktAlarms); err != nil {
			return nil, abort(err)
		}
		if _, err := w.tx.CreateBucket(bktAlarms); err != nil {
			return nil, abort(err)
		}
		return nil, nil
	})
	if err == nil {
		s.mu.Lock()
		s.alarms = nil
		s.mu.Unlock()
	}
	return err
}

// Path is the queue file's path.
func (s *Store) Path() string { return s.path }

// Close stops the committer after it has finished the requests already
// submitted, and closes the file. Leased deliveries stay leased on disk and
// come back on the next Open.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.closeErr
	}
	s.closed = true
	s.mu.Unlock()
	s.sending.Wait()
	close(s.stop)
	<-s.done
	err := s.db.Close()
	s.mu.Lock()
	s.closeErr = err
	s.mu.Unlock()
	return err
}
