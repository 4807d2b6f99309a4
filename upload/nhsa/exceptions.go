package nhsa

import (
	"fmt"
	"slices"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/receipt"
)

// exceptionNotes are the memo notes of a sale row of product: the packs of
// its line sold without a code, and why (无码不结算 exceptions). 3505 has
// no field of its own for them; memo (备注, nhsa.md §3) is where a reader
// at the 医保 side sees them. A line with no code at all has no row, and
// its exceptions reach 医保 nowhere (docs/api.md).
func exceptionNotes(b queue.Bill, product string) []string {
	var out []string
	for _, e := range b.Exceptions {
		i := slices.IndexFunc(b.Lines, func(l queue.SaleLine) bool { return l.Line == e.Line })
		if i < 0 || !slices.Contains(b.Lines[i].Keys, product) {
			continue
		}
		unit := "盒"
		if b.Lines[i].Units > 0 {
			unit = "个拆零单位"
		}
		n := fmt.Sprintf("无码%d%s:%s", e.Packs, unit, receipt.ReasonText(e.Reason))
		if e.Note != "" {
			n += "(" + e.Note + ")"
		}
		out = append(out, n)
	}
	return out
}
