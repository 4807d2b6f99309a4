package sandbox

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The query methods. Their answers are built from the sandbox's own
// answer types (answers.go); which values fill the fields the SDK declares
// without documenting them is said beside each, marked inferred.

// billTypeName is the Chinese name of a bill type ([REF] §4.2, §4.3).
func billTypeName(t int) string {
	names := map[int]string{102: "采购入库", 103: "退货入库", 104: "调拨入库", 107: "供应入库", 108: "召回入库",
		110: "赠品入库", 111: "盘盈入库", 112: "报废入库", 113: "其他入库", 116: "消费者退货入库",
		201: "销售出库", 202: "退货出库", 203: "调拨出库", 204: "返工出库", 205: "销毁出库", 206: "抽检出库",
		207: "直调出库", 209: "供应出库", 211: "召回出库", 212: "赠品出库", 214: "盘亏出库", 215: "损坏出库",
		216: "报废出库", 217: "其他出库", 237: "直调退货", 321: "零售出库", 322: "疫苗接种"}
	return names[t]
}

func physicTypeName(t int) string {
	if t == physicSpecial {
		return "特药"
	}
	return "普药"
}

// dayTime renders a yyyy-MM-dd date as the platform's date-time text
// (inferred: TOP Date fields are "yyyy-MM-dd HH:mm:ss").
func dayTime(day string) string {
	if day == "" {
		return ""
	}
	return day + " 00:00:00"
}

// compactDay is yyyyMMdd, the form of the original_* dates (inferred).
func compactDay(day string) string { return strings.ReplaceAll(day, "-", "") }

// shelfMonths is the shelf life in months between two yyyy-MM-dd dates
// (drug_ent_base_d_t_o.exprie); "" when they do not parse.
func shelfMonths(produce, expire string) string {
	p, err1 := time.Parse(dayLayout, produce)
	e, err2 := time.Parse(dayLayout, expire)
	if err1 != nil || err2 != nil {
		return ""
	}
	e = e.AddDate(0, 0, 1)
	return strconv.Itoa((e.Year()-p.Year())*12 + int(e.Month()) - int(p.Month()))
}

// queryUpBillCode is lsyd.query.upbillcode: the upstream bills addressed
// to the caller that carry the code (or the case holding it). Its result
// says "success" (domain/…QueryUpbillcodeResult.go).
func (s *Server) queryUpBillCode(c *call) reply {
	own, r := s.queryStart(c)
	if r != nil {
		return withSuccessKey(*r)
	}
	code := c.params[pCode]
	ci := s.world.code(code, false)
	var rows []upstreamBillDTO
	if ci.errKey == "" {
		for _, b := range s.world.upstreamFor(own.RefEntID) {
			if !s.billHolds(b, ci) {
				continue
			}
			from, to := s.world.entByRef(b.FromRefEntID), s.world.entByRef(b.ToRefEntID)
			rows = append(rows, upstreamBillDTO{FromUserName: from.Name, BillTime: fmtTime(b.BillTime),
				RefUserID: from.RefEntID, FromUserID: from.EntID, BillType: strconv.Itoa(b.BillType), ToUserName: to.Name,
				BillCode: b.BillCode, ToUserID: to.EntID, ToRefUserID: to.RefEntID, FromRefUserID: from.RefEntID})
		}
	}
	if len(rows) == 0 {
		return withSuccessKey(notFound("信息不存在：未找到含追溯码 " + code + " 的上游出库单据"))
	}
	return withSuccessKey(queryOK("model_list", rows))
}

