package api

import "net/http"

// metricsAccess is what GET /metrics requires: the token unless
// api.metrics_public. It is read once, when the routes are built, like
// every api setting: a change waits for the next start.
func (s *Server) metricsAccess() access {
	if s.agent.Config().API.MetricsPublic {
		return public
	}
	return private
}

// metrics serves the agent's Prometheus metrics. Prometheus scrapers send
// the bearer token (authorization.credentials_file); the login cookie
// works too, for a person looking in a browser.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	s.agent.MetricsHandler().ServeHTTP(w, r)
}
