package hq

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/pda-agent/pda-agent/configs"
)

// Tree is a loaded config tree:
//
//	chain.yaml               required: what every device gets
//	regions/<region>.yaml    optional, per region
//	stores/<store>.yaml      optional, per store
//	groups/<group>.yaml      optional, per device group (e.g. "counter-pc")
//	devices/<device>.yaml    optional, per device
//	catalogue/products.csv   optional catalogue, carried in the bundle
//	catalogue/partners.csv   optional partner list
//	stores/<store>.products.csv  optional, replaces products.csv for a store
//
// Maps are merged deeply in that order, later files winning; a list
// replaces the list before it; an explicit null deletes the key so the
// agent's default applies. Keys are compared case-insensitively, as the
// agent's loader does. A Tree is read-only once loaded and safe for
// concurrent Render calls.
type Tree struct {
	dir           string
	chain         map[string]any
	layers        map[string]map[string]map[string]any // kind → name → document
	products      string
	partners      string
	storeProducts map[string]string
	ignored       []string // files that are none of the above
}

// Layer kinds, in merge order after chain.yaml.
var layerKinds = []string{"regions", "stores", "groups", "devices"}

// LoadTree reads and parses every file of the tree at dir. Problems in the
// files are returned together as a *RenderError.
func LoadTree(dir string) (*Tree, error) {
	t := &Tree{dir: dir, layers: map[string]map[string]map[string]any{}, storeProducts: map[string]string{}}
	var problems []Problem
	bad := func(file string, err error) { problems = append(problems, Problem{File: file, Err: err}) }

	chain, err := readYAML(filepath.Join(dir, "chain.yaml"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		bad("chain.yaml", errors.New("missing: every tree needs chain.yaml (it may be nearly empty)"))
	case err != nil:
		bad("chain.yaml", err)
	default:
		t.chain = chain
	}
	for _, kind := range layerKinds {
		t.layers[kind] = map[string]map[string]any{}
		entries, err := os.ReadDir(filepath.Join(dir, kind))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			bad(kind, err)
			continue
		}
		for _, e := range entries {
			name, rel := e.Name(), kind+"/"+e.Name()
			switch {
			case e.IsDir() || strings.HasPrefix(name, "."):
				t.ignored = append(t.ignored, rel)
			case kind == "stores" && strings.HasSuffix(name, ".products.csv"):
				data, err := os.ReadFile(filepath.Join(dir, kind, name))
				if err != nil {
					bad(rel, err)
					continue
				}
				t.storeProducts[strings.TrimSuffix(name, ".products.csv")] = string(data)
			case strings.HasSuffix(name, ".yaml"):
				doc, err := readYAML(filepath.Join(dir, kind, name))
				if err != nil {
					bad(rel, err)
					continue
				}
				t.layers[kind][strings.TrimSuffix(name, ".yaml")] = doc
			default:
				t.ignored = append(t.ignored, rel)
			}
		}
	}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"products.csv", &t.products}, {"partners.csv", &t.partners}} {
		data, err := os.ReadFile(filepath.Join(dir, "catalogue", f.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			bad("catalogue/"+f.name, err)
			continue
		}
		*f.dst = string(data)
	}
	if len(problems) > 0 {
		return nil, &RenderError{Problems: problems}
	}
	return t, nil
}

// readYAML parses one tree file into a map with lower-cased keys.
func readYAML(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not valid YAML: %w", err)
	}
	if doc == nil {
		return map[string]any{}, nil
	}
	norm, err := normalize(doc, "")
	if err != nil {
		return nil, err
	}
	m, ok := norm.(map[string]any)
	if !ok {
		return nil, errors.New("the top level must be a mapping of keys")
	}
	return m, nil
}

