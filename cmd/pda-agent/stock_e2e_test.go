package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pda-agent/pda-agent/gm"
	"github.com/pda-agent/pda-agent/queue"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

// TestStockTakeAndDestructionReachNHSA: a real agent receives three
// packs, takes stock (the three and one the ledger does not know: 盘盈),
// destroys one with its reason, and then cannot sell it. 医保 (the
// sandbox, which knows only the province's code T205) holds the purchase
// (3503), the stock-take (3501) with all four codes and the destruction
// (3502) with its code.
func TestStockTakeAndDestructionReachNHSA(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "products.csv", nhsaProducts)
	writeFile(t, dir, "partners.csv", nhsaPartners)
	opts := nhsasb.TestOptions("x-tif", "plain")
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.ChangeTypes = []string{"T205"}
	keyFile := nhsaChannelKey(t, dir, "test", &opts)
	sb, err := nhsasb.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	platformPub := gm.PublicKeyBase64(&opts.PlatformKey.PublicKey)
	cfg := fmt.Sprintf(nhsaConfigTmpl, dir, "test", sb.URL(), keyFile, platformPub, "x-tif", "plain") +
		"  bill_types: [102, 901, 205]\n  stock_change_types: {\"205\": \"T205\"}\n"
	config := writeFile(t, dir, "config.yaml", cfg)
	if out, errOut, code := runBinary(t, nil, "", "validate", "--config", config); code != 0 {
		t.Fatalf("validate: %s %s", out, errOut)
	}

	code := func(n int) string { return fmt.Sprintf("8101235%09d%04d", 900+n, n) }
	a1, a2, a3, a9 := code(1), code(2), code(3), code(9)
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	send := func(line, want string) string {
		t.Helper()
		return sendExpect(t, p, &stderr, line, want)
	}
	send("PDA:RECEIVE:5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4", "COMMAND")
	send("PDA:LOT:B0001:2025-06-01:2027-05-31", "COMMAND")
	for _, c := range []string{a1, a2, a3} {
		send(c, "ACCEPTED")
	}
	send("PDA:FINISH", "COMMAND")

	send("PDA:STOCKTAKE", "COMMAND")
	send("PDA:LOT:B0001:2025-06-01:2027-05-31", "COMMAND")
	for _, c := range []string{a1, a2, a3} {
		if ack := send(c, "ACCEPTED"); strings.Contains(ack, "盘盈") {
			t.Errorf("known pack %s: %s", c, ack)
		}
	}
	if ack := send(a9, "ACCEPTED"); !strings.Contains(ack, "盘盈") {
		t.Errorf("unknown pack: %s", ack)
	}
	if ack := send("PDA:FINISH", "COMMAND"); !strings.Contains(ack, "盘盈: 1 pack(s)") || !strings.Contains(ack, "queued for nhsa") {
		t.Errorf("finish stock-take: %s", ack)
	}

	send("PDA:CHANGE:205:过期销毁", "COMMAND")
	send("PDA:SET:nhsa.pric.8101235=12.5", "COMMAND")
	send(a2, "ACCEPTED")
	send("PDA:FINISH", "COMMAND")

	send("PDA:SALE", "COMMAND")
	if ack := send(a2, "REJECTED"); !strings.Contains(ack, "销毁出库") {
		t.Errorf("sale of the destroyed pack: %s", ack)
	}
	send(a1, "ACCEPTED")
	send("PDA:FINISH", "COMMAND")

	s := drainAndOpen(t, p, config, dir, &stderr, func() int { return len(sb.Rows()) })
	defer s.Close()
	byInfno := map[string][]nhsasb.Row{}
	for _, r := range sb.Rows() {
		if r.Applied != 1 {
			t.Errorf("row %s applied %d times", r.Bchno, r.Applied)
		}
		byInfno[r.Infno] = append(byInfno[r.Infno], r)
	}
	if len(byInfno["3503"]) != 1 || len(byInfno["3501"]) != 1 || len(byInfno["3502"]) != 1 || len(byInfno) != 3 {
		t.Fatalf("sandbox rows %+v\n%s", byInfno, stderr.String())
	}
	take := byInfno["3501"][0]
	if got := slices.Sorted(slices.Values(take.Codes)); !slices.Equal(got, []string{a1, a2, a3, a9}) || take.Count != 4 {
		t.Errorf("3501 row: codes %v count %v", take.Codes, take.Count)
	}
	if chg := byInfno["3502"][0]; !slices.Equal(chg.Codes, []string{a2}) || chg.Count != 1 {
		t.Errorf("3502 row: codes %v count %v", chg.Codes, chg.Count)
	}
}

