package sandbox

import "testing"

// TestTopSignVectors checks the gateway's own signer: md5 against the
// published TOP vector (/work/shared/reference/msfx.md §2.3, [S6b]), hmac
// and hmac-sha256 against values computed with Python's hmac/hashlib over
// the same parameters (sign_method changed), the construction of
// golgys0621/topsdk util.GetSign (sorted key+value, HMAC-SHA256 keyed with
// the secret, uppercase hex).
func TestTopSignVectors(t *testing.T) {
	params := func(sm string) map[string]string {
		return map[string]string{
			"app_key": "test", "fields": "nick", "format": "xml", "method": "taobao.user.seller.get",
			"session": "test", "sign_method": sm, "timestamp": "2013-05-06 13:52:03", "v": "2.0",
		}
	}
	tests := []struct{ method, want string }{
		{signMD5, "72CB4D809B375A54502C09360D879C64"},
		{signHMAC, "FA15A9D5B42AB2D6F3397843851ED09A"},
		{signHMACSHA256, "267B9C1C7A2FE1CE413DBB95E596616D32107AE0992BE2C22143CFCE303E8E34"},
	}
	for _, tc := range tests {
		p := params(tc.method)
		if got := topSign(p, []byte("test"), tc.method); got != tc.want {
			t.Errorf("%s: sign = %s, want %s", tc.method, got, tc.want)
		}
		// sign itself is never part of the signed text.
		p[paramSign] = "ANYTHING"
		if got := topSign(p, []byte("test"), tc.method); got != tc.want {
			t.Errorf("%s with sign present: sign = %s, want %s", tc.method, got, tc.want)
		}
	}
}

func TestParseGS1(t *testing.T) {
	const gtin = "04012345000016"
	tests := []struct {
		in, serial string
		bad        bool
	}{
		{in: "01" + gtin + "21ABC123", serial: "ABC123"},
		{in: "01" + gtin + "17281231" + "10LOT1\x1d21S1", serial: "S1"},
		{in: "01" + gtin + "10LOT1\x1d21S1\x1d17281231", serial: "S1"},
		{in: "01" + gtin + "11260510" + "21S9", serial: "S9"},
		{in: "01" + gtin, bad: true},                                  // no serial
		{in: "01" + gtin + "10LOT1", bad: true},                       // no serial
		{in: "01" + gtin + "21S1\x1d", bad: true},                     // trailing GS
		{in: "01" + gtin + "21S1\x1d21S2", bad: true},                 // AI twice
		{in: "01" + gtin + "99X\x1d21S1", bad: true},                  // unsupported AI
		{in: "01" + gtin + "1728123", bad: true},                      // short date
		{in: "01" + gtin + "21" + "123456789012345678901", bad: true}, // serial over 20
		{in: "01" + gtin + "21S 1", bad: true},                        // space
		{in: "0104012345000017" + "21S1", bad: true},                  // GTIN check digit
		{in: "(01)" + gtin + "(21)S1", bad: true},                     // human-readable form
	}
	for _, tc := range tests {
		g, serial, why := "", "", ""
		if len(tc.in) >= 16 && tc.in[:2] == "01" {
			g, serial, why = parseGS1(tc.in)
		} else {
			why = "not GS1"
		}
		if tc.bad {
			if why == "" {
				t.Errorf("%q: accepted, want refused", tc.in)
			}
			continue
		}
		if why != "" || g != gtin || serial != tc.serial {
			t.Errorf("%q: got %q %q (%s), want %s %s", tc.in, g, serial, why, gtin, tc.serial)
		}
	}
}
