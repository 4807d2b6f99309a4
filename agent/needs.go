package agent

import (
	"cmp"
	"context"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pda-agent/pda-agent/billtype"
	"github.com/pda-agent/pda-agent/catalogue"
	"github.com/pda-agent/pda-agent/configs"
	"github.com/pda-agent/pda-agent/queue"
	"github.com/pda-agent/pda-agent/upload"
	"github.com/pda-agent/pda-agent/upload/nhsa"
)

// What each destination needs, per bill type, before a bill can be sent
// (pda-agent validate --needs). Nothing here is a list kept by hand: the
// 医保 needs are what the client's own check (the row building of
// upload/nhsa, its required fields and provenance) says a probe bill
// lacks, asked offline with the store's config; a need the config fills
// is found by asking again without that config value.

// Need is one datum a destination needs for a bill type.
type Need struct {
	// Field is the back end's name of the datum (e.g. prsc_dr_name).
	Field string `json:"field"`
	// Name is its Chinese name where the back end's tables give one.
	Name string `json:"name,omitempty"`
	// Source is where the value comes from, as in a finish answer's
	// missing entries: "attr nhsa.<field>" (from the POS), "config
	// nhsa.<key>", "catalogue", "code" (the pack's own data), "partner",
	// "operator", "bill".
	Source string `json:"source"`
	// Column is the catalogue column (products file) or "partners" (the
	// partners file) for a need of the catalogue.
	Column string `json:"column,omitempty"`
	// When is the condition under which it is needed ("" = always).
	When string `json:"when,omitempty"`
	// ProvidedBy is the config key that gives it today ("" = nothing does:
	// the POS, the catalogue or the pack must).
	ProvidedBy string `json:"provided_by,omitempty"`
}

// TypeNeeds is what one destination needs for one bill type.
type TypeNeeds struct {
	Dest     string `json:"dest"`
	Type     int    `json:"type"`
	TypeName string `json:"type_name"`
	// Interface is the back end's interface (医保 infno) or method.
	Interface string `json:"interface,omitempty"`
	// Note says which bills of the type go there, or why none do.
	Note  string `json:"note,omitempty"`
	Needs []Need `json:"needs"`
}

