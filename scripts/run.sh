#!/usr/bin/env bash
# The main job. Until the browser page lands (issue 4) this runs a 4-node committee in the
# deterministic simulator and prints its summary; it will then build the page and serve it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -p hotstuff-node -- sim --nodes "${NODES:-4}" --seed "${SEED:-1}" --blocks "${BLOCKS:-1000}" "$@"
