package nhsa

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// rowCheck says, per JSON field of one row, where its value comes from,
// so that a held-back bill names what to fix.
type rowCheck struct {
	where map[string]string
	skip  map[string]bool // already reported as a whole (product not in the catalogue)
}

func (rc rowCheck) whereOf(field string) string {
	if w, ok := rc.where[field]; ok {
		return w
	}
	return "the value"
}

// product fills the catalogue's part of a row's provenance and returns
// the product; ok is false (and the problem recorded) when it is unknown.
func (b *build) product(g *group, rc rowCheck) (catalogue.Product, bool) {
	fields := map[string]string{
		"med_list_codg": "med_list_codg", "fixmedins_hilist_id": "hilist_id", "fixmedins_hilist_name": "hilist_name",
		"rx_flag": "rx_flag", "aprvno": "aprvno", "prodentp_name": "maker", "drug_prod_barc": "barcode69",
	}
	for f, col := range fields {
		rc.where[f] = fmt.Sprintf("catalogue %s of product %s", col, g.product)
	}
	var p catalogue.Product
	ok := false
	switch {
	case g.product == "":
		b.problem("product: no product key (7-digit 码上放心 prefix or GTIN) is known for %s", g.codesText())
	default:
		if p, ok = b.c.cfg.Catalogue.Product(g.product); !ok {
			b.problem("product %s (%s) is not in the catalogue", g.product, g.codesText())
		}
	}
	if !ok {
		for f := range fields {
			rc.skip[f] = true
		}
	}
	return p, ok
}

// packData fills lot and dates of a row and checks the dates' format.
func (b *build) packData(g *group, rc rowCheck) (lot, made, expires string) {
	of := fmt.Sprintf("%s (product %s)", g.codesText(), g.product)
	rc.where["manu_lotnum"] = "lot of " + of
	rc.where["manu_date"] = "production date of " + of
	rc.where["expy_end"] = "expiry date of " + of
	made = g.firstOf(func(it queue.Item) string { return it.Produced })
	expires = g.firstOf(func(it queue.Item) string { return it.Expiry })
	for _, d := range []struct{ field, v string }{{"manu_date", made}, {"expy_end", expires}} {
		if d.v == "" {
			continue
		}
		if _, err := time.Parse(fsi.DateLayout, d.v); err != nil {
			b.problem("%s: %s is %q, not a yyyy-MM-dd date", d.field, rc.where[d.field], clip(d.v))
			rc.skip[d.field] = true
		}
	}
	return strings.TrimSpace(g.lot), made, expires
}

// price reads the optional final price of a product from the bill attr
// nhsa.finl_trns_pric.<product key>.
func (b *build) price(product string) *float64 {
	if product == "" {
		return nil
	}
	name := "finl_trns_pric." + product
	v := b.attr(name)
	if v == "" {
		return nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		b.problem("finl_trns_pric: bill attr %s%s is %q, not a price in yuan", attrPrefix, name, clip(v))
		return nil
	}
	return &f
}

// attrField reads a bill attribute into a row field and records where it
// came from.
func (b *build) attrField(rc rowCheck, field string) string {
	rc.where[field] = "bill attr " + attrPrefix + field
	return b.attr(field)
}

func newRowCheck() rowCheck {
	return rowCheck{where: map[string]string{}, skip: map[string]bool{}}
}

// CheckOptionalFields checks Config.OptionalFields: each names a required
// row field of one of the 进销存 interfaces as "<infno>.<field>".
func CheckOptionalFields(fields []string) error {
	for _, f := range fields {
		infno, field, ok := strings.Cut(f, ".")
		req := requiredOf(infno)
		if !ok || req == nil || !slices.Contains(req, field) {
			return fmt.Errorf("optional field %q: want <infno>.<field> naming a required row field of 3501-3506", f)
		}
	}
	return nil
}

// requiredOf is the required row fields of infno, nil for another infno.
func requiredOf(infno string) []string {
	switch infno {
	case fsi.InfPurchase:
		return fsi.RequiredPurchase()
	case fsi.InfPurchaseReturn:
		return fsi.RequiredPurchaseReturn()
	case fsi.InfSale:
		return fsi.RequiredSale()
	case fsi.InfSaleReturn:
		return fsi.RequiredSaleReturn()
	case fsi.InfStockTake:
		return fsi.RequiredStockTake()
	case fsi.InfStockChange:
		return fsi.RequiredStockChange()
	}
	return nil
}

// required is the bill's required row fields, less those the province
// leaves optional (Config.OptionalFields).
func (b *build) required() []string {
	req := requiredOf(b.infno)
	if b.infno == fsi.InfSaleReturn && b.c.cfg.ReturnPsnCertType {
		req = append(req, "psn_cert_type")
	}
	return slices.DeleteFunc(req, func(f string) bool { return slices.Contains(b.c.cfg.OptionalFields, b.infno+"."+f) })
}