// NeedTypes are the bill types the API's session kinds open, in order.
func NeedTypes() []int {
	out := make([]int, 0, len(kinds))
	for _, t := range kinds {
		out = append(out, t)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Needs says, for each enabled destination taking each of types, what a
// bill needs before it can be sent and what of it the config gives. It is
// offline: the catalogue's files are not read (its columns are named), and
// nothing is sent.
func Needs(ctx context.Context, cfg *configs.Config, types []int) ([]TypeNeeds, error) {
	var out []TypeNeeds
	for _, t := range types {
		if !billtype.Known(t) {
			return nil, fmt.Errorf("agent: needs: unknown bill type %d", t)
		}
		for _, dest := range cfg.Destinations(t) {
			tn := TypeNeeds{Dest: dest, Type: t, TypeName: billtype.Name(t), Needs: []Need{}}
			switch dest {
			case "nhsa":
				if err := nhsaNeeds(ctx, cfg, &tn); err != nil {
					return nil, err
				}
			default:
				otherNeeds(&tn)
			}
			out = append(out, tn)
		}
	}
	return out, nil
}

// otherNeeds are the needs of 码上放心 and the webhook: the codes, and
// for 码上放心's in/out bills the partner's ent_id (upload/msfx builds
// from_user_id / to_user_id from it; the API checks it when the bill is
// opened). Neither reads a bill attr (BuiltinUsesAttr).
func otherNeeds(tn *TypeNeeds) {
	tn.Needs = append(tn.Needs, Need{Field: "trace codes", Source: "scan"})
	if BuiltinUsesAttr(tn.Dest, "nhsa.probe") {
		tn.Note = "may read any bill attr"
	} else {
		tn.Note = "reads no bill attr"
	}
	dir, _ := billtype.DirectionOf(tn.Type)
	if tn.Dest == "msfx" && (dir == billtype.Inbound || dir == billtype.Outbound) {
		tn.Needs = append(tn.Needs, Need{Field: "partner", Name: "ent_id", Source: "partner"})
	}
}

// Probe values: a bill of one pack whose product is in the catalogue with
// nothing but its name, from a supplier the catalogue does not list.
const (
	probeProduct  = "8000001"
	probeCode     = "80000010000000000017"
	probePartner  = "0123456789abcdef0123456789abcdef"
	probeBill     = "NEEDS-261207-00002"
	probeOriginal = "NEEDS-261207-00001"
)

// probeVariant is one probe bill: when names the condition its extra
// needs hold under ("" = the bill as most are).
type probeVariant struct {
	when    string
	partner string
	attrs   map[string]string
	ref     bool // the pack has an original bill the ledger knows (returns)
}

func probeVariants(t int) []probeVariant {
	dir, _ := billtype.DirectionOf(t)
	v := []probeVariant{{partner: "", ref: true}, {partner: probePartner, ref: true}}
	switch dir {
	case billtype.ConsumerReturn:
		// A return without a sale here is refused unless it names the
		// original; only a receipt of a sale not on this device leaves the
		// pack without an original bill.
		v = append(v, probeVariant{when: "the return names only a receipt of a sale not on this device", partner: probePartner})
	case billtype.Outbound:
		v = append(v, probeVariant{when: "the ledger knows no original bill of the pack", partner: probePartner})
	case billtype.Retail:
		v = append(v, probeVariant{when: "nhsa.mdtrt_setl_type is 1 (医保结算)", partner: probePartner,
			ref: true, attrs: map[string]string{"nhsa.mdtrt_setl_type": "1"}})
	}
	return v
}

// nhsaNeeds asks the 医保 client's check what probe bills of the type
// lack: once with the config as it is, once without nhsa.defaults, and
// once without each config value the rows may take.
func nhsaNeeds(ctx context.Context, cfg *configs.Config, tn *TypeNeeds) error {
	infno, ok := nhsa.Interface(tn.Type)
	if !ok {
		tn.Note = "not sent to 医保 (no 进销存 interface for this type)"
		return nil
	}
	tn.Interface = infno
	if tn.Type == billtype.RetailSale && cfg.NHSA.Sales != "all" {
		tn.Note = "only sales carrying nhsa.mdtrt_sn (nhsa.sales: " + cfg.NHSA.Sales + ")"
	}
	bare := cfg.NHSA
	bare.Defaults = nil
	all, err := probeNHSA(ctx, cfg, bare, tn.Type)
	if err != nil {
		return err
	}
	now, err := probeNHSA(ctx, cfg, cfg.NHSA, tn.Type)
	if err != nil {
		return err
	}
	for _, n := range all {
		if !slices.ContainsFunc(now, func(m Need) bool { return sameNeed(m, n) }) {
			if f, ok := strings.CutPrefix(n.Source, "attr nhsa."); ok && cfg.NHSA.Defaults[f] != "" {
				n.ProvidedBy = "nhsa.defaults." + f
			}
		}
		tn.Needs = append(tn.Needs, n)
	}
	// The config values the rows take: a need appears once the value is
	// taken away.
	v := reflect.ValueOf(cfg.NHSA)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if f.Type.Kind() != reflect.String || key == "" || v.Field(i).String() == "" {
			continue
		}
		without := bare
		reflect.ValueOf(&without).Elem().Field(i).SetString("")
		got, err := probeNHSA(ctx, cfg, without, tn.Type)
		if err != nil {
			continue // a value the client cannot start without: not a row source
		}
		for _, n := range got {
			if n.Source == "config nhsa."+key && !slices.ContainsFunc(tn.Needs, func(m Need) bool { return sameNeed(m, n) }) {
				n.ProvidedBy = "nhsa." + key
				tn.Needs = append(tn.Needs, n)
			}
		}
	}
	// What the POS must send first, then the store's config, the
	// catalogue, the pack and the rest; conditional ones last.
	rank := func(n Need) int {
		for i, p := range []string{"attr ", "config ", "catalogue", "code", "partner"} {
			if strings.HasPrefix(n.Source, p) {
				return i
			}
		}
		return 5
	}
	slices.SortStableFunc(tn.Needs, func(a, b Need) int {
		cond := func(n Need) int {
			if n.When != "" {
				return 1
			}
			return 0
		}
		return cmp.Or(cmp.Compare(cond(a), cond(b)), cmp.Compare(rank(a), rank(b)))
	})
	return nil
}

func sameNeed(a, b Need) bool { return a.Field == b.Field && a.Source == b.Source && a.When == b.When }

// probeNHSA builds a 医保 client from n (the rest of cfg as it is) over a
// probe catalogue and asks its check about each probe variant of type t,
// nhsa.defaults applied as the running agent applies them.
func probeNHSA(ctx context.Context, cfg *configs.Config, n configs.NHSA, t int) ([]Need, error) {
	cat, err := catalogue.New([]catalogue.Product{{Key: probeProduct, Name: "probe"}}, nil)
	if err != nil {
		return nil, fmt.Errorf("agent: needs: probe catalogue: %w", err)
	}
	item := queue.Item{Seq: 1, Code: probeCode, Product: probeProduct}
	nc, err := nhsaConfig(n, nil, cat)
	if err != nil {
		return nil, err
	}
	nc.Sequence = func(context.Context) (uint64, error) { return 0, nil }
	nc.Items = func(_ context.Context, code string) ([]queue.Item, bool, error) {
		if code == probeOriginal {
			return []queue.Item{item}, true, nil
		}
		return nil, false, nil
	}
	client, err := nhsa.New(nc)
	if err != nil {
		return nil, err
	}
	dest := newNHSADest(client, n.Defaults)
	var out []Need
	for _, v := range probeVariants(t) {
		it := item
		if v.ref {
			it.Ref = probeOriginal
		}
		bill := queue.Bill{Code: probeBill, Type: t, Partner: v.partner, Operator: cfg.Device.Operator,
			Attrs: v.attrs, FinishedAt: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), State: queue.BillFinished}
		for _, m := range dest.Check(ctx, bill, []queue.Item{it}) {
			n := needOf(m)
			if v.when != "" && slices.ContainsFunc(out, func(o Need) bool { return o.Field == n.Field && o.Source == n.Source }) {
				continue // needed anyway
			}
			n.When = v.when
			if !slices.ContainsFunc(out, func(o Need) bool { return sameNeed(o, n) }) {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

var (
	// catColumnRE finds the products file column a catalogue need names
	// ("catalogue med_list_codg of product …", upload/nhsa rowfill.go).
	catColumnRE = regexp.MustCompile(`catalogue ([a-z0-9_]+) of product`)
	// zhNameRE is the Chinese name a missing entry's detail starts with
	// ("医疗目录编码（med_list_codg）: …", upload/nhsa check.go).
	zhNameRE = regexp.MustCompile(`^([^（]+)（([a-z0-9_]+)）: `)
)

// needOf turns one missing entry of the probe into a Need.
func needOf(m upload.Missing) Need {
	n := Need{Field: m.Field, Source: m.Source}
	if z := zhNameRE.FindStringSubmatch(m.Detail); z != nil && z[2] == m.Field {
		n.Name = z[1]
	}
	if m.Source == "catalogue" {
		switch c := catColumnRE.FindStringSubmatch(m.Detail); {
		case c != nil:
			n.Column = c[1]
		case strings.Contains(m.Detail, "partner"):
			n.Column = "partners"
		}
	}
	n.Field = cmp.Or(n.Field, m.Detail)
	return n
}
