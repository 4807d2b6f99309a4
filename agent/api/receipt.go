package api

import (
	"net/http"
	"strconv"

	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/receipt"
)

// receipt answers the 追溯码 block of a finished bill for the 购药小票
// (GET /v1/bills/{bill_code}/receipt?format=text|json|escpos&width=32&cut=true).
func (s *Server) receipt(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	format := q.Get("format")
	if format == "" {
		format = "text"
	}
	if format != "text" && format != "json" && format != "escpos" {
		s.fail(w, r, badRequest("format must be text, json or escpos; got %q", format))
		return
	}
	width := receipt.Width58
	if v := q.Get("width"); v != "" {
		n, err := strconv.Atoi(v)
		if err == nil {
			err = receipt.CheckWidth(n)
		}
		if err != nil {
			s.fail(w, r, badRequest("width must be %d to %d columns (58 mm paper: %d, 80 mm: %d); got %q",
				receipt.MinWidth, receipt.MaxWidth, receipt.Width58, receipt.Width80, v))
			return
		}
		width = n
	}
	cut := false
	if v := q.Get("cut"); v != "" {
		var err error
		if cut, err = strconv.ParseBool(v); err != nil {
			s.fail(w, r, badRequest("cut must be true or false; got %q", v))
			return
		}
	}
	v, err := s.agent.Bill(r.PathValue("bill_code"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if v.Bill.State != queue.BillFinished {
		s.fail(w, r, &apiError{http.StatusConflict, "not_finished",
			"bill " + v.Bill.Code + " is " + string(v.Bill.State) + ": only a finished bill has a receipt"})
		return
	}
	cat := s.agent.Catalogue()
	rc := receipt.Build(v.Bill, v.Items, noCode(v.Bill), func(p string) (string, bool) {
		prod, ok := cat.Product(p)
		return prod.Name, ok
	})
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	switch format {
	case "json":
		writeJSON(w, http.StatusOK, rc)
	case "text":
		text, err := rc.Text(width)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(text))
	case "escpos":
		data, err := rc.Escpos(receipt.EscposOptions{Width: width, Cut: cut})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Disposition", `attachment; filename="`+v.Bill.Code+`.escpos"`)
		_, _ = w.Write(data)
	}
}

// noCode is a sale's exceptions as the receipt shows them, each on the
// line of its product: the product key its packs carry (the first when a
// 医保目录编码 stands for several), else what the POS named.
func noCode(b queue.Bill) []receipt.NoCode {
	var out []receipt.NoCode
	for _, e := range b.Exceptions {
		product := ""
		for _, l := range b.Lines {
			if l.Line == e.Line {
				product = l.Product
				if len(l.Keys) > 0 {
					product = l.Keys[0]
				}
			}
		}
		out = append(out, receipt.NoCode{Product: product, Packs: e.Packs, Reason: e.Reason, Note: e.Note})
	}
	return out
}
