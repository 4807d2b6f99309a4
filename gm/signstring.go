package gm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SignString builds the text the channel signs (nhsa.md §4.3) from the
// envelope fields, data included as a nested value, and the app secret:
//
//  1. The top-level keys signData, encData and extra are skipped.
//  2. null, "" and empty arrays are dropped, at the top level and at every
//     depth inside objects and arrays (an array emptied by this is dropped
//     too; an empty object stays, as "{}").
//  3. Top-level keys are sorted by byte order (ASCII) and joined as k=v with
//     "&", then "&key=<appSecret>" is appended ("key=<appSecret>" alone when
//     nothing is left).
//  4. A top-level string is used as is; a number or boolean as its text.
//  5. An object or array (normally data) is compact JSON whose object keys
//     are sorted by byte order at every depth and whose scalar leaves are all
//     JSON strings: numbers keep their textual form (12.5 → "12.5", 12.50 →
//     "12.50"), booleans become "true"/"false". Only " and \ and control
//     characters are escaped (\b \f \n \r \t, others \u00xx); non-ASCII, '/',
//     '<', '>' and '&' stay raw UTF-8, as Java and C# clients write them.
//
// The numbers' text must be the text that was encrypted into encData, since
// the platform rebuilds the sign text from the decrypted JSON. So decode JSON
// with DecodeJSONObject (or json.Decoder.UseNumber) so that numbers arrive as
// json.Number, or pass data as a json.RawMessage of the very bytes encrypted.
// Other Go values (structs, typed maps and slices, ints, float64) go through
// encoding/json first, so their text is what json.Marshal would encrypt.
//
// Open question (nhsa.md §8): the Java SignUtil sorts top-level entries with
// String.CASE_INSENSITIVE_ORDER (C#: a case-insensitive comparer over "k=v&")
// but nested keys case-sensitively. This implementation uses byte order
// everywhere; the two agree for the channel's lowerCamel keys and differ only
// for keys equal up to case, or where one key is a prefix of another followed
// by a character sorting below '='. Non-ASCII keys sort by UTF-8 bytes
// (Java: UTF-16 units; differs only for characters beyond U+FFFF).
func SignString(fields map[string]any, appSecret string) (string, error) {
	if appSecret == "" {
		return "", errors.New("gm: sign string: empty appSecret")
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		switch k {
		case "signData", "encData", "extra":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		if !utf8.ValidString(k) {
			return "", fmt.Errorf("gm: sign string: key %q is not valid UTF-8", k)
		}
		n, keep, err := normalize(fields[k], k)
		if err != nil {
			return "", fmt.Errorf("gm: sign string: %w", err)
		}
		if !keep {
			continue
		}
		b.WriteString(k)
		b.WriteByte('=')
		if n.kind == leafNode {
			b.WriteString(n.text)
		} else {
			n.writeJSON(&b)
		}
		b.WriteByte('&')
	}
	b.WriteString("key=")
	b.WriteString(appSecret)
	return b.String(), nil
}

// DecodeJSONObject decodes one JSON object with numbers as json.Number, so
// that SignString sees their original text. Trailing data is an error.
func DecodeJSONObject(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("gm: decode JSON object: %w", err)
	}
	if m == nil {
		return nil, errors.New("gm: decode JSON object: not an object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("gm: decode JSON object: trailing data after the object")
	}
	return m, nil
}

type nodeKind int

const (
	leafNode nodeKind = iota
	objectNode
	arrayNode
)

// node is a value after the sign-text rules: leaves are already text.
type node struct {
	kind nodeKind
	text string   // leafNode
	keys []string // objectNode, sorted
	kids []node   // objectNode (parallel to keys) and arrayNode
}

// maxDepth bounds recursion on hostile or cyclic input.
const maxDepth = 64

// normalize applies the rules to v; keep is false when v is dropped. path is
// used in error messages only and never holds values.
func normalize(v any, path string) (node, bool, error) {
	return normalizeDepth(v, path, 0)
}

func normalizeDepth(v any, path string, depth int) (node, bool, error) {
	if depth > maxDepth {
		return node{}, false, fmt.Errorf("%s: nested deeper than %d levels", path, maxDepth)
	}
	switch x := v.(type) {
	case nil:
		return node{}, false, nil
	case string:
		if x == "" {
			return node{}, false, nil
		}
		if !utf8.ValidString(x) {
			return node{}, false, fmt.Errorf("%s: string is not valid UTF-8", path)
		}
		return node{kind: leafNode, text: x}, true, nil
	case json.Number:
		if x == "" {
			return node{}, false, nil
		}
		if !isJSONNumber(string(x)) {
			return node{}, false, fmt.Errorf("%s: json.Number %q is not a JSON number", path, string(x))
		}
		return node{kind: leafNode, text: string(x)}, true, nil
	case bool:
		return node{kind: leafNode, text: strconv.FormatBool(x)}, true, nil
	case float64:
		return floatNode(x, 64, path)
	case float32:
		return floatNode(float64(x), 32, path)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return node{kind: leafNode, text: fmt.Sprint(x)}, true, nil
	case map[string]any:
		if x == nil { // encodes as null, not {}
			return node{}, false, nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			if !utf8.ValidString(k) {
				return node{}, false, fmt.Errorf("%s: key is not valid UTF-8", path)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		// Filter in place: each key is read before its slot is rewritten.
		n := node{kind: objectNode, keys: keys[:0]}
		for _, k := range keys {
			c, keep, err := normalizeDepth(x[k], path+"."+k, depth+1)
			if err != nil {
				return node{}, false, err
			}
			if keep {
				n.keys = append(n.keys, k)
				n.kids = append(n.kids, c)
			}
		}
		return n, true, nil
	case []any:
		n := node{kind: arrayNode}
		for i, e := range x {
			c, keep, err := normalizeDepth(e, path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return node{}, false, err
			}
			if keep {
				n.kids = append(n.kids, c)
			}
		}
		if len(n.kids) == 0 {
			return node{}, false, nil
		}
		return n, true, nil
	}
	// Anything else (structs, typed maps and slices, json.RawMessage,
	// pointers) is reduced to the generic shape via its JSON encoding.
	if rv := reflect.ValueOf(v); (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Map ||
		rv.Kind() == reflect.Slice) && rv.IsNil() {
		return node{}, false, nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return node{}, false, fmt.Errorf("%s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var g any
	if err := dec.Decode(&g); err != nil {
		return node{}, false, fmt.Errorf("%s: %w", path, err)
	}
	return normalizeDepth(g, path, depth+1)
}

// floatNode formats a float the way encoding/json does, because that is the
// text json.Marshal puts into encData for the same value.
func floatNode(f float64, bits int, path string) (node, bool, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return node{}, false, fmt.Errorf("%s: NaN or infinite number", path)
	}
	var raw []byte
	var err error
	if bits == 32 {
		raw, err = json.Marshal(float32(f))
	} else {
		raw, err = json.Marshal(f)
	}
	if err != nil {
		return node{}, false, fmt.Errorf("%s: %w", path, err)
	}
	return node{kind: leafNode, text: string(raw)}, true, nil
}

// isJSONNumber reports whether s is exactly one JSON number literal (RFC 8259
// grammar, no surrounding space).
func isJSONNumber(s string) bool {
	i := 0
	digits := func() bool {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case !digits():
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

func (n node) writeJSON(b *strings.Builder) {
	switch n.kind {
	case leafNode:
		writeJSONString(b, n.text)
	case objectNode:
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			n.kids[i].writeJSON(b)
		}
		b.WriteByte('}')
	case arrayNode:
		b.WriteByte('[')
		for i, c := range n.kids {
			if i > 0 {
				b.WriteByte(',')
			}
			c.writeJSON(b)
		}
		b.WriteByte(']')
	}
}

// writeJSONString quotes s minimally. encoding/json is not used because it
// escapes <, >, & and U+2028/U+2029, which Java and C# serializers keep raw.
func writeJSONString(b *strings.Builder, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
}
