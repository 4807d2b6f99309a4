package configs

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

// The embedded files. default.yaml holds every key's default; demo.yaml is
// the scripted store day's config; example.yaml documents every key.
var (
	//go:embed default.yaml
	defaultYAML []byte
	//go:embed demo.yaml
	demoYAML []byte
	//go:embed example.yaml
	exampleYAML []byte
)

// Default returns the embedded default config file.
func Default() []byte { return bytes.Clone(defaultYAML) }

// Demo returns the embedded demo config file.
func Demo() []byte { return bytes.Clone(demoYAML) }

// Example returns the documented example config file.
func Example() []byte { return bytes.Clone(exampleYAML) }

// EnvPrefix starts every environment override: PDA_QUEUE_MAX_SIZE sets
// queue.max_size. Values are read as YAML scalars or flow lists.
const EnvPrefix = "PDA_"

// envIgnored are PDA_ variables that are not config keys.
var envIgnored = map[string]bool{"PDA_CONFIG": true}

// FieldError is one bad key and why.
type FieldError struct {
	Key string
	Msg string
}

// Error lists every problem found in a config.
type Error struct {
	Source string
	Fields []FieldError
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config %s: %d problem(s)", e.Source, len(e.Fields))
	for _, f := range e.Fields {
		fmt.Fprintf(&b, "\n  %s: %s", f.Key, f.Msg)
	}
	return b.String()
}

// Load reads the config file at path (none if empty) over the embedded
// defaults, applies PDA_ overrides from env (os.Environ() form), and
// validates the result. Every problem is reported at once in an *Error.
// Load never touches the network.
func Load(path string, env []string) (*Config, error) {
	var data []byte
	source := "defaults"
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		source = path
	}
	return LoadBytes(source, data, env)
}

// LoadBytes is Load for a config already in memory (nil = defaults only).
func LoadBytes(source string, data []byte, env []string) (*Config, error) {
	return LoadLayers(source, []Layer{{Name: "file", Data: data}}, nil, env)
}

// Layer is one YAML document of a layered config.
type Layer struct {
	Name string
	Data []byte
}

// LoadLayers merges the embedded defaults, then each layer in order (later
// layers win: e.g. HQ's bundle, then the device's own file), then values
// (config key → value, e.g. the secrets a bundle carries), then the PDA_
// environment, and validates the result.
func LoadLayers(source string, layers []Layer, values map[string]string, env []string) (*Config, error) {
	// origins says where each key's value came from, for the messages.
	origins := map[string]origin{}
	v := viper.New()
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(defaultYAML)); err != nil {
		return nil, fmt.Errorf("config: embedded defaults: %w", err)
	}
	for _, l := range layers {
		data := l.Data
		if len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		var probe any
		if err := yaml.Unmarshal(data, &probe); err != nil {
			return nil, &Error{Source: source, Fields: []FieldError{{Key: "(" + l.Name + ")", Msg: "not valid YAML: " + yamlProblem(data, err)}}}
		}
		if _, ok := probe.(map[string]any); !ok && probe != nil {
			return nil, &Error{Source: source, Fields: []FieldError{{Key: "(" + l.Name + ")", Msg: "the top level must be a mapping of keys"}}}
		}
		if err := v.MergeConfig(bytes.NewReader(data)); err != nil {
			return nil, &Error{Source: source, Fields: []FieldError{{Key: "(" + l.Name + ")", Msg: err.Error()}}}
		}
		var root yaml.Node
		if yaml.Unmarshal(data, &root) == nil {
			fileOrigins(&root, l.Name, len(layers) > 1, origins)
		}
	}
	var problems []FieldError
	known := map[string]bool{}
	for _, k := range leafKeys(reflect.TypeOf(Config{}), "") {
		known[k] = true
	}
	for k, val := range values {
		if !known[k] {
			problems = append(problems, FieldError{Key: k, Msg: "no such config key" + didYouMean(k, sortedKeys(known))})
			continue
		}
		v.Set(k, val)
		origins[k] = origin{where: "bundle value", value: val}
	}
	problems = append(problems, applyEnv(v, env, origins)...)

	var c Config
	err := v.Unmarshal(&c, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(durationHook, byteSizeHook)
	})
	decodeErrs := decodeProblems(err, origins)
	problems = append(problems, decodeErrs...)
	// Validate what did decode; a key that failed to decode is reported
	// once, for its decoding.
	failed := map[string]bool{}
	for _, f := range decodeErrs {
		failed[f.Key] = true
	}
	for _, f := range c.Validate() {
		if !failed[f.Key] {
			if o, ok := origins[f.Key]; ok && o.env != "" {
				// The file may say otherwise: name the variable that won.
				f.Msg = "$" + o.env + ": " + f.Msg
			} else if ok && o.line > 0 {
				f.Msg = o.where + ": " + f.Msg
			}
			problems = append(problems, f)
		}
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Key < problems[j].Key })
		return nil, &Error{Source: source, Fields: problems}
	}
	return &c, nil
}

