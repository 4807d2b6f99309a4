package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/gm"
	nhsasb "github.com/pda-agent/pda-agent/upload/nhsa/sandbox"
)

func TestStoreDay(t *testing.T) {
	var out bytes.Buffer
	sum, err := Run(context.Background(), Options{Out: &out, DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := map[string]uint64{"accepted": 22, "duplicate": 2, "rejected:product_barcode": 1, "rejected:bad_length": 1,
		"rejected:already_sold": 1, "rejected:not_sold": 1}
	for k, v := range want {
		if sum.Scans[k] != v {
			t.Errorf("scans[%s] = %d, want %d", k, sum.Scans[k], v)
		}
	}
	if sum.Finished != 8 || sum.Open != 0 || sum.Retries == 0 {
		t.Errorf("summary %+v", sum)
	}
	// Every bill to 码上放心 and the ERP; to 医保 the receiving, the 医保 sale
	// and the return of a pack from it.
	for dest, n := range map[string]int{"msfx": 8, "webhook": 8, "nhsa": 3} {
		d := sum.Dests[dest]
		if d == nil || d.Delivered != n || d.Remote != n || d.Pending != 0 || d.Dead != 0 || len(d.Mismatches) != 0 {
			t.Errorf("%s: %+v", dest, d)
		}
	}
	if strings.Count(out.String(), "each exactly once, codes identical: OK") != 3 || !strings.Contains(out.String(), "network restored") {
		t.Errorf("output:\n%s", out.String())
	}
	// Nothing after the Summary but the summary.
	_, after, ok := strings.Cut(out.String(), "\nSummary\n")
	if !ok {
		t.Fatalf("no Summary:\n%s", out.String())
	}
	for _, l := range strings.Split(strings.TrimRight(after, "\n"), "\n") {
		if !strings.HasPrefix(l, "  ") || strings.Contains(l, "↑") || strings.Contains(l, "…") {
			t.Errorf("printed after the Summary: %q", l)
		}
	}
	// Bills held on the device behind an earlier one (the outage scene)
	// say held; they are said uploaded only once they are.
	held, uploadedFirst := 0, 0
	said := map[string]string{}
	for _, l := range strings.Split(out.String(), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[1] != "msfx" {
			continue
		}
		bill := f[2]
		switch {
		case strings.Contains(l, "held on this device"):
			held++
			if said[bill] == "uploaded" {
				uploadedFirst++
			}
		case strings.Contains(l, "uploaded; the platform is processing it") && said[bill] == "":
			said[bill] = "uploaded"
		}
		if said[bill] == "" {
			said[bill] = f[0]
		}
	}
	if held == 0 || uploadedFirst > 0 {
		t.Errorf("%d held lines, %d bills said uploaded before held:\n%s", held, uploadedFirst, out.String())
	}
}

func TestPrinterLastWord(t *testing.T) {
	var b bytes.Buffer
	p := &printer{w: &b}
	p.printf("before\n")
	p.last(func(printf func(string, ...any)) { printf("Summary\n") })
	p.printf("late delivery\n")
	if b.String() != "before\nSummary\n" {
		t.Fatalf("output %q", b.String())
	}
}

// The demo config carries the sandbox's public test keys; they must be the
// ones the sandbox really uses.
func TestDemoKeysAreTheSandboxTestKeys(t *testing.T) {
	cfg, err := configs.LoadBytes("demo.yaml", configs.Demo(), nil)
	if err != nil {
		t.Fatal(err)
	}
	platform, channel := nhsasb.TestKeys()
	if cfg.NHSA.Test.ChannelKey.Value() != gm.PrivateKeyBase64(channel) || cfg.NHSA.Test.PlatformKey != gm.PublicKeyBase64(&platform.PublicKey) {
		t.Fatal("demo.yaml's nhsa test keys differ from nhsasb.TestKeys()")
	}
}
