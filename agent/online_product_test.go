package agent

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/queue"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

func TestMatchProduct(t *testing.T) {
	amox := catalogue.Product{Key: "8101235", Name: "阿莫西林胶囊 0.25g*24粒", Spec: "0.25g*24粒", Aprvno: "国药准字H00000001"}
	bare := catalogue.Product{Key: "8101235", Name: "阿莫西林胶囊", Spec: "0.25g*24粒"} // no 批准文号
	brand := catalogue.Product{Key: "8101235", Name: "阿莫仙"}                      // a brand name, no spec
	drug := func(name, aprv, id, strength string) wire.DrugBaseInfo {
		return wire.DrugBaseInfo{PhysicName: wire.Str(name), ApprovalLicenceNo: wire.Str(aprv),
			DrugEntBaseInfoID: wire.Str(id), PrepnSpec: wire.Str(strength)}
	}
	for _, tc := range []struct {
		name    string
		p       catalogue.Product
		learned string
		got     wire.DrugBaseInfo
		want    string
		by      string
	}{
		// 批准文号 decides, written with or without the prefix, spaces, full width.
		{"same approval", amox, "", drug("阿莫西林胶囊", "国药准字 H00000001", "X1", "0.25g"), MatchSame, ByApprovalNo},
		{"same approval, bare number", amox, "", drug("", "Ｈ00000001", "", ""), MatchSame, ByApprovalNo},
		{"other approval", amox, "", drug("阿莫西林胶囊", "国药准字H00000002", "X1", "0.25g"), MatchOther, ByApprovalNo},
		// The approval number outranks a learned id and the name.
		{"approval over id", amox, "X9", drug("布洛芬", "国药准字H00000001", "X1", "0.3g"), MatchSame, ByApprovalNo},
		// Without an approval number on one side, a learned id decides.
		{"learned id same", bare, "X1", drug("阿莫西林胶囊", "国药准字H00000001", "X1", ""), MatchSame, ByDrugID},
		{"learned id other", amox, "X1", drug("阿莫西林胶囊", "", "X2", "0.25g"), MatchOther, ByDrugID},
		// Then name and strength.
		{"name and strength", bare, "", drug("阿莫西林胶囊", "", "X1", "0.25g"), MatchSame, ByNameSpec},
		{"name and strength differ", bare, "", drug("布洛芬缓释胶囊", "", "X2", "0.3g"), MatchOther, ByNameSpec},
		// Names alone never flag: a brand name against the generic one.
		{"brand name, no spec", brand, "", drug("阿莫西林胶囊", "", "X1", "0.25g"), MatchUnknown, ""},
		{"same name, other strength", bare, "", drug("阿莫西林胶囊", "", "X1", "0.5g"), MatchUnknown, ""},
		// A strength matches as a whole number: 5mg is not in 2.5mg.
		{"strength as a whole", catalogue.Product{Key: "8101235", Name: "华法林钠片", Spec: "2.5mg*60片"}, "",
			drug("华法林钠片", "", "X1", "5mg"), MatchUnknown, ""},
		{"strength in the name", catalogue.Product{Key: "8101235", Name: "华法林钠片 2.5mg"}, "",
			drug("华法林钠片", "", "X1", "2.5mg"), MatchSame, ByNameSpec},
		{"other name, same strength", bare, "", drug("头孢氨苄胶囊", "", "X1", "0.25g"), MatchUnknown, ""},
		// Nothing comparable: unknown, not flagged.
		{"name, no strength", bare, "", drug("阿莫西林胶囊", "", "X1", ""), MatchSame, ByName},
		{"nothing to compare", catalogue.Product{Key: "8101235", Name: "阿莫西林胶囊"}, "", drug("", "", "X1", ""), MatchUnknown, ""},
		{"no approval platform side, none learned", amox, "", drug("", "", "X1", ""), MatchUnknown, ""},
	} {
		m := matchProduct(tc.p, tc.learned, tc.got)
		if m.Result != tc.want || m.By != tc.by {
			t.Errorf("%s: %+v, want %s by %q", tc.name, m, tc.want, tc.by)
		}
	}
}