// applyEnv sets every PDA_ variable that names a known key.
func applyEnv(v *viper.Viper, env []string, origins map[string]origin) []FieldError {
	known := map[string]string{}
	for _, k := range leafKeys(reflect.TypeOf(Config{}), "") {
		known[EnvPrefix+strings.ToUpper(strings.ReplaceAll(k, ".", "_"))] = k
	}
	// nhsa.defaults is a map: one variable per field it takes, its value
	// always a string (a code such as 01 must not become the number 1).
	verbatim := map[string]bool{}
	for f := range nhsaDefaultFields() {
		name := EnvPrefix + "NHSA_DEFAULTS_" + strings.ToUpper(f)
		known[name], verbatim[name] = "nhsa.defaults."+f, true
	}
	var problems []FieldError
	for _, kv := range env {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || envIgnored[name] {
			continue
		}
		key, ok := known[name]
		if !ok {
			problems = append(problems, FieldError{Key: "$" + name, Msg: "environment variable names no config key" + didYouMean(name, sortedKeys(known))})
			continue
		}
		origins[key] = origin{env: name, value: val}
		var parsed any
		if verbatim[name] {
			v.Set(key, val)
			continue
		}
		if err := yaml.Unmarshal([]byte(val), &parsed); err != nil || parsed == nil {
			parsed = val
		}
		if _, isMap := parsed.(map[string]any); isMap {
			parsed = val
		}
		v.Set(key, parsed)
	}
	return problems
}

// leafKeys lists the dotted keys of a config struct type. Lists of structs
// (scanners, other_rules) are one key each.
func leafKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "squash" {
			out = append(out, leafKeys(f.Type, prefix)...)
			continue
		}
		key := prefix + name
		if f.Type.Kind() == reflect.Struct {
			out = append(out, leafKeys(f.Type, key+".")...)
			continue
		}
		out = append(out, key)
	}
	return out
}

// SecretKeys lists the dotted keys whose values are secrets (type Secret):
// HQ takes them out of the rendered config and encrypts them per device.
func SecretKeys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			switch {
			case opts == "squash":
				walk(f.Type, prefix)
			case f.Type == secretType:
				out = append(out, prefix+name)
			case f.Type.Kind() == reflect.Struct:
				walk(f.Type, prefix+name+".")
			}
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	sort.Strings(out)
	return out
}

var secretType = reflect.TypeOf(Secret(""))

// decodeProblems turns mapstructure's joined errors into one problem per
// key, each naming where the value came from and what the key wants.
func decodeProblems(err error, origins map[string]origin) []FieldError {
	if err == nil {
		return nil
	}
	var out []FieldError
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range j.Unwrap() {
				walk(inner)
			}
			return
		}
		de, ok := e.(*mapstructure.DecodeError)
		if !ok {
			if inner := errors.Unwrap(e); inner != nil {
				walk(inner)
				return
			}
		}
		if ok {
			msg := de.Unwrap().Error()
			if keys, ok := strings.CutPrefix(msg, "has invalid keys: "); ok {
				for _, k := range strings.Split(keys, ", ") {
					key := joinKey(de.Name(), k)
					msg := "unknown key"
					if o, ok := origins[key]; ok && o.line > 0 {
						msg = o.where + ": " + msg
					}
					out = append(out, FieldError{Key: key, Msg: msg + didYouMean(k, siblingKeys(de.Name())) + " (see configs/example.yaml)"})
				}
				return
			}
			out = append(out, FieldError{Key: de.Name(), Msg: typeProblem(de.Name(), msg, origins)})
			return
		}
		out = append(out, FieldError{Key: "(decode)", Msg: e.Error()})
	}
	walk(err)
	return out
}

func joinKey(parent, k string) string {
	if parent == "" {
		return k
	}
	return parent + "." + k
}

