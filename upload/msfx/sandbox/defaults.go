package sandbox

import (
	"time"
)

// The default world's enterprises and test apps. The credentials are
// obviously fake and only good for this sandbox.
const (
	DefaultStoreRefEntID = "320000000000127971"
	DefaultStoreEntID    = "3c9f2a5e8b7d4f61a0e2c4b6d8f01357"
	DefaultStoreName     = "沙箱大药房连锁有限公司城南店"
	DefaultStoreAppKey   = "10000001"
	DefaultStoreSecret   = "sandbox-store-secret-FAKE"

	DefaultWarehouseRefEntID = "320000000000127900"
	DefaultWarehouseEntID    = "7d1e4b9c2a6f40e8b3c5d7e9f1a2b4c6"
	DefaultWarehouseName     = "沙箱大药房连锁有限公司配送中心"
	DefaultWarehouseAppKey   = "10000002"
	DefaultWarehouseSecret   = "sandbox-warehouse-secret-FAKE"

	DefaultSupplierRefEntID = "320000000000098765"
	DefaultSupplierEntID    = "5e0a7c3b9d2f48a6b1c3e5f7a9b0d2e4"
	DefaultSupplierName     = "沙箱医药批发有限公司"
)

// The default world's products: 码上放心 box prefixes, their case
// prefixes, and the GTIN of the imported (GS1) drug.
const (
	ProductAmoxicillin = "8101235" // 阿莫西林胶囊, cases of 10 (CaseAmoxicillin)
	CaseAmoxicillin    = "8101236"
	ProductIbuprofen   = "8393331" // 布洛芬缓释胶囊, cases of 20 (CaseIbuprofen)
	CaseIbuprofen      = "8393332"
	ProductLicorice    = "8829842" // 复方甘草片, no cases
	ProductTramadol    = "8912345" // 盐酸曲马多缓释片, 特药 (89…), no cases
	GTINAtorvastatin   = "04012345000016"
)

// The default world's upstream bills and notable codes.
const (
	// DefaultUpBill1 (201, supplier → store, 7 days before the reference
	// day): 5 amoxicillin boxes, DefaultCaseCode (10 boxes), 3 ibuprofen boxes.
	DefaultUpBill1 = "XSCK0000001"
	// DefaultUpBill2 (201, supplier → store, 2 days before): 2 tramadol
	// boxes, one ibuprofen case (20 boxes), 2 GS1 atorvastatin packs.
	DefaultUpBill2 = "XSCK0000002"
	// DefaultUpBill3 (203, warehouse → store, 1 day before): 4 licorice bottles.
	DefaultUpBill3 = "DBCK0000001"
	// DefaultUpBill4 (201, supplier → warehouse, 9 days before): 2
	// amoxicillin cases; invisible to the store.
	DefaultUpBill4 = "XSCK0000003"

	// DefaultBoxCode is the first amoxicillin box of DefaultUpBill1:
	// MakeCode(ProductAmoxicillin, 1001).
	DefaultBoxCode = "81012350000010019105"
	// DefaultCaseCode is the amoxicillin case of DefaultUpBill1:
	// MakeCode(CaseAmoxicillin, 1); its first child is DefaultCaseChild.
	DefaultCaseCode  = "81012360000000014839"
	DefaultCaseChild = "81012359000000101677"
	// DefaultCancelledCode is a cancelled (注销) amoxicillin box:
	// MakeCode(ProductAmoxicillin, 9999).
	DefaultCancelledCode = "81012350000099997203"
)

// DefaultApps returns the test apps of the default world: app_key → secret.
func DefaultApps() map[string]string {
	return map[string]string{
		DefaultStoreAppKey:     DefaultStoreSecret,
		DefaultWarehouseAppKey: DefaultWarehouseSecret,
	}
}

// DefaultReferenceDay is the day DefaultWorld dates its upstream bills
// from: 2026-11-27 in China.
func DefaultReferenceDay() time.Time { return time.Date(2026, 11, 27, 0, 0, 0, 0, chinaTime) }

// DefaultWorld is DefaultWorldAt(DefaultReferenceDay()).
func DefaultWorld() *World { return DefaultWorldAt(DefaultReferenceDay()) }

