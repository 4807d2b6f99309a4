package sandbox

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// chinaTime is UTC+8. China has had no daylight saving time since 1991, so
// a fixed zone is exact and needs no zoneinfo database on the host.
var chinaTime = time.FixedZone("CST", 8*60*60)

// Enterprise is a company registered on the platform.
type Enterprise struct {
	// RefEntID is the 货主 id (ref_user_id / ref_ent_id), digits only.
	RefEntID string
	// EntID is the 32-hex id used as from_user_id / to_user_id.
	EntID string
	// Name is the registered name (ent_name).
	Name string
	// OrgCode is the 统一社会信用代码 (18 characters), optional.
	OrgCode string
	// ParRefEntID is the ref_ent_id of the chain headquarters, optional.
	ParRefEntID string
	// Region of the registered address, as drug.lsyd.getentinfolist
	// answers it (prov_name/prov_code, city_*, area_*,
	// reg_region_detail); optional.
	ProvName, ProvCode, CityName, CityCode, AreaName, AreaCode, Address string
	// AppKey is the TOP app that speaks for this enterprise ("" = none).
	// Every app belongs to at most one enterprise; its secret is in
	// Options.Apps.
	AppKey string
}

// Product is a drug registered on the platform: either a 码上放心 product
// (Prefix, optionally with cases) or an imported drug identified by a GS1
// GTIN.
type Product struct {
	// Prefix is the 7-digit 药品标识码 of the smallest sale unit (盒), e.g.
	// "8101235". Empty for a GS1 product.
	Prefix string
	// GTIN is the GTIN-14 of a GS1 product (valid check digit); empty for a
	// 码上放心 product.
	GTIN string
	// Name is the drug name (physic_name).
	Name string
	// PkgSpec is the package specification, e.g. "0.25g*24粒/盒".
	PkgSpec string
	// PrepnSpec is the preparation strength, e.g. "0.25g".
	PrepnSpec string
	// Maker is the producing enterprise; MakerRefEntID its ref_ent_id
	// (optional).
	Maker, MakerRefEntID string
	// PrepnType is the dosage form (剂型), e.g. "胶囊剂"; optional.
	PrepnType string
	// PrepnUnit is how many preparations (粒, 片 …) one smallest pack
	// holds, e.g. 24; 0 means 1.
	PrepnUnit int
	// ApprovalNo is the 批准文号.
	ApprovalNo string
	// Barcode69 is the 13-digit product barcode.
	Barcode69 string
	// Special marks a 特药 (physic_type 2). AddProduct sets it for every
	// prefix starting with "89".
	Special bool
	// CasePrefix is the 7-digit prefix of the product's case codes (箱码);
	// empty if the product has no cases.
	CasePrefix string
	// CaseSize is how many boxes one case holds (2–1000; with CasePrefix).
	CaseSize int
	// Batch, ProduceDate and ExpireDate (yyyy-MM-dd) are reported for every
	// code of the product.
	Batch, ProduceDate, ExpireDate string
}

// physicType is the product's physic_type.
func (p *Product) physicType() int {
	if p.Special {
		return physicSpecial
	}
	return physicOrdinary
}

// prepnUnit is the preparations per smallest pack (at least 1).
func (p *Product) prepnUnit() int { return max(p.PrepnUnit, 1) }

// drugID is the product's drug_ent_base_info_id in the sandbox: its box
// prefix or GTIN.
func (p *Product) drugID() string { return p.Prefix + p.GTIN }

// UpstreamBill is an outbound bill a partner uploaded (supplier → store):
// what lsyd.query.upbillcode, listupout and listupout.detail show to the
// receiving enterprise.
type UpstreamBill struct {
	// BillCode is the shipper's bill number, unique per shipper.
	BillCode string
	// BillType is an outbound type (2xx), e.g. 201 销售出库.
	BillType int
	// BillTime is when the goods left.
	BillTime time.Time
	// FromRefEntID and ToRefEntID are the shipper and the receiver.
	FromRefEntID, ToRefEntID string
	// Codes are box, case or GS1 codes of known products, in bill order.
	Codes []string
	// BillOutID is the platform's id of the bill (listupout bill_out_id,
	// an int64 in the SDK); AddUpstreamBill assigns one if zero.
	BillOutID int64
}

