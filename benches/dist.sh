#!/usr/bin/env bash
# Data-parallel scaling side by side, in alternating rounds:
#   nerve 1 rank x 2 threads, nerve 2 ranks x 1 thread (mpirun),
#   PyTorch DDP (gloo) 1 x 2 and 2 x 1 (torchrun), the same workloads.
# Usage: benches/dist.sh [ROUNDS] [WORKLOADS...]   (default: 3 rounds of mlp cnn gpt)
# Needs: cargo build --release --features mpi; Open MPI; a Python with torch
# (PYTHON, default /tmp/torch-venv/bin/python). Prints one JSON line per run
# to benches/dist.jsonl, then medians and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}; shift || true
WORK=${*:-mlp cnn gpt}
PY=${PYTHON:-/tmp/torch-venv/bin/python}
TORCHRUN="$(dirname "$PY")/torchrun"
NERVE=target/release/nerve
ROOT=""; [ "$(id -u)" = 0 ] && ROOT=--allow-run-as-root
OUT=benches/dist.jsonl; : > "$OUT"
for r in $(seq "$ROUNDS"); do
  for w in $WORK; do
    echo "round $r: $w (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
    $NERVE bench "dist-$w" --threads 2 | sed "s/^{/{\"who\":\"nerve\",\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",/" >> "$OUT"
    mpirun $ROOT -np 2 $NERVE bench "dist-$w" | sed "s/^{/{\"who\":\"nerve\",\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",/" >> "$OUT"
    "$TORCHRUN" --nproc-per-node 1 benches/peers/ddp.py "$w" 2>/dev/null | tail -1 | sed "s/^{/{\"who\":\"torch\",/" >> "$OUT"
    "$TORCHRUN" --nproc-per-node 2 benches/peers/ddp.py "$w" 2>/dev/null | tail -1 | sed "s/^{/{\"who\":\"torch\",/" >> "$OUT"
  done
done
"$PY" - "$OUT" <<'PY'
import json, statistics, sys, collections
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = collections.defaultdict(list)
for r in rows:
    by[(r["bench"], r["who"], r["ranks"])].append(r)
def rate(r): return r.get("samples_per_s") or r.get("tokens_per_s")
for bench in sorted({r["bench"] for r in rows}):
    print(bench)
    for who in ("nerve", "torch"):
        for ranks in (1, 2):
            v = [rate(r) for r in by[(bench, who, ranks)]]
            if not v: continue
            extra = ""
            if who == "nerve" and ranks == 2:
                sh = [r["allreduce_share"] for r in by[(bench, who, ranks)]]
                extra = f"  allreduce {100*statistics.median(sh):.1f}% of the time, {by[(bench, who, ranks)][0]['bytes_per_step']} bytes/step"
            print(f"  {who:5} {ranks} rank(s): median {statistics.median(v):10.0f}/s  range {min(v):.0f}-{max(v):.0f}  (n={len(v)}){extra}")
    for ranks in (1, 2):
        a = [rate(r) for r in by[(bench, "nerve", ranks)]]
        b = [rate(r) for r in by[(bench, "torch", ranks)]]
        pairs = [x / y for x, y in zip(a, b)]
        if pairs:
            print(f"  nerve/torch at {ranks} rank(s): median {statistics.median(pairs):.2f}x  range {min(pairs):.2f}-{max(pairs):.2f} over {len(pairs)} rounds")
    for who in ("nerve", "torch"):
        a = [rate(r) for r in by[(bench, who, 2)]]; b = [rate(r) for r in by[(bench, who, 1)]]
        if a and b:
            print(f"  {who} 2x1 / 1x2: {statistics.median([x / y for x, y in zip(a, b)]):.2f}x")
PY
