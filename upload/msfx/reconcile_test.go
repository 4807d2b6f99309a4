package msfx

import (
	"strings"
	"testing"

	"github.com/pda-agent/pda-agent/upload/msfx/wire"
)

func TestResendProgressKeepsTheSplit(t *testing.T) {
	prog := newProgress(wire.MethodUploadRetail, 2, false, splitParts("LS1", []string{"a", "b", "c"}, 2))
	for i := range prog.Parts {
		prog.Parts[i].State, prog.Parts[i].How, prog.Parts[i].QueueID, prog.Parts[i].Result = stateFinal, howSent, "Q", 3
	}
	out, err := ResendProgress(prog.encode())
	if err != nil {
		t.Fatal(err)
	}
	p, ok, err := parseProgress(out)
	if err != nil || !ok || p.Limit != 2 || len(p.Parts) != 2 || !p.started() {
		t.Fatalf("%s %v", out, err)
	}
	for i, pp := range p.Parts {
		if pp.Code != prog.Parts[i].Code || pp.N != prog.Parts[i].N || pp.Sum != prog.Parts[i].Sum || pp.State != stateSending ||
			pp.How != "" || pp.QueueID != "" || pp.Result != 0 {
			t.Errorf("part %d: %+v", i, pp)
		}
	}
	if !strings.HasSuffix(p.Parts[0].Code, "_1") {
		t.Errorf("split codes %v", p.Parts)
	}
	if _, err := ResendProgress(""); err == nil {
		t.Error("an empty progress was taken")
	}
}