// World is the platform's data outside uploads: enterprises and their
// apps, products and their package hierarchy, cancelled codes and the
// upstream bills of partners. It is safe for concurrent use, so tests and
// the demo may add to it while a Server uses it. Its rules are in the
// package documentation.
type World struct {
	mu        sync.RWMutex
	ents      []*Enterprise
	byRef     map[string]*Enterprise
	byEnt     map[string]*Enterprise
	byApp     map[string]*Enterprise
	products  []*Product
	byBox     map[string]*Product // box prefix → product
	byCase    map[string]*Product // case prefix → product
	byGTIN    map[string]*Product
	cancelled map[string]bool // code key
	// recordedAs: box codes the platform records under another product
	// (ReportAsProduct).
	recordedAs map[string]*Product
	upstream   []*UpstreamBill
	outSeq     int
}

// NewWorld returns an empty world.
func NewWorld() *World {
	return &World{
		byRef:      make(map[string]*Enterprise),
		byEnt:      make(map[string]*Enterprise),
		byApp:      make(map[string]*Enterprise),
		byBox:      make(map[string]*Product),
		byCase:     make(map[string]*Product),
		byGTIN:     make(map[string]*Product),
		cancelled:  make(map[string]bool),
		recordedAs: make(map[string]*Product),
	}
}

