package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/agent"
)

// needsYAML is a store with 医保 on, the pharmacist and two defaults set.
const needsYAML = `device: {id: T1}
data_dir: %s
nhsa:
  enabled: true
  env: test
  test: {url: "http://127.0.0.1:9/fsi", recer_sys_code: YBXT}
  fixmedins_code: P99000000001
  fixmedins_name: 沙箱大药房
  mdtrtarea_admvs: "990100"
  opter: T1
  opter_name: 张药师
  phar_name: 李药师
  phar_prac_cert_no: "0000000001"
  defaults: {psn_cert_type: "01", rx_circ_flag: "0"}
`

func TestValidateNeeds(t *testing.T) {
	cfg := writeFile(t, t.TempDir(), "config.yaml", fmt.Sprintf(needsYAML, t.TempDir()))
	out, errOut, code := runCLI(t, "", "validate", "--config", cfg, "--needs", "--type", "321")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, line := range []string{
		`(?m)^nhsa: 321 使用出库 → 3505 \(only sales carrying nhsa.mdtrt_sn`,
		`(?m)^  mdtrt_sn +attr nhsa.mdtrt_sn +no +always +就医流水号$`,
		`(?m)^  psn_cert_type +attr nhsa.psn_cert_type +nhsa.defaults.psn_cert_type +always`,
		`(?m)^  phar_name +config nhsa.phar_name +nhsa.phar_name +always`,
		`(?m)^  med_list_codg +catalogue \(products column med_list_codg\) +no +always`,
		`(?m)^  manu_lotnum +code +no +always`,
		`(?m)^  setl_id +attr nhsa.setl_id +no +nhsa.mdtrt_setl_type is 1`,
	} {
		if !regexp.MustCompile(line).MatchString(out) {
			t.Errorf("no line %s in:\n%s", line, out)
		}
	}
	if strings.Contains(out, "3503") || strings.Contains(out, "rtal_docno") {
		t.Errorf("more than asked, or a field the bill code fills:\n%s", out)
	}

	out, _, code = runCLI(t, "", "validate", "--config", cfg, "--needs", "--json")
	var all []agent.TypeNeeds
	if err := json.Unmarshal([]byte(out), &all); err != nil || code != 0 {
		t.Fatalf("json: %v (exit %d): %s", err, code, out)
	}
	var types []int
	for _, tn := range all {
		types = append(types, tn.Type)
	}
	if fmt.Sprint(types) != "[102 116 202 321]" {
		t.Errorf("types %v", types)
	}
	if _, errOut, code := runCLI(t, "", "validate", "--config", cfg, "--needs", "--type", "999"); code != exitUsage || !strings.Contains(errOut, "999") {
		t.Errorf("unknown type: exit %d %s", code, errOut)
	}
}
