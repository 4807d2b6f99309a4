package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Tolerant readers. The platform answers in more than one shape: the
// public SDKs declare most scalars as strings and some as int64, older
// types and XML→JSON conversions turn numbers and booleans into strings,
// and the classic TOP JSON (no simplify=true) wraps every list in an
// object keyed by its element's XML name ({"drug_infos_dto": […]}). These
// types read every such shape once, for all methods. Unknown fields are
// ignored by encoding/json; missing ones stay zero.

// Str is a text field that may arrive as a JSON string, number or
// boolean (kept as its JSON text). null, objects and arrays read as "".
type Str string

// UnmarshalJSON implements json.Unmarshaler.
func (s *Str) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case len(data) == 0:
		*s = ""
	case data[0] == '"':
		var v string
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		*s = Str(v)
	case data[0] == '{' || data[0] == '[' || string(data) == "null":
		// A text field answered with a structure says nothing usable;
		// it must not fail the page around it.
		*s = ""
	default:
		*s = Str(data) // number or boolean, as written
	}
	return nil
}

// String returns s as a plain string.
func (s Str) String() string { return string(s) }

// Int64 is a number that may arrive as a JSON number or a numeric string
// (ids, counts, bill types, result_type). "" and null read as 0.
type Int64 int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *Int64) UnmarshalJSON(data []byte) error {
	t := strings.TrimSpace(string(data))
	if strings.HasPrefix(t, `"`) {
		var s string
		if err := json.Unmarshal([]byte(t), &s); err != nil {
			return err
		}
		t = strings.TrimSpace(s)
	}
	if t == "" || t == "null" {
		*n = 0
		return nil
	}
	if v, err := strconv.ParseInt(t, 10, 64); err == nil {
		*n = Int64(v)
		return nil
	}
	// 3.0 or 1e3 from encoders that write every number as a double.
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f != float64(int64(f)) {
		return fmt.Errorf("want an integer, got %s", clipRaw(data))
	}
	*n = Int64(int64(f))
	return nil
}

// Bool is a flag that may arrive as a JSON boolean or as a string:
// "true"/"false", "1"/"0", "Y"/"N" (XML→JSON conversions and
// string-declared flags such as is_smallest). "" and null read as false.
type Bool bool

// UnmarshalJSON implements json.Unmarshaler.
func (b *Bool) UnmarshalJSON(data []byte) error {
	t := strings.TrimSpace(string(data))
	if strings.HasPrefix(t, `"`) {
		var s string
		if err := json.Unmarshal([]byte(t), &s); err != nil {
			return err
		}
		t = strings.TrimSpace(s)
	}
	v, ok := ParseFlag(t)
	if !ok {
		return fmt.Errorf("want true or false, got %s", clipRaw(data))
	}
	*b = Bool(v)
	return nil
}

// ParseFlag reads a flag's text: true/1/Y/是 and false/0/N/否 (any case),
// "" and null as false. ok is false for anything else.
func ParseFlag(s string) (v, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "y", "yes", "是":
		return true, true
	case "false", "0", "n", "no", "否", "", "null":
		return false, true
	}
	return false, false
}

// List is a list field read in every shape it arrives in:
//
//   - a JSON array (simplify=true, the SDKs' declared type);
//   - an object with one key wrapping the array, the classic TOP shape,
//     keyed by the element's XML name ({"bill_up_out_detail_do": […]}),
//     or wrapping a single object (XML→JSON conversions of one element);
//   - a single object where the SDK of another version declares a list
//     ("model as object or list");
//   - for lists of text, a comma-joined string;
//   - null or {} as empty.
//
// A one-key object is read as a wrapper only when the key is not a field
// of the element type, so a lone element is never mistaken for one.
type List[T any] []T

// UnmarshalJSON implements json.Unmarshaler.
func (l *List[T]) UnmarshalJSON(data []byte) error {
	items, err := readList[T](data, 0)
	if err != nil {
		return err
	}
	*l = items
	return nil
}

// maxWrap bounds nested wrappers ({"a": {"b": […]}}): real answers have one.
const maxWrap = 3

