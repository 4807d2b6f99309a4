package sandbox

import (
	"bytes"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// kind is the JSON type of a contract field.
type kind int

const (
	kindNone   kind = iota // not a field of the contract
	kindString             // JSON string
	kindNumber             // JSON number
	kindTrac               // drugtracinfo: array of {drug_trac_codg}
	kindRaw                // input: any JSON, checked on its own
)

// schema is what an interface's input node must look like.
type schema struct {
	node     string
	fields   map[string]kind
	required []string
	list     bool // the node may also be an array of rows
}

// fieldsOf reads the JSON names and types of a contract struct, so that
// the sandbox follows package fsi rather than a copy of it.
func fieldsOf(t reflect.Type) map[string]kind {
	out := make(map[string]kind, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft == reflect.TypeFor[json.RawMessage]():
			out[name] = kindRaw
		case ft.Kind() == reflect.String:
			out[name] = kindString
		case ft.Kind() == reflect.Float64 || ft.Kind() == reflect.Int:
			out[name] = kindNumber
		case ft.Kind() == reflect.Slice && ft.Elem() == reflect.TypeFor[fsi.TracInfo]():
			out[name] = kindTrac
		}
	}
	return out
}

// buildSchemas returns the input schema of every interface served.
func buildSchemas() map[string]schema {
	purchase := fieldsOf(reflect.TypeFor[fsi.Purchase]())
	sale := fieldsOf(reflect.TypeFor[fsi.Sale]())
	del := fieldsOf(reflect.TypeFor[fsi.Delete]())
	return map[string]schema{
		fsi.InfPurchase:       {node: fsi.NodePurchase, fields: purchase, required: fsi.RequiredPurchase(), list: true},
		fsi.InfPurchaseReturn: {node: fsi.NodePurchase, fields: purchase, required: fsi.RequiredPurchaseReturn(), list: true},
		fsi.InfSale:           {node: fsi.NodeSale, fields: sale, required: fsi.RequiredSale(), list: true},
		fsi.InfSaleReturn:     {node: fsi.NodeSale, fields: sale, required: fsi.RequiredSaleReturn(), list: true},
		// fsi has no Required list for 3507; both fields of its data node
		// are needed to find the row.
		fsi.InfDelete: {node: fsi.NodeDelete, fields: del, required: []string{"fixmedins_bchno", "inv_data_type"}},
	}
}

// maxLen is the longest value of a field in characters (0: no limit
// beyond the body's), from the interface tables of nhsa.md §2-3.
func maxLen(name string) int {
	switch name {
	case "rx_flag", "trdn_flag", "prod_geay_flag", "rx_circ_flag", "opter_type", "inv_data_type":
		return 3
	case "infno":
		return 5
	case "prsc_dr_cert_type", "phar_cert_type", "hi_feesetl_type", "psn_cert_type", "mdtrt_setl_type",
		"mdtrtarea_admvs", "insuplc_admdvs", "infver":
		return 6
	case "recer_sys_code", "signtype":
		return 10
	case "fixmedins_code":
		return 12
	case "shelf_posi":
		return 20
	case "fixmedins_hilist_id", "fixmedins_bchno", "manu_lotnum", "setl_id", "mdtrt_sn", "psn_no", "bchno",
		"drug_prod_barc", "opter", "sign_no", "msgid":
		return 30
	case "rxno", "rtal_docno", "stoout_no":
		return 40
	case "med_list_codg", "dynt_no", "spler_pmtno", "purc_invo_codg", "purc_invo_no", "purc_retn_opter_name",
		"prsc_dr_certno", "prsc_dr_name", "phar_certno", "phar_name", "phar_prac_cert_no", "certno", "psn_name",
		"sel_retn_opter_name", "medins_prod_sel_no", "medins_prod_purc_no", "opter_name":
		return 50
	case "aprvno", "dev_no", "drug_trac_codg":
		return 100
	case "fixmedins_hilist_name", "spler_name", "prodentp_name", "fixmedins_name":
		return 200
	case "memo":
		return 500
	case "cainfo":
		return 1024
	case "dev_safe_info":
		return 2000
	}
	return 0
}

// row is one validated input row.
type row struct {
	bchno   string
	content string // digest of the row's canonical JSON: what "the same row" means
	medList string
	count   int64 // in units of 10^-4
	countF  float64
	trdn    string // trdn_flag (sales)
	refNo   string // medins_prod_sel_no / medins_prod_purc_no as sent
	codes   []string
	delType string // 3507 inv_data_type
}

// Decimal places allowed: counts are num(16,4), prices num(16,6).
const (
	countScale = 4
	priceScale = 6
)

