package nhsa

import "testing"

func TestResendProgress(t *testing.T) {
	for _, c := range []struct {
		name, in string
		legacy   bool
	}{
		{"version 2", `{"v":2,"infno":"3505","state":"answered","msgid":"M1","total":3,"done":[[1,3]],"refs":["R1"]}`, false},
		{"version 2 legacy", `{"v":2,"infno":"3505","state":"answered","total":2,"done":[[1,2]],"legacy":true}`, true},
		{"version 1", `{"v":1,"infno":"3505","state":"answered","msgid":"M1","rows":2}`, true},
		{"none", ``, true},
	} {
		out, err := ResendProgress(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		p, err := parseProgress(out)
		if err != nil || p == nil {
			t.Fatalf("%s: %q %v", c.name, out, err)
		}
		if p.State != stateAnswered || len(p.Done) != 0 || len(p.Refs) != 0 || p.Msgid != "" || p.Legacy != c.legacy || LegacyProgress(out) != c.legacy {
			t.Errorf("%s: %+v", c.name, p)
		}
		if c.in != "" && p.Infno != "3505" {
			t.Errorf("%s: infno %q", c.name, p.Infno)
		}
	}
	if _, err := ResendProgress(`{"v":9}`); err == nil {
		t.Error("an unreadable progress was taken")
	}
}
