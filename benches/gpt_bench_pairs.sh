#!/usr/bin/env bash
# `nerve bench gpt` and shared/peers/torch/gpt.py in alternating pairs
# (nerve, torch, nerve, torch, ...), each one JSON line, with the load average
# before it; then the medians and the ratios nerve / torch per pair.
# Usage: benches/gpt_bench_pairs.sh [PAIRS]   (default 3)
# Needs: cargo build --release; a Python with torch (PYTHON, default /tmp/torch-venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-3}
PY=${PYTHON:-/tmp/torch-venv/bin/python}
PEER=${PEER:-../shared/peers/torch/gpt.py}
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
for p in $(seq "$PAIRS"); do
  echo "{\"who\":\"nerve\",\"pair\":$p,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",\"r\":$(target/release/nerve bench gpt --json)}" >> "$OUT"
  echo "{\"who\":\"torch\",\"pair\":$p,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\",\"r\":$("$PY" "$PEER" | tail -1)}" >> "$OUT"
done
"$PY" - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
pairs = {}
for r in rows:
    pairs.setdefault(r["pair"], {})[r["who"]] = r
tr, gr = [], []
for p, d in sorted(pairs.items()):
    n, t = d["nerve"]["r"], d["torch"]["r"]
    best = max(t["manual"]["train_tokens_per_s"], t["sdpa"]["train_tokens_per_s"])
    rec = max(t["manual"]["gen_tokens_per_s"], t["sdpa"]["gen_tokens_per_s"])
    tr.append(n["train_tokens_per_s"] / best)
    gr.append(n["gen_tokens_per_s"] / rec)
    print(f"pair {p}: nerve train {n['train_tokens_per_s']:.0f} tok/s, torch manual "
          f"{t['manual']['train_tokens_per_s']:.0f} sdpa {t['sdpa']['train_tokens_per_s']:.0f} "
          f"-> {tr[-1]:.2f}x | nerve gen {n['gen_tokens_per_s']:.0f} tok/s (slide 1: "
          f"{n['gen_slide_1_tokens_per_s']:.0f}, recompute {n['gen_recompute_tokens_per_s']:.0f}), "
          f"torch recompute manual {t['manual']['gen_tokens_per_s']:.0f} sdpa "
          f"{t['sdpa']['gen_tokens_per_s']:.0f} -> {gr[-1]:.1f}x | load {d['nerve']['load']}/{d['torch']['load']}")
print(f"median train ratio {statistics.median(tr):.2f}x (range {min(tr):.2f}-{max(tr):.2f}), "
      f"median sampling ratio {statistics.median(gr):.1f}x (range {min(gr):.1f}-{max(gr):.1f}), {len(tr)} pairs")
PY
