package main

import (
	"fmt"

	"carechain/web"
)

// serveWebUI serves the embedded browser UI (package web) at "/" of the
// node's API server and says where to open it.
func serveWebUI(r *running) {
	r.api.Handle("/", web.Handler())
	if web.Built() {
		fmt.Printf("\nWeb UI: http://%s/   (patient portal, public-health dashboard, clinician view, explorer)\n", r.addr)
	} else {
		fmt.Printf("\nWeb UI: not built into this binary; run ./scripts/demo.sh (it builds web/ first)\n")
	}
}
