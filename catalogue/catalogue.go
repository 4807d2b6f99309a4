// Package catalogue is the store's product and partner reference data: what
// the scanner cannot know but the back ends need. The 医保 interfaces need
// each product's 医保目录编码 and the store's own item id and name; 拆零
// needs units per pack; the store workflows need key varieties and partner
// names. Chains export it from their ERP as two CSV files (HQ pushes them
// later); products are keyed by the 码上放心 7-digit 药品标识码 prefix and/or
// the GS1 GTIN-14.
package catalogue

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Product is one product line of the catalogue.
type Product struct {
	// Key is the 7-digit 码上放心 prefix or the 14-digit GTIN.
	Key string
	// Name is the product's display name (药品通用名 + 规格).
	Name string
	// MedListCodg is the national 医保目录编码.
	MedListCodg string
	// HilistID and HilistName are the store's own item id and name
	// (fixmedins_hilist_id / _name).
	HilistID, HilistName string
	// RxFlag is 处方药标志 as the province codes it (commonly 1 = Rx).
	RxFlag string
	// Aprvno is 批准文号; Maker is 生产厂家名称.
	Aprvno, Maker string
	// Spec is the pack spec, e.g. "0.25g*24粒".
	Spec string
	// Units is the number of sellable units in a pack for 拆零 (split-pack)
	// sales; 0 = the pack is never split.
	Units int
	// KeyVariety marks a key variety (国家集采, 麻精, 血液制品 …) whose
	// packs must be scanned.
	KeyVariety bool
	// Barcode69 is the product barcode (商品码, drug_prod_barc).
	Barcode69 string
}

// Partner is a supplier or customer enterprise.
type Partner struct {
	// EntID is the 码上放心 32-hex ent_id.
	EntID string
	Name  string
	// LicenseNo is the 药品经营许可证号 (spler_pmtno).
	LicenseNo string
}

// Catalogue is an immutable lookup table.
type Catalogue struct {
	products map[string]Product
	partners map[string]Partner
}

// Empty is a catalogue that knows nothing.
func Empty() *Catalogue {
	return &Catalogue{products: map[string]Product{}, partners: map[string]Partner{}}
}

// Product finds a product by its 7-digit prefix or GTIN.
func (c *Catalogue) Product(key string) (Product, bool) {
	if c == nil {
		return Product{}, false
	}
	p, ok := c.products[key]
	return p, ok
}

// ByMedList finds the products of a 医保目录编码 (med_list_codg), by key.
func (c *Catalogue) ByMedList(codg string) []Product {
	if c == nil || codg == "" {
		return nil
	}
	var out []Product
	for _, p := range c.products {
		if p.MedListCodg == codg {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// Partner finds a partner by ent_id.
func (c *Catalogue) Partner(entID string) (Partner, bool) {
	if c == nil {
		return Partner{}, false
	}
	p, ok := c.partners[strings.ToLower(entID)]
	return p, ok
}

// Products returns the number of products.
func (c *Catalogue) Products() int { return len(c.products) }

// Partners returns the number of partners.
func (c *Catalogue) Partners() int { return len(c.partners) }

// PartnerList returns every partner, by name, for a clerk to pick from.
func (c *Catalogue) PartnerList() []Partner {
	if c == nil {
		return nil
	}
	out := make([]Partner, 0, len(c.partners))
	for _, p := range c.partners {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Partner) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.EntID, b.EntID))
	})
	return out
}

// Load reads the product and partner files; an empty path is skipped.
func Load(productsPath, partnersPath string) (*Catalogue, error) {
	c := Empty()
	if productsPath != "" {
		f, err := os.Open(productsPath)
		if err != nil {
			return nil, fmt.Errorf("catalogue: %w", err)
		}
		defer f.Close()
		if c.products, err = ReadProducts(f); err != nil {
			return nil, fmt.Errorf("catalogue: %s: %w", productsPath, err)
		}
	}
	if partnersPath != "" {
		f, err := os.Open(partnersPath)
		if err != nil {
			return nil, fmt.Errorf("catalogue: %w", err)
		}
		defer f.Close()
		if c.partners, err = ReadPartners(f); err != nil {
			return nil, fmt.Errorf("catalogue: %s: %w", partnersPath, err)
		}
	}
	return c, nil
}