// listUpOut is lsyd.listupout: one row per drug line of the upstream
// outbound bills addressed to the caller within the date range.
func (s *Server) listUpOut(c *call) reply {
	p := c.params
	from, to, e := dateRange(p)
	if e == nil {
		e = intParam(p, pBillType, pPhysicType, pStatus)
	}
	page, size, pe := paging(p)
	if e == nil {
		e = pe
	}
	if e != nil {
		return reply{err: e}
	}
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	s.mu.Lock()
	st := s.ents[own.RefEntID]
	var rows []upOutRow
	for _, b := range s.world.upstreamFor(own.RefEntID) {
		if b.BillTime.Before(from) || b.BillTime.After(to) {
			continue
		}
		shipper := s.world.entByRef(b.FromRefEntID)
		status := 1
		if s.confirmedLocked(st, b) {
			status = 2
		}
		if !matches(p, pFromUserID, shipper.EntID) || !matches(p, pBillCode, b.BillCode) ||
			!matches(p, pBillType, strconv.Itoa(b.BillType)) || !matches(p, pStatus, strconv.Itoa(status)) {
			continue
		}
		for _, l := range s.linesOf(b) {
			pr := l.product
			if !matches(p, pPhysicType, strconv.Itoa(pr.physicType())) || !matches(p, "produce_batch_no", pr.Batch) ||
				!matches(p, "drug_ent_base_info_id", pr.drugID()) {
				continue
			}
			bt := b.BillTime.In(chinaTime)
			rows = append(rows, upOutRow{FromEntName: shipper.Name, CodeCount: int64(l.units),
				ExprieDate: dayTime(pr.ExpireDate), ProduceEntName: pr.Maker, ProduceDate: dayTime(pr.ProduceDate),
				ProduceBatchNo: pr.Batch, PkgSpec: pr.PkgSpec, PhysicInfo: pr.Name + " " + pr.PkgSpec, PhysicName: pr.Name,
				PrepnCount: int64(l.units * pr.prepnUnit()), FromRefUserID: shipper.RefEntID, ToRefUserID: own.RefEntID,
				BillTime: fmtTime(b.BillTime), BillCode: b.BillCode, BillType: strconv.Itoa(b.BillType), ToUserName: own.Name,
				FromUserName: shipper.Name, ExprieDateFormat: pr.ExpireDate, BillTimeFormat: bt.Format(dayLayout),
				BillOutID: b.BillOutID, PrepnUnit: int64(pr.prepnUnit()), PrepnSpec: pr.PrepnSpec,
				DrugEntBaseInfoID: pr.drugID(), ProduceDateFormat: pr.ProduceDate, Status: strconv.Itoa(status),
				ToUserID: own.EntID, FromUserID: shipper.EntID})
		}
	}
	s.mu.Unlock()
	return queryOK("model", upOutPage{ResultList: pageRows(rows, page, size), TotalNum: int64(len(rows))})
}

// listUpOutDetail is lsyd.listupout.detail: one upstream bill with its
// drug lines and their codes as shipped (a case as one code of level 2
// with its box count in pkg_amount). Its result says "success"
// (domain/…ListupoutDetailResultModel.go).
func (s *Server) listUpOutDetail(c *call) reply {
	own, r := s.queryStart(c)
	if r != nil {
		return withSuccessKey(*r)
	}
	p := c.params
	if v := p[pToRefUserID]; v != own.RefEntID {
		return withSuccessKey(queryFail(reasonAuth, msgAuthError, "to_ref_user_id "+v+" 不是本企业，无权查看"))
	}
	for _, b := range s.world.upstreamFor(own.RefEntID) {
		if b.BillCode != p[pBillCode] || b.FromRefEntID != p[pFromRefUserID] {
			continue
		}
		shipper := s.world.entByRef(b.FromRefEntID)
		// ent_send_id / ent_recv_id carry the 32-hex ent_id (inferred: the
		// SDK gives no description; ref ids are in the request already).
		d := upOutDetail{BillCode: b.BillCode, BillTypeName: billTypeName(b.BillType), BillType: strconv.Itoa(b.BillType),
			EntSendName: shipper.Name, EntSendID: shipper.EntID, EntRecvName: own.Name, EntRecvID: own.EntID,
			StoreOutDate: fmtTime(b.BillTime), UpdateDate: fmtTime(b.BillTime), DrugInfosDtoList: []drugInfos{}}
		for i, l := range s.linesOf(b) {
			pr := l.product
			line := drugInfos{ProduceDate: pr.ProduceDate, ProductEntName: pr.Maker, PackageSpec: pr.PkgSpec,
				ProdName: pr.Name, PhysicName: pr.Name, PrepnSpec: pr.PrepnSpec, PrepnUnit: strconv.Itoa(pr.prepnUnit()),
				ProduceBatchNo: pr.Batch, ProdSeqNo: strconv.Itoa(i + 1), DrugEntBaseInfoID: pr.drugID(),
				ValidEndDate: pr.ExpireDate, LeastPkgAmount: strconv.Itoa(l.units),
				LeastPrepnAmount: strconv.Itoa(l.units * pr.prepnUnit()), ApprovalNo: pr.ApprovalNo,
				PhysicType: strconv.Itoa(pr.physicType()), PhysicTypeName: physicTypeName(pr.physicType()),
				PreparationsUnit: prepUnitWord(pr), PrepnTypeDesc: pr.PrepnType, PkgUnitDesc: pkgUnitWord(pr),
				CfdaDrugID: pr.ApprovalNo, CodeInfoListDtoList: []codeInfoItem{}}
			for _, code := range l.codes {
				ci := s.world.code(code, false)
				level, amount := "1", 1
				if ci.isCase {
					level, amount = "2", pr.CaseSize
				}
				line.CodeInfoListDtoList = append(line.CodeInfoListDtoList, codeInfoItem{PrepnSpec: pr.PrepnSpec,
					PrepnAmount: strconv.Itoa(amount * pr.prepnUnit()), PkgAmount: strconv.Itoa(amount), CodeLevel: level, Code: code})
			}
			d.DrugInfosDtoList = append(d.DrugInfosDtoList, line)
		}
		return withSuccessKey(queryOK("model", d))
	}
	return withSuccessKey(notFound("信息不存在：无上游出库单据 " + p[pBillCode]))
}