// purchases builds the purcinfo rows of 3503 and 3504.
func (b *build) purchases(groups []*group) []fsi.Purchase {
	required := b.required()
	spler, pmtno, splerWhere, splerKnown := "", "", "", true
	switch who := strings.TrimSpace(b.bill.Partner); {
	case who == "":
		b.problem("spler_name: the bill has no partner (the supplier's ent_id)")
		splerKnown = false
	default:
		if p, ok := b.c.cfg.Catalogue.Partner(who); ok {
			spler, pmtno = strings.TrimSpace(p.Name), strings.TrimSpace(p.LicenseNo)
			splerWhere = "catalogue name of partner " + who
		} else {
			b.problem("spler_name: supplier %s is not among the catalogue's partners", who)
			splerKnown = false
		}
	}
	rows := make([]fsi.Purchase, 0, len(groups))
	for i, g := range groups {
		rc := newRowCheck()
		rc.where["spler_name"], rc.where["spler_pmtno"] = splerWhere, "catalogue license_no of partner "+b.bill.Partner
		rc.skip["spler_name"] = !splerKnown
		rc.where["purc_retn_opter_name"] = "the bill's operator"
		r := fsi.Purchase{
			FixmedinsBchno: rowBchno(b.prefix, i+1), SplerName: spler, SplerPmtno: pmtno,
			PurcRetnCnt: g.count(), PurcRetnStoinTime: b.time, PurcRetnOpterName: b.operator,
			ProdGeayFlag: "0", FinlTrnsPric: b.price(g.product),
			DyntNo: b.attrField(rc, "dynt_no"), PurcInvoCodg: b.attrField(rc, "purc_invo_codg"),
			PurcInvoNo: b.attrField(rc, "purc_invo_no"), Memo: b.attrField(rc, "memo"),
		}
		if v := b.attrField(rc, "prod_geay_flag"); v != "" {
			r.ProdGeayFlag = v
		}
		if p, ok := b.product(g, rc); ok {
			r.MedListCodg, r.FixmedinsHilistID, r.FixmedinsHilistName = p.MedListCodg, p.HilistID, p.HilistName
			r.RxFlag, r.Aprvno, r.ProdentpName = p.RxFlag, p.Aprvno, p.Maker
		}
		r.ManuLotnum, r.ManuDate, r.ExpyEnd = b.packData(g, rc)
		if b.infno == fsi.InfPurchaseReturn {
			r.MedinsProdPurcNo = g.ref
			rc.where["medins_prod_purc_no"] = "the reference to the original purchase row (item ref, or bill attr nhsa.medins_prod_purc_no)"
			rc.skip["medins_prod_purc_no"] = g.ref == "" // reported by references
			r.Memo = joinMemo(r.Memo, g.memos)
		}
		if b.c.cfg.PurchaseTraceCodes {
			r.DrugTracInfo = g.tracInfo()
		}
		b.validate(r, required, rc)
		rows = append(rows, r)
	}
	return rows
}

// sales builds the selinfo rows of 3505 and 3506.
func (b *build) sales(groups []*group) []fsi.Sale {
	ret := b.infno == fsi.InfSaleReturn
	required := b.required()
	rows := make([]fsi.Sale, 0, len(groups))
	for i, g := range groups {
		rc := newRowCheck()
		rc.where["sel_retn_opter_name"] = "the bill's operator"
		r := fsi.Sale{
			FixmedinsBchno: rowBchno(b.prefix, i+1), SelRetnCnt: g.count(), SelRetnTime: b.time,
			SelRetnOpterName: b.operator, TrdnFlag: "0", FinlTrnsPric: b.price(g.product),
			DrugTracInfo: g.tracInfo(), Memo: b.attrField(rc, "memo"),
			SetlID: b.attrField(rc, "setl_id"), MdtrtSn: b.attrField(rc, "mdtrt_sn"),
			PsnNo: b.attrField(rc, "psn_no"), PsnCertType: b.attrField(rc, "psn_cert_type"),
			Certno: b.attrField(rc, "certno"), PsnName: b.attrField(rc, "psn_name"),
		}
		if g.split {
			r.TrdnFlag = "1"
		}
		if p, ok := b.product(g, rc); ok {
			r.MedListCodg, r.FixmedinsHilistID, r.FixmedinsHilistName = p.MedListCodg, p.HilistID, p.HilistName
			r.RxFlag, r.DrugProdBarc = p.RxFlag, p.Barcode69
		}
		r.ManuLotnum, r.ManuDate, r.ExpyEnd = b.packData(g, rc)
		if ret {
			r.MedinsProdSelNo = g.ref
			rc.where["medins_prod_sel_no"] = "the reference to the original sale row (item ref, or bill attr nhsa.medins_prod_sel_no)"
			rc.skip["medins_prod_sel_no"] = g.ref == "" // reported by references
			r.Memo = joinMemo(r.Memo, g.memos)
		} else {
			r.MedinsProdSelNo = r.FixmedinsBchno
			r.Memo = joinMemo(r.Memo, exceptionNotes(b.bill, g.product))
			r.HiFeesetlType = b.attrField(rc, "hi_feesetl_type")
			r.MdtrtSetlType = b.attrField(rc, "mdtrt_setl_type")
			r.PrscDrCertType = b.attrField(rc, "prsc_dr_cert_type")
			r.PrscDrCertno = b.attrField(rc, "prsc_dr_certno")
			r.PrscDrName = b.attrField(rc, "prsc_dr_name")
			r.Rxno = b.attrField(rc, "rxno")
			r.RxCircFlag = b.attrField(rc, "rx_circ_flag")
			// 零售单据号: the POS's receipt number when given, else the
			// bill code (the receipt the agent knows).
			r.RtalDocno = b.attrField(rc, "rtal_docno")
			if r.RtalDocno == "" {
				r.RtalDocno = b.bill.Code
				rc.where["rtal_docno"] = "the bill code (no bill attr nhsa.rtal_docno)"
			}
			r.StooutNo = b.attrField(rc, "stoout_no")
			if r.StooutNo == "" {
				r.StooutNo = b.bill.Code
			}
			rc.where["stoout_no"] = "the bill code"
			r.PharName, r.PharPracCertNo = b.c.cfg.PharName, b.c.cfg.PharPracCertNo
			r.PharCertType, r.PharCertno = b.c.cfg.PharCertType, b.c.cfg.PharCertno
			rc.where["phar_name"] = "config phar_name (the store's pharmacist)"
			rc.where["phar_prac_cert_no"] = "config phar_prac_cert_no (the pharmacist's 执业资格证号)"
			rc.where["phar_cert_type"] = "config phar_cert_type"
			rc.where["phar_certno"] = "config phar_certno"
			if r.MdtrtSetlType == "1" && r.SetlID == "" {
				b.problem("setl_id: bill attr %ssetl_id is empty, required when mdtrt_setl_type is 1 (医保结算)", attrPrefix)
			}
		}
		b.validate(r, required, rc)
		rows = append(rows, r)
	}
	return rows
}