// New builds a catalogue from values (tests, HQ bundles).
func New(products []Product, partners []Partner) (*Catalogue, error) {
	c := Empty()
	for i, p := range products {
		if err := checkProduct(p); err != nil {
			return nil, fmt.Errorf("product %d: %w", i+1, err)
		}
		if _, dup := c.products[p.Key]; dup {
			return nil, fmt.Errorf("product %d: key %s listed twice", i+1, p.Key)
		}
		c.products[p.Key] = p
	}
	for i, p := range partners {
		if !entIDRE.MatchString(p.EntID) || p.Name == "" {
			return nil, fmt.Errorf("partner %d: needs a 32-hex ent_id and a name", i+1)
		}
		c.partners[strings.ToLower(p.EntID)] = p
	}
	return c, nil
}

var (
	prefixRE = regexp.MustCompile(`^8[0-9]{6}$`)
	gtinRE   = regexp.MustCompile(`^[0-9]{14}$`)
	entIDRE  = regexp.MustCompile(`^[0-9a-fA-F]{32}$`)
)

func checkProduct(p Product) error {
	switch {
	case !prefixRE.MatchString(p.Key) && !gtinRE.MatchString(p.Key):
		return fmt.Errorf("key %q is neither a 7-digit 码上放心 prefix (8xxxxxx) nor a 14-digit GTIN", p.Key)
	case p.Name == "":
		return fmt.Errorf("key %s: name is empty", p.Key)
	case p.Units < 0:
		return fmt.Errorf("key %s: units %d is negative", p.Key, p.Units)
	}
	return nil
}

// Product CSV columns (header row required, order free, names as below;
// only key and name are required).
var productColumns = []string{"key", "name", "med_list_codg", "hilist_id", "hilist_name", "rx_flag",
	"aprvno", "maker", "spec", "units", "key_variety", "barcode69"}

// ReadProducts parses a product CSV (UTF-8, optional BOM).
func ReadProducts(r io.Reader) (map[string]Product, error) {
	rows, err := readCSV(r, productColumns, []string{"key", "name"})
	if err != nil {
		return nil, err
	}
	var list []Product
	var errs []error
	for _, row := range rows {
		units := 0
		if v := row.get("units"); v != "" {
			if units, err = strconv.Atoi(v); err != nil {
				errs = append(errs, fmt.Errorf("line %d: units %q is not a number", row.line, v))
				continue
			}
		}
		kv, err := parseBool(row.get("key_variety"))
		if err != nil {
			errs = append(errs, fmt.Errorf("line %d: key_variety: %w", row.line, err))
			continue
		}
		p := Product{Key: row.get("key"), Name: row.get("name"), MedListCodg: row.get("med_list_codg"),
			HilistID: row.get("hilist_id"), HilistName: row.get("hilist_name"), RxFlag: row.get("rx_flag"),
			Aprvno: row.get("aprvno"), Maker: row.get("maker"), Spec: row.get("spec"), Units: units,
			KeyVariety: kv, Barcode69: row.get("barcode69")}
		if err := checkProduct(p); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", row.line, err))
			continue
		}
		list = append(list, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c, err := New(list, nil)
	if err != nil {
		return nil, err
	}
	return c.products, nil
}

// ReadPartners parses a partner CSV with columns ent_id, name, license_no.
func ReadPartners(r io.Reader) (map[string]Partner, error) {
	rows, err := readCSV(r, []string{"ent_id", "name", "license_no"}, []string{"ent_id", "name"})
	if err != nil {
		return nil, err
	}
	var list []Partner
	for _, row := range rows {
		list = append(list, Partner{EntID: row.get("ent_id"), Name: row.get("name"), LicenseNo: row.get("license_no")})
	}
	c, err := New(nil, list)
	if err != nil {
		return nil, err
	}
	return c.partners, nil
}

type csvRow struct {
	line int
	cols map[string]int
	rec  []string
}

func (r csvRow) get(name string) string {
	i, ok := r.cols[name]
	if !ok || i >= len(r.rec) {
		return ""
	}
	return strings.TrimSpace(r.rec[i])
}

func readCSV(r io.Reader, known, required []string) ([]csvRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the header row: %w", err)
	}
	cols := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !contains(known, h) {
			return nil, fmt.Errorf("unknown column %q (known: %s)", h, strings.Join(known, ", "))
		}
		cols[h] = i
	}
	for _, req := range required {
		if _, ok := cols[req]; !ok {
			return nil, fmt.Errorf("missing column %q", req)
		}
	}
	var rows []csvRow
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		rows = append(rows, csvRow{line: line, cols: cols, rec: rec})
	}
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "0", "false", "no", "n", "否":
		return false, nil
	case "1", "true", "yes", "y", "是":
		return true, nil
	}
	return false, fmt.Errorf("%q is not yes/no", v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
