#!/usr/bin/env bash
# The main job: build the page and serve it on localhost (prints the URL). PORT=8080 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build-web.sh
exec node tests/e2e/server.mjs www "${PORT:-8080}"
