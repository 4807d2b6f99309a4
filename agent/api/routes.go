package api

import (
	"crypto/subtle"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/agent/api/ui"
)

// access is what a route requires.
type access int

const (
	public  access = iota // Host check only: /healthz, the page's files, /login
	private               // a token or login cookie as well
	// pairing is public on the LAN listener too: the pairing page is all
	// an unpaired handheld gets.
	pairing
	// counter is private and never served over the LAN: pairing and
	// unpairing handhelds is done at the counter PC.
	counter
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, a access, h http.HandlerFunc) {
		mux.Handle(pattern, s.guard(a, h))
	}
	handle("GET /healthz", public, s.healthz)
	handle("GET /login", public, s.login)
	pages := ui.FS()
	handle("GET /{$}", public, func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w)
		http.ServeFileFS(w, r, pages, "index.html")
	})
	handle("GET /ui/{file}", public, func(w http.ResponseWriter, r *http.Request) {
		if _, err := fs.Stat(pages, r.PathValue("file")); err != nil {
			s.fail(w, r, notFound("no file %s", r.URL.Path))
			return
		}
		pageHeaders(w)
		http.ServeFileFS(w, r, pages, r.PathValue("file"))
	})

	handle("GET /metrics", s.metricsAccess(), s.metrics)
	handle("GET /v1/status", private, s.status)
	handle("GET /v1/diagnose", private, s.diagnose)
	handle("POST /v1/scans", private, s.scan)
	handle("POST /v1/sessions", private, s.openSession)
	handle("GET /v1/sessions/{session}", private, s.session)
	handle("POST /v1/sessions/{session}/attrs", private, s.setAttrs)
	handle("POST /v1/sessions/{session}/finish", private, s.idempotent(s.finish))
	handle("POST /v1/sessions/{session}/exceptions", private, s.addException)
	handle("DELETE /v1/sessions/{session}/items/{code}", private, s.removeItem)
	handle("POST /v1/sessions/{session}/cancel", private, s.cancel)
	handle("POST /v1/sessions/{session}/confirm-all", private, s.confirmAll)
	handle("GET /v1/upstream", private, s.upstream)
	handle("POST /v1/receivings", private, s.startReceiving)
	handle("POST /v1/upstream/{bill_code}/reject", private, s.reject)
	handle("DELETE /v1/upstream/{bill_code}/reject", private, s.unreject)
	handle("POST /v1/bills", private, s.idempotent(s.submitBill))
	handle("GET /v1/bills", private, s.bills)
	handle("GET /v1/bills/{bill_code}", private, s.bill)
	handle("GET /v1/bills/{bill_code}/receipt", private, s.receipt)
	handle("PATCH /v1/bills/{bill_code}/attrs", private, s.patchAttrs)
	handle("POST /v1/bills/{bill_code}/deliveries/{dest}/retry", private, s.retryDelivery)
	handle("POST /v1/bills/{bill_code}/deliveries/{dest}/drop", private, s.dropDelivery)
	handle("GET /v1/deadletters", private, s.deadLetters)
	handle("POST /v1/deadletters/{bill_code}/{dest}/retry", private, s.retryDead)
	handle("POST /v1/deadletters/{bill_code}/{dest}/drop", private, s.dropDead)
	handle("GET /v1/stocktakes/{bill_code}/shortfall", private, s.shortfall)
	handle("POST /v1/stocktakes/{bill_code}/shortfall/book", private, s.idempotent(s.bookShortfall))
	handle("GET /v1/compliance", private, s.compliance)
	handle("GET /v1/reconcile", private, s.reconcileView)
	handle("POST /v1/reconcile", private, s.reconcileNow)
	handle("POST /v1/reconcile/findings/{id}/resend", private, s.resendFinding)
	handle("GET /v1/partners", private, s.partners)
	handle("GET /v1/events", private, s.events)
	handle("GET /pair", pairing, s.pair)
	handle("GET /pair/cert.pem", pairing, s.lanCert)
	handle("GET /v1/whoami", private, s.whoami)
	handle("POST /v1/pairing", counter, s.newPairing)
	handle("GET /v1/devices", counter, s.devices)
	handle("DELETE /v1/devices/{id}", counter, s.revokeDevice)
	// Everything else, including a known path with another method, is a
	// route that does not exist: 404 in the API's error shape.
	handle("/", public, func(w http.ResponseWriter, r *http.Request) {
		msg := "no route " + r.Method + " " + r.URL.Path
		if allowed := allowedMethods(mux, r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			msg += " (" + strings.Join(allowed, ", ") + " only)"
		}
		s.fail(w, r, notFound("%s", msg))
	})
	return s.logRequests(mux)
}

// allowedMethods lists the methods the mux serves r's path with.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			out = append(out, m)
		}
	}
	return out
}

// pageHeaders keep the clerk page to its own files and out of frames.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// guard applies the Host check to every route and, for private ones,
// authentication and the origin check of cookie requests.
func (s *Server) guard(a access, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if viaLAN(r) {
			s.lanGuard(a, h, w, r)
			return
		}
		if !s.allowedHost(r.Host) {
			writeJSON(w, http.StatusForbidden, errorBody{Error: "forbidden", Message: "this API answers only to its own address (Host " + r.Host + " refused)"})
			return
		}
		if a == public || a == pairing {
			h(w, r)
			return
		}
		switch s.authenticate(r) {
		case byToken:
		case byCookie:
			if msg := crossOrigin(r, "http"); msg != "" {
				writeJSON(w, http.StatusForbidden, errorBody{Error: "forbidden", Message: msg})
				return
			}
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="pda-agent"`)
			writeJSON(w, http.StatusUnauthorized, errorBody{Error: "unauthorized",
				Message: "send Authorization: Bearer <token from the API token file>, or open the login link of `pda-agent ui`"})
			return
		}
		h(w, r)
	})
}

type authBy int

const (
	unauthenticated authBy = iota
	byToken
	byCookie
)

// authenticate checks the bearer token, else the login cookie. A request
// that sends a wrong token is refused even with a good cookie.
func (s *Server) authenticate(r *http.Request) authBy {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") && s.tokenMatches(strings.TrimSpace(tok)) {
			return byToken
		}
		return unauthenticated
	}
	if c, err := r.Cookie(cookieName); err == nil && s.cookies.valid(c.Value, s.now()) {
		return byCookie
	}
	return unauthenticated
}

func (s *Server) tokenMatches(tok string) bool {
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1
}

// crossOrigin explains why a state-changing cookie request did not come
// from the page's own origin; "" when it did (or is safe).
func crossOrigin(r *http.Request, scheme string) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return ""
	}
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "cross-site request refused (Sec-Fetch-Site: " + site + ")"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	if u, err := url.Parse(origin); err != nil || u.Scheme != scheme || !strings.EqualFold(u.Host, r.Host) {
		return "request from another origin refused (Origin " + origin + ")"
	}
	return ""
}

// login checks the token of the link `pda-agent ui` prints, sets the login
// cookie and sends the browser to the page (dropping the token from the
// address bar and history).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
	if !s.tokenMatches(r.URL.Query().Get("token")) {
		writeJSON(w, http.StatusUnauthorized, errorBody{Error: "unauthorized", Message: "wrong or missing token in the login link"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: s.cookies.make(s.now()), Path: "/",
		MaxAge: int(cookieLifetime / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// statusWriter records the status for the request log; Unwrap lets
// http.ResponseController reach the connection (event streams flush).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests logs each request at debug level: method and path only,
// never the query (the login link carries the token) nor headers.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.log.Debug("api request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "took", time.Since(start).Round(time.Microsecond))
	})
}