func cleanDecodeMsg(msg string) string {
	// mapstructure speaks Go types; say it in config terms.
	r := strings.NewReplacer("expected type 'configs.ByteSize'", "expected a size like 64MiB",
		"expected type 'time.Duration'", "expected a duration like 30s or 5m",
		"expected type 'configs.Secret'", "expected a string", "'[]", "a list of '")
	return r.Replace(msg)
}

var (
	durationType = reflect.TypeOf(time.Duration(0))
	byteSizeType = reflect.TypeOf(ByteSize(0))
)

// durationHook reads "30s"; a bare number is refused (unit ambiguity).
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	s, ok := data.(string)
	if !ok {
		return nil, fmt.Errorf("expected a duration like 30s or 5m, got %v", data)
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("invalid duration %q: write it like 30s, 5m or 1h30m", s)
	}
	return d, nil
}

func byteSizeHook(from, to reflect.Type, data any) (any, error) {
	if to != byteSizeType {
		return data, nil
	}
	switch d := data.(type) {
	case string:
		return ParseByteSize(d)
	case int:
		if d < 0 {
			return nil, fmt.Errorf("invalid size %d: negative", d)
		}
		return ByteSize(d), nil
	case int64:
		if d < 0 {
			return nil, fmt.Errorf("invalid size %d: negative", d)
		}
		return ByteSize(d), nil
	}
	return nil, fmt.Errorf("expected a size like 64MiB, got %v", data)
}

// origin is where a key's value was set: an environment variable, a line
// of a layer, or a bundle value.
type origin struct {
	env   string // the PDA_ variable, if the environment set it
	where string // "line 13" (or "bundle line 13"), "bundle value"
	line  int
	value string // the value as written; never shown for a Secret
}

// describe says where a value came from and what it was, e.g.
// `PDA_MSFX_ENABLED=yes` or `line 13: got "abc"`.
func (o origin) describe(secret bool) string {
	val := o.value
	if secret {
		val = "(secret)"
	}
	switch {
	case o.env != "":
		return o.env + "=" + val
	case o.where != "":
		return fmt.Sprintf("%s: got %q", o.where, val)
	}
	return fmt.Sprintf("got %q", val)
}

// fileOrigins records the line of every key a YAML layer sets, under the
// names mapstructure reports (msfx.enabled, scanners[0].suffix). Viper
// lowercases keys, so this does too.
func fileOrigins(root *yaml.Node, layer string, named bool, origins map[string]origin) {
	var walk func(n *yaml.Node, key string)
	walk = func(n *yaml.Node, key string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, key)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, val := n.Content[i], n.Content[i+1]
				child := joinKey(key, strings.ToLower(k.Value))
				where := fmt.Sprintf("line %d", k.Line)
				if named {
					where = layer + " " + where
				}
				o := origin{where: where, line: k.Line}
				if val.Kind == yaml.ScalarNode {
					o.value = val.Value
				}
				origins[child] = o
				walk(val, child)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", key, i))
			}
		}
	}
	walk(root, "")
}

