package sandbox_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const modulePath = "github.com/pda-agent/pda-agent"

// clientImports returns, for every package the pattern's build and tests
// depend on (go list -deps -test) that is a 码上放心 client package
// (upload/msfx and everything under it except this sandbox), which
// dependency imports it. The sandbox must be written from the public
// declarations, never with the client's types.
func clientImports(t *testing.T, pattern string) map[string][]string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", "-test", "-json=ImportPath,Imports", pattern)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v: %s", pattern, err, stderr.String())
	}
	forbidden := func(p string) bool {
		p, _, _ = strings.Cut(strings.TrimPrefix(p, modulePath+"/"), " ") // drop " [… .test]"
		switch p {
		case "upload/msfx/sandbox", "upload/msfx/sandbox_test", "upload/msfx/sandbox.test":
			return false
		}
		return p == "upload/msfx" || strings.HasPrefix(p, "upload/msfx/")
	}
	found := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var pkg struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&pkg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		for _, imp := range pkg.Imports {
			if forbidden(imp) {
				found[imp] = append(found[imp], pkg.ImportPath)
			}
		}
	}
	return found
}

func TestSandboxImportsNoClientPackage(t *testing.T) {
	if found := clientImports(t, modulePath+"/upload/msfx/sandbox"); len(found) > 0 {
		for imp, by := range found {
			t.Errorf("%s is imported by %v", imp, by)
		}
	}
	// The check itself finds an import where there is one: the daemon
	// uses the client.
	if found := clientImports(t, modulePath+"/cmd/pda-agent"); len(found[modulePath+"/upload/msfx"]) == 0 {
		t.Errorf("the import check does not see cmd/pda-agent using upload/msfx: %v", found)
	}
}
