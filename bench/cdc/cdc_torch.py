#!/usr/bin/env python3
"""CDC's training steps in plain PyTorch, for timing against dgclust on the same machine (bench/cdc/run.ts).

A faithful port of the official Keras code (fict-labs/Deep-Clustering-CDC, our_HDC.py) to PyTorch (Keras/TF is not
installable here): the DEC autoencoder d-500-500-2000-10 (ReLU), the pair kernel of a batch with explicit differences
(y_i − y_j) as the code builds it (or, with --gram, from ‖y_i‖² + ‖y_j‖² − 2 y_i·y_j), rows normalised with the self
pair and clipped to [1e-10, 1], DEC's sharpening of the b×b matrix, Keras's KLDivergence (clip 1e-7, sum over a row,
mean over rows), and autograd through everything (no stop-gradient, as the code).
  pretraining step: L_AE = mse(X', X) + λ[KL(S_Z‖C_X) + KL(S_Z‖C_X')], SGD(0.1, momentum 0.9)
  fine-tuning step: L_DC = kld(P, Q) + η·KL(S_Q‖C_Z) + β[KL(S_Z‖C_X) + KL(S_Z‖C_X')], SGD(0.01, 0.9)
  refresh:          Q on all rows (encoder + Student-t) and P = target(Q)
The inputs (features scaled to [0, 1], the initial weights are drawn here: timing does not depend on them) come
from X.npy written by run.ts.

usage: python3 cdc_torch.py X.npy K THREADS PRETRAIN_EPOCHS FINETUNE_ITERS [--gram]
prints one JSON line: per-epoch pretraining times, median fine-tuning iteration, median refresh (ms).
"""
import json, sys, time
import numpy as np
import torch
import torch.nn as nn

path, K, threads, epochs, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
gram = '--gram' in sys.argv
torch.set_num_threads(threads)
torch.manual_seed(0)
x_all = torch.from_numpy(np.load(path).astype(np.float32))
N, d = x_all.shape
BATCH, LAMBDA, BETA, ETA = 64, 1e-3, 1e-3, 0.75


def dense(i, o):
    lin = nn.Linear(i, o)
    bound = (1.0 / i) ** 0.5  # Keras VarianceScaling(1/3, fan_in, uniform), zero bias
    nn.init.uniform_(lin.weight, -bound, bound)
    nn.init.zeros_(lin.bias)
    return lin


class AE(nn.Module):
    def __init__(self):
        super().__init__()
        dims = [d, 500, 500, 2000, 10]
        self.enc = nn.ModuleList([dense(a, b) for a, b in zip(dims[:-1], dims[1:])])
        rd = dims[::-1]
        self.dec = nn.ModuleList([dense(a, b) for a, b in zip(rd[:-1], rd[1:])])

    def encode(self, x):
        for i, l in enumerate(self.enc):
            x = l(x)
            if i < len(self.enc) - 1:
                x = torch.relu(x)
        return x

    def decode(self, z):
        for i, l in enumerate(self.dec):
            z = l(z)
            if i < len(self.dec) - 1:
                z = torch.relu(z)
        return z


def pair_kernel(y):
    if gram:
        sq = (y * y).sum(1)
        D = (sq[:, None] + sq[None, :] - 2.0 * y @ y.t()).clamp_min(0.0)
    else:
        D = ((y[:, None, :] - y[None, :, :]) ** 2).sum(2)
    K = 1.0 / (1.0 + D)
    return (K / K.sum(1, keepdim=True)).clamp(1e-10, 1.0)


def sharpen(C):
    W = C ** 2 / C.sum(0)
    return W / W.sum(1, keepdim=True)


def kld(A, B):
    A = A.clamp(1e-7, 1.0)
    B = B.clamp(1e-7, 1.0)
    return (A * torch.log(A / B)).sum(1).mean()


def soft_assign(z, mu):
    q = 1.0 / (1.0 + ((z[:, None, :] - mu[None, :, :]) ** 2).sum(2))
    return q / q.sum(1, keepdim=True)


def correlation(z, x, xbar):
    sz = sharpen(pair_kernel(z))
    return kld(sz, pair_kernel(x)) + kld(sz, pair_kernel(xbar))


ae = AE()
mu = nn.Parameter(torch.randn(K, 10))

# ---- pretraining epochs: shuffled batches of 64, the last one partial ----
opt = torch.optim.SGD(ae.parameters(), lr=0.1, momentum=0.9)
epoch_ms = []
for e in range(epochs):
    t0 = time.perf_counter()
    perm = torch.randperm(N)
    for s in range(0, N, BATCH):
        xb = x_all[perm[s:s + BATCH]]
        z = ae.encode(xb)
        xbar = ae.decode(z)
        loss = ((xbar - xb) ** 2).mean() + LAMBDA * correlation(z, xb, xbar)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
    epoch_ms.append(1000 * (time.perf_counter() - t0))

# ---- refresh: Q on all rows, P ----
def refresh():
    with torch.no_grad():
        q = soft_assign(ae.encode(x_all), mu)
        w = q ** 2 / q.sum(0)
        return (w.t() / w.sum(1)).t()

refresh_ms = []
for _ in range(3):
    t0 = time.perf_counter()
    P = refresh()
    refresh_ms.append(1000 * (time.perf_counter() - t0))

# ---- fine-tuning iterations ----
opt = torch.optim.SGD(list(ae.parameters()) + [mu], lr=0.01, momentum=0.9)
perm = torch.randperm(N)
step_ms = []
for it in range(iters):
    t0 = time.perf_counter()
    idx = perm[(it * BATCH) % N:(it * BATCH) % N + BATCH]
    xb = x_all[idx]
    z = ae.encode(xb)
    xbar = ae.decode(z)
    q = soft_assign(z, mu)
    loss = kld(P[idx], q) + ETA * kld(sharpen(pair_kernel(q)), pair_kernel(z)) + BETA * correlation(z, xb, xbar)
    opt.zero_grad()
    loss.backward()
    opt.step()
    loss.item()
    step_ms.append(1000 * (time.perf_counter() - t0))

med = lambda v: float(np.median(v))
print(json.dumps({'pretrainEpochMs': epoch_ms, 'finetuneIterMs': med(step_ms[5:] if len(step_ms) > 10 else step_ms),
                  'refreshMs': med(refresh_ms), 'torch': torch.__version__, 'gram': gram}))
