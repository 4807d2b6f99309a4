package wire

import (
	"encoding/json"
	"slices"
	"testing"
)

type item struct {
	Code  Str         `json:"code"`
	Level Int64       `json:"code_level"`
	Kids  List[item2] `json:"kids"`
}

type item2 struct {
	Code Str `json:"code"`
}

func TestListShapes(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []string
	}{
		{"array", `[{"code":"a"},{"code":"b"}]`, []string{"a", "b"}},
		{"wrapped", `{"code_info_list_dto":[{"code":"a"},{"code":"b"}]}`, []string{"a", "b"}},
		{"wrapped single object", `{"code_info_list_dto":{"code":"a"}}`, []string{"a"}},
		{"single object, one field", `{"code":"a"}`, []string{"a"}},
		{"single object", `{"code":"a","code_level":"1"}`, []string{"a"}},
		{"empty wrapper", `{}`, nil},
		{"wrapped empty", `{"code_info_list_dto":[]}`, nil},
		{"null", `null`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var l List[item]
			if err := json.Unmarshal([]byte(tt.in), &l); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, it := range l {
				got = append(got, string(it.Code))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	// A lone element whose only field is itself a list is an element, not
	// a wrapper.
	var l List[item]
	if err := json.Unmarshal([]byte(`{"kids":{"k":[{"code":"x"}]}}`), &l); err != nil || len(l) != 1 || len(l[0].Kids) != 1 || l[0].Kids[0].Code != "x" {
		t.Errorf("lone element: %+v %v", l, err)
	}
	var codes List[Str]
	if err := json.Unmarshal([]byte(`{"string":["a","b"]}`), &codes); err != nil || !slices.Equal(codes, List[Str]{"a", "b"}) {
		t.Errorf("wrapped strings: %v %v", codes, err)
	}
	if err := json.Unmarshal([]byte(`"a, b,,c"`), &codes); err != nil || !slices.Equal(codes, List[Str]{"a", "b", "c"}) {
		t.Errorf("comma-joined: %v %v", codes, err)
	}
	if err := json.Unmarshal([]byte(`"a"`), &l); err == nil {
		t.Errorf("a string read as a list of objects")
	}
	if err := json.Unmarshal([]byte(`7`), &l); err == nil {
		t.Errorf("a number read as a list")
	}
}

func TestScalars(t *testing.T) {
	var n struct {
		A, B, C, D, E Int64
	}
	if err := json.Unmarshal([]byte(`{"A":900118368918456,"B":"900118368918456","C":"","D":null,"E":3.0}`), &n); err != nil ||
		n.A != 900118368918456 || n.B != n.A || n.C != 0 || n.D != 0 || n.E != 3 {
		t.Errorf("Int64: %+v %v", n, err)
	}
	var bad Int64
	if err := json.Unmarshal([]byte(`"A"`), &bad); err == nil {
		t.Errorf(`"A" read as a number`)
	}
	var s struct{ A, B, C, D, E Str }
	if err := json.Unmarshal([]byte(`{"A":"x","B":201,"C":true,"D":null,"E":{"k":1}}`), &s); err != nil ||
		s.A != "x" || s.B != "201" || s.C != "true" || s.D != "" || s.E != "" {
		t.Errorf("Str: %+v %v", s, err)
	}
	for in, want := range map[string]bool{`true`: true, `"true"`: true, `"1"`: true, `"Y"`: true, `false`: false, `"false"`: false, `"0"`: false, `""`: false, `null`: false} {
		var b Bool
		if err := json.Unmarshal([]byte(in), &b); err != nil || bool(b) != want {
			t.Errorf("Bool %s: %v %v", in, b, err)
		}
	}
	var b Bool
	if err := json.Unmarshal([]byte(`"maybe"`), &b); err == nil {
		t.Errorf(`"maybe" read as a flag`)
	}
}

func TestPageShapes(t *testing.T) {
	for _, tt := range []struct {
		name, in    string
		rows, total int
		pages       Int64
	}{
		{"result_list", `{"result_list":[{"code":"a"}],"total_num":"11"}`, 1, 11, 0},
		{"result, pages", `{"result":[{"code":"a"},{"code":"b"}],"pages":2,"total_num":4,"page":1,"page_size":2}`, 2, 4, 2},
		{"wrapped rows", `{"result_list":{"bill_up_out_detail_do":[{"code":"a"}]},"total_num":1}`, 1, 1, 0},
		{"bare array", `[{"code":"a"},{"code":"b"}]`, 2, 2, 0},
		{"bare wrapper", `{"bill_deal_status_search_do":[{"code":"a"}]}`, 1, 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var p Page[item2]
			if err := json.Unmarshal([]byte(tt.in), &p); err != nil {
				t.Fatal(err)
			}
			if len(p.ResultList) != tt.rows || p.Total() != tt.total || p.Pages != tt.pages {
				t.Errorf("page %+v (total %d)", p, p.Total())
			}
		})
	}
}

func TestDecodeLayouts(t *testing.T) {
	for name, body := range map[string]string{
		"inside result":              `{"result":{"msg_code":"SUCCESS","response_success":"true","model":{"result":[{"code":"a"}],"pages":1}},"request_id":"r"}`,
		"top level":                  `{"msg_code":"SUCCESS","response_success":true,"model":{"result":[{"code":"a"}],"pages":1},"request_id":"r"}`,
		"status top, rows in result": `{"msg_code":"SUCCESS","response_success":true,"result":{"model":{"result":{"x":[{"code":"a"}]},"pages":1}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			var r struct {
				Status
				Model *Page[item2] `json:"model"`
			}
			if err := Decode([]byte(body), &r); err != nil {
				t.Fatal(err)
			}
			if !r.OK() || r.Model == nil || len(r.Model.ResultList) != 1 || r.Model.ResultList[0].Code != "a" || r.Model.Pages != 1 {
				t.Errorf("read %+v", r)
			}
		})
	}
	// Inside result wins over the top level.
	var st Status
	if err := Decode([]byte(`{"msg_code":"SUCCESS","result":{"msg_code":"FAIL_BIZ_NO_PAT_INFO"}}`), &st); err != nil || st.MsgCode != MsgNoInfo {
		t.Errorf("precedence: %+v %v", st, err)
	}
}
