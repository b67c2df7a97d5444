// Package web serves carechain's browser UI: the patient portal, the
// public-health dashboard, the clinician view and the ledger explorer,
// written in TypeScript under web/src and built by Vite into web/dist,
// which this package embeds. The UI talks only to the node's /v1 and /fhir
// APIs; keys stay in the browser (WebCrypto Ed25519).
//
// Build it before `go build` with `npm ci && npm run build` in web/
// (./scripts/demo.sh does this). Without a build the binary still compiles
// and the handler answers a page saying how to build the UI.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// csp keeps the page to its own scripts and the node's API; ECharts sets
// inline styles, and the key file is read locally (blob:, data:).
const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// Built reports whether the embedded bundle holds a built UI.
func Built() bool {
	_, err := fs.Stat(dist, "dist/index.html")
	return err == nil
}

// Handler serves the embedded UI at "/": index.html, and the hashed files
// under /assets/ (cached for a year). Other paths answer 404. Without a
// built bundle every path answers 503 with how to build it.
func Handler() http.Handler {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory
	}
	files := http.FileServerFS(sub)
	built := Built()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if !built {
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(notBuilt))
			return
		}
		switch {
		case r.URL.Path == "/" || r.URL.Path == "/index.html":
			h.Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, "index.html")
		case strings.HasPrefix(r.URL.Path, "/assets/"):
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
			files.ServeHTTP(w, r)
		default:
			http.NotFound(w, r)
		}
	})
}

const notBuilt = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>carechain: UI not built</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>UI not built</h1>
<p>This carechain binary was compiled without the web UI bundle. Build it and run the demo with</p>
<pre>./scripts/demo.sh</pre>
<p>or build it by hand: <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>, then rebuild the binary
(<code>go run ./cmd/carechain demo</code>). The API is unaffected: <a href="/v1/status">/v1/status</a>.</p>
</body></html>
`
