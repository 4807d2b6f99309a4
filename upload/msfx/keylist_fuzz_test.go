package msfx

import (
	"regexp"
	"testing"
)

// FuzzParseKeyVarietyList: the key-variety file comes from a download URL
// the platform names, in a format nobody published. Whatever it holds, the
// reader returns a list or an error, never panics, and every key it keeps
// is a 7-digit 药品标识码 or a GTIN-14.
func FuzzParseKeyVarietyList(f *testing.F) {
	f.Add([]byte("药品标识码,名称\n8101235,阿莫西林胶囊\n"), "药品标识码")
	f.Add([]byte("\xef\xbb\xbf81012350000000157474\t布洛芬\n06901234567892;x\n"), "")
	f.Add([]byte("\"unterminated,8101235\n"), "")
	f.Add([]byte("PK\x03\x04"), "")
	key := regexp.MustCompile(`^(\d{7}|\d{14})$`)
	f.Fuzz(func(t *testing.T, data []byte, column string) {
		l, err := ParseKeyVarietyList(data, column)
		if err != nil {
			return
		}
		if len(l.Version) != 12 || len(l.Products) == 0 {
			t.Fatalf("list without version or products: %+v", l)
		}
		for k := range l.Products {
			if !key.MatchString(k) {
				t.Fatalf("kept %q, not a product key", k)
			}
		}
	})
}
