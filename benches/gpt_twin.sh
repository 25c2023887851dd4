#!/usr/bin/env bash
# nanoGPT's "baby GPT on a CPU" twice, one after the other, on the same text:
#   nerve train examples/gpt-shakespeare.toml --data TEXT, then nerve eval --split val
#     (the whole validation text), and
#   shared/peers/torch/nanogpt_char.py TEXT (PyTorch, 2 threads; its 200-batch
#     validation estimate at the end).
# Prints, per round and program: validation loss, whole-process wall seconds,
# training seconds without evaluation where the program reports them, peak RSS,
# and the load average before the run.
# Usage: benches/gpt_twin.sh [TEXT] [ROUNDS]
#   TEXT defaults to ../shared/data/tinyshakespeare/input.txt, ROUNDS to 1;
#   ITERS=N (environment) trains both for N iterations instead of 2000 (a smoke test).
# Needs: cargo build --release; a Python with torch (PYTHON, default
# /tmp/torch-venv/bin/python); GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
TEXT=${1:-../shared/data/tinyshakespeare/input.txt}
ROUNDS=${2:-1}
PY=${PYTHON:-/tmp/torch-venv/bin/python}
PEER=${PEER:-../shared/peers/torch/nanogpt_char.py}
NERVE=target/release/nerve
ITERS=${ITERS:-2000}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
for r in $(seq "$ROUNDS"); do
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  rm -rf "$TMP/run"
  /usr/bin/time -f '%e %M' -o "$TMP/nerve.time" \
    $NERVE train examples/gpt-shakespeare.toml --data "$TEXT" --out "$TMP/run" --quiet --max-steps "$ITERS"
  read -r wall rss < "$TMP/nerve.time"
  loss=$($NERVE eval "$TMP/run" --split val --json | "$PY" -c 'import json,sys; print(round(json.load(sys.stdin)["loss"], 4))')
  train_s=$("$PY" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["train_seconds"], 1))' "$TMP/run/run.json")
  echo "round $r nerve: val_loss $loss (nerve eval, whole validation text)  wall ${wall}s  train ${train_s}s  peak_rss $((rss / 1024)) MiB  load $load"
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  /usr/bin/time -f '%e %M' -o "$TMP/torch.time" "$PY" "$PEER" "$TEXT" --iters "$ITERS" > "$TMP/torch.log"
  read -r wall rss < "$TMP/torch.time"
  tail -1 "$TMP/torch.log" | "$PY" -c '
import json, sys
j = json.loads(sys.stdin.read())
r, wall, rss, load = sys.argv[1:5]
loss, train, ver = j["final_val_loss_200"], j["train_seconds"], j["torch"]
print(f"round {r} torch: val_loss {loss} (200-batch estimate)  wall {wall}s  "
      f"train {train}s  peak_rss {int(rss) // 1024} MiB  load {load}  (torch {ver})")
' "$r" "$wall" "$rss" "$load"
done
