package gm

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// The doc sample of nhsa.md §4.3 (values masked there, filled in here), with
// the §4.3 serialization illustration (12.5 → "12.5") and nested objects
// added to data, plus fields that must be dropped or skipped.
func TestSignStringDocSample(t *testing.T) {
	envelope := `{
		"appId": "43AF047BBA47FC8A1AE8EFB2XXXXXXXX",
		"version": "2.0.1",
		"timestamp": 20200207175759,
		"signType": "SM2",
		"encType": "SM4",
		"encData": "ABCDEF",
		"signData": "c2ln",
		"extra": {"x": 1},
		"transType": "",
		"memo": null,
		"data": {
			"userName": "测试",
			"phoneNumber": "13760000000",
			"idType": "01",
			"idNo": "350100000000000000",
			"appUserId": "o8z4C5avQXqC0aWFPf1Mzu6D7WCQ",
			"appId": "43AF047BBA47FC8A1AE8EFB2XXXXXXXX",
			"totlAmt": 12.5,
			"feeSumamt": 12.50,
			"ownPay": 0,
			"insured": true,
			"empty": "",
			"none": null,
			"noList": [],
			"extData": {"zeta": "z", "Alpha": "A", "mdtrtId": 7, "blank": ""},
			"feedetailList": [{"detItemFeeSumamt": 3.10, "cnt": 2}, {"memo": ""}, "", null]
		}
	}`
	fields, err := DecodeJSONObject([]byte(envelope))
	if err != nil {
		t.Fatal(err)
	}
	got, err := SignString(fields, "SECRET")
	if err != nil {
		t.Fatal(err)
	}
	want := `appId=43AF047BBA47FC8A1AE8EFB2XXXXXXXX` +
		`&data={"appId":"43AF047BBA47FC8A1AE8EFB2XXXXXXXX","appUserId":"o8z4C5avQXqC0aWFPf1Mzu6D7WCQ",` +
		`"extData":{"Alpha":"A","mdtrtId":"7","zeta":"z"},"feeSumamt":"12.50",` +
		`"feedetailList":[{"cnt":"2","detItemFeeSumamt":"3.10"},{}],` +
		`"idNo":"350100000000000000","idType":"01","insured":"true","ownPay":"0",` +
		`"phoneNumber":"13760000000","totlAmt":"12.5","userName":"测试"}` +
		`&encType=SM4&signType=SM2&timestamp=20200207175759&version=2.0.1&key=SECRET`
	if got != want {
		t.Fatalf("SignString =\n%s\nwant\n%s", got, want)
	}
}

