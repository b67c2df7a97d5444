import { defineConfig } from "vite";

// The bundle is embedded by the Go package carechain/web (web.go), which
// keeps dist/README.md: the build empties only what it wrote before.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: false,
    target: "es2022",
    chunkSizeWarningLimit: 2000,
  },
  server: {
    // `npm run dev` proxies the API to a running demo node.
    proxy: { "/v1": "http://127.0.0.1:8080", "/fhir": "http://127.0.0.1:8080" },
  },
});
