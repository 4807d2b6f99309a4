package main

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/queue"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

const nhsaProducts = `key,name,med_list_codg,hilist_id,hilist_name,rx_flag,aprvno,maker,spec,units
8101235,阿莫西林胶囊 0.25g*24粒,XJ01CAA040A001010100395,A0001,阿莫西林胶囊,1,国药准字H13023964,沙箱药业,0.25g*24粒,24
8912345,盐酸曲马多缓释片 0.1g*10片,XN02AXQ075A012010100211,A0002,盐酸曲马多缓释片,1,国药准字H20000001,沙箱药业,0.1g*10片,0
`

const nhsaPartners = `ent_id,name,license_no
5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4,沙箱医药批发有限公司,苏AA0250001
`

const nhsaConfigTmpl = `device: {id: NH1}
data_dir: %[1]s
log: {level: warn}
api: {enabled: false}
scanners:
  - {name: gun, type: stdin, echo: true}
upload: {lease: 5s, initial_backoff: 20ms, max_backoff: 300ms}
catalogue: {products: %[1]s/products.csv, partners: %[1]s/partners.csv}
nhsa:
  enabled: true
  concurrency: 2
  rate: 0
  env: %[2]s
  %[2]s:
    url: %[3]s
    app_id: ` + nhsasb.TestAppID + `
    app_secret: ` + nhsasb.TestAppSecret + `
    channel_key_file: %[4]s
    platform_key: %[5]s
    paas_id: ` + nhsasb.TestPaasID + `
    paas_token: ` + nhsasb.TestPaasToken + `
    api_name: ` + nhsasb.TestAPIName + `
    api_version: ` + nhsasb.TestAPIVersion + `
    api_access_key: ` + nhsasb.TestAPIAccessKey + `
    api_secret_key: ` + nhsasb.TestAPISecretKey + `
    recer_sys_code: ` + nhsasb.TestRecerSysCode + `
  gateway_auth: %[6]s
  envelope: %[7]s
  fixmedins_code: ` + nhsasb.TestFixmedinsCode + `
  fixmedins_name: ` + nhsasb.TestFixmedinsName + `
  mdtrtarea_admvs: "` + nhsasb.TestAdmdvs + `"
  opter: NH1
  opter_name: 张药师
  phar_name: 李药师
  phar_prac_cert_no: "0000000001"
  timeout: 1s
`

// nhsaUnits builds a store's week as units of lines (one bill each, each
// starting with CANCEL so a unit can be replayed from its start after a
// crash): receivings with a lot card, 医保 sales (one with a split pack),
// customer returns.
func nhsaUnits(rounds int) [][]string {
	var units [][]string
	code := func(prefix string, n int) string { return fmt.Sprintf("%s%09d%04d", prefix, n, n%10000) }
	for r := 0; r < rounds; r++ {
		base := r * 10
		recv := []string{"PDA:CANCEL", "PDA:RECEIVE:5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4", fmt.Sprintf("PDA:LOT:B%04d:2025-06-01:2027-05-31", r)}
		for i := 0; i < 6; i++ {
			recv = append(recv, code("8101235", base+i))
		}
		recv = append(recv, code("8912345", base), code("8912345", base+1), "PDA:FINISH")
		sale := []string{"PDA:CANCEL", "PDA:SALE",
			fmt.Sprintf("PDA:SET:nhsa.mdtrt_sn=MD%06d", r), fmt.Sprintf("PDA:SET:nhsa.setl_id=SE%06d", r),
			"PDA:SET:nhsa.psn_no=PSN0001", "PDA:SET:nhsa.psn_cert_type=01", "PDA:SET:nhsa.psn_name=张三",
			"PDA:SET:nhsa.hi_feesetl_type=1", "PDA:SET:nhsa.mdtrt_setl_type=1", "PDA:SET:nhsa.prsc_dr_name=王医生",
			"PDA:SET:nhsa.rx_circ_flag=0",
			code("8101235", base), code("8101235", base+1), code("8912345", base),
			"PDA:SPLIT:2", code("8101235", base+2), "PDA:FINISH"}
		ret := []string{"PDA:CANCEL", "PDA:RETURN", "PDA:SET:nhsa.mdtrt_sn=MD-R", code("8101235", base+1), "PDA:FINISH"}
		// The returned box sold again: its bills must reach 医保 and
		// 码上放心 in this order, whatever faults hold the return up.
		resale := []string{"PDA:CANCEL", "PDA:SALE",
			fmt.Sprintf("PDA:SET:nhsa.mdtrt_sn=MR%06d", r), fmt.Sprintf("PDA:SET:nhsa.setl_id=SR%06d", r),
			"PDA:SET:nhsa.psn_no=PSN0002", "PDA:SET:nhsa.psn_cert_type=01", "PDA:SET:nhsa.psn_name=李四",
			"PDA:SET:nhsa.hi_feesetl_type=1", "PDA:SET:nhsa.mdtrt_setl_type=1", "PDA:SET:nhsa.prsc_dr_name=王医生",
			"PDA:SET:nhsa.rx_circ_flag=0", code("8101235", base+1), "PDA:FINISH"}
		units = append(units, recv, sale, ret, resale)
	}
	return units
}

