package sandbox

import "github.com/pda-agent/pda-agent/upload/sandboxnet"

// Running is a sandbox serving on a real TCP address, with a switch that
// takes it off the network and back (SetDown); the ledger survives outages.
type Running struct {
	*Server
	net *sandboxnet.Server
}

// Start validates o, listens on addr (e.g. "127.0.0.1:0") and serves a
// new sandbox in a goroutine until Close.
func Start(addr string, o Options) (*Running, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := New(o)
	n, err := sandboxnet.Start(addr, s, s.log)
	if err != nil {
		return nil, err
	}
	return &Running{Server: s, net: n}, nil
}

// URL is the endpoint clients call, on the national path (any path is
// served); it stays the same across outages.
func (r *Running) URL() string { return "http://" + r.net.Addr() + DefaultPath }

// Addr is the host:port served.
func (r *Running) Addr() string { return r.net.Addr() }

// SetDown simulates a network outage: connections are refused until
// SetDown(false) listens on the same address again (sandboxnet.Server).
func (r *Running) SetDown(down bool) error { return r.net.SetDown(down) }

// Close stops serving for good; it is safe to call more than once.
func (r *Running) Close() error { return r.net.Close() }