// TestReconcileFindsWhatThePlatformLostChangedOrInvented: three 医保 sales
// reach the sandbox; behind the agent's back the sandbox loses one,
// changes a code of another and gains a sale no device made. `pda-agent
// reconcile` finds the three, prints them, writes them as CSV and keeps the
// run in the queue.
func TestReconcileFindsWhatThePlatformLostChangedOrInvented(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "products.csv", nhsaProducts)
	writeFile(t, dir, "partners.csv", nhsaPartners)
	opts := nhsasb.TestOptions("x-tif", "plain")
	opts.Logger = slog.New(slog.DiscardHandler)
	keyFile := nhsaChannelKey(t, dir, "test", &opts)
	sb, err := nhsasb.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	platformPub := gm.PublicKeyBase64(&opts.PlatformKey.PublicKey)
	cfg := fmt.Sprintf(nhsaConfigTmpl, dir, "test", sb.URL(), keyFile, platformPub, "x-tif", "plain") +
		"  bill_types: [321]\n  query: {trace: \"3513\"}\n"
	config := writeFile(t, dir, "config.yaml", cfg)

	code := func(n int) string { return fmt.Sprintf("8101235%09d%04d", 700+n, n) }
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	send := func(line string) {
		t.Helper()
		if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case ack := <-p.acks:
			if !strings.HasPrefix(ack, "ACCEPTED") && !strings.HasPrefix(ack, "COMMAND") {
				t.Fatalf("%q: %s", line, ack)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no answer to %q", line)
		}
	}
	for i, codes := range [][]string{{code(1)}, {code(2), code(3)}, {code(4)}} {
		for _, l := range []string{"PDA:SALE", fmt.Sprintf("PDA:SET:nhsa.mdtrt_sn=MD%04d", i), fmt.Sprintf("PDA:SET:nhsa.setl_id=SE%04d", i),
			"PDA:SET:nhsa.psn_cert_type=01", "PDA:SET:nhsa.hi_feesetl_type=1", "PDA:SET:nhsa.prsc_dr_name=王医生",
			"PDA:SET:nhsa.rx_circ_flag=0", "PDA:LOT:B0001:2025-06-01:2027-05-31"} {
			send(l)
		}
		for _, c := range codes {
			send(c)
		}
		send("PDA:FINISH")
	}
	s := drainAndOpen(t, p, config, dir, &stderr, func() int { return len(sb.Rows()) })
	s.Close()
	rows := sb.Rows()
	if len(rows) != 3 {
		t.Fatalf("sandbox rows %+v\n%s", rows, stderr.String())
	}
	lost, changed := rows[0].Bchno, rows[1].Bchno
	if !sb.LoseRow(lost) || !sb.ChangeCode(changed, code(3), code(9)) || !sb.AddForeignSale(nhsasb.TestFixmedinsCode, "OTHERTILL01", "XJ01", code(8)) {
		t.Fatal("sandbox hooks")
	}

	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("2006-01-02")
	csvPath := dir + "/reconcile.csv"
	out, errOut, exit := runBinary(t, nil, "", "reconcile", "--config", config, "--since", today, "--csv", csvPath)
	if exit != 3 {
		t.Fatalf("reconcile exit %d\n%s\n%s", exit, out, errOut)
	}
	for _, w := range []string{"3 bill(s) compared", "3 difference(s)", "missing_on_platform", "row " + lost, "codes_differ",
		"holds " + code(9), "sent " + code(3), "unknown_here", "OTHERTILL01"} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q:\n%s", w, out)
		}
	}
	data, err := os.ReadFile(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "dest,kind,bill,row") {
		t.Errorf("csv:\n%s", data)
	}
	s, err = queue.Open(filepath.Join(dir, "queue.db"), queue.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.ReconcileRuns(0)
	if err != nil || len(runs) != 1 || len(runs[0].Findings) != 3 || runs[0].Dest != "nhsa" {
		t.Fatalf("kept runs %+v %v", runs, err)
	}
}