// DefaultWorldAt returns the default world with its upstream bills dated
// relative to day (taken in China time): one chain store, the chain's
// warehouse, a wholesaler, five products and four upstream bills (see the
// package documentation).
func DefaultWorldAt(day time.Time) *World {
	d := day.In(chinaTime)
	at := func(daysBefore, h, m int) time.Time {
		return time.Date(d.Year(), d.Month(), d.Day()-daysBefore, h, m, 0, 0, chinaTime)
	}
	w := NewWorld()
	must := func(err error) {
		// The default data is fixed; an error is a bug in this file.
		if err != nil {
			panic(err)
		}
	}
	must(w.AddEnterprise(Enterprise{RefEntID: DefaultWarehouseRefEntID, EntID: DefaultWarehouseEntID, Name: DefaultWarehouseName,
		OrgCode:  "91320100SBX0000002",
		ProvName: "江苏省", ProvCode: "320000", CityName: "南京市", CityCode: "320100", AreaName: "江宁区", AreaCode: "320115", Address: "沙箱路1号",
		AppKey: DefaultWarehouseAppKey}))
	must(w.AddEnterprise(Enterprise{RefEntID: DefaultStoreRefEntID, EntID: DefaultStoreEntID, Name: DefaultStoreName,
		OrgCode:  "91320100SBX0000001",
		ProvName: "江苏省", ProvCode: "320000", CityName: "南京市", CityCode: "320100", AreaName: "秦淮区", AreaCode: "320104", Address: "沙箱街88号",
		ParRefEntID: DefaultWarehouseRefEntID, AppKey: DefaultStoreAppKey}))
	must(w.AddEnterprise(Enterprise{RefEntID: DefaultSupplierRefEntID, EntID: DefaultSupplierEntID, Name: DefaultSupplierName,
		OrgCode:  "91320100SBX0000003",
		ProvName: "江苏省", ProvCode: "320000", CityName: "南京市", CityCode: "320100", AreaName: "栖霞区", AreaCode: "320113", Address: "沙箱大道100号"}))

	must(w.AddProduct(Product{Prefix: ProductAmoxicillin, CasePrefix: CaseAmoxicillin, CaseSize: 10,
		Name: "阿莫西林胶囊", PkgSpec: "0.25g*24粒/盒", PrepnSpec: "0.25g", Maker: "沙箱制药有限公司", MakerRefEntID: "330000000000000101", PrepnType: "胶囊剂", PrepnUnit: 24,
		ApprovalNo: "国药准字H00000001", Barcode69: withCheck("690000000001"),
		Batch: "B26090101", ProduceDate: "2026-09-01", ExpireDate: "2028-08-31"}))
	must(w.AddProduct(Product{Prefix: ProductIbuprofen, CasePrefix: CaseIbuprofen, CaseSize: 20,
		Name: "布洛芬缓释胶囊", PkgSpec: "0.3g*20粒/盒", PrepnSpec: "0.3g", Maker: "沙箱药业股份有限公司", MakerRefEntID: "330000000000000102", PrepnType: "胶囊剂", PrepnUnit: 20,
		ApprovalNo: "国药准字H00000002", Barcode69: withCheck("690000000002"),
		Batch: "B26081502", ProduceDate: "2026-08-15", ExpireDate: "2028-08-14"}))
	must(w.AddProduct(Product{Prefix: ProductLicorice,
		Name: "复方甘草片", PkgSpec: "100片/瓶", PrepnSpec: "100片", Maker: "沙箱制药有限公司", MakerRefEntID: "330000000000000101", PrepnType: "片剂", PrepnUnit: 100,
		ApprovalNo: "国药准字H00000003", Barcode69: withCheck("690000000003"),
		Batch: "B26070303", ProduceDate: "2026-07-03", ExpireDate: "2029-07-02"}))
	must(w.AddProduct(Product{Prefix: ProductTramadol,
		Name: "盐酸曲马多缓释片", PkgSpec: "0.1g*10片/盒", PrepnSpec: "0.1g", Maker: "沙箱特药制药有限公司", MakerRefEntID: "330000000000000104", PrepnType: "片剂", PrepnUnit: 10,
		ApprovalNo: "国药准字H00000004", Barcode69: withCheck("690000000004"),
		Batch: "T26100104", ProduceDate: "2026-10-01", ExpireDate: "2028-09-30"}))
	must(w.AddProduct(Product{GTIN: GTINAtorvastatin,
		Name: "阿托伐他汀钙片（进口）", PkgSpec: "20mg*7片/盒", PrepnSpec: "20mg", Maker: "Sandbox Pharma GmbH", MakerRefEntID: "330000000000000105", PrepnType: "片剂", PrepnUnit: 7,
		ApprovalNo: "国药准字HJ00000005", Batch: "X2605", ProduceDate: "2026-05-10", ExpireDate: "2029-05-09"}))

	must(w.AddUpstreamBill(UpstreamBill{BillCode: DefaultUpBill1, BillType: 201, BillTime: at(7, 9, 30),
		FromRefEntID: DefaultSupplierRefEntID, ToRefEntID: DefaultStoreRefEntID,
		Codes: []string{
			MakeCode(ProductAmoxicillin, 1001), MakeCode(ProductAmoxicillin, 1002), MakeCode(ProductAmoxicillin, 1003),
			MakeCode(ProductAmoxicillin, 1004), MakeCode(ProductAmoxicillin, 1005), MakeCode(CaseAmoxicillin, 1),
			MakeCode(ProductIbuprofen, 2001), MakeCode(ProductIbuprofen, 2002), MakeCode(ProductIbuprofen, 2003),
		}}))
	must(w.AddUpstreamBill(UpstreamBill{BillCode: DefaultUpBill2, BillType: 201, BillTime: at(2, 14, 0),
		FromRefEntID: DefaultSupplierRefEntID, ToRefEntID: DefaultStoreRefEntID,
		Codes: []string{
			MakeCode(ProductTramadol, 3001), MakeCode(ProductTramadol, 3002), MakeCode(CaseIbuprofen, 1),
			GS1Code(GTINAtorvastatin, "SBX0001"), GS1Code(GTINAtorvastatin, "SBX0002"),
		}}))
	must(w.AddUpstreamBill(UpstreamBill{BillCode: DefaultUpBill3, BillType: 203, BillTime: at(1, 16, 0),
		FromRefEntID: DefaultWarehouseRefEntID, ToRefEntID: DefaultStoreRefEntID,
		Codes: []string{
			MakeCode(ProductLicorice, 4001), MakeCode(ProductLicorice, 4002),
			MakeCode(ProductLicorice, 4003), MakeCode(ProductLicorice, 4004),
		}}))
	must(w.AddUpstreamBill(UpstreamBill{BillCode: DefaultUpBill4, BillType: 201, BillTime: at(9, 10, 0),
		FromRefEntID: DefaultSupplierRefEntID, ToRefEntID: DefaultWarehouseRefEntID,
		Codes: []string{MakeCode(CaseAmoxicillin, 2), MakeCode(CaseAmoxicillin, 3)}}))
	must(w.CancelCodes(DefaultCancelledCode))
	return w
}

// Bill types the lsyd upload methods accept.
func inboundType(t int) bool {
	switch t {
	case 102, 103, 104, 107, 108, 110, 111, 112, 113:
		return true
	}
	return false
}

func outboundType(t int) bool {
	switch t {
	case 201, 202, 203, 204, 205, 206, 207, 209, 211, 212, 214, 215, 216, 217, 237:
		return true
	}
	return false
}

func retailType(t int) bool {
	return t == typeSale || t == typeVaccination || t == typeConsumerReturn
}

const (
	typeSale           = 321 // 使用出库 / 零售出库
	typeVaccination    = 322 // 疫苗接种
	typeConsumerReturn = 116 // 消费者退货入库
	typeYLJGRetail     = 323 // 医疗机构零售出库: not an lsyd type
)

// isInbound tells whether an accepted bill of type t moves goods into the
// uploading enterprise (1xx, including the 116 consumer return).
func isInbound(t int) bool { return inboundType(t) || t == typeConsumerReturn }

// statusSide maps a bill type to the bill_type filter of query.billstatus.
func statusSide(t int) string {
	if isInbound(t) {
		return statusIn
	}
	return statusOut
}
