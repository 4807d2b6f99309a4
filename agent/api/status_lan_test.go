package api

import (
	"os"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/agent"
)

// /v1/status names the LAN listener and its certificate's fingerprint
// (the one the certificate file and the handheld's TLS connection have),
// and says nothing of it when api.lan is off.
func TestStatusShowsLANFingerprint(t *testing.T) {
	e := start(t, envOpts{lan: "127.0.0.1:0", env: []string{"PDA_API_LAN_ENABLED=true", "PDA_API_LAN_LISTEN=127.0.0.1:0"}})
	var st agent.Status
	e.ok("GET", "/v1/status", nil, &st)
	if st.LAN == nil {
		t.Fatal("status with api.lan on has no lan")
	}
	fromFile, err := agent.LANFromFile(e.agent.Config())
	if err != nil || fromFile == nil {
		t.Fatalf("LANFromFile: %+v %v", fromFile, err)
	}
	if st.LAN.Fingerprint != e.srv.LANFingerprint() || st.LAN.Fingerprint != fromFile.Fingerprint ||
		len(st.LAN.Fingerprint) != 32*3-1 || st.LAN.Listen != e.srv.LANAddr().String() {
		t.Fatalf("status lan %+v; server %s at %s; file %s", st.LAN, e.srv.LANFingerprint(), e.srv.LANAddr(), fromFile.Fingerprint)
	}
	// What a handheld's TLS connection gets is that certificate.
	resp, _ := lanDo(t, lanClient(t, e), "GET", e.lanBase+"/pair", "")
	if got := agent.CertFingerprint(resp.TLS.PeerCertificates[0].Raw); got != st.LAN.Fingerprint {
		t.Fatalf("served certificate %s, status says %s", got, st.LAN.Fingerprint)
	}

	off := start(t, envOpts{})
	_, body := off.call("GET", "/v1/status", nil)
	if strings.Contains(string(body), `"lan"`) {
		t.Fatalf("status with api.lan off mentions it: %s", body)
	}
	if l, err := agent.LANFromFile(off.agent.Config()); l != nil || err != nil {
		t.Fatalf("LANFromFile with api.lan off: %+v %v", l, err)
	}
	if _, err := os.Stat(off.agent.Config().LANCertFile()); err == nil {
		t.Fatal("a certificate was made with api.lan off")
	}
}
