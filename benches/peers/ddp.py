#!/usr/bin/env python3
"""PyTorch DistributedDataParallel twins of ../shared/peers/torch/{mlp,cnn,lstm,gpt}.py
for `nerve bench dist-*` (same workloads, same global batch, gloo backend).

  torchrun --nproc-per-node 2 benches/peers/ddp.py mlp     # 2 ranks x 1 thread
  torchrun --nproc-per-node 1 benches/peers/ddp.py mlp     # 1 rank x 2 threads

Each rank uses 2 / world_size threads. The GLOBAL batch is the peer script's
(mlp 64, cnn 64, lstm 32, gpt 32 x 64 tokens); each rank takes its contiguous
share of every global batch (as nerve does), DDP averages the gradients with
gloo's allreduce (bucketed, overlapped with backward, DDP's defaults).

  mlp:  784-128-10 ReLU, cross-entropy, Adam 1e-3, synthetic uniform inputs
  cnn:  LeNet-5 (conv6 k5 p2, pool, conv16 k5, pool, 400-120-84-10), SGD 0.01 m0.9
  lstm: LSTM(64->128) + Linear(128->10) on the last of 32 steps, Adam 1e-3
  gpt:  nanoGPT char model of ../shared/peers/torch/gpt.py (4 layers, 4 heads,
        128 wide, context 64), AdamW 3e-4

Timed: STEPS steps after WARMUP, median of REPS; rank 0 prints ONE JSON line
with samples/s (tokens/s for gpt) of the whole job.
"""
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

WORKLOAD = sys.argv[1] if len(sys.argv) > 1 else "mlp"
WORLD = int(os.environ.get("WORLD_SIZE", "1"))
RANK = int(os.environ.get("RANK", "0"))
torch.set_num_threads(max(1, 2 // WORLD))
REPS, WARMUP = 5, 20
STEPS = {"mlp": 200, "cnn": 60, "lstm": 40, "gpt": 10}[WORKLOAD]


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LSTMClassifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(64, 128, batch_first=True)
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.h = h

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.attn(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.h, C // self.h).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab=65, layers=4, heads=4, d=128, block=64):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(block, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.normal_(p, 0.0, 0.02)

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x))


def setup():
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(0)
    if WORKLOAD == "mlp":
        X, y = torch.rand(60_000, 784, generator=g), torch.randint(0, 10, (60_000,), generator=g)
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
        return X, y, 64, model, torch.optim.Adam, dict(lr=1e-3), 1
    if WORKLOAD == "cnn":
        X, y = torch.rand(12_800, 1, 28, 28, generator=g), torch.randint(0, 10, (12_800,), generator=g)
        return X, y, 64, LeNet5(), torch.optim.SGD, dict(lr=0.01, momentum=0.9), 1
    if WORKLOAD == "lstm":
        X, y = torch.randn(2048, 32, 64, generator=g), torch.randint(0, 10, (2048,), generator=g)
        return X, y, 32, LSTMClassifier(), torch.optim.Adam, dict(lr=1e-3), 1
    data = torch.randint(0, 64, (1_000_000,), generator=g)
    ix = torch.randint(0, data.numel() - 65, (200 * 32,), generator=g)
    X = torch.stack([data[i:i + 64] for i in ix])
    y = torch.stack([data[i + 1:i + 65] for i in ix])
    return X, y, 32, GPT(), torch.optim.AdamW, dict(lr=3e-4), 64


def main():
    if WORLD > 1:
        dist.init_process_group("gloo")
    X, y, batch, model, opt_cls, opt_kw, tokens = setup()
    if WORLD > 1:
        model = nn.parallel.DistributedDataParallel(model)
    opt = opt_cls(model.parameters(), **opt_kw)
    per, extra = divmod(batch, WORLD)
    lo = RANK * per + min(RANK, extra)
    hi = lo + per + (RANK < extra)
    nb = X.shape[0] // batch
    step = 0

    def steps(n):
        nonlocal step
        loss = None
        for _ in range(n):
            i = (step % nb) * batch
            step += 1
            out = model(X[i + lo:i + hi])
            t = y[i + lo:i + hi]
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), t.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return loss.item()

    steps(WARMUP)
    times = []
    for _ in range(REPS):
        if WORLD > 1:
            dist.barrier()
        t0 = time.perf_counter()
        steps(STEPS)
        if WORLD > 1:
            dist.barrier()
        times.append(time.perf_counter() - t0)
    t = statistics.median(times)
    if RANK == 0:
        unit = "tokens_per_s" if WORKLOAD == "gpt" else "samples_per_s"
        print(json.dumps({
            "bench": f"dist-{WORKLOAD}", "torch": torch.__version__, "ranks": WORLD,
            "threads_per_rank": torch.get_num_threads(), "global_batch": batch,
            unit: round(STEPS * batch * tokens / t, 1), "ms_per_step": round(t / STEPS * 1e3, 3),
            "times": [round(v, 4) for v in times],
        }))
    if WORLD > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
