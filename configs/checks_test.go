package configs

import (
	"errors"
	"testing"
)

func TestChecksValidated(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"PDA_CHECKS_ONLINE_SALE=refuse", "PDA_CHECKS_ONLINE_RETURN=warn"}, ""},
		{[]string{"PDA_CHECKS_ONLINE_SALE=block"}, "checks.online.sale"},
		{[]string{"PDA_CHECKS_ONLINE_SHIP=on"}, "checks.online.ship"},
		{[]string{"PDA_CHECKS_WINDOW=10s"}, "checks.window"},
		{[]string{"PDA_CHECKS_RATE=0"}, "checks.rate"},
		{[]string{"PDA_CHECKS_CACHE_SIZE=0"}, "checks.cache_size"},
		{[]string{"PDA_CHECKS_CACHE_TTL=0s"}, "checks.cache_ttl"},
		// Checks must leave uploads calls of the AppKey's budget.
		{[]string{"PDA_CHECKS_ONLINE_SALE=warn", "PDA_MSFX_ENABLED=true", "PDA_MSFX_APP_KEY=1", "PDA_MSFX_APP_SECRET=s",
			"PDA_MSFX_REF_ENT_ID=320000000000127971", "PDA_MSFX_ENT_ID=5069452c34b94a778abaa26c2b40b305",
			"PDA_MSFX_RATE=1", "PDA_CHECKS_RATE=1"}, "checks.rate"},
	} {
		c, err := LoadBytes("test", nil, append([]string{"PDA_DEVICE_ID=T1"}, tc.env...))
		var ce *Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.want == "" && (c.Checks.Online.Sale != CheckRefuse || c.Checks.Online.Receive != CheckOff || !c.Checks.Online.Any()):
			t.Errorf("%v: decoded %+v", tc.env, c.Checks)
		case tc.want != "" && (!errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Key != tc.want):
			t.Errorf("%v: got %v, want one problem at %s", tc.env, err, tc.want)
		}
	}
	c, err := LoadBytes("test", nil, []string{"PDA_DEVICE_ID=T1"})
	if err != nil || c.Checks.Online.Any() {
		t.Fatalf("default: %v %+v", err, c.Checks)
	}
}