// The §4.3 illustration exactly: data {"totlAmt":12.5,"payAuthNo":"x",
// "medOrgOrd":"y"} signs as {"medOrgOrd":"y","payAuthNo":"x","totlAmt":"12.5"}.
func TestSignStringIllustration(t *testing.T) {
	data, err := DecodeJSONObject([]byte(`{"totlAmt":12.5,"payAuthNo":"x","medOrgOrd":"y"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := SignString(map[string]any{"data": data}, "k")
	if err != nil {
		t.Fatal(err)
	}
	if want := `data={"medOrgOrd":"y","payAuthNo":"x","totlAmt":"12.5"}&key=k`; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestSignStringRules(t *testing.T) {
	type fee struct {
		Amount float64 `json:"amt"`
		Name   string  `json:"name,omitempty"`
		Note   *string `json:"note"`
	}
	cases := []struct {
		name   string
		fields map[string]any
		want   string
	}{
		{"nothing left", map[string]any{"signData": "x", "a": "", "b": nil}, "key=S"},
		{"ascii order, upper first", map[string]any{"b": "2", "B": "1", "a": "3", "a1": "4"}, "B=1&a=3&a1=4&b=2&key=S"},
		{"top-level scalars", map[string]any{"n": json.Number("1.50"), "t": true, "f": false, "i": 42, "x": 0.1}, "f=false&i=42&n=1.50&t=true&x=0.1&key=S"},
		{"top-level string kept raw", map[string]any{"data": `{"z":1,"a":2}`}, `data={"z":1,"a":2}&key=S`},
		{"empty object kept", map[string]any{"data": map[string]any{"a": ""}}, "data={}&key=S"},
		{"empty array dropped", map[string]any{"list": []any{"", nil, []any{}}}, "key=S"},
		{"escaping", map[string]any{"data": map[string]any{"s": "a\"b\\c\n\t\x01</>&\u2028中"}},
			`data={"s":"a\"b\\c\n\t\u0001</>&` + "\u2028" + `中"}&key=S`},
		{"struct via encoding/json", map[string]any{"data": fee{Amount: 12.5}}, `data={"amt":"12.5"}&key=S`},
		{"raw message", map[string]any{"data": json.RawMessage(`{"b":[1,2.0,"x"],"a":{"c":null}}`)}, `data={"a":{},"b":["1","2.0","x"]}&key=S`},
		{"typed map and slice", map[string]any{"data": map[string][]int{"v": {1, 2}, "w": {}}}, `data={"v":["1","2"]}&key=S`},
		{"nil typed values dropped", map[string]any{"p": (*fee)(nil), "m": map[string]any(nil), "s": []any(nil)}, "key=S"},
		{"float64 like encoding/json", map[string]any{"data": map[string]any{"big": 1e21, "f": float32(0.1)}}, `data={"big":"1e+21","f":"0.1"}&key=S`},
	}
	for _, c := range cases {
		got, err := SignString(c.fields, "S")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s:\n got  %s\n want %s", c.name, got, c.want)
		}
	}
}

func TestSignStringErrors(t *testing.T) {
	deep := map[string]any{}
	cur := deep
	for i := 0; i < 100; i++ {
		next := map[string]any{}
		cur["x"] = next
		cur = next
	}
	cases := map[string]map[string]any{
		"NaN":            {"data": map[string]any{"x": math.NaN()}},
		"Inf":            {"x": math.Inf(1)},
		"bad number":     {"data": map[string]any{"x": json.Number("12abc")}},
		"spaced number":  {"x": json.Number(" 12")},
		"invalid UTF-8":  {"data": map[string]any{"x": "\xff"}},
		"invalid key":    {"\xff": "1"},
		"channel":        {"c": make(chan int)},
		"too deep":       {"data": deep},
		"bad raw JSON":   {"data": json.RawMessage(`{"a":`)},
		"func in a list": {"data": []any{func() {}}},
	}
	for name, f := range cases {
		noPanic(t, name, func() {
			if s, err := SignString(f, "S"); err == nil {
				t.Errorf("%s: accepted: %s", name, s)
			}
		})
	}
	if _, err := SignString(map[string]any{"a": "1"}, ""); err == nil {
		t.Error("empty appSecret accepted")
	}
	// Errors name the path, not the values.
	_, err := SignString(map[string]any{"data": map[string]any{"list": []any{"secret-value", math.NaN()}}}, "S")
	if err == nil || !strings.Contains(err.Error(), "data.list[1]") || strings.Contains(err.Error(), "secret-value") {
		t.Errorf("error = %v", err)
	}
}

func TestIsJSONNumber(t *testing.T) {
	for _, s := range []string{"0", "-0", "12", "12.5", "12.50", "-1.5e+10", "1E5", "0.1e-2"} {
		if !isJSONNumber(s) {
			t.Errorf("%q rejected", s)
		}
	}
	for _, s := range []string{"", "-", "01", "1.", ".5", "1e", "1e+", "+1", " 1", "1 ", "0x10", "NaN", `"1"`, "1.5.2"} {
		if isJSONNumber(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestDecodeJSONObject(t *testing.T) {
	m, err := DecodeJSONObject([]byte(` {"a": 12.50, "b": [1]} `))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := m["a"].(json.Number); !ok || n != "12.50" {
		t.Fatalf("a = %#v, want json.Number 12.50", m["a"])
	}
	for _, in := range []string{"", "null", "[]", `"x"`, `{"a":1} {"b":2}`, `{"a":1}x`, `{"a":1}}`, `{"a":`} {
		if _, err := DecodeJSONObject([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
