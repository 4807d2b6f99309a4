package configs

import (
	"strings"
	"testing"
)

// api.lan is checked like the other listeners (under its own key) and its
// certificate and key go together.
func TestLANListenAndCertPair(t *testing.T) {
	lan := func(fields string) string {
		return "api: {listen: \"127.0.0.1:8700\", lan: {enabled: true, " + fields + "}}\n"
	}
	tcp := "scanners:\n  - {name: pos, type: tcp, tcp: {listen: \"0.0.0.0:8743\", allow_remote: true}}\n"
	for _, tc := range []struct {
		name string
		yaml string
		want map[string]string // key → part of its message
	}{
		{"default listen", lan(""), nil},
		{"own pair", lan("cert_file: /etc/pda/lan.pem, key_file: /etc/pda/lan.key"), nil},
		{"off is not checked", "api: {lan: {enabled: false, listen: \"nonsense\", cert_file: /x.pem}}\n", nil},
		{"no port", lan("listen: \"192.168.1.20\""), map[string]string{"api.lan.listen": "host:port"}},
		{"port too high", lan("listen: \"0.0.0.0:87430\""), map[string]string{"api.lan.listen": "from 0 to 65535"}},
		{"port not a number", lan("listen: \"0.0.0.0:https\""), map[string]string{"api.lan.listen": "from 0 to 65535"}},
		{"on the api port", lan("listen: \"0.0.0.0:8700\""),
			map[string]string{"api.lan.listen": "clashes with api.listen: both listen on port 8700 of every address"}},
		{"same address as the api", lan("listen: \"127.0.0.1:8700\""),
			map[string]string{"api.lan.listen": "clashes with api.listen: both listen on port 8700 of 127.0.0.1"}},
		{"other address, same port", lan("listen: \"192.168.1.20:8700\""), nil},
		{"a tcp scanner's port", lan("") + tcp, map[string]string{"api.lan.listen": "clashes with scanners[0].tcp.listen: both listen on port 8743"}},
		{"port 0 never clashes", lan("listen: \"127.0.0.1:0\"") + strings.Replace(tcp, "0.0.0.0:8743", "127.0.0.1:0", 1), nil},
		{"cert without key", lan("cert_file: /etc/pda/lan.pem"), map[string]string{"api.lan.key_file": "together with api.lan.cert_file"}},
		{"key without cert", lan("key_file: /etc/pda/lan.key"), map[string]string{"api.lan.cert_file": "together with api.lan.key_file"}},
		{"api off", "api: {enabled: false, lan: {enabled: true}}\n", map[string]string{"api.lan.enabled": "needs api.enabled"}},
	} {
		got := validateYAML(t, tc.yaml)
		if len(got) != len(tc.want) {
			t.Errorf("%s: problems %v, want %d", tc.name, got, len(tc.want))
			continue
		}
		for k, w := range tc.want {
			if !strings.Contains(got[k], w) {
				t.Errorf("%s: %s: %q, want %q", tc.name, k, got[k], w)
			}
		}
	}
}

func TestFleetReportInterval(t *testing.T) {
	fleet := func(ri string) string {
		return "fleet: {enabled: true, url: \"http://mirror.example/b\", static: true, report_url: \"http://hq.example\", hq_key: AAAA, report_interval: " + ri + "}\n"
	}
	for ri, want := range map[string]string{"0s": "", "5m": "", "1h": "", "-1s": "from 0 (every interval) to 1h", "2h": "from 0 (every interval) to 1h"} {
		got := validateYAML(t, fleet(ri))
		if want == "" && len(got) != 0 || want != "" && (len(got) != 1 || !strings.Contains(got["fleet.report_interval"], want)) {
			t.Errorf("report_interval %s: %v, want %q", ri, got, want)
		}
	}
}
