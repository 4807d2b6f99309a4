package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// schema is what an interface's input node must look like.
type schema struct {
	node     string
	fields   map[string]kind
	lens     map[string]int // longest value in characters; absent: the format fixes it
	required []string
	list     bool // the node may be an array of rows (3503-3506)
}

// tableOf indexes a field table.
func tableOf(fs []field) (kinds map[string]kind, lens map[string]int, required []string) {
	kinds, lens = make(map[string]kind, len(fs)), make(map[string]int, len(fs))
	for _, f := range fs {
		kinds[f.name] = f.kind
		if f.max > 0 {
			lens[f.name] = f.max
		}
		if f.required {
			required = append(required, f.name)
		}
	}
	return kinds, lens, required
}

// buildSchemas returns the input schema of every interface served, with
// the province's Require and Relax applied. Entries name "infno.field"
// ("request.field" is the FSI request header, handled by buildHeader).
func buildSchemas(require, relax []string) (map[string]schema, error) {
	pk, pl, preq := tableOf(purchaseFields())
	sk, sl, sreq := tableOf(saleFields())
	dk, dl, dreq := tableOf(deleteFields())
	tk, tl, treq := tableOf(stockTakeFields())
	ck, cl, creq := tableOf(stockChangeFields())
	out := map[string]schema{
		infPurchase:       {node: nodePurchase, fields: pk, lens: pl, required: preq, list: true},
		infPurchaseReturn: {node: nodePurchase, fields: pk, lens: pl, required: purchaseReturnRequired(), list: true},
		infSale:           {node: nodeSale, fields: sk, lens: sl, required: sreq, list: true},
		infSaleReturn:     {node: nodeSale, fields: sk, lens: sl, required: saleReturnRequired(), list: true},
		infDelete:         {node: nodeDelete, fields: dk, lens: dl, required: dreq},
		infStockTake:      {node: nodeInventory, fields: tk, lens: tl, required: treq, list: true},
		infStockChange:    {node: nodeInventory, fields: ck, lens: cl, required: creq, list: true},
	}
	for _, e := range require {
		infno, name, _ := strings.Cut(e, ".")
		if infno == "request" {
			continue
		}
		sc, ok := out[infno]
		if !ok || sc.fields[name] == kindNone {
			return nil, fmt.Errorf("sandbox: Require %q: no such field (want infno.field of 3501-3507 or request.field)", e)
		}
		if !slices.Contains(sc.required, name) {
			sc.required = append(slices.Clone(sc.required), name)
			out[infno] = sc
		}
	}
	for _, e := range relax {
		infno, name, _ := strings.Cut(e, ".")
		if infno == "request" {
			continue
		}
		sc, ok := out[infno]
		if !ok || sc.fields[name] == kindNone {
			return nil, fmt.Errorf("sandbox: Relax %q: no such field (want infno.field of 3501-3507 or request.field)", e)
		}
		if name == "fixmedins_bchno" || (infno == infDelete) {
			return nil, fmt.Errorf("sandbox: Relax %q: the sandbox cannot work without it", e)
		}
		sc.required = slices.DeleteFunc(slices.Clone(sc.required), func(f string) bool { return f == name })
		out[infno] = sc
	}
	return out, nil
}

// buildHeader returns the FSI request header's types, lengths and
// required fields, with "request.*" entries of Require and Relax applied
// and recer_sys_code required when the province assigned one.
func buildHeader(require, relax []string, recerSys bool) (map[string]kind, map[string]int, []string, error) {
	kinds, lens, required := tableOf(requestFields())
	required = slices.DeleteFunc(required, func(f string) bool { return f == "input" })
	if recerSys {
		required = append(required, "recer_sys_code")
	}
	for _, e := range require {
		if name, ok := strings.CutPrefix(e, "request."); ok {
			if kinds[name] != kindString {
				return nil, nil, nil, fmt.Errorf("sandbox: Require %q: no such request field", e)
			}
			if !slices.Contains(required, name) {
				required = append(required, name)
			}
		}
	}
	for _, e := range relax {
		if name, ok := strings.CutPrefix(e, "request."); ok {
			switch {
			case kinds[name] != kindString:
				return nil, nil, nil, fmt.Errorf("sandbox: Relax %q: no such request field", e)
			case name != "recer_sys_code" && name != "signtype" && name != "infver" && name != "opter_name":
				// The others identify the message, its sender or its time.
				return nil, nil, nil, fmt.Errorf("sandbox: Relax %q: the sandbox cannot work without it", e)
			}
			required = slices.DeleteFunc(required, func(f string) bool { return f == name })
		}
	}
	return kinds, lens, required, nil
}

