"""Plain-PyTorch DCCF training step (the reference for bench/dccf/run.ts).

Usage: python3 dccf_torch.py DIR STEPS THREADS MODE
  DIR holds x.npy (N x d float32, already scaled), p.npy (N x K target rows), order.npy (int32 row order).
  MODE: 'explicit' -- the Jacobian of the embedding as the explicit product W4 Phi3 W3 Phi2 W2 Phi1 W1 per sample
        (batched torch.bmm, autograd for the backward), or
        'jacobian' -- torch.autograd.functional.jacobian of the batch's summed embedding with respect to the
        batch input (h_s depends on x_s alone, so this is every per-sample Jacobian at once; vectorize=True,
        create_graph=True so that the penalty can be differentiated).
One step: gather a batch of 256 rows, encoder d-500-500-1000-K (ReLU) and decoder, L_rec (sum over features,
mean over the batch) + 1e-7 * mean ||J||_F^2 + 0.1 * (KL(T||S) batchmean + focal(gamma = 2, hard argmax T)),
backward, Adam(1e-3). Prints one JSON line: median step ms over STEPS steps after 2 warm-up steps.
"""
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

d_dir, steps, threads, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(threads)
torch.manual_seed(0)
x_all = torch.from_numpy(np.load(f"{d_dir}/x.npy"))
p_all = torch.from_numpy(np.load(f"{d_dir}/p.npy"))
order = torch.from_numpy(np.load(f"{d_dir}/order.npy").astype(np.int64))
n, d = x_all.shape
k = p_all.shape[1]
m = 256
lam, beta, gamma = 1e-7, 0.1, 2.0


class AE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.ModuleList([nn.Linear(d, 500), nn.Linear(500, 500), nn.Linear(500, 1000)])
        self.z = nn.Linear(1000, k)
        self.dec = nn.ModuleList([nn.Linear(k, 1000), nn.Linear(1000, 500), nn.Linear(500, 500)])
        self.out = nn.Linear(500, d)
        self.mu = nn.Parameter(torch.randn(k, k))

    def encode(self, x):
        pre = []
        h = x
        for l in self.enc:
            u = l(h)
            pre.append(u)
            h = F.relu(u)
        return self.z(h), pre

    def decode(self, z):
        h = z
        for l in self.dec:
            h = F.relu(l(h))
        return self.out(h)


model = AE()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)


def jacobian_penalty(xb, pre):
    if mode == "explicit":
        # J_s = W4 Phi3 W3 Phi2 W2 Phi1 W1, batched: (m, K, 1000) -> (m, K, 500) -> (m, K, 500) -> (m, K, d)
        a = model.z.weight.unsqueeze(0).expand(xb.shape[0], -1, -1)
        for l, u in zip(reversed(model.enc), reversed(pre)):
            a = torch.matmul(a * (u > 0).float().unsqueeze(1), l.weight)
        return a.pow(2).sum() / xb.shape[0]
    jac = torch.autograd.functional.jacobian(lambda inp: model.encode(inp)[0].sum(0), xb, create_graph=True, vectorize=True)
    return jac.pow(2).sum() / xb.shape[0]  # jac: (K, m, d)


def step(rows):
    xb = x_all[rows]
    pb = p_all[rows]
    z, pre = model.encode(xb)
    x_bar = model.decode(z)
    rec = (x_bar - xb).pow(2).sum(1).mean()
    lj = jacobian_penalty(xb, pre)
    q = 1.0 / (1.0 + torch.cdist(z, model.mu).pow(2))
    q = q / q.sum(1, keepdim=True)
    kl = (pb * (pb.clamp_min(1e-30).log() - q.log())).sum(1).mean()
    c = pb.argmax(1)
    pt = q.gather(1, c.unsqueeze(1)).squeeze(1).clamp(1e-7, 1.0)
    fl = (-(1 - pt).pow(gamma) * pt.log()).mean()
    loss = rec + lam * lj + beta * (kl + fl)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


times = []
for s in range(steps + 2):
    rows = order[(s * m) % n:(s * m) % n + m]
    t0 = time.perf_counter()
    step(rows)
    if s >= 2:
        times.append(1000 * (time.perf_counter() - t0))
print(json.dumps({"stepMs": float(np.median(times)), "steps": len(times), "mode": mode, "torch": torch.__version__,
                  "threads": torch.get_num_threads()}))