// prepUnitWord is the unit of one preparation, read from the end of the
// package specification's count ("0.25g*24粒/盒" → "粒"); "" if none.
func prepUnitWord(pr *Product) string {
	spec := pr.PkgSpec
	if i := strings.IndexByte(spec, '/'); i >= 0 {
		spec = spec[:i]
	}
	spec = strings.TrimRight(spec, " ")
	r := []rune(spec)
	if len(r) == 0 {
		return ""
	}
	last := r[len(r)-1]
	if last < 0x80 {
		return ""
	}
	return string(last)
}

// pkgUnitWord is the pack unit after the '/' of the package specification
// ("100片/瓶" → "瓶"), "盒" when there is none.
func pkgUnitWord(pr *Product) string {
	if i := strings.LastIndexByte(pr.PkgSpec, '/'); i >= 0 && i+1 < len(pr.PkgSpec) {
		return pr.PkgSpec[i+1:]
	}
	return "盒"
}

// queryBillStatus is lsyd.query.billstatus over the caller's own uploads,
// by upload date. Every bill matching the filters other than deal_status
// counts one poll, which is what moves it towards its final result.
func (s *Server) queryBillStatus(c *call) reply {
	p := c.params
	from, to, e := dateRange(p)
	side := p[pBillType]
	if e == nil && side != statusAll && side != statusIn && side != statusOut {
		e = invalidParam(reasonInvalidParam, pBillType, fmt.Sprintf("bill_type %q must be A, AI or AO", side))
	}
	if v, ok := p[pDealStatus]; e == nil && ok && !slices.Contains([]string{"0", "1", "3", "4"}, v) {
		e = invalidParam(reasonInvalidParam, pDealStatus, fmt.Sprintf("deal_status %q must be 0, 1, 3 or 4", v))
	}
	page, size, pe := paging(p)
	if e == nil {
		e = pe
	}
	if e != nil {
		return reply{err: e}
	}
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	now := s.now()
	s.mu.Lock()
	var rows []billStatusRow
	if st := s.ents[own.RefEntID]; st != nil {
		candidates := st.order
		if code, ok := p[pBillCode]; ok {
			// The usual question is about one bill: no need to walk them all.
			candidates = nil
			if b := st.bills[code]; b != nil {
				candidates = []*bill{b}
			}
		}
		for _, b := range candidates {
			if b.UploadedAt.Before(from) || b.UploadedAt.After(to) ||
				(side != statusAll && statusSide(b.BillType) != side) ||
				!matches(p, pBillCode, b.BillCode) || !matches(p, pFromUserID, b.From) || !matches(p, pToUserID, b.To) {
				continue
			}
			b.poll(s.processAfter, now)
			if v, ok := p[pDealStatus]; ok && !dealMatches(v, b.Result) {
				continue
			}
			rows = append(rows, s.statusRowLocked(own, b))
		}
	}
	s.mu.Unlock()
	return queryOK("model", billStatusPage{TotalNum: int64(len(rows)), ResultList: pageRows(rows, page, size)})
}

