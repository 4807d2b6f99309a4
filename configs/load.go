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
			return nil, &Error{Source: source, Fields: []FieldError{{Key: "(" + l.Name + ")", Msg: "not valid YAML: " + err.Error()}}}
		}
		if _, ok := probe.(map[string]any); !ok && probe != nil {
			return nil, &Error{Source: source, Fields: []FieldError{{Key: "(" + l.Name + ")", Msg: "the top level must be a mapping of keys"}}}
		}
		if err := v.MergeConfig(bytes.NewReader(data)); err != nil {
			return nil, &Error{Source: source, Fields: []FieldError{{Key: "(" + l.Name + ")", Msg: err.Error()}}}
		}
	}
	var problems []FieldError
	known := map[string]bool{}
	for _, k := range leafKeys(reflect.TypeOf(Config{}), "") {
		known[k] = true
	}
	for k, val := range values {
		if !known[k] {
			problems = append(problems, FieldError{Key: k, Msg: "no such config key"})
			continue
		}
		v.Set(k, val)
	}
	problems = append(problems, applyEnv(v, env)...)

	var c Config
	err := v.Unmarshal(&c, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(durationHook, byteSizeHook)
	})
	decodeErrs := decodeProblems(err)
	problems = append(problems, decodeErrs...)
	// Validate what did decode; a key that failed to decode is reported
	// once, for its decoding.
	failed := map[string]bool{}
	for _, f := range decodeErrs {
		failed[f.Key] = true
	}
	for _, f := range c.Validate() {
		if !failed[f.Key] {
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
func applyEnv(v *viper.Viper, env []string) []FieldError {
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
			problems = append(problems, FieldError{Key: "$" + name, Msg: "environment variable names no config key"})
			continue
		}
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
// key.
func decodeProblems(err error) []FieldError {
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
					out = append(out, FieldError{Key: joinKey(de.Name(), k), Msg: "unknown key (see configs/example.yaml)"})
				}
				return
			}
			out = append(out, FieldError{Key: de.Name(), Msg: cleanDecodeMsg(msg)})
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