// normalize returns a copy of v with map keys as lower-case strings,
// refusing two keys that differ only in case.
func normalize(v any, path string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if err := putNorm(out, k, val, path); err != nil {
				return nil, err
			}
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if err := putNorm(out, fmt.Sprint(k), val, path); err != nil {
				return nil, err
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			n, err := normalize(val, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	return v, nil
}

func putNorm(out map[string]any, k string, val any, path string) error {
	lk := strings.ToLower(k)
	full := joinPath(path, lk)
	if _, dup := out[lk]; dup {
		return fmt.Errorf("key %s appears twice (keys are not case-sensitive)", full)
	}
	n, err := normalize(val, full)
	if err != nil {
		return err
	}
	out[lk] = n
	return nil
}

func joinPath(parent, k string) string {
	if parent == "" {
		return k
	}
	return parent + "." + k
}

// deepCopy copies maps and lists so merging never touches the tree.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = deepCopy(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = deepCopy(val)
		}
		return out
	}
	return v
}

// mergeInto merges src over dst: maps deeply, anything else replaced, an
// explicit null deleting the key.
func mergeInto(dst, src map[string]any) {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		sm, sIsMap := sv.(map[string]any)
		dm, dIsMap := dst[k].(map[string]any)
		if sIsMap && dIsMap {
			mergeInto(dm, sm)
			continue
		}
		dst[k] = deepCopy(sv)
	}
}

// Rendered is one device's config as HQ would ship it.
type Rendered struct {
	Device string
	// Config is the merged YAML with device.id set and the secrets taken
	// out.
	Config string
	// Secrets maps config keys to their values in clear; Publish encrypts
	// them to the device's key. Empty secrets are left out.
	Secrets map[string]string
	// Products and Partners are the catalogue files, empty if none.
	Products, Partners string
	// CatalogueScope is what the catalogue covers: "chain", or
	// "store:<id>" when the store has its own products file.
	CatalogueScope string
	// Sources are the tree files merged, in order.
	Sources []string
}

// Render merges the tree for device d. It does not validate the result
// (see Validate).
func (t *Tree) Render(d Device) (*Rendered, error) {
	merged := deepCopy(t.chain).(map[string]any)
	sources := []string{"chain.yaml"}
	for _, l := range []struct{ kind, name string }{{"regions", d.Region}, {"stores", d.Store}, {"groups", d.Group}, {"devices", d.ID}} {
		if l.name == "" {
			continue
		}
		if doc, ok := t.layers[l.kind][l.name]; ok {
			mergeInto(merged, doc)
			sources = append(sources, l.kind+"/"+l.name+".yaml")
		}
	}

	// HQ owns device.id in a bundle: the enrolled id is the one whose key
	// the secrets are encrypted to.
	dev := map[string]any{}
	switch cur := merged["device"].(type) {
	case nil:
	case map[string]any:
		dev = cur
	default:
		return nil, fmt.Errorf("device: must be a mapping, got %T", merged["device"])
	}
	dev["id"] = d.ID
	if s, _ := dev["store"].(string); s == "" {
		dev["store"] = d.Store // shown in agent status; the tree may name it better
	}
	merged["device"] = dev

	secrets := map[string]string{}
	for _, key := range configs.SecretKeys() {
		v, found, err := takeKey(merged, key)
		if err != nil {
			return nil, err
		}
		if !found || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s: a secret must be a string; YAML read %T (quote the value)", key, v)
		}
		if s != "" {
			secrets[key] = s
		}
	}

	body, err := yaml.Marshal(merged)
	if err != nil {
		return nil, fmt.Errorf("encode rendered config: %w", err)
	}
	header := fmt.Sprintf("# Rendered by pda-hq for device %s from %s.\n# Secrets are not in this text: they travel encrypted to this device's key.\n",
		d.ID, strings.Join(sources, ", "))
	r := &Rendered{Device: d.ID, Config: header + string(body), Secrets: secrets, Partners: t.partners, Sources: sources}
	r.Products, r.CatalogueScope = t.products, "chain"
	if p, ok := t.storeProducts[d.Store]; ok {
		r.Products, r.CatalogueScope = p, "store:"+d.Store
		r.Sources = append(r.Sources, "stores/"+d.Store+".products.csv")
	}
	return r, nil
}

