"""AGCN's official training epoch in plain PyTorch, for timing against dgclust on the same machine.

Written after ZhihaoPENG-CityU/MM21---AGCN (AGCN.py, GNN.py, utils.py, evaluation.py): the SDCN autoencoder
d-500-500-2000-10, GCN layers LeakyReLU_0.2(spmm(Â, X W)), the AGCN-H MLPs over cat(H_i, Z_i) with softmax and
F.normalize, the `.repeat` broadcasts of the attention weights, AGCN-S over cat(Z1, Z2, Z3, Z4, Z), the prediction
layer, the Student-t Q, and the epoch as train_AGCN runs it: an extra forward pass (outside torch.no_grad, as the
code) for Q and the target P, the argmax of Q, Z and P, eva() on each (ACC with the Hungarian matching, NMI, ARI,
macro F1), then the training forward, KL(P‖Q)·λ1 + KL(P‖Z)·λ2 + MSE, backward and Adam. Â is a torch sparse COO
tensor from the row-normalised scipy matrix, as load_graph builds it. Differences that favour PyTorch: the Hungarian
matching uses scipy's linear_sum_assignment (the code uses the slower pure-Python munkres), and no k-means is run
(the code runs it once before training, not per epoch). Inputs come from files that bench/agcn-epoch/run.ts writes,
so both sides train on identical data.

usage: python3 agcn_torch.py DIR EPOCHS THREADS LAMBDA1 LAMBDA2 LR
prints one JSON line: per-epoch medians (epochs 2..E) of the step and of the evaluation (ms), and the peak RSS.
"""
import json
import os
import resource
import sys
import time

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn import metrics

# reference_common lives in bench/torch/; the runners launch this file by its path, so that folder is not on sys.path.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'torch'))
# SDCN's autoencoder and GNN layer, as the AGCN code takes them (its GNN layer with LeakyReLU(0.2)).
from reference_common import AE, GNNLayer as SdcnGNNLayer, load_edge_list_inputs, openblas_core

d, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ld1, ld2, lr = float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
torch.set_num_threads(threads)
torch.manual_seed(0)

x_np, edges, y = load_edge_list_inputs(d)
N, n_input = x_np.shape
K = int(y.max()) + 1

# Â: the nonzero pattern of dgclust's D⁻¹(A + I) (symmetrised, self-loops), row-normalised as load_graph does.
A = sp.coo_matrix((np.ones(len(edges), dtype=np.float32), (edges[:, 0], edges[:, 1])), shape=(N, N)).tocsr()
A = sp.diags(1.0 / np.asarray(A.sum(1)).flatten()).dot(A).tocoo().astype(np.float32)
adj = torch.sparse_coo_tensor(np.vstack((A.row, A.col)).astype(np.int64), A.data, (N, N))
x = torch.from_numpy(x_np)


def GNNLayer(i, o):
    return SdcnGNNLayer(i, o, act=lambda t: F.leaky_relu(t, negative_slope=0.2))


def attention(lin, inp):
    return F.normalize(F.softmax(F.leaky_relu(lin(inp)), dim=1), p=2)


class AGCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.ae = AE(n_input)
        self.agcn_0, self.agcn_1 = GNNLayer(n_input, 500), GNNLayer(500, 500)
        self.agcn_2, self.agcn_3 = GNNLayer(500, 2000), GNNLayer(2000, 10)
        self.agcn_z = GNNLayer(3020, K)
        self.mlp = nn.Linear(3020, 5)
        self.mlp1, self.mlp2, self.mlp3 = nn.Linear(1000, 2), nn.Linear(1000, 2), nn.Linear(4000, 2)
        self.cluster_layer = nn.Parameter(torch.empty(K, 10))
        nn.init.xavier_normal_(self.cluster_layer)

    def forward(self, v, a):
        x_bar, h1, h2, h3, z, _, _ = self.ae(v)
        n = v.shape[0]
        z1 = self.agcn_0(v, a)
        m = attention(self.mlp1, torch.cat((h1, z1), 1))
        z2 = self.agcn_1(m[:, 0].reshape(n, 1).repeat(1, 500).mul(z1) + m[:, 1].reshape(n, 1).repeat(1, 500).mul(h1), a)
        m = attention(self.mlp2, torch.cat((h2, z2), 1))
        z3 = self.agcn_2(m[:, 0].reshape(n, 1).repeat(1, 500).mul(z2) + m[:, 1].reshape(n, 1).repeat(1, 500).mul(h2), a)
        m = attention(self.mlp3, torch.cat((h3, z3), 1))
        z4 = self.agcn_3(m[:, 0].reshape(n, 1).repeat(1, 2000).mul(z3) + m[:, 1].reshape(n, 1).repeat(1, 2000).mul(h3), a)
        u = attention(self.mlp, torch.cat((z1, z2, z3, z4, z), 1))
        widths = (500, 500, 2000, 10, 10)
        feats = (z1, z2, z3, z4, z)
        net = torch.cat([u[:, j].reshape(n, 1).repeat(1, widths[j]).mul(feats[j]) for j in range(5)], 1)
        net = self.agcn_z(net, a, active=False)
        predict = F.softmax(net, dim=1)
        q = 1.0 / (1.0 + torch.sum(torch.pow(z.unsqueeze(1) - self.cluster_layer, 2), 2))
        q = q.pow((1.0 + 1.0) / 2.0)
        q = (q.t() / torch.sum(q, 1)).t()
        return x_bar, q, predict, z, net


def target_distribution(q):
    weight = q ** 2 / q.sum(0)
    return (weight.t() / weight.sum(1)).t()


def eva(y_true, y_pred):
    # ACC after the best one-to-one mapping of clusters to classes, NMI, ARI, macro F1 (evaluation.py).
    k = max(y_true.max(), y_pred.max()) + 1
    cost = np.zeros((k, k), dtype=np.int64)
    np.add.at(cost, (y_pred, y_true), 1)
    r, c = linear_sum_assignment(-cost)
    mapping = dict(zip(r, c))
    mapped = np.array([mapping[p] for p in y_pred])
    acc = metrics.accuracy_score(y_true, mapped)
    f1 = metrics.f1_score(y_true, mapped, average='macro')
    nmi = metrics.normalized_mutual_info_score(y_true, y_pred, average_method='arithmetic')
    ari = metrics.adjusted_rand_score(y_true, y_pred)
    return acc, nmi, ari, f1


model = AGCN()
with torch.no_grad():
    model.cluster_layer.data = model.ae(x)[4][torch.randperm(N)[:K]].clone()  # stands in for the k-means centres
optimizer = torch.optim.Adam(model.parameters(), lr=lr)

step_ms, eval_ms, cpu_ms = [], [], []
for epoch in range(epochs):
    c0 = time.process_time()  # this process's CPU time (user + system), as dgclust's side measures it
    t0 = time.perf_counter()
    _, tmp_q, pred, _, _ = model(x, adj)  # the code's extra pass (autograd on, as in train_AGCN)
    tmp_q = tmp_q.data
    p = target_distribution(tmp_q)
    t1 = time.perf_counter()
    res1 = tmp_q.numpy().argmax(1)
    res2 = pred.data.numpy().argmax(1)
    res3 = p.data.numpy().argmax(1)
    for res in (res1, res2, res3):
        eva(y, res)
    t2 = time.perf_counter()
    x_bar, q, pred, _, _ = model(x, adj)
    loss = ld1 * F.kl_div(q.log(), p, reduction='batchmean') + ld2 * F.kl_div(pred.log(), p, reduction='batchmean') \
        + F.mse_loss(x_bar, x)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    t3 = time.perf_counter()
    if epoch > 0:  # the first epoch warms caches and the allocator up
        step_ms.append(1000 * ((t1 - t0) + (t3 - t2)))
        eval_ms.append(1000 * (t2 - t1))
        cpu_ms.append(1000 * (time.process_time() - c0))

print(json.dumps({
    'stepMs': float(np.median(step_ms)), 'evalMs': float(np.median(eval_ms)), 'cpuMs': float(np.median(cpu_ms)),
    'peakRssBytes': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    'torch': torch.__version__, 'threads': torch.get_num_threads(), 'loss': float(loss.item()),
    'openblasCore': openblas_core(),
}))
