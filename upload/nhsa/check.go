package nhsa

import (
	"context"
	"regexp"
	"strings"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa/fsi"
)

// Check says what the bill lacks for 医保 without sending anything (the
// upload.Checker of the finish answer): the rows are built exactly as
// Deliver builds them, and every reason Deliver would hold the bill back
// becomes one Missing. A bill Deliver would refuse for good, or one whose
// check needs a lookup that failed, has nothing missing: Deliver says why.
func (c *Client) Check(ctx context.Context, bill queue.Bill, items []queue.Item) []upload.Missing {
	infno, ok := infnoOf(bill.Type)
	if !ok {
		return nil
	}
	if infno == fsi.InfSaleReturn || infno == fsi.InfPurchaseReturn {
		items = c.reportable(ctx, items)
		if len(items) == 0 {
			return nil // nothing of it goes to 医保
		}
	}
	_, held, _, err := c.plan(ctx, infno, bill, items)
	if err != nil || len(held) == 0 {
		return nil
	}
	out := make([]upload.Missing, 0, len(held))
	for _, h := range held {
		out = append(out, missingOf(h))
	}
	return out
}

// reportable leaves out the items of a return whose original bill never
// went to 医保, as Deliver does (awaitOriginals); originals still on their
// way count, since they will be there.
func (c *Client) reportable(ctx context.Context, items []queue.Item) []queue.Item {
	if c.cfg.RefState == nil {
		return items
	}
	var keep []queue.Item
	for _, it := range items {
		if it.Ref != "" {
			if st, err := c.cfg.RefState(ctx, it.Ref); err == nil && st == RefNotSent {
				continue
			}
		}
		keep = append(keep, it)
	}
	return keep
}

// UsesAttr tells the queue which bill attrs can change what 医保 is sent:
// those under nhsa. (upload.AttrUser).
func (c *Client) UsesAttr(key string) bool { return strings.HasPrefix(key, attrPrefix) }

// HeldBack tells whether an outcome of Deliver is a bill held back for
// missing data (nothing sent), as opposed to a failure.
func HeldBack(out upload.Outcome) bool {
	if out.Class != upload.Retry {
		return false
	}
	p, err := parseProgress(out.Progress)
	return err == nil && p != nil && p.State == stateHeld
}

var (
	// fieldRE is the platform field a problem starts with ("prsc_dr_name: …").
	fieldRE = regexp.MustCompile(`^([a-z][a-z0-9_]*): `)
	// attrRE finds the bill attribute a problem names.
	attrRE = regexp.MustCompile(`\battr (nhsa\.[A-Za-z0-9_.]*[A-Za-z0-9_])`)
	// configRE finds the config key a problem names (config phar_name).
	configRE = regexp.MustCompile(`\bconfig ([a-z][a-z0-9_]*)`)
)

// missingOf turns one of plan's reasons into a Missing: the field it
// starts with, and what to fix from the words naming where the value
// comes from (rowfill.go's provenance).
func missingOf(problem string) upload.Missing {
	m := upload.Missing{Detail: problem}
	if f := fieldRE.FindStringSubmatch(problem); f != nil {
		m.Field = f[1]
	} else if strings.HasPrefix(problem, "product ") {
		m.Field = "product"
	}
	switch {
	case attrRE.MatchString(problem):
		m.Source = "attr " + attrRE.FindStringSubmatch(problem)[1]
	case configRE.MatchString(problem):
		m.Source = "config nhsa." + configRE.FindStringSubmatch(problem)[1]
	case strings.Contains(problem, "catalogue"):
		m.Source = "catalogue"
	case strings.Contains(problem, "partner"):
		m.Source = "partner"
	case strings.Contains(problem, "product key"), strings.Contains(problem, "lot of "),
		strings.Contains(problem, " date of "):
		// The pack's own data: from its code, or learnt when it was received.
		m.Source = "code"
	case strings.Contains(problem, "operator"):
		m.Source = "operator"
	default:
		m.Source = "bill"
	}
	if zh := fieldNames[m.Field]; zh != "" {
		m.Detail = zh + "（" + m.Field + "）: " + problem
	}
	return m
}

// fieldNames are the Chinese names of the fields a bill can lack, from the
// field tables of the 定点医药机构接口规范 (../shared/reference/nhsa.md §3)
// as a public client declares them: fengzaiqishi11/hsa-his
// hsa-com/src/main/java/cn/hsa/module/insure/stock/entity/InsureGoodSell.java
// (3505) and InsureGoodBuy.java (3503); mdtrt_setl_type and insuplc_admdvs
// from nhsa.md only.
var fieldNames = map[string]string{
	"med_list_codg": "医疗目录编码", "fixmedins_hilist_id": "定点医药机构目录编号", "fixmedins_hilist_name": "定点医药机构目录名称",
	"spler_name": "供应商名称", "spler_pmtno": "供应商许可证号", "manu_lotnum": "生产批号", "prodentp_name": "生产厂家名称",
	"aprvno": "批准文号", "manu_date": "生产日期", "expy_end": "有效期止", "rx_flag": "处方药标志",
	"purc_invo_no": "采购发票号", "purc_retn_opter_name": "经办人姓名", "prod_geay_flag": "商品赠送标志",
	"medins_prod_purc_no": "商品采购流水号", "prsc_dr_name": "开方医师姓名", "prsc_dr_cert_type": "开方医师证件类型",
	"prsc_dr_certno": "开方医师证件号码", "phar_name": "药师姓名", "phar_prac_cert_no": "药师执业资格证号",
	"phar_cert_type": "药师证件类型", "phar_certno": "药师证件号码", "hi_feesetl_type": "医保费用结算类型",
	"setl_id": "结算ID", "mdtrt_sn": "就医流水号", "psn_no": "人员编号", "psn_cert_type": "人员证件类型",
	"certno": "证件号码", "psn_name": "人员姓名", "rx_circ_flag": "外购处方标志", "rtal_docno": "零售单据号",
	"sel_retn_opter_name": "经办人", "medins_prod_sel_no": "商品销售流水号", "mdtrt_setl_type": "就诊结算类型",
	"insuplc_admdvs": "参保地医保区划", "finl_trns_pric": "最终成交单价", "product": "商品",
}
