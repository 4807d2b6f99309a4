package agent

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// needsConfig is a store's config with 医保 enabled (and 码上放心 off),
// plus extra PDA_ variables.
func needsConfig(t *testing.T, extra ...string) *configs.Config {
	t.Helper()
	env := append([]string{"PDA_DEVICE_ID=T1", "PDA_DATA_DIR=" + t.TempDir(), "PDA_NHSA_ENABLED=true", "PDA_NHSA_ENV=test",
		"PDA_NHSA_TEST_URL=http://127.0.0.1:9/fsi", "PDA_NHSA_TEST_RECER_SYS_CODE=YBXT", "PDA_NHSA_FIXMEDINS_CODE=P99000000001",
		"PDA_NHSA_FIXMEDINS_NAME=沙箱大药房", "PDA_NHSA_MDTRTAREA_ADMVS=990100", "PDA_NHSA_OPTER=T1", "PDA_NHSA_OPTER_NAME=张药师",
		"PDA_NHSA_PHAR_NAME=李药师", "PDA_NHSA_PHAR_PRAC_CERT_NO=0000000001"}, extra...)
	c, err := configs.LoadBytes("test", nil, env)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func needsOf(t *testing.T, cfg *configs.Config, typ int) TypeNeeds {
	t.Helper()
	all, err := Needs(context.Background(), cfg, []int{typ})
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range all {
		if tn.Dest == "nhsa" {
			return tn
		}
	}
	t.Fatalf("no 医保 needs for %d: %+v", typ, all)
	return TypeNeeds{}
}

func find(tn TypeNeeds, field, source string) (Need, bool) {
	for _, n := range tn.Needs {
		if n.Field == field && n.Source == source {
			return n, true
		}
	}
	return Need{}, false
}

// The needs are the client's own check: every need of a sale is one of the
// required fields of its rows (fsi.RequiredSale) or a condition of the row
// building, and the sources are the ones a held bill is repaired by.
func TestNeedsOfASale(t *testing.T) {
	tn := needsOf(t, needsConfig(t), billtype.RetailSale)
	if tn.Interface != fsi.InfSale || !strings.Contains(tn.Note, "nhsa.mdtrt_sn") {
		t.Errorf("interface %q note %q", tn.Interface, tn.Note)
	}
	for _, w := range []struct{ field, source, column, name string }{
		{"mdtrt_sn", "attr nhsa.mdtrt_sn", "", "就医流水号"},
		{"prsc_dr_name", "attr nhsa.prsc_dr_name", "", "开方医师姓名"},
		{"med_list_codg", "catalogue", "med_list_codg", "医疗目录编码"},
		{"fixmedins_hilist_id", "catalogue", "hilist_id", ""},
		{"rx_flag", "catalogue", "rx_flag", ""},
		{"manu_lotnum", "code", "", "生产批号"},
	} {
		n, ok := find(tn, w.field, w.source)
		if !ok || n.Column != w.column || (w.name != "" && n.Name != w.name) || n.When != "" || n.ProvidedBy != "" {
			t.Errorf("need %s from %s: %+v (found %v)", w.field, w.source, n, ok)
		}
	}
	if n, ok := find(tn, "setl_id", "attr nhsa.setl_id"); !ok || !strings.Contains(n.When, "mdtrt_setl_type") {
		t.Errorf("setl_id: %+v", n)
	}
	if _, ok := find(tn, "rtal_docno", "attr nhsa.rtal_docno"); ok {
		t.Error("rtal_docno is needed, but the bill code fills it")
	}
	required := fsi.RequiredSale()
	for _, n := range tn.Needs {
		if !slices.Contains(required, n.Field) && n.When == "" {
			t.Errorf("need %+v is no required field of 3505", n)
		}
	}
}

// What the config gives is said, and taken away the need stays: the
// store's pharmacist (nhsa.phar_*) and the defaults.
func TestNeedsProvidedByConfig(t *testing.T) {
	cfg := needsConfig(t, "PDA_NHSA_DEFAULTS_PSN_CERT_TYPE=01")
	tn := needsOf(t, cfg, billtype.RetailSale)
	for _, w := range []struct{ field, source, by string }{
		{"phar_name", "config nhsa.phar_name", "nhsa.phar_name"},
		{"phar_prac_cert_no", "config nhsa.phar_prac_cert_no", "nhsa.phar_prac_cert_no"},
		{"psn_cert_type", "attr nhsa.psn_cert_type", "nhsa.defaults.psn_cert_type"},
		{"mdtrt_sn", "attr nhsa.mdtrt_sn", ""},
		{"rx_circ_flag", "attr nhsa.rx_circ_flag", ""},
	} {
		if n, ok := find(tn, w.field, w.source); !ok || n.ProvidedBy != w.by {
			t.Errorf("%s: %+v (found %v), want provided by %q", w.field, n, ok, w.by)
		}
	}
}

// A requirement switched on or off in the client changes the needs: on
// returns, psn_cert_type only where the province requires it
// (nhsa.return_psn_cert_type).
func TestNeedsFollowTheClient(t *testing.T) {
	off := needsOf(t, needsConfig(t), billtype.CustomerReturn)
	on := needsOf(t, needsConfig(t, "PDA_NHSA_RETURN_PSN_CERT_TYPE=true"), billtype.CustomerReturn)
	if _, ok := find(off, "psn_cert_type", "attr nhsa.psn_cert_type"); ok {
		t.Errorf("3506 needs psn_cert_type without the switch: %+v", off.Needs)
	}
	if _, ok := find(on, "psn_cert_type", "attr nhsa.psn_cert_type"); !ok {
		t.Errorf("3506 lacks psn_cert_type with the switch: %+v", on.Needs)
	}
	if n, ok := find(off, "medins_prod_sel_no", "attr nhsa.medins_prod_sel_no"); !ok || n.When == "" {
		t.Errorf("medins_prod_sel_no: %+v", n)
	}
	if n, ok := find(off, "mdtrt_sn", "attr nhsa.mdtrt_sn"); !ok || n.When != "" {
		t.Errorf("mdtrt_sn: %+v", n)
	}

	// 3504: the invoice number from the POS, the supplier from the bill
	// and the partners file.
	ret := needsOf(t, needsConfig(t), billtype.SupplierReturn)
	if ret.Interface != fsi.InfPurchaseReturn {
		t.Errorf("interface %q", ret.Interface)
	}
	for _, w := range [][2]string{{"purc_invo_no", "attr nhsa.purc_invo_no"}, {"spler_name", "partner"}, {"spler_name", "catalogue"},
		{"manu_date", "code"}, {"expy_end", "code"}} {
		if n, ok := find(ret, w[0], w[1]); !ok || n.When != "" {
			t.Errorf("3504 %s from %s: %+v (found %v)", w[0], w[1], n, ok)
		}
	}
	if n, _ := find(ret, "spler_name", "catalogue"); n.Column != "partners" {
		t.Errorf("spler_name column %q", n.Column)
	}
	if _, ok := find(ret, "manu_lotnum", "code"); ok {
		t.Error("3504 needs manu_lotnum, which its table does not require")
	}
}

// A bill type goes only to the destinations that take it; the webhook
// needs the codes and no attr.
func TestNeedsOtherTypesAndDestinations(t *testing.T) {
	cfg := needsConfig(t, "PDA_WEBHOOK_ENABLED=true", "PDA_WEBHOOK_URL=http://127.0.0.1:9/hook", "PDA_WEBHOOK_KEY_ID=k1",
		"PDA_WEBHOOK_SECRET=0123456789abcdef0123456789abcdef")
	all, err := Needs(context.Background(), cfg, []int{billtype.TransferIn})
	if err != nil {
		t.Fatal(err)
	}
	var dests []string
	for _, tn := range all {
		dests = append(dests, tn.Dest)
		if tn.Dest == "webhook" && (len(tn.Needs) != 1 || tn.Note != "reads no bill attr") {
			t.Errorf("webhook 104: %+v", tn)
		}
	}
	if !slices.Equal(dests, []string{"webhook"}) {
		t.Errorf("destinations %v", dests)
	}
	if _, err := Needs(context.Background(), cfg, []int{999}); err == nil {
		t.Error("an unknown bill type was taken")
	}
}
