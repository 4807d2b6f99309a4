package pinhash

import (
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("4711", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h, "4711") || Valid(h) != nil {
		t.Fatalf("hash %q", h)
	}
	for pin, want := range map[string]bool{"4711": true, "4712": false, "": false, "47110": false} {
		if ok, err := Verify(h, pin); err != nil || ok != want {
			t.Errorf("Verify(%q) = %v, %v; want %v", pin, ok, err, want)
		}
	}
	h2, _ := Hash("4711", 1000)
	if h2 == h {
		t.Error("two hashes of one PIN are equal: no salt")
	}
	for _, bad := range []string{"", "4711", "pbkdf2-sha256$x$AAAAAAAAAAA$AAAA", "sha1$1$a$b", h[:len(h)-2]} {
		if Valid(bad) == nil {
			t.Errorf("Valid(%q) = nil", bad)
		}
	}
	if _, err := Hash("", 1); err == nil {
		t.Error("empty PIN hashed")
	}
}