// row is one validated input row.
type row struct {
	bchno   string
	content string // digest of the row's canonical JSON: what "the same row" means
	medList string
	// hilistID and hilistName echo the row in a per-row answer.
	hilistID, hilistName string
	count                int64 // in units of 10^-4
	countF               float64
	trdn                 string // trdn_flag (sales)
	refNo                string // medins_prod_sel_no / medins_prod_purc_no as sent
	codes                []string
	delType              string // 3507 inv_data_type
	changeType           string // 3502 inv_chg_type
}

// Decimal places allowed: counts are num(16,4), prices num(16,6).
const (
	countScale  = 4
	priceScale  = 6
	invCntScale = 2 // 3501 inv_cnt is num(16,2)
)

// parseInput checks the input node of a request against its interface.
// It returns every row (a stub with what could be read when the row is
// wrong), each row's refusal or nil, the unknown fields seen (accepted,
// logged), and a refusal of the input as a whole.
func (s *Server) parseInput(req *fsiReq, now time.Time) ([]*row, []*fsiErr, []string, *fsiErr) {
	sc := s.schemas[req.infno]
	var in map[string]json.RawMessage
	if err := json.Unmarshal(req.input, &in); err != nil || in == nil {
		return nil, nil, nil, refuse(reasonInvalidInput, "input应为JSON对象")
	}
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if k != sc.node {
			unknown = append(unknown, "input."+k)
		}
	}
	raw, ok := in[sc.node]
	if !ok || isNull(raw) {
		return nil, nil, unknown, refuse(reasonMissingNode, "input缺少节点%s", sc.node)
	}
	var objs []json.RawMessage
	switch raw = bytes.TrimSpace(raw); {
	case raw[0] == '{' && (!sc.list || s.inputStyle != InputList):
		objs = []json.RawMessage{raw}
	case raw[0] == '{':
		return nil, nil, unknown, refuse(reasonInputStyle, "节点%s应为数组(本省按列表上传)", sc.node)
	case raw[0] == '[' && sc.list && s.inputStyle == InputObject:
		return nil, nil, unknown, refuse(reasonInputStyle, "节点%s应为JSON对象(本省每次上传一条)", sc.node)
	case raw[0] == '[' && sc.list:
		if json.Unmarshal(raw, &objs) != nil || len(objs) == 0 {
			return nil, nil, unknown, refuse(reasonInvalidRow, "节点%s应为非空的对象数组", sc.node)
		}
	default:
		return nil, nil, unknown, refuse(reasonInvalidRow, "节点%s应为JSON对象", sc.node)
	}
	rows := make([]*row, len(objs))
	errs := make([]*fsiErr, len(objs))
	for i, o := range objs {
		where := sc.node
		if len(objs) > 1 {
			where += "[" + strconv.Itoa(i) + "]"
		}
		r, unk, e := s.parseRow(req.infno, sc, where, o, now)
		unknown = append(unknown, unk...)
		if e != nil {
			r, errs[i] = stubRow(o), e
		}
		rows[i] = r
	}
	return rows, errs, unknown, nil
}

// stubRow reads what identifies a row that failed its checks, for its
// per-row verdict; fields of the wrong type stay empty.
func stubRow(raw json.RawMessage) *row {
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	str := func(k string) string { v, _ := m[k].(string); return v }
	return &row{bchno: str("fixmedins_bchno"), medList: str("med_list_codg"), hilistID: str("fixmedins_hilist_id"),
		hilistName: str("fixmedins_hilist_name")}
}

// checkCall applies the rules that span the rows of one call.
func checkCall(infno string, rows []*row) *fsiErr {
	bchnos := make(map[string]bool, len(rows))
	codes := make(map[string]*row)
	for _, r := range rows {
		if bchnos[r.bchno] {
			return refuse(reasonBchnoTwiceInCall, "同一请求中fixmedins_bchno[%s]出现多次", r.bchno)
		}
		bchnos[r.bchno] = true
		for _, c := range r.codes {
			// Only split sales may name one box twice: several partial
			// sales of one opened box.
			if o := codes[c]; o != nil && (infno != infSale || o.trdn != "1" || r.trdn != "1") {
				return refuse(reasonDuplicateCode, "追溯码[%s]在同一请求中出现多次", c)
			}
			codes[c] = r
		}
	}
	return nil
}

