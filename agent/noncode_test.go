package agent

import (
	"testing"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
)

// The default patterns take the payment codes the wallets document and
// nothing a pack carries.
func TestNonDrugDefaults(t *testing.T) {
	cfg, err := configs.LoadBytes("test", nil, []string{"PDA_DEVICE_ID=T1"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := compileNonDrug(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ raw, kind, value string }{
		// 微信 micropay auth_code example; 支付宝 alipay.trade.pay example.
		{"120061098828009406", KindPaymentCode, "120061098828009406"},
		{"154658833119096245\r\n", KindPaymentCode, "154658833119096245"},
		{"28763443825664394", KindPaymentCode, "28763443825664394"},
		{"]C0300000000000000000000", KindPaymentCode, "300000000000000000000"},
		{"162345678901234567", "", ""},        // 16: not a WeChat prefix
		{"1234567890123456789", "", ""},       // 19 digits from 12
		{"81012350000000157474", "", ""},      // 码上放心 20 digits
		{"010690123456789221SER1", "", ""},    // GS1
		{"2512345678901234567890123", "", ""}, // 25 digits
		{"PDA:SALE", "", ""},
	} {
		kind, value := r.match(device.Scan{Raw: []byte(tc.raw)})
		if kind != tc.kind || value != tc.value {
			t.Errorf("%q: %q %q, want %q %q", tc.raw, kind, value, tc.kind, tc.value)
		}
	}
	// No default for the 电子凭证: its content is opaque.
	if len(cfg.Codes.Credentials) != 0 {
		t.Fatalf("credentials default %q", cfg.Codes.Credentials)
	}
}

func TestNonDrugConfigured(t *testing.T) {
	cfg, err := configs.LoadBytes("test", []byte("codes:\n  credentials: ['^EC[0-9A-Z]{30}$']\n  payment: []\n"), []string{"PDA_DEVICE_ID=T1"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := compileNonDrug(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cred := "EC0A1B2C3D4E5F6G7H8I9J0K1L2M3N4O"
	if k, v := r.match(device.Scan{Raw: []byte(" " + cred + "\n")}); k != KindPatientCredential || v != cred {
		t.Fatalf("credential: %q %q", k, v)
	}
	if k, _ := r.match(device.Scan{Raw: []byte("120061098828009406")}); k != "" {
		t.Fatalf("payment patterns emptied, yet %q", k)
	}
	for _, bad := range []string{"codes: {payment: ['(']}", "codes: {credentials: ['.*']}", "codes: {credentials: ['']}"} {
		if _, err := configs.LoadBytes("test", []byte(bad), []string{"PDA_DEVICE_ID=T1"}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