// joinMemo appends the reference notes to the bill's memo, cut to the
// field's 500 characters: a note must never hold a bill back.
func joinMemo(memo string, notes []string) string {
	parts := slices.DeleteFunc(append([]string{memo}, notes...), func(s string) bool { return s == "" })
	s := strings.Join(parts, "；")
	if r := []rune(s); len(r) > maxLen("memo") {
		s = string(r[:maxLen("memo")-1]) + "…"
	}
	return s
}

// validate checks a row against the required fields (present, non-empty)
// and the field lengths of nhsa.md §3 before anything is sent.
func (b *build) validate(row any, required []string, rc rowCheck) {
	raw, err := json.Marshal(row)
	if err != nil {
		b.problem("encoding a row: %v", err)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		b.problem("decoding a row: %v", err)
		return
	}
	for _, f := range required {
		if rc.skip[f] {
			continue
		}
		switch v := m[f].(type) {
		case nil:
			b.problem("%s: %s is empty", f, rc.whereOf(f))
		case string:
			if strings.TrimSpace(v) == "" {
				b.problem("%s: %s is empty", f, rc.whereOf(f))
			}
		case []any:
			if len(v) == 0 {
				b.problem("%s: %s is empty", f, rc.whereOf(f))
			}
		case float64:
			if v < 0 || (v == 0 && f != "pric") { // a unit price may be 0 (a gift); a count may not
				b.problem("%s: %s is %v, must be positive", f, rc.whereOf(f), v)
			}
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, f := range keys {
		s, ok := m[f].(string)
		if !ok || rc.skip[f] {
			continue
		}
		if max, n := maxLen(f), utf8.RuneCountInString(s); max > 0 && n > max {
			b.problem("%s: %s is %d characters, at most %d allowed", f, rc.whereOf(f), n, max)
		}
	}
}

// maxLen is a field's documented length (nhsa.md §2.1, §3.2-3.4); 0 means
// unchecked.
func maxLen(field string) int {
	switch field {
	case "fixmedins_hilist_id", "manu_lotnum", "fixmedins_bchno", "setl_id", "mdtrt_sn", "psn_no", "drug_prod_barc":
		return 30
	case "rx_flag", "trdn_flag", "rx_circ_flag", "prod_geay_flag":
		return 3
	case "inv_chg_type":
		return 6
	case "hi_feesetl_type", "mdtrt_setl_type", "psn_cert_type", "prsc_dr_cert_type", "phar_cert_type":
		return 6
	case "rxno", "rtal_docno", "stoout_no":
		return 40
	case "med_list_codg", "spler_pmtno", "dynt_no", "purc_invo_codg", "purc_invo_no", "certno", "psn_name",
		"prsc_dr_certno", "prsc_dr_name", "phar_certno", "phar_name", "phar_prac_cert_no", "sel_retn_opter_name",
		"purc_retn_opter_name", "medins_prod_sel_no", "medins_prod_purc_no", "inv_chg_opter_name":
		return 50
	case "aprvno":
		return 100
	case "fixmedins_hilist_name", "spler_name", "prodentp_name":
		return 200
	case "memo":
		return 500
	}
	return 0
}
