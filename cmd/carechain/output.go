package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// emit prints v as indented JSON with --output json, or calls text to
// render it for people.
func (g *globals) emit(v any, text func(w io.Writer)) error {
	if g.output == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	if g.output != "text" {
		return usageError{fmt.Errorf("--output must be text or json, not %q", g.output)}
	}
	if text == nil {
		// Generic text: flatten JSON objects to "key: value" lines.
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		var m map[string]any
		if json.Unmarshal(b, &m) != nil {
			fmt.Println(string(b))
			return nil
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			val, _ := json.Marshal(m[k])
			fmt.Printf("%-20s %s\n", k+":", strings.Trim(string(val), `"`))
		}
		return nil
	}
	text(os.Stdout)
	return nil
}