// AddEnterprise registers e. RefEntID must be 1–32 digits, EntID 32
// lowercase hex digits, Name non-empty; RefEntID, EntID and AppKey must be
// unused.
func (w *World) AddEnterprise(e Enterprise) error {
	switch {
	case e.RefEntID == "" || len(e.RefEntID) > 32 || !allDigits(e.RefEntID):
		return fmt.Errorf("sandbox: enterprise %q: ref_ent_id must be 1-32 digits", e.RefEntID)
	case !isEntID(e.EntID):
		return fmt.Errorf("sandbox: enterprise %s: ent_id %q must be 32 lowercase hex digits", e.RefEntID, e.EntID)
	case strings.TrimSpace(e.Name) == "":
		return fmt.Errorf("sandbox: enterprise %s: name is required", e.RefEntID)
	case e.OrgCode != "" && len(e.OrgCode) != 18:
		return fmt.Errorf("sandbox: enterprise %s: org_code %q must have 18 characters", e.RefEntID, e.OrgCode)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.byRef[e.RefEntID]; ok {
		return fmt.Errorf("sandbox: enterprise ref_ent_id %s already exists", e.RefEntID)
	}
	if _, ok := w.byEnt[e.EntID]; ok {
		return fmt.Errorf("sandbox: enterprise ent_id %s already exists", e.EntID)
	}
	if e.AppKey != "" {
		if o, ok := w.byApp[e.AppKey]; ok {
			return fmt.Errorf("sandbox: app_key %s already belongs to %s", e.AppKey, o.RefEntID)
		}
	}
	p := &e
	w.ents = append(w.ents, p)
	w.byRef[e.RefEntID] = p
	w.byEnt[e.EntID] = p
	if e.AppKey != "" {
		w.byApp[e.AppKey] = p
	}
	return nil
}

// AddProduct registers p. Exactly one of Prefix (8 and 6 more digits) and
// GTIN (14 digits, valid check digit) is required, and Name. A case prefix
// needs a CaseSize of 2–1000 and only exists for 码上放心 products. No
// prefix or GTIN may be registered twice.
func (w *World) AddProduct(p Product) error {
	switch {
	case (p.Prefix == "") == (p.GTIN == ""):
		return fmt.Errorf("sandbox: product %q: exactly one of Prefix and GTIN is required", p.Name)
	case p.Prefix != "" && !isPrefix(p.Prefix):
		return fmt.Errorf("sandbox: product %q: prefix %q must be 7 digits starting with 8", p.Name, p.Prefix)
	case p.GTIN != "" && !validGTIN(p.GTIN):
		return fmt.Errorf("sandbox: product %q: GTIN %q must be 14 digits with a valid check digit", p.Name, p.GTIN)
	case strings.TrimSpace(p.Name) == "":
		return errors.New("sandbox: product name is required")
	case p.CasePrefix != "" && p.GTIN != "":
		return fmt.Errorf("sandbox: product %q: GS1 products have no case prefix", p.Name)
	case p.CasePrefix != "" && (!isPrefix(p.CasePrefix) || p.CasePrefix == p.Prefix):
		return fmt.Errorf("sandbox: product %q: case prefix %q must be 7 digits starting with 8, not the box prefix", p.Name, p.CasePrefix)
	case p.CasePrefix != "" && (p.CaseSize < 2 || p.CaseSize > 1000):
		return fmt.Errorf("sandbox: product %q: case size %d must be 2-1000", p.Name, p.CaseSize)
	case p.CasePrefix == "" && p.CaseSize != 0:
		return fmt.Errorf("sandbox: product %q: case size without a case prefix", p.Name)
	}
	if strings.HasPrefix(p.Prefix, "89") {
		p.Special = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, pre := range []string{p.Prefix, p.CasePrefix} {
		if pre == "" {
			continue
		}
		if w.byBox[pre] != nil || w.byCase[pre] != nil {
			return fmt.Errorf("sandbox: prefix %s is already registered", pre)
		}
	}
	if p.GTIN != "" && w.byGTIN[p.GTIN] != nil {
		return fmt.Errorf("sandbox: GTIN %s is already registered", p.GTIN)
	}
	np := &p
	w.products = append(w.products, np)
	if p.Prefix != "" {
		w.byBox[p.Prefix] = np
	}
	if p.CasePrefix != "" {
		w.byCase[p.CasePrefix] = np
	}
	if p.GTIN != "" {
		w.byGTIN[p.GTIN] = np
	}
	return nil
}

// AddUpstreamBill registers b. Both enterprises must exist, the type must
// be outbound (2xx), every code must be an activated code of a known
// product, listed once and not with its case, and the bill code must be
// new for the shipper.
func (w *World) AddUpstreamBill(b UpstreamBill) error {
	if strings.TrimSpace(b.BillCode) == "" {
		return errors.New("sandbox: upstream bill without a bill code")
	}
	if !outboundType(b.BillType) {
		return fmt.Errorf("sandbox: upstream bill %s: type %d is not an outbound type", b.BillCode, b.BillType)
	}
	if len(b.Codes) == 0 {
		return fmt.Errorf("sandbox: upstream bill %s has no codes", b.BillCode)
	}
	b.Codes = slices.Clone(b.Codes)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byRef[b.FromRefEntID] == nil || w.byRef[b.ToRefEntID] == nil {
		return fmt.Errorf("sandbox: upstream bill %s: unknown enterprise %s or %s", b.BillCode, b.FromRefEntID, b.ToRefEntID)
	}
	seen := make(map[string]bool, len(b.Codes))
	var parents []string
	for _, c := range b.Codes {
		ci := w.codeLocked(c, false)
		if ci.errKey != "" || ci.cancelled {
			return fmt.Errorf("sandbox: upstream bill %s: code %q is not an activated code of a known product", b.BillCode, c)
		}
		if seen[ci.key] {
			return fmt.Errorf("sandbox: upstream bill %s: code %s listed twice", b.BillCode, c)
		}
		seen[ci.key] = true
		if ci.parent != "" {
			parents = append(parents, ci.parent)
		}
	}
	for _, p := range parents {
		if seen[p] {
			return fmt.Errorf("sandbox: upstream bill %s: case %s listed together with its boxes", b.BillCode, p)
		}
	}
	for _, u := range w.upstream {
		if u.FromRefEntID == b.FromRefEntID && u.BillCode == b.BillCode {
			return fmt.Errorf("sandbox: upstream bill %s of %s already exists", b.BillCode, b.FromRefEntID)
		}
	}
	w.outSeq++
	if b.BillOutID == 0 {
		b.BillOutID = 880000000 + int64(w.outSeq)
	}
	w.upstream = append(w.upstream, &b)
	return nil
}

// CancelCodes marks codes as cancelled (注销, status C): uploads then
// reject them with code_check_error_info key "4". Each must be a code of a
// known product.
func (w *World) CancelCodes(codes ...string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	keys := make([]string, 0, len(codes))
	for _, c := range codes {
		ci := w.codeLocked(c, false)
		if ci.errKey != "" {
			return fmt.Errorf("sandbox: cannot cancel %q: not a code of a known product", c)
		}
		keys = append(keys, ci.key)
	}
	for _, k := range keys {
		w.cancelled[k] = true
	}
	return nil
}

// ReportAsProduct makes the platform record box codes under the product of
// another box prefix: a box whose printed code claims one drug while 码上放心
// knows the code as another's (a code copied onto a box of another drug).
// query.codedetail then names that product in drug_ent_base_d_t_o, and
// uploads count the codes as its packs. Each code must be a loose box of a
// registered product (not a case, not a box inside a case, not GS1), and
// prefix a registered box prefix other than the code's own.
func (w *World) ReportAsProduct(prefix string, codes ...string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	other := w.byBox[prefix]
	if other == nil {
		return fmt.Errorf("sandbox: %q is not a registered box prefix", prefix)
	}
	for _, c := range codes {
		ci := w.codeLocked(c, false)
		switch {
		case ci.errKey != "" || ci.gs1 || ci.isCase || ci.product == nil:
			return fmt.Errorf("sandbox: cannot record %q under %s: not a box code of a known product", c, prefix)
		case ci.parent != "":
			return fmt.Errorf("sandbox: cannot record %q under %s: it is a box inside case %s", c, prefix, ci.parent)
		case c[:7] == prefix:
			return fmt.Errorf("sandbox: %q already is a code of %s", c, prefix)
		}
	}
	for _, c := range codes {
		w.recordedAs[c] = other
	}
	return nil
}

// Enterprises returns every enterprise in registration order.
func (w *World) Enterprises() []Enterprise {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]Enterprise, len(w.ents))
	for i, e := range w.ents {
		out[i] = *e
	}
	return out
}