// statusRowLocked is one query.billstatus row. The flags are inferred
// (no public enumeration): upload_flag 1 once uploaded, process_flag 1
// once final, role_type 1 for the uploader.
func (s *Server) statusRowLocked(own *Enterprise, b *bill) billStatusRow {
	name := func(entID string) string {
		if e := s.world.entByEntID(entID); e != nil {
			return e.Name
		}
		return ""
	}
	refOf := func(entID string) string {
		if e := s.world.entByEntID(entID); e != nil {
			return e.RefEntID
		}
		return ""
	}
	physic := physicOrdinary
	for _, code := range b.okCodes {
		if ci := s.world.code(code, false); ci.product != nil && ci.product.Special {
			physic = physicSpecial
		}
	}
	row := billStatusRow{StoreInoutSeqNo: b.QueueID, PhysicType: strconv.Itoa(physic), UploadFileName: uploadFileName(b),
		FromUserName: name(b.From), RoleType: "1", CrtDate: fmtTime(b.UploadedAt), IcCode: own.RefEntID,
		ShortFileName: b.QueueID + ".txt", RefUserName: own.Name, BillTime: b.BillTime, ResultType: strconv.Itoa(b.Result),
		UploadFlag: "1", ProcessFlag: "0", BillCode: b.BillCode, BillType: strconv.Itoa(b.BillType),
		ToUserName: name(b.To), FromUserID: b.From, FromRefUserID: refOf(b.From), ToUserID: b.To, RefUserID: own.RefEntID,
		ToRefUserID: refOf(b.To), UserID: own.EntID}
	if b.final {
		// sub_process_flag: "51全部成功 52部分成功" (the SDK's comment on
		// BillDealStatusSearchDo.SubProcessFlag); empty until processed
		// (inferred: no value is declared for that).
		row.ProcessFlag, row.ProcessInfo, row.ProcessDate = "1", b.ProcessInfo, fmtTime(b.ProcessedAt)
		row.SubProcessFlag = subProcessAllOK
		if len(b.failures) > 0 {
			row.SubProcessFlag = subProcessPartial
		}
	}
	return row
}

// queryUpBillDetail is lsyd.query.upbilldetail: one of the caller's own
// uploads by exact bill_code, its accepted codes grouped by product.
func (s *Server) queryUpBillDetail(c *call) reply {
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	code := c.params[pBillCode]
	s.mu.Lock()
	var d *billInOutDetail
	if st := s.ents[own.RefEntID]; st != nil {
		if b := st.bills[code]; b != nil {
			d = s.billDetailLocked(b)
		}
	}
	s.mu.Unlock()
	if d == nil {
		return notFound("信息不存在：本企业无单据 " + code)
	}
	return queryOK("model", d)
}

func (s *Server) billDetailLocked(b *bill) *billInOutDetail {
	name := func(entID string) string {
		if e := s.world.entByEntID(entID); e != nil {
			return e.Name
		}
		return ""
	}
	d := &billInOutDetail{ModDate: fmtTime(b.UploadedAt), BillTime: b.BillTime, ToUserID: b.To, ToEntName: name(b.To),
		FromUserID: b.From, FromEntName: name(b.From), BillTypeName: billTypeName(b.BillType),
		BillType: strconv.Itoa(b.BillType), BillCode: b.BillCode, BillChkInOutDetailListDTList: []billChkDetail{}}
	if b.final {
		d.ProcessDate = fmtTime(b.ProcessedAt)
	}
	byProduct := map[*Product]int{}
	for _, code := range b.okCodes {
		ci := s.world.code(code, false)
		pr := ci.product
		i, ok := byProduct[pr]
		if !ok {
			i = len(d.BillChkInOutDetailListDTList)
			byProduct[pr] = i
			d.BillChkInOutDetailListDTList = append(d.BillChkInOutDetailListDTList, billChkDetail{
				ExpiredDate: pr.ExpireDate, ProduceEntName: pr.Maker, ProdCode: pr.Prefix + pr.GTIN, ProductCode: pr.Barcode69,
				ProduceDate: pr.ProduceDate, ProductBatchNo: pr.Batch, DrugEntBaseInfoID: pr.drugID(), PhysicName: pr.Name,
				PreparationsUnit: prepUnitWord(pr), TempPkgSpec: pr.PkgSpec, MinPreparationsCount: "0", MinPkgCount: "0",
				PhysicTypeName: physicTypeName(pr.physicType()), PhysicType: strconv.Itoa(pr.physicType()),
				CodeAndParentList: []codeAndParent{}, ApproveNo: pr.ApprovalNo})
		}
		line := &d.BillChkInOutDetailListDTList[i]
		units := 1
		level := "1"
		if ci.isCase {
			units, level = pr.CaseSize, "2"
		}
		line.MinPkgCount = addInt(line.MinPkgCount, units)
		line.MinPreparationsCount = addInt(line.MinPreparationsCount, units*pr.prepnUnit())
		line.CodeAndParentList = append(line.CodeAndParentList, codeAndParent{Code: code, CodeLevel: level, ParentCode: ci.parent})
	}
	return d
}

