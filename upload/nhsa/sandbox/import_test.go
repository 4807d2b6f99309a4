package sandbox_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/pda-agent/pda-agent"

// clientPackage reports whether an import path is the agent's 医保 client
// or anything inside it other than this sandbox: the sandbox must be an
// independent reading of the contract (issue 19).
func clientPackage(path string) bool {
	path, _, _ = strings.Cut(path, " ") // "p [q.test]" test variants
	path = strings.TrimSuffix(strings.TrimSuffix(path, ".test"), "_test")
	const nhsa = module + "/upload/nhsa"
	if path == nhsa+"/sandbox" || strings.HasPrefix(path, nhsa+"/sandbox/") {
		return false
	}
	return path == nhsa || strings.HasPrefix(path, nhsa+"/")
}

func TestClientPackage(t *testing.T) {
	for path, want := range map[string]bool{
		module + "/upload/nhsa":                                                        true,
		module + "/upload/nhsa/fsi":                                                    true,
		module + "/upload/nhsa/fsi [" + module + "/x.test]":                            true,
		module + "/upload/nhsa/sandbox":                                                false,
		module + "/upload/nhsa/sandbox_test [" + module + "/upload/nhsa/sandbox.test]": false,
		module + "/upload/nhsa/sandbox.test":                                           false,
		module + "/upload/nhsafoo":                                                     false,
		module + "/gm":                                                                 false,
	} {
		if got := clientPackage(path); got != want {
			t.Errorf("clientPackage(%q) = %v", path, got)
		}
	}
}

// TestNoClientImports fails when the sandbox package or its tests depend,
// directly or through anything else, on the agent's 医保 client.
func TestNoClientImports(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", "-test", "-json", ".")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var all []string
	var bad []string
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		all = append(all, p.ImportPath)
		if clientPackage(p.ImportPath) {
			bad = append(bad, p.ImportPath)
		}
		for _, imp := range p.Imports {
			if clientPackage(imp) {
				bad = append(bad, p.ImportPath+" imports "+imp)
			}
		}
	}
	// The listing must have covered the package and its tests, or the
	// check proves nothing.
	if !slices.Contains(all, module+"/upload/nhsa/sandbox") || !slices.ContainsFunc(all, func(p string) bool {
		return strings.HasPrefix(p, module+"/upload/nhsa/sandbox_test ")
	}) {
		t.Fatalf("go list did not list the sandbox and its external tests: %v", all)
	}
	if len(bad) > 0 {
		t.Errorf("the sandbox depends on the agent's 医保 client:\n%s", strings.Join(bad, "\n"))
	}
}
