package ledger

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// deterministicPackages run inside CheckTx/FinalizeBlock/Commit. Directories
// relative to this package.
var deterministicPackages = []string{".", "tx", "store", "../identity", "../consent", "../records", "../access", "../supply", "../credential", "../rx", "../programs", "../research", "../condition", "../internal/decoded", "../internal/signature", ".."}

// forbiddenImports may not be imported by deterministic code: they bring
// randomness, the environment, the network or the file system. (The store
// reaches its files only through Pebble, the injected state storage.)
var forbiddenImports = map[string]string{
	"math/rand":    "randomness",
	"math/rand/v2": "randomness",
	"crypto/rand":  "randomness",
	"os":           "environment and files",
	"os/exec":      "processes",
	"net":          "network",
	"net/http":     "network",
	"io/ioutil":    "files",
	"unsafe":       "memory tricks",
}

// forbiddenCalls are package functions deterministic code may not call.
var forbiddenCalls = map[string]bool{
	"time.Now": true, "time.Since": true, "time.Until": true, "time.Sleep": true,
	"time.After": true, "time.Tick": true, "time.NewTimer": true, "time.NewTicker": true,
}

// TestDeterministicPackages checks, by reading the source, that the
// consensus path uses no clock, randomness, environment, network, files or
// goroutines.
func TestDeterministicPackages(t *testing.T) {
	for _, dir := range deterministicPackages {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		if len(files) == 0 {
			t.Fatalf("no Go files in %s", dir)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			fset := token.NewFileSet()
			file, err := parser.ParseFile(fset, f, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			local := map[string]string{} // import name → path
			for _, imp := range file.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if why, bad := forbiddenImports[p]; bad {
					t.Errorf("%s imports %s (%s)", f, p, why)
				}
				name := p[strings.LastIndex(p, "/")+1:]
				if imp.Name != nil {
					name = imp.Name.Name
				}
				local[name] = p
			}
			ast.Inspect(file, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.GoStmt:
					t.Errorf("%s: goroutine started at %s", f, fset.Position(x.Pos()))
				case *ast.SelectorExpr:
					if id, ok := x.X.(*ast.Ident); ok {
						if p, ok := local[id.Name]; ok && forbiddenCalls[p+"."+x.Sel.Name] {
							t.Errorf("%s: calls %s.%s at %s", f, p, x.Sel.Name, fset.Position(x.Pos()))
						}
					}
				case *ast.RangeStmt:
					// Ranging over a map is allowed only to build sets or sort
					// keys; it is checked by review, not here.
				}
				return true
			})
		}
	}
}