// TestEveryStockChangeReachesNHSA: each stock-change bill type the agent
// sends as 3502 reaches 医保 as one row with its own inv_chg_type (from
// nhsa.stock_change_types) and exactly its pack's trace code: the six
// outbound changes take received packs, the inbound ones new packs, and
// 盘盈入库 (111) the pack a stock-take found unknown.
func TestEveryStockChangeReachesNHSA(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "products.csv", nhsaProducts)
	writeFile(t, dir, "partners.csv", nhsaPartners)
	opts := nhsasb.TestOptions("x-tif", "plain")
	opts.Logger = slog.New(slog.DiscardHandler)
	outTypes := []int{214, 205, 215, 203, 216, 217}
	inTypes := []int{104, 112, 113}
	all := append(append([]int{111}, inTypes...), outTypes...)
	var mapping []string
	for _, ty := range all {
		opts.ChangeTypes = append(opts.ChangeTypes, fmt.Sprintf("C%d", ty))
		mapping = append(mapping, fmt.Sprintf("%q: \"C%d\"", fmt.Sprint(ty), ty))
	}
	keyFile := nhsaChannelKey(t, dir, "test", &opts)
	sb, err := nhsasb.Start("127.0.0.1:0", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	platformPub := gm.PublicKeyBase64(&opts.PlatformKey.PublicKey)
	types := "102, 901"
	for _, ty := range all {
		types += fmt.Sprintf(", %d", ty)
	}
	cfg := fmt.Sprintf(nhsaConfigTmpl, dir, "test", sb.URL(), keyFile, platformPub, "x-tif", "plain") +
		"  bill_types: [" + types + "]\n  stock_change_types: {" + strings.Join(mapping, ", ") + "}\n"
	config := writeFile(t, dir, "config.yaml", cfg)
	if out, errOut, code := runBinary(t, nil, "", "validate", "--config", config); code != 0 {
		t.Fatalf("validate: %s %s", out, errOut)
	}

	code := func(n int) string { return fmt.Sprintf("8101235%09d%04d", 800+n, n) }
	var stderr lockedBuffer
	p := startAgent(t, config, &stderr)
	send := func(line, want string) string {
		t.Helper()
		return sendExpect(t, p, &stderr, line, want)
	}
	const lot = "PDA:LOT:B0002:2025-06-01:2027-05-31"
	send("PDA:RECEIVE:5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4", "COMMAND")
	send(lot, "COMMAND")
	for i := range outTypes {
		send(code(i+1), "ACCEPTED")
	}
	send("PDA:FINISH", "COMMAND")

	gain := code(50)
	send("PDA:STOCKTAKE", "COMMAND")
	send(lot, "COMMAND")
	if ack := send(gain, "ACCEPTED"); !strings.Contains(ack, "盘盈") {
		t.Errorf("unknown pack in the count: %s", ack)
	}
	send("PDA:FINISH", "COMMAND")

	want := map[string]string{} // inv_chg_type → the pack's code
	book := func(ty int, pack string) {
		t.Helper()
		send(fmt.Sprintf("PDA:CHANGE:%d:测试%d", ty, ty), "COMMAND")
		send(lot, "COMMAND")
		send("PDA:SET:nhsa.pric.8101235=12.5", "COMMAND")
		send(pack, "ACCEPTED")
		send("PDA:FINISH", "COMMAND")
		want[fmt.Sprintf("C%d", ty)] = pack
	}
	book(111, gain)
	for i, ty := range inTypes {
		book(ty, code(60+i))
	}
	for i, ty := range outTypes {
		book(ty, code(i+1))
	}

	s := drainAndOpen(t, p, config, dir, &stderr, func() int { return len(sb.Rows()) })
	defer s.Close()
	got := map[string][]string{}
	for _, r := range sb.Rows() {
		if r.Applied != 1 {
			t.Errorf("row %s applied %d times", r.Bchno, r.Applied)
		}
		if r.Infno == "3502" {
			got[r.ChangeType] = append(got[r.ChangeType], r.Codes...)
		}
	}
	if len(got) != len(want) {
		t.Errorf("3502 rows by inv_chg_type %v, want %v\n%s", got, want, stderr.String())
	}
	for ct, pack := range want {
		if !slices.Equal(got[ct], []string{pack}) {
			t.Errorf("inv_chg_type %s: codes %v, want [%s]", ct, got[ct], pack)
		}
	}
}