// Enterprise returns the enterprise with this ref_ent_id.
func (w *World) Enterprise(refEntID string) (Enterprise, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if e := w.byRef[refEntID]; e != nil {
		return *e, true
	}
	return Enterprise{}, false
}

// Products returns every product in registration order.
func (w *World) Products() []Product {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]Product, len(w.products))
	for i, p := range w.products {
		out[i] = *p
	}
	return out
}

// UpstreamBills returns every upstream bill in registration order.
func (w *World) UpstreamBills() []UpstreamBill {
	w.mu.RLock()
	defer w.mu.RUnlock()
	out := make([]UpstreamBill, len(w.upstream))
	for i, b := range w.upstream {
		out[i] = *b
		out[i].Codes = slices.Clone(b.Codes)
	}
	return out
}

// CaseChildren returns the box codes inside a case code of a known case
// prefix (nil for anything else): CaseSize codes, in order.
func (w *World) CaseChildren(caseCode string) []string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	ci := w.codeLocked(caseCode, false)
	if ci.errKey != "" {
		return nil
	}
	return slices.Clone(ci.children)
}

// Parent returns the case code holding a box code, or "" if the box is not
// in a case.
func (w *World) Parent(code string) string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.codeLocked(code, false).parent
}

// MakeCode builds the 20-digit code of a 7-digit prefix and a serial
// (0–999999999) with the sandbox's canonical check digits. Boxes accept
// any check digits; case codes and the boxes inside cases need these.
func MakeCode(prefix string, serial int) string {
	body := prefix + fmt.Sprintf("%09d", serial)
	return body + checkDigits(body)
}

