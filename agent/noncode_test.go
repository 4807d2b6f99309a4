package agent

import (
	"math/rand/v2"
	"regexp"
	"testing"

	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/device"
	"github.com/pda-agent/pda-agent/tracecode"
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
	// The 电子凭证 default: 28 digits (unconfirmed; noncode.go).
	for _, tc := range []struct{ raw, kind string }{
		{"9876543210987654321098765432", KindPatientCredential},
		{"]Q19876543210987654321098765432\r\n", KindPatientCredential},
		{"987654321098765432109876543", ""},   // 27
		{"98765432109876543210987654321", ""}, // 29
	} {
		if kind, _ := r.match(device.Scan{Raw: []byte(tc.raw)}); kind != tc.kind {
			t.Errorf("%q: %q, want %q", tc.raw, kind, tc.kind)
		}
	}
}

// gs1Check is a GTIN's check digit over its first digits.
func gs1Check(body string) byte {
	sum := 0
	for i := len(body) - 1; i >= 0; i-- {
		d := int(body[i] - '0')
		if (len(body)-1-i)%2 == 0 {
			d *= 3
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// The default credential pattern never takes a pack: every valid trace
// code, of each kind and layout the parser accepts (28-digit GS1 strings
// among them, which the pattern alone would match), is left to parsing.
func TestDefaultCredentialNeverATraceCode(t *testing.T) {
	cfg, err := configs.LoadBytes("test", nil, []string{"PDA_DEVICE_ID=T1"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := compileNonDrug(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(13, 2026))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	matched28 := 0
	for range 3000 {
		body := "0" + digits(12)
		gtin := body + string(gs1Check(body))
		for _, code := range []string{
			"8" + digits(19),                                 // 码上放心
			"01" + gtin + "21" + digits(10),                  // 28 digits
			"]d201" + gtin + "21" + digits(10),               // with its symbology id
			"11" + "250601" + "01" + gtin + "21" + digits(2), // 28 digits, a date first
			"(01)" + gtin + "(21)" + digits(10),
			"01" + gtin + "17" + "271231" + "10" + digits(4) + "\x1d21" + digits(6),
		} {
			if _, err := tracecode.Parse(code, r.codes); err != nil {
				continue // not a valid code after all: nothing to prove with it
			}
			if regexp.MustCompile(`^[0-9]{28}$`).MatchString(code) {
				matched28++
			}
			if kind, _ := r.match(device.Scan{Raw: []byte(code)}); kind != "" {
				t.Fatalf("trace code %q taken as %s", code, kind)
			}
		}
	}
	if matched28 == 0 {
		t.Fatal("no valid 28-digit trace code was generated: the test proves nothing")
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
