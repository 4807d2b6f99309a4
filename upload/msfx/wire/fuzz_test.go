package wire

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode feeds arbitrary answer bodies to every method's result type:
// the tolerant readers may refuse a body, never panic, and whatever they
// accept reads the same the second time (no state kept between decodes).
func FuzzDecode(f *testing.F) {
	golden, _ := filepath.Glob(filepath.Join("..", "testdata", "*", "*.json"))
	for _, p := range golden {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"result":{"model":{"result_list":{"x":[{"bill_code":1}]},"total_num":"2"}}}`))
	f.Add([]byte(`{"model":[{"code_relation_list":{"code_info":{"code":"1"}}}],"msg_code":"SUCCESS"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, mk := range []func() any{
			func() any { return new(UploadResult) }, func() any { return new(UpBillCodeResult) },
			func() any { return new(ListUpOutResult) }, func() any { return new(UpOutDetailResult) },
			func() any { return new(BillStatusResult) }, func() any { return new(UpBillDetailResult) },
			func() any { return new(PartSuccessResult) }, func() any { return new(CodeDetailResult) },
			func() any { return new(RelationResult) }, func() any { return new(EntInfoResult) },
		} {
			a, b := mk(), mk()
			errA, errB := Decode(body, a), Decode(body, b)
			if (errA == nil) != (errB == nil) {
				t.Fatalf("%T: decoded once and refused once: %v / %v", a, errA, errB)
			}
			if errA != nil {
				continue
			}
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if string(ja) != string(jb) {
				t.Fatalf("%T: two decodes differ:\n%s\n%s", a, ja, jb)
			}
		}
	})
}
