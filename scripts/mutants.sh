#!/usr/bin/env bash
# Mutation testing of the safety net: each mutant is a one-line change to safety-critical code,
# applied to a scratch copy of the repository, built, and run against the simulator-level
# checks only (seed sweeps with and without crashes during steps, then Twins), never the unit
# tests (they pin exact action lists and would catch everything for the wrong reason). A mutant
# is caught when a check fails; the report says which check and how long it took.
#
#   bash scripts/mutants.sh                 # every mutant
#   bash scripts/mutants.sh send-before-persist timeout-does-not-bar-voting
#
# It exits non-zero if any mutant run is not caught. `scripts/test.sh` (CI) runs those two.
#
# Uses MUTANT_DIR (default /tmp/hotstuff-mutant) for the copy and MUTANT_TARGET (default
# /tmp/hotstuff-mutant-target) for its build, so the repository's own target/ is untouched. The
# first mutant builds everything in release (a few minutes on 2 cores); later ones rebuild only
# the changed crates (about a minute each).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
copy=${MUTANT_DIR:-/tmp/hotstuff-mutant}
target=${MUTANT_TARGET:-/tmp/hotstuff-mutant-target}

# name | file | exact text (must occur once) | replacement. `\n` is a newline.
mutants='
timeout-does-not-bar-voting|core/src/consensus/mod.rs|            self.last_voted_round = round;\n            self.dirty = true;|            self.dirty = true;
send-before-persist|core/src/consensus/mod.rs|        self.flush_persist();\n        self.actions.push(action);|        self.actions.push(action);\n        self.flush_persist();
vote-twice-in-a-round|core/src/consensus/safety.rs|    if block.round <= voter.last_voted_round {|    if block.round < voter.last_voted_round {
tc-vote-ignores-the-tc-high-qc|core/src/consensus/safety.rs|                    if block.qc.round >= tc_high_qc_round {|                    if block.qc.round + 1 >= tc_high_qc_round {
commit-without-consecutive-rounds|core/src/consensus/safety.rs|pair[0].round == pair[1].round + 1 && |pair[0].round > pair[1].round && 
quorum-one-short|core/src/committee.rs|        self.members.len() - self.max_faulty()\n|        self.members.len() - self.max_faulty() - 1\n
persisted-state-forgets-the-last-vote|core/src/consensus/mod.rs|            last_voted_round: self.last_voted_round,\n            last_proposed_round: self.last_proposed_round,|            last_voted_round: self.last_voted_round.saturating_sub(1),\n            last_proposed_round: self.last_proposed_round,
recovery-forgets-the-last-vote|core/src/consensus/mod.rs|            last_voted_round: state.last_voted_round,|            last_voted_round: 0,
a-block-may-repeat-a-committed-batch|core/src/consensus/mod.rs|        if let Some((batch, carried_at)) = self.repeated_batch(&block) {|        if let Some((batch, carried_at)) = self.repeated_batch(&block).filter(|_| false) {
'

# The checks, cheapest first: label | hotstuff sim arguments (`corpus`: every scenario file in
# tests/scenarios/, each replayed to its expectation with `--scenario`).
checks='
corpus (tests/scenarios/*.json)|corpus
sweep 20 (CI)|--sweep 20 --first-seed 500
sweep 20 with crashes during steps (CI)|--sweep 20 --first-seed 500 --crash-during-steps
sweep 200|--sweep 200 --first-seed 1000
sweep 200 with crashes during steps|--sweep 200 --first-seed 1000 --crash-during-steps
twins 2,000 sampled (n = 4, 1 twin, 4 rounds)|--twins-scenarios 2000 --nodes 4 --twins 1 --rounds 4 --shuffle 1
'

wanted=("$@")
rm -rf "$copy" && mkdir -p "$copy"
tar -C "$repo" --exclude ./target --exclude ./.git --exclude node_modules --exclude ./www/pkg \
  --exclude ./failures -cf - . | tar -C "$copy" -xf -

printf '%-40s %-48s %s\n' mutant 'caught by' 'seconds (build excluded)'
caught=0
total=0
while IFS='|' read -r name file from to; do
  [ -n "$name" ] || continue
  if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " == *" $name "* ]]; then continue; fi
  total=$((total + 1))
  cp "$repo/$file" "$copy/$file"
  FROM="$from" TO="$to" python3 - "$copy/$file" <<'EOF'
import os, sys
path = sys.argv[1]
old = os.environ["FROM"].replace("\\n", "\n")
new = os.environ["TO"].replace("\\n", "\n")
text = open(path).read()
if text.count(old) != 1:
    sys.exit(f"mutant text occurs {text.count(old)} times in {path}: update scripts/mutants.sh")
open(path, "w").write(text.replace(old, new))
EOF
  (cd "$copy" && CARGO_TARGET_DIR="$target" cargo build --release -q -p hotstuff-node </dev/null)
  verdict="NOT CAUGHT"
  start=$(date +%s.%N)
  while IFS='|' read -r label args; do
    [ -n "$label" ] || continue
    if [ "$args" = corpus ]; then
      failed=
      for scenario in "$copy"/tests/scenarios/*.json; do
        # Only a broken invariant or a stall counts: a step-pinned file that no longer replays,
        # or a forking scenario that forks differently, is not the mutant being caught.
        if ! "$target/release/hotstuff" sim --scenario "$scenario" </dev/null >"$copy/mutant.log" 2>&1 \
          && grep -qE 'expected safety, got|expected every honest' "$copy/mutant.log"; then
          failed=$(basename "$scenario" .json)
          break
        fi
      done
      if [ -n "$failed" ]; then
        first=$(grep -m1 -oE '(invariant violated[^:]*: [a-z_]+|expected every honest)' "$copy/mutant.log" || echo 'a failure')
        verdict="$label, $failed: $first"
        caught=$((caught + 1))
        break
      fi
      continue
    fi
    # shellcheck disable=SC2086 # the arguments are words
    if ! (cd "$copy" && "$target/release/hotstuff" sim $args --failures-dir "$copy/failures" </dev/null >"$copy/mutant.log" 2>&1); then
      first=$(grep -m1 -oE '(invariant violated[^:]*: [a-z_]+|liveness)' "$copy/mutant.log" || echo 'a failure')
      verdict="$label: $first"
      caught=$((caught + 1))
      break
    fi
  done <<<"$checks"
  seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  printf '%-40s %-48s %.1f\n' "$name" "$verdict" "$seconds"
  cp "$repo/$file" "$copy/$file"
done <<<"$mutants"
echo "score: $caught of $total mutants caught"
# A mutant that nothing catches fails the run: CI runs a subset, and the check must be able to fail.
[ "$caught" -eq "$total" ]
