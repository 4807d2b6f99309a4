package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/queue"
	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
)

const diskConfig = `device: {id: DISK1}
data_dir: %[1]s
log: {level: warn}
queue: {headroom: 512KiB}
sessions: {default_type: 102, default_partner: ` + msfxsb.DefaultSupplierEntID + `}
api: {listen: "127.0.0.1:%[2]s"}
scanners:
  - {name: gun, type: stdin, echo: true}
upload: {lease: 5s, initial_backoff: 20ms, max_backoff: 300ms}
`

// diskFull is the suite's disk_full class: the agent's data_dir is a small
// tmpfs that another program fills, first to below the headroom, then to
// the last byte, while 码上放心 is unreachable and bills wait. Scans must be
// refused with "NOT RECORDED — queue full" (never acknowledged and then
// lost), finishing bills and the uploads' acks must go on once the network
// is back, the agent must restart on the full disk, and scanning must
// resume once space is freed. Nothing acknowledged is lost.
func diskFull(t *testing.T) faultRow {
	if os.Geteuid() != 0 {
		t.Skip("disk_full needs root to mount a tmpfs (CI runs as root)")
	}
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })

	gw, err := msfxsb.Start("127.0.0.1:0", msfxsb.Options{Apps: msfxsb.DefaultApps(), Logger: slog.New(slog.DiscardHandler), ProcessAfter: msfxsb.ProcessAtOnce})
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Close()
	port := freePort(t)
	config := writeFile(t, t.TempDir(), "config.yaml", fmt.Sprintf(diskConfig, dir, port)+msfxYAML(gw.URL()))
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	waitAPI(t, dir, port, &stderr)
	var c *apiClient

	acks := map[ackKey]string{}
	refused := map[string]string{} // code → the answer
	finished, injected := 0, 0
	next := 0
	scan := func() string {
		next++
		code := fmt.Sprintf("8101235%09d%04d", 500000+next, next%10000)
		ack := sendLine(t, p, code)
		status, _, _ := strings.Cut(ack, " ")
		switch status {
		case "ACCEPTED", "DUPLICATE":
			acks[ackKey{typ: 102, code: code}] = status
		case "ERROR":
			if !strings.HasPrefix(ack, "ERROR NOT RECORDED — queue full") {
				t.Fatalf("scan refused for another reason than a full queue: %s", ack)
			}
			refused[code] = ack
		default:
			t.Fatalf("scan %s: %s", code, ack)
		}
		return status
	}
	finish := func() {
		if ack := sendLine(t, p, "PDA:FINISH"); !strings.HasPrefix(ack, "COMMAND") {
			t.Fatalf("finish: %s", ack)
		}
		finished++
	}
	fillers := 0
	cycles := pick(1, 4)
	for cycle := 0; cycle < cycles; cycle++ {
		// Business as usual, then the network drops and bills wait.
		for b := 0; b < 3; b++ {
			for i := 0; i < 40; i++ {
				if scan() != "ACCEPTED" {
					t.Fatal("scan refused before the disk filled")
				}
			}
			finish()
			if b == 0 {
				if err := gw.SetDown(true); err != nil {
					t.Fatal(err)
				}
				injected++
			}
		}
		// Another program leaves less than the headroom: the agent looks
		// at the disk once a second, so the refusal comes within bounds.
		fillers++
		fillDisk(t, filepath.Join(dir, fmt.Sprintf("filler%d", fillers)), 256<<10)
		injected++
		deadline := time.Now().Add(10 * time.Second)
		for scan() != "ERROR" {
			if time.Now().After(deadline) {
				t.Fatalf("scans still accepted 10 s after the disk filled:\n%s", stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Refused, and refused again; the open bill still finishes.
		for i := 0; i < 20; i++ {
			if scan() != "ERROR" {
				t.Fatal("a scan was accepted on a full disk")
			}
		}
		finish()
		// Now every last byte goes; the agent must still start on it.
		fillers++
		fillDisk(t, filepath.Join(dir, fmt.Sprintf("filler%d", fillers)), 0)
		injected++
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		injected++
		p = startAgent(t, config, &stderr)
		c = waitAPI(t, dir, port, &stderr)
		if scan() != "ERROR" {
			t.Fatal("a scan was accepted on a full disk after a restart")
		}
		// Other writes: the queue may still have free pages for them, else
		// 507 queue_full, never a 500 with the bare ENOSPC.
		probe := fmt.Sprintf("probe%d", cycle)
		switch st := c.do("POST", "/v1/sessions", map[string]any{"session": probe, "kind": "sale"}, nil); st {
		case 200:
			if st := c.do("POST", "/v1/sessions/"+probe+"/cancel", nil, nil); st != 200 && st != 507 {
				t.Fatalf("cancel on a full disk: HTTP %d", st)
			}
		case 507:
		default:
			t.Fatalf("opening a sale on a full disk: HTTP %d, want 200 or 507 queue_full", st)
		}
		// The network is back: uploads and their acks go on in the
		// headroom while the disk stays full.
		if err := gw.SetDown(false); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(30 * time.Second)
		for {
			st := agentStatus(c)
			if st.Destinations["msfx"].Pending == 0 && len(gw.Bills(msfxsb.DefaultStoreRefEntID)) == finished {
				if !hasAlarm(st.Alarms, "queue_full") {
					t.Errorf("status shows no queue_full alarm on a full disk: %+v", st.Alarms)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("uploads did not drain on the full disk: %+v, %d of %d bills at 码上放心\n%s",
					st.Destinations, len(gw.Bills(msfxsb.DefaultStoreRefEntID)), finished, stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		// The disk stays full: what is free is at most the agent's own
		// reserve (512KiB headroom), which it gives back once a commit
		// finds no room, so that acks can go on.
		limit := int64(64 << 10)
		if _, err := os.Stat(filepath.Join(dir, "queue.db.reserve")); errors.Is(err, fs.ErrNotExist) {
			limit += 512 << 10
		}
		if free := diskFree(t, dir); free > limit {
			t.Fatalf("the disk was not full while acks went on: %d bytes free (at most %d expected)", free, limit)
		}
		// Space comes back: scanning resumes.
		for i := 1; i <= fillers; i++ {
			os.Remove(filepath.Join(dir, fmt.Sprintf("filler%d", i)))
		}
		fillers = 0
		deadline = time.Now().Add(10 * time.Second)
		for scan() != "ACCEPTED" {
			if time.Now().After(deadline) {
				t.Fatalf("scans still refused 10 s after space was freed:\n%s", stderr.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		finish()
	}
	s := drainAndOpen(t, p, config, dir, &stderr, func() int { return len(gw.Bills(msfxsb.DefaultStoreRefEntID)) })
	defer s.Close()
	tl := compareLedgers(t, s, acks, backends{msfx: gw.Server})
	// A refused scan left no trace on any bill: NOT RECORDED means so.
	onBill := map[string]bool{}
	if err := s.ForEachBill(func(b queue.Bill) bool {
		items, _ := s.Items(b.ID)
		for _, it := range items {
			onBill[it.Code] = true
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	for code, ack := range refused {
		tl.records++
		tl.rejections++
		if strings.Contains(ack, "queue full: ") {
			tl.explained++
		}
		if onBill[code] {
			tl.duplicated++
			t.Errorf("scan %s was answered %q but is on a bill", code, ack)
		}
	}
	t.Logf("tmpfs 8 MiB, %d cycle(s): %d scans acknowledged, %d refused as NOT RECORDED, %d bills finished and delivered once",
		cycles, len(acks), len(refused), finished)
	if len(refused) == 0 || finished == 0 {
		t.Fatal("the test exercised nothing")
	}
	return faultRow{cycles: cycles, faults: injected, tally: tl}
}

// fillDisk writes path until only keep bytes are free on its filesystem;
// with keep 0 it writes until the disk is full.
func fillDisk(t *testing.T, path string, keep int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		n := int64(len(buf))
		if keep > 0 {
			n = min(n, diskFree(t, filepath.Dir(path))-keep)
			if n < 4096 {
				return
			}
		}
		if _, err := f.Write(buf[:n]); err != nil {
			if errors.Is(err, syscall.ENOSPC) && keep == 0 {
				if len(buf) > 4096 {
					buf = buf[:4096]
					continue
				}
				return
			}
			t.Fatal(err)
		}
	}
}

func diskFree(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}
