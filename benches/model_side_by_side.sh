#!/usr/bin/env bash
# A model-level benchmark side by side with its PyTorch twin, in
# alternating pairs:
#
#   benches/model_side_by_side.sh WORKLOAD [PAIRS]     (mlp, cnn, lstm, gpt; default 5 pairs)
#
# One pair is `nerve bench WORKLOAD --json --threads 2` and
# ../shared/peers/torch/WORKLOAD.py (2 threads), in turn, the order flipped
# every pair. Each run's JSON line goes to benches/WORKLOAD_side_by_side.jsonl
# with the load average seen before it. Then, for every `samples_per_s` (or
# `tokens_per_s`) figure both sides report under the same name: the medians,
# the median of the pair-by-pair ratios nerve / PyTorch (above 1: nerve is
# faster), their range and the number of pairs.
#
# Needs: cargo build --release; a Python with torch (PYTHON, default
# /tmp/torch-venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:?usage: benches/model_side_by_side.sh WORKLOAD [PAIRS]}
PAIRS=${2:-5}
PY=${PYTHON:-/tmp/torch-venv/bin/python}
PEERS=${PEERS:-../shared/peers/torch}
NERVE=target/release/nerve
OUT=${OUT:-benches/${W}_side_by_side.jsonl}
: > "$OUT"
[ -x "$NERVE" ] || { echo "build first: cargo build --release" >&2; exit 1; }

tag() { sed "s/^{/{\"who\":\"$1\",\"pair\":$2,\"load\":$(cut -d' ' -f1 /proc/loadavg),/"; }
nerve() { "$NERVE" bench "$W" --json --threads 2 | tail -1 | tag nerve "$1" >> "$OUT"; }
torch() { "$PY" "$PEERS/$W.py" | tail -1 | tag torch "$1" >> "$OUT"; }

for p in $(seq "$PAIRS"); do
  echo "$W pair $p/$PAIRS (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  if [ $((p % 2)) = 1 ]; then nerve "$p"; torch "$p"; else torch "$p"; nerve "$p"; fi
done

"$PY" - "$OUT" <<'PY'
import collections, json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = statistics.median
figs = {"nerve": collections.defaultdict(dict), "torch": collections.defaultdict(dict)}
order, loads = [], []


def leaves(x, path=""):
    if isinstance(x, dict):
        for k, v in x.items():
            if k in ("samples_per_s", "tokens_per_s", "seqs_per_s") and isinstance(v, (int, float)):
                yield path.strip("/"), k, v
            else:
                yield from leaves(v, f"{path}/{k}")


for r in rows:
    loads.append(float(r["load"]))
    for name, unit, v in leaves(r):
        figs[r["who"]][(name, unit)][r["pair"]] = v
        if (name, unit) not in order:
            order.append((name, unit))

print(f"{rows[0].get('bench', '')}: load average median {med(loads):.2f}, "
      f"range {min(loads):.2f}-{max(loads):.2f}")
print("| case | nerve | PyTorch | ratio (median of pairs) | ratio range | pairs |")
print("|---|---:|---:|---:|---|---:|")
for key in order:
    n, t = figs["nerve"].get(key, {}), figs["torch"].get(key, {})
    both = sorted(set(n) & set(t))
    if not both:
        continue
    ratios = [n[p] / t[p] for p in both]
    print(f"| {key[0]} ({key[1].replace('_per_s', '/s')}) | {med(n[p] for p in both):,.0f} "
          f"| {med(t[p] for p in both):,.0f} | **{med(ratios):.2f}** "
          f"| {min(ratios):.2f}-{max(ratios):.2f} | {len(both)} |")
PY