// GS1Code builds the GS1 element string of a pack as the agent sends it:
// AI 01 with the GTIN-14, then AI 21 with the serial.
func GS1Code(gtin, serial string) string {
	return "01" + gtin + "21" + serial
}

// checkDigits stands in for the platform's non-public check algorithm:
// a hash of the first 16 digits, as 4 digits.
func checkDigits(body16 string) string {
	h := fnv.New32a()
	h.Write([]byte(body16))
	return fmt.Sprintf("%04d", h.Sum32()%10000)
}

// Serials of boxes inside cases start with 9: box serial =
// caseChildBase + caseSerial*CaseSize + i, below caseChildBase+caseChildSpan.
// Other box serials are loose boxes, so tests inventing small serials never
// hit a case by accident.
const (
	caseChildBase = 900000000
	caseChildSpan = 100000000
)

// codeInfo is what the world knows about one code.
type codeInfo struct {
	key       string // identity of the pack: the 20 digits, or 01+GTIN+21+serial
	errKey    string // codeErr* when the code is unusable, else ""
	reason    string // why, for process_status_reason_desc
	product   *Product
	isCase    bool
	gs1       bool
	cancelled bool
	parent    string   // case code of a box inside a case
	children  []string // boxes of a case
}

// code classifies a code (world read-locked by the caller or not).
func (w *World) code(c string, rejectGS1 bool) codeInfo {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.codeLocked(c, rejectGS1)
}

// codeLocked classifies c; w.mu must be held.
func (w *World) codeLocked(c string, rejectGS1 bool) codeInfo {
	if len(c) == 20 && allDigits(c) {
		return w.msfxLocked(c)
	}
	if strings.HasPrefix(c, "01") && len(c) >= 16 && allDigits(c[2:16]) {
		if rejectGS1 {
			return codeInfo{key: c, errKey: codeErrFormat, reason: "不支持GS1码（沙箱配置 RejectGS1）"}
		}
		gtin, serial, why := parseGS1(c)
		if why != "" {
			return codeInfo{key: c, errKey: codeErrFormat, reason: "GS1码格式错误: " + why}
		}
		key := GS1Code(gtin, serial)
		p := w.byGTIN[gtin]
		if p == nil {
			return codeInfo{key: key, errKey: codeErrNotActivated, reason: "GTIN " + gtin + " 未在平台登记，码未激活", gs1: true}
		}
		return codeInfo{key: key, product: p, gs1: true, cancelled: w.cancelled[key]}
	}
	return codeInfo{key: c, errKey: codeErrFormat, reason: "追溯码格式错误：应为8开头的20位数字"}
}

func (w *World) msfxLocked(c string) codeInfo {
	ci := codeInfo{key: c}
	if c[0] != '8' {
		ci.errKey, ci.reason = codeErrFormat, "追溯码格式错误：应为8开头的20位数字"
		return ci
	}
	pre, serial := c[:7], c[7:16]
	if p := w.byBox[pre]; p != nil {
		ci.product = p
		ci.cancelled = w.cancelled[c]
		if q := w.recordedAs[c]; q != nil {
			ci.product = q // a loose box (ReportAsProduct): no case
			return ci
		}
		if p.CaseSize > 0 && serial[0] == '9' && c == MakeCode(pre, mustAtoi(serial)) {
			cs := (mustAtoi(serial) - caseChildBase) / p.CaseSize
			if (cs+1)*p.CaseSize <= caseChildSpan {
				ci.parent = MakeCode(p.CasePrefix, cs)
			}
		}
		return ci
	}
	if p := w.byCase[pre]; p != nil {
		s := mustAtoi(serial)
		if c != MakeCode(pre, s) || (s+1)*p.CaseSize > caseChildSpan {
			ci.errKey, ci.reason = codeErrNotActivated, "箱码未激活（校验位不符或序号超出范围）"
			return ci
		}
		ci.product, ci.isCase = p, true
		ci.cancelled = w.cancelled[c]
		ci.children = make([]string, p.CaseSize)
		for i := range ci.children {
			ci.children[i] = MakeCode(p.Prefix, caseChildBase+s*p.CaseSize+i)
		}
		return ci
	}
	ci.errKey, ci.reason = codeErrNotActivated, "药品标识码 "+pre+" 未在平台登记，码未激活"
	return ci
}

