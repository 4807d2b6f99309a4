package api

import (
	"errors"
	"net/http"

	"github.com/pda-agent/pda-agent/agent"
	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/queue"
)

// shortfall is GET /v1/stocktakes/{bill_code}/shortfall: the packs in
// stock the stock-take did not find (盘亏), and the 盘亏 bills booked.
func (s *Server) shortfall(w http.ResponseWriter, r *http.Request) {
	sf, err := s.agent.ShortfallOf(r.PathValue("bill_code"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sf)
}

// bookShortfall is POST /v1/stocktakes/{bill_code}/shortfall/book with
// {"reason", "attrs"}: one 214 盘亏出库 bill of the 盘亏 packs (201), sent
// like any change bill (码上放心 214, 医保 3502).
func (s *Server) bookShortfall(w http.ResponseWriter, r *http.Request) {
	var req agent.BookShortfallRequest
	if err := decode(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.agent.BookShortfall(r.Context(), r.PathValue("bill_code"), req)
	if err != nil {
		if errors.Is(err, agent.ErrNothingToBook) {
			err = &apiError{http.StatusConflict, "nothing_to_book", err.Error()}
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, s.finished(r, b))
}

// stockTakeResult adds to a finished stock-take's answer its 盘盈 packs
// and its 盘亏 list; other bills get nothing. A failure is logged and
// leaves them out: the bill is finished either way.
func (s *Server) stockTakeResult(b queue.Bill) ([]queue.Item, *agent.Shortfall) {
	if b.Type != billtype.StockTake {
		return nil, nil
	}
	gains, err := s.agent.StockGains(b)
	if err != nil {
		s.log.Error("stock gains of a finished stock-take", "bill", b.Code, "err", err)
	}
	sf, err := s.agent.StockShortfall(b)
	if err != nil {
		s.log.Error("盘亏 of a finished stock-take", "bill", b.Code, "err", err)
		return gains, nil
	}
	return gains, &sf
}
