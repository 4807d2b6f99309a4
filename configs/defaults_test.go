package configs

import (
	"errors"
	"strings"
	"testing"
)

// nhsa.defaults takes only store-wide row fields, each checked; the
// problem names the key.
func TestNHSADefaults(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"{psn_cert_type: \"01\", rx_circ_flag: \"0\", prsc_dr_name: 王医生, hi_feesetl_type: \"1\"}", ""},
		{"{mdtrt_sn: MD1}", "nhsa.defaults.mdtrt_sn"},
		{"{phar_name: 李药师}", "nhsa.defaults.phar_name"},
		{"{rx_circ_flag: \"2\"}", "nhsa.defaults.rx_circ_flag"},
		{"{psn_cert_type: \"1234567\"}", "nhsa.defaults.psn_cert_type"},
		{"{prsc_dr_name: \" \"}", "nhsa.defaults.prsc_dr_name"},
	} {
		demo := strings.Replace(string(Demo()), "\nnhsa:\n", "\nnhsa:\n  defaults: "+tc.yaml+"\n", 1)
		c, err := LoadBytes("demo.yaml", []byte(demo), nil)
		var ce *Error
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.yaml, err)
		case tc.want == "" && c.NHSA.Defaults["prsc_dr_name"] != "王医生":
			t.Errorf("%s: decoded %v", tc.yaml, c.NHSA.Defaults)
		case tc.want != "" && (!errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Key != tc.want):
			t.Errorf("%s: got %v, want one problem at %s", tc.yaml, err, tc.want)
		}
	}
}

// Each default can come from the environment, as a string.
func TestNHSADefaultsFromEnv(t *testing.T) {
	c, err := LoadBytes("demo.yaml", Demo(), []string{"PDA_NHSA_DEFAULTS_PSN_CERT_TYPE=01", "PDA_NHSA_DEFAULTS_PRSC_DR_NAME=王医生"})
	if err != nil {
		t.Fatal(err)
	}
	if c.NHSA.Defaults["psn_cert_type"] != "01" || c.NHSA.Defaults["prsc_dr_name"] != "王医生" {
		t.Fatalf("defaults %v", c.NHSA.Defaults)
	}
	_, err = LoadBytes("demo.yaml", Demo(), []string{"PDA_NHSA_DEFAULTS_MDTRT_SN=MD1"})
	var ce *Error
	if !errors.As(err, &ce) || len(ce.Fields) != 1 || ce.Fields[0].Key != "$PDA_NHSA_DEFAULTS_MDTRT_SN" {
		t.Fatalf("a per-sale field as default: %v", err)
	}
}
