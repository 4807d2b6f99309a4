package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/pda-agent/pda-agent/agent"
)

// printNeeds writes what each destination needs per bill type
// (validate --needs): a table per destination and type, or JSON.
func printNeeds(w io.Writer, all []agent.TypeNeeds, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(all)
	}
	if len(all) == 0 {
		_, err := fmt.Fprintln(w, "no enabled destination takes these bill types")
		return err
	}
	for _, tn := range all {
		head := fmt.Sprintf("%s: %d %s", tn.Dest, tn.Type, tn.TypeName)
		if tn.Interface != "" {
			head += " → " + tn.Interface
		}
		if tn.Note != "" {
			head += " (" + tn.Note + ")"
		}
		fmt.Fprintln(w, head)
		if len(tn.Needs) == 0 {
			fmt.Fprintln(w, "  nothing beyond the codes")
			continue
		}
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  FIELD\tFROM\tCONFIG GIVES IT\tWHEN\tNAME")
		for _, n := range tn.Needs {
			from := n.Source
			switch {
			case n.Column == "partners":
				from += " (partners file: name)"
			case n.Column != "":
				from += " (products column " + n.Column + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", n.Field, from, cmp.Or(n.ProvidedBy, "no"), cmp.Or(n.When, "always"), n.Name)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, "FROM: attr = from the POS (bill attrs), config = this file, catalogue = the products/partners files, code = the pack's lot and dates (GS1 code, receiving or PDA:LOT card), partner = the bill's partner ent_id")
	return err
}
