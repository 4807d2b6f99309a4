package nhsa

import (
	"slices"
	"testing"
)

// FuzzBusiness feeds arbitrary outputs to the business-result reader: it
// never panics, every refused row it reports has a key, and its order
// lists each reported row exactly once.
func FuzzBusiness(f *testing.F) {
	for _, s := range []string{
		`{"result":{"retRslt":"1","msgRslt":"成功"}}`,
		`{"retRslt":0,"msgRslt":"参数校验失败"}`,
		`{"invinfoErrDetail":[{"fixmedins_bchno":"A01","retRslt":"0","msgRslt":"x"},{"fixmedins_bchno":"A02","retRslt":"1"}]}`,
		`{"result":{"errDetail":[{"fixmedinsBchno":"A03","msgRslt":"y"}]}}`,
		`{"selinfo":[{"fixmedins_bchno":"A01"}]}`,
		`[]`, `null`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	c := &Client{}
	f.Fuzz(func(t *testing.T, output []byte) {
		r := c.business(output)
		if len(r.order) != len(r.rows) {
			t.Fatalf("order %v, rows %v", r.order, r.rows)
		}
		for _, k := range r.order {
			if k == "" {
				t.Fatal("a refused row without a key")
			}
			if _, ok := r.rows[k]; !ok {
				t.Fatalf("ordered row %q not among the rows", k)
			}
		}
		sorted := slices.Clone(r.order)
		slices.Sort(sorted)
		if len(slices.Compact(sorted)) != len(r.order) {
			t.Fatalf("a row listed twice: %v", r.order)
		}
	})
}
