#!/usr/bin/env bash
# Trains every config in examples/experiments/ and makes the pictures of
# docs/experiments.md in docs/experiments/: the decision regions (or fitted
# curve) of each run, and training vs validation curves side by side
# (`nerve compare`).
#
# Usage: scripts/run-experiments.sh        (about half a minute on 2 cores)
# Needs: a release build (cargo build --release).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NERVE="$ROOT/target/release/nerve"
RUNS="$ROOT/runs/experiments"
DOCS="$ROOT/docs/experiments"
[[ -x "$NERVE" ]] || { echo "run 'cargo build --release' first" >&2; exit 1; }
mkdir -p "$RUNS" "$DOCS"

for cfg in "$ROOT"/examples/experiments/*.toml; do
  name="$(basename "$cfg" .toml)"
  echo "== $name"
  "$NERVE" train "$cfg" --out "$RUNS/$name" --no-progress | grep -E "^(test|early|restored|diagnostic)" || true
  "$NERVE" boundary "$RUNS/$name" --out "$DOCS/$name-boundary.png"
done
cp "$RUNS/width-overfit/training.png" "$DOCS/width-overfit-training.png"
"$NERVE" compare "$RUNS"/width-{overfit,dropout,l2,early-stopping} \
  --title "width: 2 x 256 neurons on 40 noisy points" --out "$DOCS/width-compare.png"
"$NERVE" compare "$RUNS"/depth-spirals-{linear,one-hidden,two-hidden} \
  --title "depth: 0, 1 and 2 hidden layers on the spirals" --out "$DOCS/depth-spirals-compare.png"