func TestNHSAExactlyOnceAcrossProfiles(t *testing.T) {
	for _, tc := range []struct{ env, auth, envelope string }{
		{"test", "x-tif", "plain"},
		{"prod", "api", "sm2sm4"},
	} {
		t.Run(tc.env, func(t *testing.T) { runNHSAProfile(t, tc.env, tc.auth, tc.envelope) })
	}
}

func runNHSAProfile(t *testing.T, env, auth, envelope string) {
	dir := t.TempDir()
	writeFile(t, dir, "products.csv", nhsaProducts)
	writeFile(t, dir, "partners.csv", nhsaPartners)
	opts := nhsasb.TestOptions(auth, envelope)
	opts.Logger = slog.New(slog.DiscardHandler)

	keyFile := nhsaChannelKey(t, dir, env, &opts)
	sb, err := nhsasb.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	platformPub := gm.PublicKeyBase64(&opts.PlatformKey.PublicKey)
	config := writeFile(t, dir, "config.yaml", fmt.Sprintf(nhsaConfigTmpl, dir, env, sb.URL(), keyFile, platformPub, auth, envelope))
	if out, errOut, code := runBinary(t, nil, "", "validate", "--config", config); code != 0 {
		t.Fatalf("validate: %s %s", out, errOut)
	}

	units := nhsaUnits(16)
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	var stderr lockedBuffer
	pos, kills := 0, 0
	// play sends units from pos until the deadline (zero: none) and
	// returns whether the agent is still alive.
	play := func(p *agentProc, deadline time.Time) bool {
		for pos < len(units) {
			for _, line := range units[pos] {
				if !deadline.IsZero() && time.Now().After(deadline) {
					return true
				}
				if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
					return false
				}
				select {
				case ack, ok := <-p.acks:
					if !ok {
						return false
					}
					if strings.HasPrefix(ack, "ERROR") {
						t.Fatalf("%q: %s", line, ack)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("no answer to %q", line)
				}
			}
			pos++
		}
		return true
	}
	for cycle := 0; cycle < 6 && pos < len(units); cycle++ {
		sb.InjectFaults(nhsasb.FaultApplyThenTimeout, nhsasb.FaultHTTP500, nhsasb.FaultBusy)
		p := startAgent(t, config, &stderr)
		play(p, time.Now().Add(time.Duration(40+rng.IntN(200))*time.Millisecond))
		// Let some uploads start before the power goes.
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		kills++
	}
	// The last run plays the rest, lets the uploads drain, and is checked;
	// its first answer is lost after the platform applied it, so the
	// resend under the same msgid is answered from the platform's memory.
	sb.InjectFaults(nhsasb.FaultApplyThenTimeout)
	p := startAgent(t, config, &stderr)
	if !play(p, time.Time{}) {
		t.Fatalf("agent died:\n%s", stderr.String())
	}
	s := drainAndOpen(t, p, config, dir, &stderr, func() int { return len(sb.Rows()) })
	defer s.Close()
	checkNHSA(t, s, sb, env, kills)
}

