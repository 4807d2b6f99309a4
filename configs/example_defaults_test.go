package configs

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// exampleLeaf is one value example.yaml shows: its decoded value and the
// comments on its line.
type exampleLeaf struct {
	value   any
	line    int
	comment string
}

// yamlLeaves flattens a YAML document to dotted keys; a list is one leaf.
func yamlLeaves(t *testing.T, data []byte) map[string]exampleLeaf {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]exampleLeaf{}
	var walk func(n *yaml.Node, key, comment string, line int)
	walk = func(n *yaml.Node, key, comment string, line int) {
		if n.Kind == yaml.MappingNode && len(n.Content) > 0 {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				walk(v, joinKey(key, k.Value), k.LineComment+" "+v.LineComment, k.Line)
			}
			return
		}
		var v any
		if err := n.Decode(&v); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		out[key] = exampleLeaf{value: v, line: line, comment: comment}
	}
	walk(doc.Content[0], "", "", 0)
	return out
}

// example.yaml claims to show every key's default: each value it shows is
// the embedded default, unless its line says "# example" (a sample to
// replace, for keys whose default is empty). A wrong "default" there is
// copied into real configs (sessions.default_type: 321 made a minimal
// counter config refuse every scan no_session).
func TestExampleShowsTheDefaults(t *testing.T) {
	defaults := yamlLeaves(t, Default())
	example := yamlLeaves(t, Example())
	if len(example) < 100 {
		t.Fatalf("only %d values found in example.yaml", len(example))
	}
	marked := 0
	for key, ex := range example {
		def, ok := defaults[key]
		var want any
		if ok {
			want = def.value
		}
		if same(ex.value, want) {
			if strings.Contains(ex.comment, "example") {
				t.Errorf("example.yaml line %d: %s: %v is the default but marked as an example", ex.line, key, ex.value)
			}
			continue
		}
		if !strings.Contains(ex.comment, "# example") && !strings.HasPrefix(strings.TrimSpace(ex.comment), "example") {
			t.Errorf("example.yaml line %d: %s: %v, but the default is %v (show the default, or mark the line \"# example\")", ex.line, key, ex.value, want)
			continue
		}
		marked++
	}
	if marked == 0 {
		t.Error("no example values marked: the store's identity keys need samples")
	}
}

// same compares decoded YAML values; an empty list or mapping equals a
// missing one, and numbers compare by value.
func same(a, b any) bool {
	if isEmpty(a) && isEmpty(b) {
		return true
	}
	if reflect.DeepEqual(a, b) {
		return true
	}
	return fmt.Sprint(a) == fmt.Sprint(b) && reflect.TypeOf(a) == reflect.TypeOf(b)
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}