func addInt(a string, n int) string {
	v, _ := strconv.Atoi(a) // always written by addInt or "0"
	return strconv.Itoa(v + n)
}

// queryCodeDetail is lsyd.query.codedetail for up to 1000 codes.
func (s *Server) queryCodeDetail(c *call) reply {
	codes, e := splitCodes(c.params, pCodes, maxCodesPerCodeDetail)
	if e != nil {
		return reply{err: e}
	}
	if _, r := s.queryStart(c); r != nil {
		return *r
	}
	models := make([]codeFullInfo, 0, len(codes))
	s.mu.Lock()
	for _, code := range codes {
		ci := s.world.code(code, false)
		m := codeFullInfo{Code: code, CodeStatusTypeDTO: codeStatusType{CodeStatus: s.statusLocked(ci)}}
		if pr := ci.product; pr != nil {
			level, amount := "1", 1
			if ci.isCase {
				level, amount = "2", pr.CaseSize
			}
			m.PackageLevel = level
			m.PUserEntDTO = &pUserEnt{RefEntID: pr.MakerRefEntID, EntName: pr.Maker}
			m.DrugEntBaseDTO = &drugEntBase{PhysicTypeDesc: physicTypeName(pr.physicType()), PhysicName: pr.Name,
				Exprie: shelfMonths(pr.ProduceDate, pr.ExpireDate), DrugEntBaseInfoID: pr.drugID(),
				ApprovalLicenceNo: pr.ApprovalNo, PkgSpecCrit: pr.PkgSpec, PrepnSpec: pr.PrepnSpec, PrepnTypeDesc: pr.PrepnType}
			m.CodeProduceInfoDTO = &codeProduceInfo{ProduceInfoList: []produceInfo{{ProduceDateStr: pr.ProduceDate,
				PkgAmount: strconv.Itoa(amount), ExpireDate: pr.ExpireDate, BatchNo: pr.Batch,
				OriginalProduceDate: compactDay(pr.ProduceDate), OriginalExpireDate: compactDay(pr.ExpireDate)}}}
		}
		models = append(models, m)
	}
	s.mu.Unlock()
	return queryOK("models", models)
}

