#!/usr/bin/env bash
# Builds the web UI (web/, with npm) and runs the demo node, which serves it
# at http://127.0.0.1:8080/ next to the API. Arguments go to `carechain demo`
# (e.g. --fresh, --home DIR, --http ADDR).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v npm >/dev/null 2>&1; then
  (cd web && npm ci --no-audit --no-fund && npm run build)
else
  echo "npm not found: the demo runs without the web UI (install Node.js 20+ and npm to build it)" >&2
fi
exec go run ./cmd/carechain demo "$@"