// parseGS1 reads the element string the agent sends: AI 01 first, then AIs
// 17/11 (6 digits), 10 and 21 (up to 20 characters, ended by GS or the
// end), each once; 21 is required. It returns why it fails, or "".
func parseGS1(c string) (gtin, serial, why string) {
	gtin = c[2:16]
	if !validGTIN(gtin) {
		return "", "", "GTIN 校验位错误"
	}
	seen := map[string]bool{}
	for p := 16; p < len(c); {
		if p+2 > len(c) {
			return "", "", "残缺的AI"
		}
		ai := c[p : p+2]
		p += 2
		if seen[ai] {
			return "", "", "AI " + ai + " 重复"
		}
		seen[ai] = true
		switch ai {
		case "17", "11":
			if p+6 > len(c) || !allDigits(c[p:p+6]) {
				return "", "", "AI " + ai + " 应为6位日期"
			}
			p += 6
		case "10", "21":
			end := strings.IndexByte(c[p:], 0x1d)
			if end < 0 {
				end = len(c) - p
			}
			v := c[p : p+end]
			if v == "" || len(v) > 20 || !gs1Chars(v) {
				return "", "", "AI " + ai + " 取值无效"
			}
			if ai == "21" {
				serial = v
			}
			p += end
			if p < len(c) {
				p++ // the GS separator
				if p == len(c) {
					return "", "", "末尾多余的分隔符"
				}
			}
		default:
			return "", "", "不支持的AI " + ai
		}
	}
	if serial == "" {
		return "", "", "缺少序列号 AI 21"
	}
	return gtin, serial, ""
}

// gs1Chars reports whether v uses only GS1 character set 82 without the
// comma (which would split trace_codes).
func gs1Chars(v string) bool {
	for i := 0; i < len(v); i++ {
		ch := v[i]
		if ch < '!' || ch > 'z' || ch == ',' || ch == '"' || ch == '#' || ch == '$' || ch == '@' || ch == '[' || ch == '\\' || ch == ']' || ch == '^' || ch == '`' {
			return false
		}
	}
	return true
}

// validGTIN checks a 14-digit GTIN's mod-10 check digit.
func validGTIN(g string) bool {
	return len(g) == 14 && allDigits(g) && gs1Check(g[:13]) == g[13]
}

// gs1Check is the GS1 mod-10 check digit of the digits before it.
func gs1Check(d string) byte {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if (len(d)-1-i)%2 == 0 {
			v *= 3
		}
		sum += v
	}
	return byte('0' + (10-sum%10)%10)
}

// withCheck appends the GS1 check digit (EAN-13 or GTIN-14).
func withCheck(d string) string { return d + string(gs1Check(d)) }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isPrefix(s string) bool { return len(s) == 7 && s[0] == '8' && allDigits(s) }

func isEntID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// mustAtoi parses digits already checked by allDigits.
func mustAtoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func validText(s string, limit int) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > limit {
		return false
	}
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// upstreamFor returns the upstream bills addressed to ent, in order.
func (w *World) upstreamFor(toRef string) []*UpstreamBill {
	w.mu.RLock()
	defer w.mu.RUnlock()
	var out []*UpstreamBill
	for _, b := range w.upstream {
		if b.ToRefEntID == toRef {
			out = append(out, b)
		}
	}
	return out
}

func (w *World) entByRef(ref string) *Enterprise {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.byRef[ref]
}

func (w *World) entByEntID(id string) *Enterprise {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.byEnt[id]
}

func (w *World) entByApp(app string) *Enterprise {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.byApp[app]
}
