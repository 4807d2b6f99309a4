package msfx

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

// checkLabel names a code_check_error_info key. The key table is inferred
// (msfx.md §5.1), so reasons keep the platform's key as well.
func checkLabel(key string) string {
	switch key {
	case wire.CodeErrNotActivated:
		return "code not activated (未激活)"
	case wire.CodeErrFormat:
		return "code failed the format check"
	case wire.CodeErrDuplicate:
		return "duplicate code"
	case wire.CodeErrCancelled, "5":
		return "code cancelled (注销)"
	case wire.CodeErrParentChild:
		return "parent and child codes on one bill"
	case wire.CodeErrBatch:
		return "batch/production/expiry date mismatch"
	}
	return "error type " + key
}

// parseCheckErrors reads operation_info_map.code_check_error_info, a JSON
// string holding {"<key>": "code,code,…"}, into code → reason. Key 6 lists
// pairs "child(下级);parent(上级)", and each side's reason names the other.
func parseCheckErrors(s string) (map[string]string, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "{}" || s == "null" {
		return nil, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, err
	}
	out := make(map[string]string)
	for _, key := range slices.Sorted(maps.Keys(raw)) {
		var items []string
		var str string
		if err := json.Unmarshal(raw[key], &str); err == nil {
			items = strings.Split(str, ",")
		} else if err := json.Unmarshal(raw[key], &items); err != nil {
			return out, fmt.Errorf("key %q: neither a comma list nor a list", key)
		}
		prefix := fmt.Sprintf("code_check_error_info %s: %s", key, checkLabel(key))
		for _, item := range items {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			sides := strings.Split(item, ";")
			if len(sides) != 2 {
				for _, side := range sides {
					if code, _ := cutRole(side); code != "" {
						addReason(out, code, prefix)
					}
				}
				continue
			}
			a, roleA := cutRole(sides[0])
			b, roleB := cutRole(sides[1])
			if a != "" {
				addReason(out, a, pairReason(prefix, roleA, b))
			}
			if b != "" {
				addReason(out, b, pairReason(prefix, roleB, a))
			}
		}
	}
	return out, nil
}

// cutRole splits "8644…(下级)" into the code and its role (下级/上级), with
// ASCII or full-width brackets.
func cutRole(s string) (code, role string) {
	s = strings.TrimSpace(s)
	for _, r := range []string{"下级", "上级"} {
		for _, form := range []string{"(" + r + ")", "（" + r + "）"} {
			if c, ok := strings.CutSuffix(s, form); ok {
				return strings.TrimSpace(c), r
			}
		}
	}
	return s, ""
}

func pairReason(prefix, role, other string) string {
	switch {
	case other == "":
		return prefix
	case role == "下级":
		return fmt.Sprintf("%s: 下级 (child) of %s on the same bill", prefix, other)
	case role == "上级":
		return fmt.Sprintf("%s: 上级 (parent) of %s on the same bill", prefix, other)
	}
	return fmt.Sprintf("%s: related to %s", prefix, other)
}

// addReason records why for code, keeping earlier reasons.
func addReason(m map[string]string, code, why string) {
	code = strings.TrimSpace(code)
	if code == "" {
		return
	}
	switch old, ok := m[code]; {
	case !ok:
		m[code] = why
	case !strings.Contains(old, why):
		m[code] = old + "; " + why
	}
}