// queryRelation is lsyd.query.relation: the package tree around a code
// that went through an inbound (the caller's, or the shipping supplier's;
// itself or its case), as one CodeRelationDto whose code_relation_list holds the tree.
func (s *Server) queryRelation(c *call) reply {
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	if v := c.params[pDesRefEntID]; v != own.RefEntID {
		return queryFail(reasonAuth, msgAuthError, "des_ref_ent_id "+v+" 不是本企业，无权查询")
	}
	code := c.params[pCode]
	ci := s.world.code(code, false)
	// A code a supplier shipped to the caller went through the supplier's
	// own inbound, which the reference's words ("只有做过入库的码") allow as
	// well as the caller's inbound (inferred: whose inbound is not said).
	shipped := false
	for _, b := range s.world.upstreamFor(own.RefEntID) {
		if slices.Contains(b.Codes, ci.key) || (ci.parent != "" && slices.Contains(b.Codes, ci.parent)) {
			shipped = true
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.ents[own.RefEntID]
	received := st != nil && (st.inbound[ci.key] || (ci.parent != "" && st.inbound[ci.parent]))
	if ci.errKey != "" || (!shipped && !received) {
		return notFound("信息不存在：只有做过入库的码，才能进行查询（" + code + "）")
	}
	top := ci
	if ci.parent != "" {
		top = s.world.code(ci.parent, false)
	}
	pr := top.product
	rows := []relationCode{s.relationLocked(top, top.key, pr)}
	for _, ch := range top.children {
		rows = append(rows, s.relationLocked(s.world.code(ch, false), ch, pr))
	}
	smallest := []string{ci.key}
	if ci.isCase {
		smallest = slices.Clone(ci.children)
	}
	ratio := "1"
	if pr.CaseSize > 0 {
		ratio = "1:" + strconv.Itoa(pr.CaseSize)
	}
	amount := 1
	if ci.isCase {
		amount = pr.CaseSize
	}
	produced := dayTime(pr.ProduceDate)
	rel := codeRelation{
		// Activation by the maker on the production day (inferred values).
		CodeActiveInfoDto: codeActiveInfo{ProcessFlag: "1", Status: "1", RelationType: "1", ProdCode: pr.drugID(),
			OperIcName: pr.Maker, UploadFileName: "active_" + pr.drugID() + "_" + compactDay(pr.ProduceDate) + ".xml",
			UploadFilePath: "/active/" + compactDay(pr.ProduceDate) + "/", ActiveDate: produced, RefEntID: pr.MakerRefEntID,
			ProcessDate: produced, ProcessEndDate: produced, OperIcCode: pr.MakerRefEntID, UploadFlag: "1", CrtDate: produced,
			ProcessCount: "1", ActiveCount: int64(len(rows)), OtherNum: int64(len(rows) - len(top.children)),
			SmallNum: int64(max(len(top.children), 1)), CrtDateString: produced,
			BillInID: "", CodeActiveInfoID: pr.drugID() + compactDay(pr.ProduceDate)},
		CodeRelationList: rows,
		IsSmallest:       strconv.FormatBool(!ci.isCase),
		PkgInfoDto:       pkgInfo{CodeList: smallest},
		BaseInfosDto: baseInfos{BaseInfoList: []baseInfo{{PhysicInfo: pr.Name + " " + pr.PkgSpec, RefEntID: pr.MakerRefEntID,
			PkgSpec: pr.PkgSpec, PrepnSpec: pr.PrepnSpec, PrepnType: pr.PrepnType, PhysicName: pr.Name, PkgRatio: ratio,
			ExprieDate: pr.ExpireDate, ProduceBatchNo: pr.Batch, ProduceDate: pr.ProduceDate, SubTypeNo: pr.Prefix + pr.GTIN,
			ProductCode: pr.Barcode69, ProdID: pr.drugID(), ApproveNo: pr.ApprovalNo, PhysicType: strconv.Itoa(pr.physicType()),
			OriginalProduceDate: compactDay(pr.ProduceDate), OriginalExpireDate: compactDay(pr.ExpireDate)}}},
		ProduceInfoList: []relationProduceInfo{{ProduceDate: produced, ExpireDate: pr.ExpireDate, BatchNo: pr.Batch,
			Code: code, PkgAmount: strconv.Itoa(amount), OriginalProduceDate: compactDay(pr.ProduceDate),
			OriginalExpireDate: compactDay(pr.ExpireDate)}},
	}
	return queryOK("model_list", []codeRelation{rel})
}

// relationLocked is one code_relation_list row: code_level 1 = biggest,
// code_pack_level 1 = smallest ([REF] §7).
func (s *Server) relationLocked(ci codeInfo, code string, pr *Product) relationCode {
	rel := relationCode{Status: s.statusLocked(ci), Code: code, CodeLevel: "1", ParentCode: ci.parent, CodePackLevel: "1"}
	switch {
	case ci.isCase:
		rel.CodePackLevel = "2"
	case pr.CaseSize > 0:
		rel.CodeLevel = "2" // a box under a case level
	}
	return rel
}

// listPartSuccess is lsyd.listbillprocesspartsuccess: the failed codes of
// the caller's processed bills (one bill with bill_code), paged; a bill
// not yet final has none.
func (s *Server) listPartSuccess(c *call) reply {
	page, size, e := paging(c.params)
	if e != nil {
		return reply{err: e}
	}
	p := c.params
	fail := func(r reply) reply {
		q := r.body.(*queryModel)
		return reply{reason: r.reason, body: &partSuccessAnswer{MsgCode: q.MsgCode, MsgInfo: q.MsgInfo, HTTPStatusCode: 200,
			Model: partSuccessPage{Result: []partSuccessRow{}, PageSize: int64(size), Page: int64(page)}}}
	}
	own, r := s.queryStart(c)
	if r != nil {
		return fail(*r)
	}
	s.mu.Lock()
	var bills []*bill
	if st := s.ents[own.RefEntID]; st != nil {
		if code, ok := p[pBillCode]; ok {
			if b := st.bills[code]; b != nil {
				bills = []*bill{b}
			}
		} else {
			bills = st.order
		}
	}
	var rows []partSuccessRow
	pending := false
	for _, b := range bills {
		if !b.final {
			pending = true
			continue
		}
		for _, f := range b.failures {
			if !matches(p, pErrorCode, f.key) || !matches(p, pCode, f.code) {
				continue
			}
			rows = append(rows, partSuccessRow{LastProcessDateDesc: fmtTime(b.ProcessedAt), Code: f.code,
				ProcessStatusReasonDesc: f.reason, ErrorCodeDesc: codeErrDesc(f.key), ErrorCode: f.key})
		}
	}
	s.mu.Unlock()
	if _, ok := p[pBillCode]; ok && len(bills) == 0 {
		return fail(notFound("信息不存在：本企业无单据 " + p[pBillCode]))
	}
	info := "成功"
	if pending && len(bills) == 1 {
		info = "单据处理中"
	}
	return reply{body: &partSuccessAnswer{ResponseSuccess: true, MsgCode: msgSuccess, MsgInfo: info, HTTPStatusCode: 200,
		Model: partSuccessPage{Result: pageRows(rows, page, size), Pages: int64((len(rows) + size - 1) / size),
			TotalNum: int64(len(rows)), PageSize: int64(size), Page: int64(page)}}}
}

// getEntInfoList is drug.lsyd.getentinfolist for the caller (ref_ent_id):
// enterprises matching every field of query_param (ent_name as a
// substring, the others exactly); without query_param, the caller itself
// (inferred: the SDK marks it optional).
func (s *Server) getEntInfoList(c *call) reply {
	var q entQuery
	raw, hasQuery := c.params[pQueryParam]
	if hasQuery {
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		err := dec.Decode(&q)
		if err == nil && dec.More() {
			err = fmt.Errorf("data after the object")
		}
		if err != nil {
			return reply{err: invalidParam(reasonInvalidParam, pQueryParam, "query_param must be one JSON object of ent_name, org_code, medical_code, par_ref_ent_id, ent_id: "+err.Error())}
		}
		if q == (entQuery{}) {
			return reply{err: invalidParam(reasonInvalidParam, pQueryParam, "query_param needs at least one of ent_name, org_code, medical_code, par_ref_ent_id, ent_id")}
		}
	}
	own, r := s.queryStart(c)
	if r != nil {
		return *r
	}
	if !hasQuery {
		q.EntID = own.EntID
	}
	var rows []entInfo
	for _, e := range s.world.Enterprises() {
		if (q.EntName != "" && !strings.Contains(e.Name, q.EntName)) || (q.OrgCode != "" && q.OrgCode != e.OrgCode) ||
			q.MedicalCode != "" || (q.ParRefEntID != "" && q.ParRefEntID != e.ParRefEntID) || (q.EntID != "" && q.EntID != e.EntID) {
			continue
		}
		region := strings.Join(slices.DeleteFunc([]string{e.ProvName, e.CityName, e.AreaName, e.Address},
			func(x string) bool { return x == "" }), "")
		// lic_type: 药品经营许可证 (inferred code 2; no public table).
		rows = append(rows, entInfo{EntID: e.EntID, RefEntID: e.RefEntID, AuditStatus: 1, EntName: e.Name,
			UniqueCode: e.OrgCode, LicTypeName: "药品经营许可证", LicTypeCode: 2, ProvName: e.ProvName, ProvCode: e.ProvCode,
			CityName: e.CityName, CityCode: e.CityCode, AreaName: e.AreaName, AreaCode: e.AreaCode, SettleStatus: 1,
			RegRegionDetail: region})
	}
	if len(rows) == 0 {
		return notFound("信息不存在：无匹配企业")
	}
	return queryOK("model", rows)
}