// A line of several products (a 医保目录编码): the pack is the line's
// product if it is any of them, another only if it is none.
func TestMatchLine(t *testing.T) {
	p1 := catalogue.Product{Key: "8101235", Name: "阿莫西林胶囊", Aprvno: "国药准字H00000001"}
	p2 := catalogue.Product{Key: "8101236", Name: "阿莫西林胶囊", Aprvno: "国药准字H00000009"}
	p3 := catalogue.Product{Key: "8101237", Name: "阿莫西林胶囊"} // nothing comparable
	got := wire.DrugBaseInfo{PhysicName: "阿莫西林胶囊", ApprovalLicenceNo: "国药准字H00000009"}
	if m := matchLine([]catalogue.Product{p1, p2}, nil, got); m.Result != MatchSame || m.Key != "8101236" {
		t.Errorf("one of two: %+v", m)
	}
	other := wire.DrugBaseInfo{PhysicName: "布洛芬缓释胶囊", ApprovalLicenceNo: "国药准字H00000002"}
	if m := matchLine([]catalogue.Product{p1, p2}, nil, other); m.Result != MatchOther || m.By != ByApprovalNo {
		t.Errorf("none of two: %+v", m)
	}
	if m := matchLine([]catalogue.Product{p1, p3}, nil, other); m.Result != MatchUnknown || m.By != "" {
		t.Errorf("one not comparable: %+v", m)
	}
	if m := matchLine(nil, nil, other); m.Result != MatchUnknown {
		t.Errorf("no catalogue entry: %+v", m)
	}
	words := otherProductWords(ProductMatch{Result: MatchOther, By: ByApprovalNo, Want: "阿莫西林胶囊"}, other)
	for _, w := range []string{"布洛芬缓释胶囊", "国药准字H00000002", "阿莫西林胶囊"} {
		if !strings.Contains(words, w) {
			t.Errorf("message %q lacks %q", words, w)
		}
	}
}

// The agent learns a product key's drug_ent_base_info_id from an answer
// that matched by another field, and then compares by it answers that
// carry no approval number.
func TestProductMatchLearnsDrugID(t *testing.T) {
	products := filepath.Join(t.TempDir(), "products.csv")
	csv := "key,name,aprvno,spec\n8101235,阿莫西林胶囊,国药准字H00000001,0.25g*24粒\n8829842,复方甘草片,,100片\n"
	if err := os.WriteFile(products, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	a := newTestAgent(t, "PDA_CATALOGUE_PRODUCTS="+products)
	b, _, err := a.Open(context.Background(), OpenRequest{Session: "s", Kind: "sale", Lines: []LineRequest{
		{Line: "1", Product: "8101235", Packs: 2}, {Line: "2", Product: "8829842", Packs: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	scan(t, a, "s", "81012350000000157474", device.StatusAccepted)
	scan(t, a, "s", "88298420000000000015", device.StatusAccepted)
	items, err := a.store.Items(b.ID)
	if err != nil || len(items) != 2 || items[0].Line != "1" || items[1].Line != "2" {
		t.Fatalf("items %+v, %v", items, err)
	}
	amox, lic := items[0], items[1]
	check := func(it queue.Item, d wire.DrugBaseInfo, want, by string) {
		t.Helper()
		if m := a.productMatch(b.ID, it, d); m.Result != want || m.By != by {
			t.Fatalf("%s with %+v: %+v, want %s by %s", it.Code, d, m, want, by)
		}
	}
	noID := wire.DrugBaseInfo{PhysicName: "阿莫西林胶囊"}
	// Before anything is learnt a drug without approval number and name
	// only is not comparable.
	check(amox, wire.DrugBaseInfo{DrugEntBaseInfoID: "D-OTHER"}, MatchUnknown, "")
	check(amox, wire.DrugBaseInfo{PhysicName: "阿莫西林胶囊", ApprovalLicenceNo: "国药准字H00000001", DrugEntBaseInfoID: "D-AMOX"}, MatchSame, ByApprovalNo)
	check(amox, wire.DrugBaseInfo{DrugEntBaseInfoID: "D-OTHER"}, MatchOther, ByDrugID)
	check(amox, wire.DrugBaseInfo{DrugEntBaseInfoID: "D-AMOX"}, MatchSame, ByDrugID)
	check(amox, noID, MatchSame, ByName) // no id, name without strength: the name
	// A match by name only teaches nothing (a twin of another strength
	// has that name too); name and strength do.
	check(lic, wire.DrugBaseInfo{PhysicName: "复方甘草片", DrugEntBaseInfoID: "D-NAME"}, MatchSame, ByName)
	check(lic, wire.DrugBaseInfo{DrugEntBaseInfoID: "D-X"}, MatchUnknown, "")
	check(lic, wire.DrugBaseInfo{PhysicName: "复方甘草片", PrepnSpec: "100片", DrugEntBaseInfoID: "D-LIC"}, MatchSame, ByNameSpec)
	check(lic, wire.DrugBaseInfo{PhysicName: "复方甘草片", DrugEntBaseInfoID: "D-X"}, MatchOther, ByDrugID)
	// A pack on no line is not compared.
	lic.Line = ""
	if m := a.productMatch(b.ID, lic, wire.DrugBaseInfo{DrugEntBaseInfoID: "D-X"}); m.Result != "" {
		t.Fatalf("a pack on no line: %+v", m)
	}
	a.online.mu.Lock()
	learned := maps.Clone(a.online.learned)
	a.online.mu.Unlock()
	if len(learned) != 2 || learned["8101235"] != "D-AMOX" || learned["8829842"] != "D-LIC" {
		t.Fatalf("learned %v", learned)
	}
}
