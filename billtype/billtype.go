// Package billtype is the catalogue of 码上放心 bill types (单据类型): their
// numbers, Chinese names and which way the goods move. Every other package
// names bill types by these numbers.
package billtype

import "fmt"

// Direction is which way a bill moves goods for the store.
type Direction int

const (
	// Inbound (1xx): goods enter the store (入库).
	Inbound Direction = iota + 1
	// Outbound (2xx): goods leave towards a partner (出库).
	Outbound
	// Retail: goods leave with a consumer (零售/使用出库, 321-323).
	Retail
	// ConsumerReturn: a consumer brings goods back (116 消费者退货入库).
	ConsumerReturn
	// Count: a stock-take (盘存) moves nothing; it records what is there.
	Count
)

func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	case Retail:
		return "retail"
	case ConsumerReturn:
		return "consumer-return"
	case Count:
		return "count"
	}
	return "unknown"
}

// Common bill types the store workflows use.
const (
	Purchase       = 102 // 采购入库
	SupplierReturn = 202 // 退货出库 (to the supplier)
	TransferIn     = 104 // 调拨入库
	RetailSale     = 321 // 使用出库 / 零售出库
	CustomerReturn = 116 // 消费者退货入库
	// StockTake is the agent's own 盘存 bill: the packs on the shelf,
	// counted. 码上放心 has no such bill type (msfx.md lists none), so it
	// goes only to 医保 (3501 商品盘存上传) and never to 码上放心. Its number
	// lies outside 码上放心's 1xx-3xx ranges so that it can never be taken
	// for one of them.
	StockTake = 901
)

// Stock changes (医保 3502 商品库存变更): the 码上放心 bill types that change
// stock without a purchase or a sale (nhsa.md §3.4; field-2026.md §6).
const (
	StockGain   = 111 // 盘盈入库
	StockLoss   = 214 // 盘亏出库
	Destroyed   = 205 // 销毁出库
	Damaged     = 215 // 损坏出库
	TransferOut = 203 // 调拨出库
	ScrapIn     = 112 // 报废入库
	ScrapOut    = 216 // 报废出库
	OtherIn     = 113 // 其他入库
	OtherOut    = 217 // 其他出库
)

var names = map[int]string{
	102: "采购入库", 103: "退货入库", 104: "调拨入库", 107: "供应入库", 108: "召回入库",
	110: "赠品入库", 111: "盘盈入库", 112: "报废入库", 113: "其他入库",
	116: "消费者退货入库",
	201: "销售出库", 202: "退货出库", 203: "调拨出库", 204: "返工出库", 205: "销毁出库",
	206: "抽检出库", 207: "直调出库", 209: "供应出库", 211: "召回出库", 212: "赠品出库",
	214: "盘亏出库", 215: "损坏出库", 216: "报废出库", 217: "其他出库", 237: "直调退货",
	321: "使用出库", 322: "疫苗接种", 323: "零售出库",
	StockTake: "盘存",
}

// Msfx tells whether t is a 码上放心 bill type (every known type but the
// agent's own StockTake).
func Msfx(t int) bool { return Known(t) && t != StockTake }

// StockChange tells whether t is a stock change that 医保 takes as 3502.
func StockChange(t int) bool {
	switch t {
	case StockGain, StockLoss, Destroyed, Damaged, TransferOut, TransferIn, ScrapIn, ScrapOut, OtherIn, OtherOut:
		return true
	}
	return false
}

// Known tells whether t is a bill type of the catalogue.
func Known(t int) bool {
	_, ok := names[t]
	return ok
}

// Name is the Chinese name of t, or "未知类型 <t>".
func Name(t int) string {
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("未知类型 %d", t)
}

// DirectionOf returns which way t moves goods; an unknown type is an error.
func DirectionOf(t int) (Direction, error) {
	if !Known(t) {
		return 0, fmt.Errorf("unknown bill type %d", t)
	}
	switch {
	case t == StockTake:
		return Count, nil
	case t == CustomerReturn:
		return ConsumerReturn, nil
	case t >= 321:
		return Retail, nil
	case t >= 200:
		return Outbound, nil
	}
	return Inbound, nil
}
