#!/usr/bin/env python3
"""The official CaEGCN training step (huogy/CaEGCN, on SDCN's code) in plain PyTorch, for bench/caegcn/bench.ts.

Written from the official code's structure: SDCN's AE (nn.Linear, ReLU), GNNLayer act(spmm(Â, H W)) with
xavier_uniform_ weights, two `SelfAttentionWide(emb, heads=8)` modules in the style of the `former` library
(Q, K, V = Linear(e, 8e, bias=False), queries and keys scaled by e^(-1/4), dense bmm logits (8 × N × N),
softmax over keys, bmm with the values, unifyheads Linear(8e, e)), the decoder-side sums, σ(Z_L Z_Lᵀ) dense,
and the epoch loop of the code: a forward pass to compute P (and the printed metrics), a second forward pass,
L = 0.1·KL(P‖Q) + 0.01·KL(P‖pred) + MSE(X̂, X) + 0.01·BCE(Ã, Â.to_dense()) + 0.01·MSE(Z_L, X), backward, Adam.
Random weights (speed does not depend on them). Prints `@@RESULT {json}`: median epoch ms after one warm-up
epoch, and the process's peak RSS growth over the training.

    python3 caegcn_torch.py --dir DIR --n N --d D --k K [--epochs 3] [--threads 1]
DIR holds x.f32 (N×D float32), src.i32 and dst.i32 (the edge list).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as err:  # pragma: no cover
    print('@@UNAVAILABLE %s: apt-get install python3-torch python3-numpy' % err, flush=True)
    sys.exit(3)

# reference_common lives in bench/torch/; the runners launch this file by its path, so that folder is not on sys.path.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'torch'))
from reference_common import AE, GNNLayer  # SDCN's, as the CaEGCN code takes them


class SelfAttentionWide(nn.Module):
    def __init__(self, emb, heads=8):
        super().__init__()
        self.emb, self.heads = emb, heads
        self.tokeys = nn.Linear(emb, emb * heads, bias=False)
        self.toqueries = nn.Linear(emb, emb * heads, bias=False)
        self.tovalues = nn.Linear(emb, emb * heads, bias=False)
        self.unifyheads = nn.Linear(heads * emb, emb)

    def forward(self, x):
        b, t, e = x.size()
        h = self.heads
        keys = self.tokeys(x).view(b, t, h, e)
        queries = self.toqueries(x).view(b, t, h, e)
        values = self.tovalues(x).view(b, t, h, e)
        keys = keys.transpose(1, 2).contiguous().view(b * h, t, e)
        queries = queries.transpose(1, 2).contiguous().view(b * h, t, e)
        values = values.transpose(1, 2).contiguous().view(b * h, t, e)
        queries = queries / (e ** (1 / 4))
        keys = keys / (e ** (1 / 4))
        dot = torch.bmm(queries, keys.transpose(1, 2))  # 8 × N × N
        dot = F.softmax(dot, dim=2)
        out = torch.bmm(dot, values).view(b, h, t, e)
        out = out.transpose(1, 2).contiguous().view(b, t, h * e)
        return self.unifyheads(out)


class CaEGCN(nn.Module):
    def __init__(self, n_input, n_clusters):
        super().__init__()
        self.ae = AE(n_input)
        self.gnn_1 = GNNLayer(n_input, 500)
        self.gnn_3 = GNNLayer(500, 10)
        self.gnn_5 = GNNLayer(10, n_clusters)
        self.gnn_6 = GNNLayer(n_clusters, 2000)
        self.gnn_7 = GNNLayer(2000, 500)
        self.gnn_9 = GNNLayer(500, n_input)
        self.attn3 = SelfAttentionWide(500)
        self.attn5 = SelfAttentionWide(10)
        self.cluster_layer = nn.Parameter(torch.Tensor(n_clusters, 10))
        nn.init.xavier_normal_(self.cluster_layer.data)
        self.v = 1.0

    def forward(self, x, adj):
        x_bar, tra1, tra2, tra3, z, dec_1, dec_3 = self.ae(x)
        h = self.gnn_1(x, adj)
        h = self.attn3((h + tra2).unsqueeze(0)).squeeze(0)
        h = self.gnn_3(h, adj)
        h = self.attn5((h + z).unsqueeze(0)).squeeze(0)
        h = self.gnn_5(h, adj, active=False)
        predict = F.softmax(h, dim=1)
        h = self.gnn_6(h, adj)
        h = self.gnn_7(h + dec_1, adj)
        h = self.gnn_9(h + dec_3, adj)
        adj_bar = torch.sigmoid(torch.mm(h, h.t()))
        q = 1.0 / (1.0 + torch.sum(torch.pow(z.unsqueeze(1) - self.cluster_layer, 2), 2) / self.v)
        q = q.pow((self.v + 1.0) / 2.0)
        q = (q.t() / torch.sum(q, 1)).t()
        return x_bar, q, predict, adj_bar, h


def target_distribution(q):
    weight = q ** 2 / q.sum(0)
    return (weight.t() / weight.sum(1)).t()


def row_normalized_adj(n, src, dst):
    """SDCN's load_graph: symmetrize (max(A, Aᵀ)), add I, D⁻¹(A+I), as a sparse tensor."""
    pairs = np.concatenate([np.stack([src, dst], 1), np.stack([dst, src], 1), np.stack([np.arange(n), np.arange(n)], 1)])
    pairs = np.unique(pairs, axis=0)
    deg = np.bincount(pairs[:, 0], minlength=n).astype(np.float32)
    vals = 1.0 / deg[pairs[:, 0]]
    return torch.sparse_coo_tensor(torch.from_numpy(pairs.T.astype(np.int64)), torch.from_numpy(vals), (n, n)).coalesce()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--dir', required=True)
    ap.add_argument('--n', type=int, required=True)
    ap.add_argument('--d', type=int, required=True)
    ap.add_argument('--k', type=int, required=True)
    ap.add_argument('--epochs', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--lr', type=float, default=5e-4)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.from_numpy(np.fromfile(a.dir + '/x.f32', dtype=np.float32).reshape(a.n, a.d))
    src = np.fromfile(a.dir + '/src.i32', dtype=np.int32).astype(np.int64)
    dst = np.fromfile(a.dir + '/dst.i32', dtype=np.int32).astype(np.int64)
    adj = row_normalized_adj(a.n, src, dst)
    model = CaEGCN(a.d, a.k)
    optimizer = torch.optim.Adam(model.parameters(), lr=a.lr)
    with torch.no_grad():
        z = model.ae(x)[4]
        model.cluster_layer.data = z[torch.arange(a.k) * 37 % a.n].clone()
    base_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    cpu = []
    for epoch in range(a.epochs + 1):
        t0 = time.perf_counter()
        c0 = time.process_time()
        # The code's epoch: forward for P (and the printed argmax of Q, pred, P), then a second forward.
        _, tmp_q, pred, _, _ = model(x, adj)
        tmp_q = tmp_q.data
        p = target_distribution(tmp_q)
        _ = (tmp_q.argmax(1), pred.data.argmax(1), p.argmax(1))
        x_bar, q, pred, adj_bar, zl = model(x, adj)
        kl_loss = F.kl_div(q.log(), p, reduction='batchmean')
        ce_loss = F.kl_div(pred.log(), p, reduction='batchmean')
        re_loss = F.mse_loss(x_bar, x)
        re_graphloss = F.binary_cross_entropy(adj_bar, adj.to_dense())
        re_zl = F.mse_loss(zl, x)
        loss = 0.1 * kl_loss + 0.01 * ce_loss + re_loss + 0.01 * re_graphloss + 0.01 * re_zl
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ms = (time.perf_counter() - t0) * 1000
        cpu_ms = (time.process_time() - c0) * 1000
        print('torch epoch %d: %.0f ms wall, %.0f ms CPU (loss %.4f)' % (epoch, ms, cpu_ms, loss.item()), file=sys.stderr, flush=True)
        if epoch > 0:
            times.append(ms)
            cpu.append(cpu_ms)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print('@@RESULT ' + json.dumps({
        'torch': torch.__version__, 'threads': a.threads, 'epochs': a.epochs, 'epochMs': times,
        'medianMs': statistics.median(times), 'epochCpuMs': cpu, 'medianCpuMs': statistics.median(cpu), 'peakRssGrowthMb': (peak_kb - base_kb) / 1024, 'peakRssMb': peak_kb / 1024,
    }), flush=True)


if __name__ == '__main__':
    main()