// parseInput checks the input node of a request against its interface.
// It returns the rows and the unknown fields seen (accepted, logged).
func (s *Server) parseInput(req *fsiReq, now time.Time) ([]*row, []string, *fsiErr) {
	sc := s.schemas[req.infno]
	var in map[string]json.RawMessage
	if err := json.Unmarshal(req.input, &in); err != nil || in == nil {
		return nil, nil, refuse(reasonInvalidInput, "input应为JSON对象")
	}
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(in)) {
		if k != sc.node {
			unknown = append(unknown, "input."+k)
		}
	}
	raw, ok := in[sc.node]
	if !ok || isNull(raw) {
		return nil, unknown, refuse(reasonMissingNode, "input缺少节点%s", sc.node)
	}
	var objs []json.RawMessage
	switch raw = bytes.TrimSpace(raw); {
	case raw[0] == '{':
		objs = []json.RawMessage{raw}
	case raw[0] == '[' && sc.list:
		if json.Unmarshal(raw, &objs) != nil || len(objs) == 0 {
			return nil, unknown, refuse(reasonInvalidRow, "节点%s应为非空的对象数组", sc.node)
		}
	default:
		return nil, unknown, refuse(reasonInvalidRow, "节点%s应为JSON对象", sc.node)
	}
	rows := make([]*row, 0, len(objs))
	for i, o := range objs {
		where := sc.node
		if len(objs) > 1 {
			where += "[" + strconv.Itoa(i) + "]"
		}
		r, unk, e := s.parseRow(req.infno, sc, where, o, now)
		unknown = append(unknown, unk...)
		if e != nil {
			return nil, unknown, e
		}
		rows = append(rows, r)
	}
	return rows, unknown, checkCall(req.infno, rows)
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
			if o := codes[c]; o != nil && (infno != fsi.InfSale || o.trdn != "1" || r.trdn != "1") {
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
		if n := maxLen(k); n > 0 && utf8.RuneCountInString(strs[k]) > n {
			return nil, unknown, refuse(reasonTooLong, "%s.%s超长(最多%d个字符)", where, k, n)
		}
	}

	r := &row{bchno: strs["fixmedins_bchno"], content: digest(canonical(raw)), medList: strs["med_list_codg"],
		trdn: strs["trdn_flag"], delType: strs["inv_data_type"]}
	switch infno {
	case fsi.InfPurchase, fsi.InfPurchaseReturn:
		r.refNo = strs["medins_prod_purc_no"]
	case fsi.InfSale, fsi.InfSaleReturn:
		r.refNo = strs["medins_prod_sel_no"]
	}

	// Dates and times.
	var manu, expy time.Time
	for _, k := range []string{"manu_date", "expy_end"} {
		v, ok := strs[k]
		if !ok || v == "" {
			continue
		}
		t, err := time.Parse(fsi.DateLayout, v)
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
	for _, k := range []string{"sel_retn_time", "purc_retn_stoin_time"} {
		v, ok := strs[k]
		if !ok || v == "" {
			continue
		}
		t, err := time.ParseInLocation(fsi.TimeLayout, v, s.cst)
		if err != nil {
			return nil, unknown, refuse(reasonInvalidTime, "%s.%s[%s]格式错误: 应为yyyy-MM-dd HH:mm:ss", where, k, v)
		}
		if t.After(now.Add(s.window)) {
			return nil, unknown, refuse(reasonFutureTime, "%s.%s[%s]晚于当前时间", where, k, v)
		}
	}

	// Numbers.
	for _, k := range []string{"purc_retn_cnt", "sel_retn_cnt"} {
		v, ok := nums[k]
		if !ok {
			continue
		}
		n, ok := parseDecimal(v, countScale)
		if !ok {
			return nil, unknown, refuse(reasonInvalidNumber, "%s.%s[%s]应为最多%d位小数的数值", where, k, v, countScale)
		}
		if n <= 0 {
			return nil, unknown, refuse(reasonInvalidCount, "%s.%s[%s]应大于0", where, k, v)
		}
		r.count = n
		r.countF, _ = strconv.ParseFloat(v, 64)
	}
	if v, ok := nums["finl_trns_pric"]; ok {
		if n, ok := parseDecimal(v, priceScale); !ok || n < 0 {
			return nil, unknown, refuse(reasonInvalidNumber, "%s.finl_trns_pric[%s]应为不小于0、最多%d位小数的数值", where, v, priceScale)
		}
	}

	// Code lists.
	for _, k := range []string{"trdn_flag", "prod_geay_flag", "rx_circ_flag"} {
		if v, ok := strs[k]; ok && v != "0" && v != "1" {
			return nil, unknown, refuse(reasonInvalidFlag, "%s.%s[%s]应为0或1", where, k, v)
		}
	}
	if v, ok := strs["inv_data_type"]; ok {
		switch v {
		case fsi.DeleteInventory, fsi.DeleteStock, fsi.DeletePurchase, fsi.DeleteSale:
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
	if (infno == fsi.InfSale || infno == fsi.InfSaleReturn) && r.trdn == "0" {
		if r.count%10000 != 0 {
			return nil, unknown, refuse(reasonInvalidCount, "%s非拆零(trdn_flag=0)的sel_retn_cnt[%s]应为整数", where, nums["sel_retn_cnt"])
		}
		if len(r.codes) > 0 && r.count/10000 != int64(len(r.codes)) {
			return nil, unknown, refuse(reasonCodeCount, "%s非拆零销售数量[%s]与追溯码个数[%d]不一致", where, nums["sel_retn_cnt"], len(r.codes))
		}
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
	case utf8.RuneCountInString(c) > fsi.TracCodeMaxLen:
		return "超长(最多" + strconv.Itoa(fsi.TracCodeMaxLen) + "个字符)"
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
