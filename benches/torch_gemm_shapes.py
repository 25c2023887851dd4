#!/usr/bin/env python3
"""PyTorch (MKL) side of `nerve bench gemm`'s model shapes.

shared/peers/torch/gemm.py times the square and MLP products; this times the
other products `nerve bench gemm` reports (conv im2col, LSTM gates, GPT
layers, transposed operands, tall-skinny and short-wide, one row) in the same
way: C = A @ B into a preallocated output, uniform [0, 1) operands, 2 threads,
calls per repetition calibrated to about 0.25 s, median of 7 repetitions after
3 warm-up calls. A transposed operand is a transposed view (`.t()` of a
contiguous tensor), which torch.mm hands to BLAS without a copy, as nerve
reads it through strides.

The list of shapes is read from src/cli/bench/gemm.rs (the `shape(...)` rows
of MODEL_SHAPES), so the two sides cannot drift apart.

    /tmp/torch-venv/bin/python benches/torch_gemm_shapes.py   # one JSON line
"""
import json
import os
import re
import statistics
import time

THREADS = 2
import torch  # noqa: E402

torch.set_num_threads(THREADS)
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "src", "cli", "bench", "gemm.rs")
ROW = re.compile(
    r'shape\(\s*(\w+),\s*"([^"]+)",\s*\((\d+),\s*(\d+),\s*(\d+)\),\s*(true|false),\s*(true|false),?\s*\)'
)


def shapes():
    with open(SRC) as f:
        text = f.read()
    return [
        (name, int(m), int(k), int(n), ta == "true", tb == "true")
        for _, name, m, k, n, ta, tb in ROW.findall(text)
    ]


def bench(fn, min_rep_s=0.25, reps=7, warmup=3):
    for _ in range(warmup):
        fn()
    n = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        dt = time.perf_counter() - t0
        if dt >= min_rep_s / 5:
            break
        n *= 2
    iters = max(1, round(n * min_rep_s / dt))
    per_call = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        per_call.append((time.perf_counter() - t0) / iters)
    return statistics.median(per_call)


def main():
    out = {"bench": "gemm_model_shapes", "torch": torch.__version__, "threads": THREADS, "shapes": {}}
    for name, m, k, n, ta, tb in shapes():
        g = torch.Generator().manual_seed(m * 1_000_003 + k * 1009 + n)
        a = torch.rand(k, m, generator=g).t() if ta else torch.rand(m, k, generator=g)
        b = torch.rand(n, k, generator=g).t() if tb else torch.rand(k, n, generator=g)
        c = torch.empty(m, n)
        t = bench(lambda: torch.mm(a, b, out=c))
        out["shapes"][name] = {"gflops": round(2.0 * m * n * k / t / 1e9, 2), "us_per_call": round(t * 1e6, 2)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