// takeKey removes the dotted key from m and returns its value.
func takeKey(m map[string]any, dotted string) (any, bool, error) {
	parts := strings.Split(dotted, ".")
	cur := m
	for i, p := range parts[:len(parts)-1] {
		next, ok := cur[p]
		if !ok || next == nil {
			return nil, false, nil
		}
		nm, ok := next.(map[string]any)
		if !ok {
			return nil, false, fmt.Errorf("%s: must be a mapping, got %T", strings.Join(parts[:i+1], "."), next)
		}
		cur = nm
	}
	last := parts[len(parts)-1]
	v, ok := cur[last]
	if ok {
		delete(cur, last)
	}
	return v, ok, nil
}

// Validate loads the rendered config exactly as `pda-agent validate` would
// load the bundle: embedded defaults, the config, the secrets, no
// environment. Only offline checks run. The error is a *configs.Error.
func (r *Rendered) Validate() error {
	_, err := configs.LoadLayers("rendered", []configs.Layer{{Name: "bundle", Data: []byte(r.Config)}}, r.Secrets, nil)
	return err
}

// Unused lists tree files that no device uses (likely typos) and files the
// tree ignores.
func (t *Tree) Unused(devices []Device) []string {
	used := map[string]map[string]bool{}
	for _, kind := range layerKinds {
		used[kind] = map[string]bool{}
	}
	for _, d := range devices {
		used["regions"][d.Region] = true
		used["stores"][d.Store] = true
		used["groups"][d.Group] = true
		used["devices"][d.ID] = true
	}
	var out []string
	for _, kind := range layerKinds {
		for name := range t.layers[kind] {
			if !used[kind][name] {
				out = append(out, kind+"/"+name+".yaml: matches no enrolled device")
			}
		}
	}
	for name := range t.storeProducts {
		if !used["stores"][name] {
			out = append(out, "stores/"+name+".products.csv: matches no enrolled device")
		}
	}
	for _, f := range t.ignored {
		out = append(out, f+": ignored (only .yaml files and stores/<store>.products.csv are read)")
	}
	sort.Strings(out)
	return out
}

// Problem is one reason a tree or a rendered config was refused.
type Problem struct {
	// Devices are the devices whose rendered config has this problem
	// (empty for a problem in a tree file).
	Devices []string
	// File is the tree file at fault, if known.
	File string
	// Err is the problem; for a rendered config that fails validation a
	// *configs.Error listing every bad key.
	Err error
}

// RenderError refuses a publish: nothing was staged. Devices with the same
// problem are listed together.
type RenderError struct {
	Problems []Problem
}

// Error lists every problem, each device's bad keys one per line.
func (e *RenderError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "config tree refused, nothing published: %d problem(s)", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		if p.File != "" {
			b.WriteString(p.File)
		}
		if len(p.Devices) > 0 {
			if p.File != "" {
				b.WriteString(", ")
			}
			b.WriteString(deviceList(p.Devices))
		}
		var ce *configs.Error
		if errors.As(p.Err, &ce) {
			fmt.Fprintf(&b, ": %d bad key(s)", len(ce.Fields))
			for _, f := range ce.Fields {
				fmt.Fprintf(&b, "\n    %s: %s", f.Key, f.Msg)
			}
			continue
		}
		fmt.Fprintf(&b, ": %v", p.Err)
	}
	return b.String()
}

func deviceList(ids []string) string {
	const show = 10
	word := "device"
	if len(ids) > 1 {
		word = "devices"
	}
	if len(ids) <= show {
		return word + " " + strings.Join(ids, ", ")
	}
	return fmt.Sprintf("%s %s and %d more", word, strings.Join(ids[:show], ", "), len(ids)-show)
}

// groupProblems merges per-device problems with the same text.
func groupProblems(perDevice map[string]error) []Problem {
	byText := map[string]*Problem{}
	var order []string
	ids := make([]string, 0, len(perDevice))
	for id := range perDevice {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		err := perDevice[id]
		text := err.Error()
		p, ok := byText[text]
		if !ok {
			p = &Problem{Err: err}
			byText[text] = p
			order = append(order, text)
		}
		p.Devices = append(p.Devices, id)
	}
	out := make([]Problem, 0, len(order))
	for _, text := range order {
		out = append(out, *byText[text])
	}
	return out
}
