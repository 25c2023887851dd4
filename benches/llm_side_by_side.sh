#!/usr/bin/env bash
# nerve vs llama.cpp on SmolLM2-135M-Instruct Q4_1, side by side: runs
# `nerve bench llm --json` and ../shared/peers/llama/smollm2.py (llama.cpp
# through llama-cpp-python, 2 threads) alternately N times, then prints each
# figure's median, range and the nerve / llama.cpp ratio of the medians and
# of each pair.
#
# Usage: benches/llm_side_by_side.sh [N=5] [MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf]
# Env:   THREADS (default 2, both engines), PYTHON (default /tmp/torch-venv/bin/python), PEER (the peer script),
#        NERVE (default target/release/nerve), OUT (a JSON-lines log; default a
#        temporary file). Build first: cargo build --release.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
MODEL=${2:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
PYTHON=${PYTHON:-/tmp/torch-venv/bin/python}
PEER=${PEER:-../shared/peers/llama/smollm2.py}
NERVE=${NERVE:-target/release/nerve}
THREADS=${THREADS:-2}
OUT=${OUT:-$(mktemp /tmp/llm_side_by_side.XXXXXX.jsonl)}
[ -f "$MODEL" ] || { echo "no model at $MODEL: run scripts/fetch-smollm2.sh" >&2; exit 1; }
[ -x "$NERVE" ] || { echo "no $NERVE: run cargo build --release" >&2; exit 1; }
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs; $N pairs, $THREADS threads; log $OUT" >&2
for i in $(seq 1 "$N"); do
    echo "# pair $i/$N, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    RAYON_NUM_THREADS="$THREADS" "$NERVE" bench llm --model "$MODEL" --json | tail -n 1 >>"$OUT"
    "$PYTHON" "$PEER" "$MODEL" --threads "$THREADS" | tail -n 1 >>"$OUT"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
nerve = [r for r in rows if r.get("engine") == "nerve"]
peer = [r for r in rows if r.get("engine", "").startswith("llama.cpp")]
print(f"{'figure':<22}{'nerve median (range)':>28}{'llama.cpp median (range)':>30}{'ratio':>8}{'pairs min-max':>16}")
for k in ["decode_tokens_per_s", "prompt_tokens_per_s"]:
    a = [r[k] for r in nerve]; b = [r[k] for r in peer]
    pairs = [x / y for x, y in zip(a, b)]
    fmt = lambda v: f"{statistics.median(v):.1f} ({min(v):.1f}-{max(v):.1f})"
    print(f"{k:<22}{fmt(a):>28}{fmt(b):>30}{statistics.median(a)/statistics.median(b):>8.2f}"
          f"{min(pairs):>8.2f}-{max(pairs):.2f}")
PY
