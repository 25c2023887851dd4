#!/usr/bin/env bash
# nerve's matrix products side by side with PyTorch (MKL), in alternating
# pairs, on every shape of `nerve bench gemm`.
#
#   benches/gemm_side_by_side.sh [PAIRS]        (default 5 pairs)
#
# One pair is `nerve bench gemm --json --threads 2` and the PyTorch side
# (../shared/peers/torch/gemm.py for the square and MLP products,
# benches/torch_gemm_shapes.py for the models' products), in turn; the order
# flips every pair so that neither side always runs first. Each run's JSON
# line goes to benches/gemm_side_by_side.jsonl with the load average seen
# before it. Then one table: per shape, nerve's median GFLOP/s and % of the
# FMA ceiling nerve measured in the same run, PyTorch's median GFLOP/s, the
# median of the pair-by-pair ratios nerve / PyTorch (above 1: nerve is
# faster) with their range, the number of pairs and the median load.
#
# Needs: cargo build --release (target/release/nerve); a Python with torch
# (PYTHON, default /tmp/torch-venv/bin/python). Set NERVE_GEMM to force a
# kernel path (avx512, avx2, portable, crate) on nerve's side.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-5}
PY=${PYTHON:-/tmp/torch-venv/bin/python}
PEERS=${PEERS:-../shared/peers/torch}
NERVE=target/release/nerve
OUT=${OUT:-benches/gemm_side_by_side.jsonl}
: > "$OUT"
[ -x "$NERVE" ] || { echo "build first: cargo build --release" >&2; exit 1; }

load() { cut -d' ' -f1 /proc/loadavg; }
tag() { sed "s/^{/{\"who\":\"$1\",\"pair\":$2,\"load\":$3,/"; }
nerve() {
  local l; l=$(load)
  "$NERVE" bench gemm --json --threads 2 | tail -1 | tag nerve "$1" "$l" >> "$OUT"
}
torch() {
  local l; l=$(load)
  "$PY" "$PEERS/gemm.py" | tail -1 | tag torch "$1" "$l" >> "$OUT"
  l=$(load)
  "$PY" benches/torch_gemm_shapes.py | tail -1 | tag torch_shapes "$1" "$l" >> "$OUT"
}

for p in $(seq "$PAIRS"); do
  echo "pair $p/$PAIRS (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  if [ $((p % 2)) = 1 ]; then nerve "$p"; torch "$p"; else torch "$p"; nerve "$p"; fi
done

"$PY" - "$OUT" <<'PY'
import collections, json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = statistics.median
# shape -> pair -> figures
nerve = collections.defaultdict(dict)
torch = collections.defaultdict(dict)
loads = collections.defaultdict(list)
cpu = isa = ""
ceilings = []
order = []  # the models' shapes in the order of src/cli/bench/gemm.rs
for r in rows:
    p = r["pair"]
    loads[p].append(float(r["load"]))
    if r["who"] == "nerve":
        cpu, isa = r["cpu"], r["isa"]
        ceilings.append(r["fma_ceiling_gflops"]["threads"])
        for sec, pre in (("square", "square "), ("mlp_shapes", ""), ("model_shapes", ""),
                         ("square_1thread", "1 thread, square ")):
            for name, e in r[sec].items():
                nerve[pre + name][p] = (e["gflops"], e["pct_of_ceiling"], e["us_per_call"])
    elif r["who"] == "torch":
        for sec, pre in (("torch_square", "square "), ("torch_mlp_shapes", ""),
                         ("torch_square_1thread", "1 thread, square ")):
            for name, e in r[sec].items():
                torch[pre + name][p] = (e["gflops"], e["us_per_call"])
    else:
        for name, e in r["shapes"].items():
            torch[name][p] = (e["gflops"], e["us_per_call"])
            if name not in order:
                order.append(name)

print(f"CPU: {cpu}; nerve kernels: {isa}; FMA ceiling (2 threads, per nerve run): "
      f"median {med(ceilings):.0f} GFLOP/s, range {min(ceilings):.0f}-{max(ceilings):.0f}")
print(f"load average over the pairs: median {med(sum(loads.values(), [])):.2f}")
print()
print("| shape | nerve GFLOP/s | % ceiling | MKL GFLOP/s | ratio (median of pairs) | ratio range | pairs |")
print("|---|---:|---:|---:|---:|---|---:|")
def size_key(prefix):
    return sorted((n for n in nerve if n.startswith(prefix)), key=lambda n: int(n.split()[-1]))

names = (size_key("square ") + sorted((n for n in nerve if n.startswith("b")), key=lambda n: (int(n[1:n.index("_")]), n))
         + order + size_key("1 thread, square "))
worst = None
for name in names:
    np_ = nerve.get(name, {})
    both = sorted(set(np_) & set(torch.get(name, {})))
    if not both:
        continue
    # ratio of the times per call (PyTorch's GFLOP/s are rounded to 0.01)
    ratios = [torch[name][p][1] / np_[p][2] for p in both]
    r = med(ratios)
    if worst is None or r < worst[0]:
        worst = (r, name)
    sq = name.replace("^3", "³")
    if name.startswith("square ") or name.startswith("1 thread, square "):
        s = int(name.split()[-1])
        sq = name.rsplit(" ", 1)[0] + f" {s}³"
    print(f"| {sq} | {med(v[0] for v in np_.values()):.1f} | {med(v[1] for v in np_.values()):.0f}% "
          f"| {med(torch[name][p][0] for p in both):.1f} | **{r:.2f}** | {min(ratios):.2f}-{max(ratios):.2f} | {len(both)} |")
if worst:
    print(f"\nlowest ratio: {worst[0]:.2f} ({worst[1]})")
PY
