#!/usr/bin/env bash
# Builds the page: compiles `web` to wasm32 and generates its JS bindings into www/pkg.
set -euo pipefail
cd "$(dirname "$0")/.."

# The wasm-bindgen CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
want=$(cargo pkgid -p wasm-bindgen | sed -E 's/.*[#@]//')
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (found: ${have:-none})"
  # Not --locked: the CLI's own lock file pins a webpki-roots release that some registry
  # mirrors lack. The CLI version itself is pinned.
  cargo install wasm-bindgen-cli --version "$want"
fi
rustup target add wasm32-unknown-unknown >/dev/null

cargo build -p hotstuff-web --target wasm32-unknown-unknown --profile wasm
wasm-bindgen --target web --no-typescript --out-dir www/pkg \
  target/wasm32-unknown-unknown/wasm/hotstuff_web.wasm

raw=$(stat -c %s www/pkg/hotstuff_web_bg.wasm)
gz=$(gzip -9 -c www/pkg/hotstuff_web_bg.wasm | wc -c)
echo "wasm size: $raw bytes raw, $gz bytes gzip"