// nhsaChannelKey makes the 医保 channel key with `pda-agent keys gen`, as
// a store does, and gives the sandbox its public key, as the platform
// learns it from the report. It returns the key file.
func nhsaChannelKey(t *testing.T, dir, env string, opts *nhsasb.Options) string {
	t.Helper()
	keyFile := filepath.Join(dir, "nhsa-"+env+".key")
	out, errOut, code := runBinary(t, nil, "", "keys", "gen", "--out", keyFile)
	if code != 0 {
		t.Fatalf("keys gen: %d %s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	var pubB64 string
	for i, l := range lines {
		if strings.HasPrefix(l, "public key to report") && i+1 < len(lines) {
			pubB64 = strings.TrimSpace(lines[i+1])
		}
	}
	pub, err := gm.ParsePublicKeyBase64(pubB64)
	if err != nil {
		t.Fatalf("keys gen printed %q: %v", pubB64, err)
	}
	opts.Channels[0].ChannelPub = pub
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	return keyFile
}

// drainAndOpen waits for the sandbox to go quiet, stops the agent cleanly
// and opens its queue; it runs the agent again while deliveries are pending.
func drainAndOpen(t *testing.T, p *agentProc, config, dir string, stderr *lockedBuffer, count func() int) *queue.Store {
	for round := 0; ; round++ {
		waitStable(t, count, 2500*time.Millisecond, 60*time.Second)
		stopAgent(t, p, stderr)
		s, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{Logger: slog.New(slog.DiscardHandler), CheckOnOpen: true})
		if err != nil {
			t.Fatal(err)
		}
		st, _ := s.Stats()
		busy := 0
		for _, d := range st.Dests {
			busy += d.Pending + d.Leased
		}
		if busy == 0 || round == 4 {
			if busy != 0 {
				t.Logf("agent log:\n%s", stderr.String())
			}
			return s
		}
		s.Close()
		p = startAgent(t, config, stderr)
	}
}

// stopAgent stops the agent with SIGTERM and expects a clean exit.
func stopAgent(t *testing.T, p *agentProc, stderr *lockedBuffer) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatal("agent did not stop on SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("clean stop exited %d\n%s", code, stderr.String())
	}
}

func checkNHSA(t *testing.T, s *queue.Store, sb *nhsasb.Running, env string, kills int) {
	t.Helper()
	// The scans were replayed across crashes, so only the ledgers are
	// compared here, not what each scan was told.
	compareLedgers(t, s, nil, backends{nhsa: sb.Server})
	bills, split := 0, 0
	if err := s.ForEachBill(func(b queue.Bill) bool {
		if b.State != queue.BillFinished {
			return true
		}
		bills++
		if ds, _ := s.Deliveries(b.ID); len(ds) != 1 {
			t.Errorf("bill %s: deliveries %+v", b.Code, ds)
		}
		items, _ := s.Items(b.ID)
		for _, it := range items {
			if it.Units > 0 {
				split++
			}
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	st := sb.Stats()
	t.Logf("%s profile: %d SIGKILLs, %d bills, each row applied once (%d split rows); sandbox: %d requests %v, duplicate msgids answered %d, faults %v, signature failures %d",
		env, kills, bills, split, st.Requests, st.ByInfno, st.DuplicateMsgids, st.Faults, st.SignatureFailures)
	if bills < 40 || kills < 2 || st.SignatureFailures != 0 || st.DuplicateMsgids == 0 {
		t.Fatalf("too little exercised or bad signatures: %d bills, %d signature failures", bills, st.SignatureFailures)
	}
}
