package catalogue

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	products := "\ufeffkey,name,med_list_codg,hilist_id,hilist_name,rx_flag,aprvno,maker,spec,units,key_variety,barcode69\n" +
		"8101235,阿莫西林胶囊 0.25g*24粒,XJ01CAA040A001010100395,A0001,阿莫西林胶囊,1,国药准字H13023964,沙箱药业,0.25g*24粒,24,否,6901234567892\n" +
		"04012345000016,阿托伐他汀钙片,XC10AAA081A001010101517,A0002,阿托伐他汀钙片（进口）,1,H20190001,Maker GmbH,20mg*7,0,是,\n" +
		"\n"
	partners := "ent_id,name,license_no\n5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4,沙箱医药批发有限公司,苏AA0250001\n"
	pp, qp := filepath.Join(dir, "products.csv"), filepath.Join(dir, "partners.csv")
	os.WriteFile(pp, []byte(products), 0o600)
	os.WriteFile(qp, []byte(partners), 0o600)
	c, err := Load(pp, qp)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := c.Product("8101235")
	if !ok || p.Units != 24 || p.KeyVariety || p.MedListCodg != "XJ01CAA040A001010100395" || p.Barcode69 != "6901234567892" {
		t.Fatalf("product %+v %v", p, ok)
	}
	if g, ok := c.Product("04012345000016"); !ok || !g.KeyVariety || g.Units != 0 {
		t.Fatalf("gtin product %+v", g)
	}
	if s, ok := c.Partner("5E0A7C3B9D2F48A6B1C3E5F7A9B0D2E4"); !ok || s.LicenseNo != "苏AA0250001" {
		t.Fatalf("partner %+v", s)
	}
	if _, ok := c.Product("8999999"); ok {
		t.Fatal("unknown product found")
	}
	if c.Products() != 2 || c.Partners() != 1 {
		t.Fatalf("counts %d %d", c.Products(), c.Partners())
	}
}

func TestBadFiles(t *testing.T) {
	cases := map[string]string{
		"unknown column":  "key,name,colour\n8101235,x,red\n",
		"missing name":    "key\n8101235\n",
		"bad key":         "key,name\n6901234567892,x\n",
		"duplicate key":   "key,name\n8101235,a\n8101235,b\n",
		"bad units":       "key,name,units\n8101235,a,many\n",
		"bad key_variety": "key,name,key_variety\n8101235,a,maybe\n",
		"empty":           "",
	}
	for name, in := range cases {
		if _, err := ReadProducts(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ReadPartners(strings.NewReader("ent_id,name\nnot-hex,x\n")); err == nil {
		t.Error("bad ent_id accepted")
	}
	// Every bad line is reported, with its line number.
	_, err := ReadProducts(strings.NewReader("key,name,units\n8101235,a,x\n12,b,1\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("errors: %v", err)
	}
	var nilCat *Catalogue
	if _, ok := nilCat.Product("8101235"); ok {
		t.Error("nil catalogue found a product")
	}
}