func readList[T any](data []byte, depth int) ([]T, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	switch data[0] {
	case '[':
		var items []T
		if err := json.Unmarshal(data, &items); err != nil {
			return nil, err
		}
		return items, nil
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return nil, err
		}
		if len(obj) == 0 {
			return nil, nil
		}
		if len(obj) == 1 && depth < maxWrap {
			for k, v := range obj {
				if !isFieldOf[T](k) {
					return readList[T](v, depth+1)
				}
			}
		}
		var one T
		if err := json.Unmarshal(data, &one); err != nil {
			return nil, err
		}
		return []T{one}, nil
	case '"':
		if !isText[T]() {
			return nil, fmt.Errorf("want a list, got %s", clipRaw(data))
		}
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, err
		}
		var items []T
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				var v T
				reflect.ValueOf(&v).Elem().SetString(p)
				items = append(items, v)
			}
		}
		return items, nil
	}
	return nil, fmt.Errorf("want a list, got %s", clipRaw(data))
}

// isText tells whether T is a string kind (string, Str).
func isText[T any]() bool {
	return reflect.TypeFor[T]().Kind() == reflect.String
}

// isFieldOf tells whether key is the JSON name of a field of T (a struct,
// or a pointer to one), embedded structs included.
func isFieldOf[T any](key string) bool {
	t := reflect.TypeFor[T]()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && hasJSONField(t, key)
}

func hasJSONField(t reflect.Type, key string) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && hasJSONField(ft, key) {
				return true
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		if strings.EqualFold(name, key) {
			return true
		}
	}
	return false
}

// First returns the list's first element, or false when it is empty.
func (l List[T]) First() (T, bool) {
	if len(l) == 0 {
		var zero T
		return zero, false
	}
	return l[0], true
}

// Page is a paged payload (the SDKs' PageInfoDto types). Rows arrive under
// result_list (listupout, query.billstatus) or result
// (listbillprocesspartsuccess); a bare list (array or wrapped) is read as
// one page of rows without totals.
type Page[T any] struct {
	ResultList List[T] `json:"result_list"`
	TotalNum   Int64   `json:"total_num"`
	// Pages is the page count, where the answer gives it
	// (listbillprocesspartsuccess).
	Pages    Int64 `json:"pages,omitempty"`
	Page     Int64 `json:"page"`
	PageSize Int64 `json:"page_size"`
}

// pageFields are the JSON names a page object may carry.
var pageFields = map[string]bool{"result_list": true, "result": true, "total_num": true, "pages": true, "page": true, "page_size": true}

// UnmarshalJSON implements json.Unmarshaler.
func (p *Page[T]) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	*p = Page[T]{}
	if len(data) == 0 || string(data) == "null" {
		return nil
	}
	if data[0] == '{' {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(data, &probe); err != nil {
			return err
		}
		isPage := false
		for k := range probe {
			if pageFields[k] {
				isPage = true
			}
		}
		if isPage {
			var raw struct {
				ResultList json.RawMessage `json:"result_list"`
				Result     json.RawMessage `json:"result"`
				TotalNum   Int64           `json:"total_num"`
				Pages      Int64           `json:"pages"`
				Page       Int64           `json:"page"`
				PageSize   Int64           `json:"page_size"`
			}
			if err := json.Unmarshal(data, &raw); err != nil {
				return err
			}
			rows := raw.ResultList
			if len(bytes.TrimSpace(rows)) == 0 {
				rows = raw.Result
			}
			items, err := readList[T](rows, 0)
			if err != nil {
				return fmt.Errorf("page rows: %w", err)
			}
			*p = Page[T]{ResultList: items, TotalNum: raw.TotalNum, Pages: raw.Pages, Page: raw.Page, PageSize: raw.PageSize}
			return nil
		}
	}
	items, err := readList[T](data, 0)
	if err != nil {
		return err
	}
	p.ResultList = items
	return nil
}

// Total is the page's total_num, or the rows' count when it gives none.
func (p *Page[T]) Total() int {
	if p == nil {
		return 0
	}
	if p.TotalNum > 0 {
		return int(p.TotalNum)
	}
	return len(p.ResultList)
}

func clipRaw(data []byte) string {
	const n = 60
	if len(data) > n {
		return string(data[:n]) + "…"
	}
	return string(data)
}

// Decode reads a method's answer body (the content of "<method>_response",
// or the whole body with simplify=true) into v, one of the …Result types:
// fields are taken from the top level and from a "result" object, which
// wins where both give one. The SDK declares the payload inside "result"
// for the queries and at the top level for the uploads and
// listbillprocesspartsuccess; platforms have answered both ways, so both
// are read for every method.
func Decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return err
	}
	var outer struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &outer); err != nil {
		return err
	}
	if r := bytes.TrimSpace(outer.Result); len(r) > 0 && r[0] == '{' {
		if err := json.Unmarshal(r, v); err != nil {
			return fmt.Errorf("result: %w", err)
		}
	}
	return nil
}