// yamlProblem words a YAML syntax error with the line at fault. The parser
// often names the line where the broken block starts (an indent error on
// line 13 reported at line 6); the first line whose addition makes the
// text unparsable is the one to fix.
func yamlProblem(data []byte, err error) string {
	msg := err.Error()
	text := strings.TrimPrefix(msg, "yaml: ")
	if _, rest, ok := strings.Cut(text, ": "); ok && strings.HasPrefix(text, "line ") {
		text = rest
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > 5000 {
		return msg
	}
	var probe any
	for k := 1; k <= len(lines); k++ {
		perr := yaml.Unmarshal(bytes.Join(lines[:k], nil), &probe)
		if perr == nil || truncated(perr) {
			continue
		}
		return fmt.Sprintf("line %d: %s", k, text)
	}
	return msg
}

// truncated reports a parse error that only says the text stopped early,
// as a prefix cut inside a flow list or a quoted string does.
func truncated(err error) bool {
	m := err.Error()
	for _, s := range []string{"end of stream", "expected ',' or", "could not find expected ':'", "did not find expected node content"} {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

// typeProblem rewords a decoding error of key: the value, where it came
// from and the type the key wants, in config terms rather than Go's
// (`PDA_MSFX_ENABLED=yes: wants true or false`).
func typeProblem(key, msg string, origins map[string]origin) string {
	t := typeAt(key)
	o, known := origins[key]
	secret := t == secretType
	goSpeak := strings.Contains(msg, "strconv.") || strings.Contains(msg, "expected type") ||
		strings.Contains(msg, "unconvertible") || strings.Contains(msg, "cannot parse")
	// The duration and size hooks word it well but repeat the value.
	goSpeak = goSpeak || t == durationType || t == byteSizeType
	if want := describeType(t); goSpeak && want != "" {
		msg = "wants " + want
	} else {
		msg = cleanDecodeMsg(msg)
	}
	if known {
		return o.describe(secret) + ": " + msg
	}
	return msg
}

// describeType names a config type as an operator writes it.
func describeType(t reflect.Type) string {
	if t == nil {
		return ""
	}
	switch t {
	case durationType:
		return "a duration like 30s or 5m"
	case byteSizeType:
		return "a size like 64MiB"
	case secretType:
		return "a string"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number, 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		if e := describeType(t.Elem()); e != "" {
			return "a list, each " + e
		}
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping of keys"
	case reflect.Pointer:
		return describeType(t.Elem())
	}
	return ""
}

// typeAt is the Go type of a config key as mapstructure names it
// (scanners[0].suffix), nil when the key names nothing.
func typeAt(key string) reflect.Type {
	t := reflect.TypeOf(Config{})
	for _, seg := range keySegments(key) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case strings.HasPrefix(seg, "["):
			if k := t.Kind(); k != reflect.Slice && k != reflect.Array && k != reflect.Map {
				return nil
			}
			t = t.Elem()
		case t.Kind() == reflect.Map:
			t = t.Elem()
		case t.Kind() == reflect.Struct:
			f, ok := fieldByTag(t, seg)
			if !ok {
				return nil
			}
			t = f
		default:
			return nil
		}
	}
	return t
}

// keySegments splits "scanners[0].suffix" into scanners, [0], suffix.
func keySegments(key string) []string {
	var out []string
	for _, part := range strings.Split(key, ".") {
		for part != "" {
			i := strings.IndexByte(part[1:], '[')
			if part[0] == '[' {
				if j := strings.IndexByte(part, ']'); j > 0 {
					out, part = append(out, part[:j+1]), part[j+1:]
					continue
				}
			}
			if i < 0 {
				out, part = append(out, part), ""
				continue
			}
			out, part = append(out, part[:i+1]), part[i+1:]
		}
	}
	return out
}

// fieldByTag finds the field of struct t with mapstructure name, looking
// through squashed embeddings.
func fieldByTag(t reflect.Type, name string) (reflect.Type, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if opts == "squash" {
			if ft, ok := fieldByTag(f.Type, name); ok {
				return ft, true
			}
			continue
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

// siblingKeys lists the keys valid beside a key under parent ("" for the
// top level), for "did you mean".
func siblingKeys(parent string) []string {
	t := reflect.TypeOf(Config{})
	if parent != "" {
		t = typeAt(parent)
	}
	for t != nil && (t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	// The keys here first, then one level down (serial.suffix): a key
	// written one level too high is a common slip.
	var out, nested []string
	var walk func(t reflect.Type, prefix string, depth int)
	walk = func(t reflect.Type, prefix string, depth int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag, opts, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			switch {
			case opts == "squash":
				walk(f.Type, prefix, depth)
			case depth == 0:
				out = append(out, tag)
				if f.Type.Kind() == reflect.Struct && f.Type != durationType {
					walk(f.Type, tag+".", 1)
				}
			default:
				nested = append(nested, prefix+tag)
			}
		}
	}
	walk(t, "", 0)
	return append(out, nested...)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// didYouMean suggests the candidates nearest to name by edit distance
// (ignoring case, and "_" so APPSECRET finds APP_SECRET), or "" when none
// is close enough to be the likely intent. A dotted candidate is compared
// by its last part, so sufix finds serial.suffix.
func didYouMean(name string, candidates []string) string {
	norm := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	n := norm(name)
	var best []string
	bestD := -1
	for _, c := range candidates {
		last := c[strings.LastIndexByte(c, '.')+1:]
		d := editDistance(n, norm(last))
		switch {
		case bestD < 0 || d < bestD:
			best, bestD = []string{c}, d
		case d == bestD:
			best = append(best, c)
		}
	}
	// One edit in four letters at most, and at least one allowed.
	if bestD < 0 || bestD > max(1, len(n)/4) || (len(best) == 1 && best[0] == name) {
		return ""
	}
	if len(best) > 3 {
		best = best[:3]
	}
	if strings.HasPrefix(name, EnvPrefix) {
		for i := range best {
			best[i] = "$" + best[i]
		}
	}
	return "; did you mean " + strings.Join(best, " or ") + "?"
}

// editDistance is the Levenshtein distance between a and b, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
