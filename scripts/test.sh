#!/usr/bin/env bash
# Runs every check and test. This is the README's test command; CI (.ci/run) calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: wasm32 target"
rustup target add wasm32-unknown-unknown >/dev/null

step "format"
cargo fmt --all --check

step "lints"
cargo clippy --workspace --all-targets -- -D warnings

step "core builds for wasm32"
cargo build -p hotstuff-core --target wasm32-unknown-unknown

step "core reads no clock and no OS randomness (dependency check)"
# Anything in this list would bring a clock, OS entropy or an async runtime into the core.
forbidden='^(getrandom|tokio|web-time|instant|wasm-bindgen|js-sys|mio|socket2) '
if cargo tree -p hotstuff-core -e normal --target wasm32-unknown-unknown --prefix none \
    | grep -E "$forbidden"; then
  echo "hotstuff-core depends on a crate that reads a clock or OS randomness" >&2
  exit 1
fi

step "unit, integration and doc tests"
cargo test --workspace

step "simulator CLI: 1000 blocks, twice, same trace digest"
cargo build --release -p hotstuff-node
first=$(./target/release/hotstuff sim --nodes 4 --seed 1 --blocks 1000 --json)
second=$(./target/release/hotstuff sim --nodes 4 --seed 1 --blocks 1000 --json)
echo "$first"
digest() { sed -E 's/.*"trace_digest":"([0-9a-f]+)".*/\1/' <<<"$1"; }
[ "$(digest "$first")" = "$(digest "$second")" ] || { echo "trace digests differ" >&2; exit 1; }
grep -q '"committed_blocks":1000' <<<"$first"
grep -q '"violations":\[\]' <<<"$first"

step "simulator CLI: a small seed sweep (random faults, up to f Byzantine replicas)"
./target/release/hotstuff sim --sweep 20 --first-seed 500

step "simulator CLI: the same seeds with crashes between the actions of a step (persist before send)"
./target/release/hotstuff sim --sweep 20 --first-seed 500 --crash-during-steps

step "mutation testing: the simulator-level checks must catch two one-line bugs"
# Voting after a timeout, and sending before the Persist that must precede the send: each is
# applied to a scratch copy, built, and must be caught by the corpus or the CI sweeps (the
# full list and its score: README, *Mutation testing*).
bash scripts/mutants.sh timeout-does-not-bar-voting send-before-persist

step "page: build the wasm and its bindings"
bash scripts/build-web.sh

step "page: end-to-end tests in headless Chromium"
(cd tests/e2e && npm ci --no-audit --no-fund && npm test)

step "all checks passed"
