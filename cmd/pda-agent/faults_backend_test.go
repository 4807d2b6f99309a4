package main

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	msfxsb "github.com/pda-agent/pda-agent/upload/msfx/sandbox"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// msfxYAML is the msfx section for the sandbox's store app at gateway.
func msfxYAML(gateway string) string {
	return `msfx:
  enabled: true
  gateway: ` + gateway + `
  app_key: "` + msfxsb.DefaultStoreAppKey + `"
  app_secret: ` + msfxsb.DefaultStoreSecret + `
  ref_ent_id: "` + msfxsb.DefaultStoreRefEntID + `"
  ent_id: ` + msfxsb.DefaultStoreEntID + `
  rate: 0
  timeout: 1s
  poll_interval: 1s
  concurrency: 4
`
}

// nhsaPlainYAML is the nhsa section for a sandbox with no gateway
// signature and the plain envelope.
func nhsaPlainYAML(url string) string {
	return `nhsa:
  enabled: true
  concurrency: 2
  rate: 0
  env: test
  test: {url: ` + url + `, recer_sys_code: ` + nhsasb.TestRecerSysCode + `}
  fixmedins_code: ` + nhsasb.TestFixmedinsCode + `
  fixmedins_name: ` + nhsasb.TestFixmedinsName + `
  mdtrtarea_admvs: "` + nhsasb.TestAdmdvs + `"
  opter: BE1
  opter_name: 张药师
  phar_name: 李药师
  phar_prac_cert_no: "0000000001"
  timeout: 1s
`
}

const backendConfig = `device: {id: BE1}
data_dir: %[1]s
log: {level: warn}
api: {enabled: false}
scanners:
  - {name: gun, type: stdin, echo: true}
upload: {lease: 5s, initial_backoff: 20ms, max_backoff: 300ms}
catalogue: {products: %[1]s/products.csv, partners: %[1]s/partners.csv}
`

// otherLayouts answers every 码上放心 method in the layout its SDK does not
// declare for it (the payload under "result" for the uploads and
// listbillprocesspartsuccess, at the top level for the queries).
func otherLayouts() map[string]msfxsb.Layout {
	m := map[string]msfxsb.Layout{}
	for _, method := range msfxsb.Methods() {
		m[method] = msfxsb.LayoutResult
		if msfxsb.DeclaredLayout(method) == msfxsb.LayoutResult {
			m[method] = msfxsb.LayoutTopLevel
		}
	}
	return m
}

// backendFaults is the suite's backend class: a store's week (receivings,
// 医保 sales with a split pack, customer returns) goes to 码上放心 and 医保
// while both sandboxes fail a share of all calls with every fault they
// know — 5xx, a proxy's HTML 502, timeouts after applying, bans, 系统繁忙,
// isp.* and slow answers (码上放心's outlast the client's timeout, 医保's
// do not), 医保's HTTP 500 with a JSON body after applying and its
// business-level busy (retRslt 0) — at rates that still let the backlog
// drain. 码上放心 answers every method in the layout its SDK does not
// declare, and the agent asks for the classic wrapped lists
// (msfx.simplify false) in the first half of the week and for plain
// arrays after a restart. Every bill must reach both exactly once.
func backendFaults(t *testing.T) faultRow {
	quiet := slog.New(slog.DiscardHandler)
	gw := msfxsb.New(msfxsb.Options{Apps: msfxsb.DefaultApps(), Logger: quiet, Layouts: otherLayouts()})
	msfxFaults := []msfxsb.Fault{msfxsb.FaultHTTP500, msfxsb.FaultHTTP502HTML, msfxsb.FaultApplyThenTimeout,
		msfxsb.FaultSlow, msfxsb.FaultBan, msfxsb.FaultBusy, msfxsb.FaultISP}
	watch := &simplifyWatch{next: atRate(gw, 0.2, 11, func(n int) {
		gw.InjectFaults(msfxFaults[n%len(msfxFaults)])
	})}
	msfxURL := serveLoopback(t, watch) + "/router/rest"
	no := nhsasb.TestOptions(nhsasb.SchemeNone, nhsasb.EnvelopePlain)
	no.Logger, no.SlowDelay = quiet, 600*time.Millisecond
	nh := nhsasb.New(no)
	nhsaFaults := []nhsasb.Fault{nhsasb.FaultHTTP500, nhsasb.FaultApplyThenTimeout, nhsasb.FaultSlow, nhsasb.FaultBusy,
		nhsasb.FaultApplyThen500, nhsasb.FaultBusyResult}
	nhsaURL := serveLoopback(t, atRate(nh, 0.25, 13, func(n int) {
		nh.InjectFaults(nhsaFaults[n%len(nhsaFaults)])
	})) + nhsasb.DefaultPath

	dir := t.TempDir()
	writeFile(t, dir, "products.csv", nhsaProducts)
	writeFile(t, dir, "partners.csv", nhsaPartners)
	writeConfig := func(simplify bool) string {
		return writeFile(t, dir, "config.yaml", fmt.Sprintf(backendConfig, dir)+msfxYAML(msfxURL)+
			fmt.Sprintf("  simplify: %v\n", simplify)+nhsaPlainYAML(nhsaURL))
	}
	config := writeConfig(false)
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	units := nhsaUnits(pick(6, 40))
	acks := map[ackKey]string{}
	half := len(units) / 2
	playUnits(t, p, units[:half], acks)
	// The store switches to plain arrays while deliveries are under way,
	// once half of the first half's bills are at 码上放心.
	for deadline := time.Now().Add(30 * time.Second); len(gw.Bills(msfxsb.DefaultStoreRefEntID)) < half/2 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	stopAgent(t, p, &stderr)
	config = writeConfig(true)
	p = startAgent(t, config, &stderr)
	playUnits(t, p, units[half:], acks)
	s := drainAndOpen(t, p, config, dir, &stderr, func() int { return len(gw.Bills(msfxsb.DefaultStoreRefEntID)) + len(nh.Rows()) })
	defer s.Close()
	tl := compareLedgers(t, s, acks, backends{msfx: gw, nhsa: nh})

	gst, nst := gw.Stats(), nh.Stats()
	injected := 0
	for _, n := range gst.Faults {
		injected += n
	}
	for _, n := range nst.Faults {
		injected += n
	}
	t.Logf("%d bills; 码上放心 (every method in its undeclared layout; %d calls with simplify=true, %d without): %d requests, faults %v, duplicates answered %d; 医保: %d requests, faults %v, duplicate msgids answered %d",
		len(units), watch.on.Load(), watch.off.Load(), gst.Requests, gst.Faults, gst.Duplicates, nst.Requests, nst.Faults, nst.DuplicateMsgids)
	if watch.on.Load() == 0 || watch.off.Load() == 0 {
		t.Errorf("码上放心 calls with simplify=true %d, without %d: want both", watch.on.Load(), watch.off.Load())
	}
	if len(gst.Faults) < len(msfxFaults) || len(nst.Faults) < len(nhsaFaults) {
		t.Errorf("not every fault was taken: 码上放心 %v, 医保 %v", gst.Faults, nst.Faults)
	}
	return faultRow{cycles: 1, faults: injected, tally: tl}
}