// parseRow checks one row: JSON types, required fields, lengths, formats,
// then the rules between fields.
func (s *Server) parseRow(infno string, sc schema, where string, raw json.RawMessage, now time.Time) (*row, []string, *fsiErr) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, nil, refuse(reasonInvalidRow, "%s应为JSON对象", where)
	}
	strs := make(map[string]string, len(m))
	nums := make(map[string]string)
	var trac []json.RawMessage
	hasTrac := false
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		knd := sc.fields[k]
		if knd == kindNone {
			unknown = append(unknown, sc.node+"."+k)
			continue
		}
		if isNull(v) {
			continue // serializers write absent values as null
		}
		switch knd {
		case kindString:
			var str string
			if json.Unmarshal(v, &str) != nil {
				return nil, unknown, refuse(reasonWrongType, "%s.%s应为字符串", where, k)
			}
			strs[k] = str
		case kindNumber:
			t := string(bytes.TrimSpace(v))
			if t == "" || (t[0] != '-' && (t[0] < '0' || t[0] > '9')) {
				return nil, unknown, refuse(reasonWrongType, "%s.%s应为数值", where, k)
			}
			nums[k] = t
		case kindTrac:
			if json.Unmarshal(v, &trac) != nil {
				return nil, unknown, refuse(reasonWrongType, "%s.%s应为对象数组", where, k)
			}
			hasTrac = true
		}
	}
	for _, k := range sc.required {
		var present bool
		switch sc.fields[k] {
		case kindString:
			present = strs[k] != ""
		case kindNumber:
			_, present = nums[k]
		case kindTrac:
			present = len(trac) > 0
		}
		if !present {
			return nil, unknown, refuse(reasonMissingField, "%s必填字段缺失: %s", where, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(strs)) {
		if n := sc.lens[k]; n > 0 && utf8.RuneCountInString(strs[k]) > n {
			return nil, unknown, refuse(reasonTooLong, "%s.%s超长(最多%d个字符)", where, k, n)
		}
	}

	r := &row{bchno: strs["fixmedins_bchno"], content: digest(canonical(raw)), medList: strs["med_list_codg"],
		hilistID: strs["fixmedins_hilist_id"], hilistName: strs["fixmedins_hilist_name"],
		trdn: strs["trdn_flag"], delType: strs["inv_data_type"]}
	switch infno {
	case infPurchase, infPurchaseReturn:
		r.refNo = strs["medins_prod_purc_no"]
	case infSale, infSaleReturn:
		r.refNo = strs["medins_prod_sel_no"]
	}

	// Dates and times.
	var manu, expy time.Time
	if v, ok := strs["invdate"]; ok && v != "" {
		if _, err := time.Parse(dateLayout, v); err != nil {
			return nil, unknown, refuse(reasonInvalidDate, "%s.invdate[%s]格式错误: 应为yyyy-MM-dd", where, v)
		}
	}
	for _, k := range []string{"manu_date", "expy_end"} {
		v, ok := strs[k]
		if !ok || v == "" {
			continue
		}
		t, err := time.Parse(dateLayout, v)
		if err != nil {
			return nil, unknown, refuse(reasonInvalidDate, "%s.%s[%s]格式错误: 应为yyyy-MM-dd", where, k, v)
		}
		if k == "manu_date" {
			manu = t
		} else {
			expy = t
		}
	}
	if !manu.IsZero() && !expy.IsZero() && expy.Before(manu) {
		return nil, unknown, refuse(reasonExpiry, "%s有效期止[%s]早于生产日期[%s]", where, strs["expy_end"], strs["manu_date"])
	}
	for _, k := range []string{"sel_retn_time", "purc_retn_stoin_time", "inv_chg_time"} {
		v, ok := strs[k]
		if !ok || v == "" {
			continue
		}
		t, err := time.ParseInLocation(timeLayout, v, s.cst)
		if err != nil {
			return nil, unknown, refuse(reasonInvalidTime, "%s.%s[%s]格式错误: 应为yyyy-MM-dd HH:mm:ss", where, k, v)
		}
		if t.After(now.Add(s.window)) {
			return nil, unknown, refuse(reasonFutureTime, "%s.%s[%s]晚于当前时间", where, k, v)
		}
	}

	// Numbers.
	for _, k := range []string{"purc_retn_cnt", "sel_retn_cnt", "inv_cnt", "cnt"} {
		v, ok := nums[k]
		if !ok {
			continue
		}
		scale := countScale
		if k == "inv_cnt" {
			scale = invCntScale
		}
		n, ok := parseDecimal(v, scale)
		if !ok {
			return nil, unknown, refuse(reasonInvalidNumber, "%s.%s[%s]应为最多%d位小数的数值", where, k, v, countScale)
		}
		if n <= 0 {
			return nil, unknown, refuse(reasonInvalidCount, "%s.%s[%s]应大于0", where, k, v)
		}
		if k == "inv_cnt" {
			n *= 100 // to units of 10^-4 like the other counts
		}
		r.count = n
		r.countF, _ = strconv.ParseFloat(v, 64)
	}
	for _, k := range []string{"finl_trns_pric", "pric"} {
		if v, ok := nums[k]; ok {
			if n, ok := parseDecimal(v, priceScale); !ok || n < 0 {
				return nil, unknown, refuse(reasonInvalidNumber, "%s.%s[%s]应为不小于0、最多%d位小数的数值", where, k, v, priceScale)
			}
		}
	}
	if v, ok := strs["inv_chg_type"]; ok {
		if len(s.changeTypes) > 0 && !slices.Contains(s.changeTypes, v) {
			return nil, unknown, refuse(reasonInvalidFlag, "%s.inv_chg_type[%s]不在本省库存变更类型代码中", where, v)
		}
		r.changeType = v
	}

	// Code lists.
	for _, k := range []string{"trdn_flag", "prod_geay_flag", "rx_circ_flag"} {
		if v, ok := strs[k]; ok && v != "0" && v != "1" {
			return nil, unknown, refuse(reasonInvalidFlag, "%s.%s[%s]应为0或1", where, k, v)
		}
	}
	if v, ok := strs["inv_data_type"]; ok {
		switch v {
		case delInventory, delStock, delPurchase, delSale:
		default:
			return nil, unknown, refuse(reasonInvalidFlag, "%s.inv_data_type[%s]应为1、2、3或4", where, v)
		}
	}

	// Trace codes.
	if hasTrac {
		seen := make(map[string]bool, len(trac))
		for i, t := range trac {
			var node map[string]json.RawMessage
			if json.Unmarshal(t, &node) != nil || node == nil {
				return nil, unknown, refuse(reasonWrongType, "%s.drugtracinfo[%d]应为对象", where, i)
			}
			for _, k := range slices.Sorted(maps.Keys(node)) {
				if k != "drug_trac_codg" {
					unknown = append(unknown, "drugtracinfo."+k)
				}
			}
			var code string
			if json.Unmarshal(node["drug_trac_codg"], &code) != nil {
				return nil, unknown, refuse(reasonInvalidCode, "%s.drugtracinfo[%d].drug_trac_codg缺失或不是字符串", where, i)
			}
			if why := badCode(code); why != "" {
				return nil, unknown, refuse(reasonInvalidCode, "%s.drugtracinfo[%d].drug_trac_codg[%s]%s", where, i, clip(code, 40), why)
			}
			if seen[code] {
				return nil, unknown, refuse(reasonDuplicateCode, "%s追溯码[%s]重复", where, code)
			}
			seen[code] = true
			r.codes = append(r.codes, code)
		}
	}

	// Whole packs: one code per pack sold or returned.
	if (infno == infSale || infno == infSaleReturn) && r.trdn == "0" {
		if r.count%10000 != 0 {
			return nil, unknown, refuse(reasonInvalidCount, "%s非拆零(trdn_flag=0)的sel_retn_cnt[%s]应为整数", where, nums["sel_retn_cnt"])
		}
		if len(r.codes) > 0 && r.count/10000 != int64(len(r.codes)) {
			return nil, unknown, refuse(reasonCodeCount, "%s非拆零销售数量[%s]与追溯码个数[%d]不一致", where, nums["sel_retn_cnt"], len(r.codes))
		}
	}
	// A whole-pack stock change moves one pack per code. (3501's inv_cnt
	// may count the smallest pricing unit, openhis Input_3501.cs, so it
	// is not held to the codes.)
	if infno == infStockChange && r.trdn == "0" && len(r.codes) > 0 && r.count != int64(len(r.codes))*10000 {
		return nil, unknown, refuse(reasonCodeCount, "%s非拆零库存变更数量[%s]与追溯码个数[%d]不一致", where, nums["cnt"], len(r.codes))
	}
	return r, unknown, nil
}

// badCode tells what is wrong with a trace code, or "". Codes are not
// held to one format (20-digit 码上放心, enterprise and GS1 codes all
// occur), only to what a scanner could not have produced.
func badCode(c string) string {
	switch {
	case c == "":
		return "为空"
	case utf8.RuneCountInString(c) > tracCodeMaxLen:
		return "超长(最多" + strconv.Itoa(tracCodeMaxLen) + "个字符)"
	case strings.TrimSpace(c) != c:
		return "首尾有空白"
	}
	for _, r := range c {
		// GS (0x1D) separates GS1 fields and is the only control allowed.
		if r != 0x1D && (unicode.IsControl(r) || r == utf8.RuneError) {
			return "含控制字符"
		}
	}
	return ""
}

// parseDecimal parses a plain decimal (optional '-', digits, optional
// fraction of at most scale digits; no exponent) into units of
// 10^-scale. Up to 12 integer digits, as num(16,4) allows.
func parseDecimal(s string, scale int) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	ip, fp, hasFrac := strings.Cut(s, ".")
	if ip == "" || len(ip) > 12 || !isDigits(ip, len(ip)) || (len(ip) > 1 && ip[0] == '0') {
		return 0, false
	}
	if hasFrac && (fp == "" || len(fp) > scale || !isDigits(fp, len(fp))) {
		return 0, false
	}
	v, err := strconv.ParseInt(ip+fp+strings.Repeat("0", scale-len(fp)), 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}
