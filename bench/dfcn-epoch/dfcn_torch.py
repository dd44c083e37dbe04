"""DFCN's official training epoch in plain PyTorch, for timing against dgclust on the same machine.

A faithful script of WxTu/DFCN's model and train.py (the paper's model, its losses and training loop): dense Â.to_dense() as the
L_a target, torch.spmm for propagation, softmax(Z_L Z_Lᵀ) and σ(ZZᵀ) materialized N×N, Adam, and after every
epoch sklearn KMeans(n_clusters=K, n_init=20) on Z̃, as the official code evaluates. Inputs (PCA features,
edges, labels) come from files that bench/dfcn-epoch/run.ts writes, so both sides train on identical data.

usage: python3 dfcn_torch.py DIR EPOCHS THREADS [IGAE_ACT] [LAYOUT] [LR]
prints one JSON line: per-epoch medians of the training step and of the evaluation (ms).
"""
import json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# reference_common lives in bench/torch/; the runners launch this file by its path, so that folder is not on sys.path.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'torch'))
from reference_common import load_edge_list_inputs

d, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
act_name = sys.argv[4] if len(sys.argv) > 4 else 'tanh'
lr = float(sys.argv[6]) if len(sys.argv) > 6 else 1e-4
torch.set_num_threads(threads)
torch.manual_seed(0)

x_np, edges, labels = load_edge_list_inputs(d)
N, n_input = x_np.shape
K = int(labels.max()) + 1

# Â = D⁻¹(max(A, Aᵀ) + I), as load_graph: sparse for propagation, dense as the L_a target.
A = np.zeros((N, N), dtype=np.float32)
A[edges[:, 0], edges[:, 1]] = 1
A = np.maximum(A, A.T) + np.eye(N, dtype=np.float32)
A = A / A.sum(1, keepdims=True)
adj_dense = torch.from_numpy(A)
adj = adj_dense.to_sparse()
x = torch.from_numpy(x_np)

act = {'tanh': torch.tanh, 'leaky': lambda t: F.leaky_relu(t, 0.2), 'none': lambda t: t}[act_name]

class GNNLayer(nn.Module):
    def __init__(self, i, o, active):
        super().__init__()
        self.w = nn.Parameter(torch.empty(i, o))
        nn.init.xavier_uniform_(self.w)
        self.active = active
    def forward(self, h, a):
        s = torch.mm(h, self.w)
        if self.active:
            s = act(s)
        return torch.spmm(a, s)

class DFCN(nn.Module):
    def __init__(self):
        super().__init__()
        L = nn.Linear
        self.enc = nn.ModuleList([L(n_input, 128), L(128, 256), L(256, 512)])
        self.z_layer = L(512, 20)
        self.dec = nn.ModuleList([L(20, 512), L(512, 256), L(256, 128)])
        self.x_bar = L(128, n_input)
        self.g_enc = nn.ModuleList([GNNLayer(n_input, 128, True), GNNLayer(128, 256, True), GNNLayer(256, 20, False)])
        self.g_dec = nn.ModuleList([GNNLayer(20, 256, True), GNNLayer(256, 128, True), GNNLayer(128, n_input, True)])
        self.a = torch.full((N, 20), 0.5)  # not a parameter, as in the official code
        self.b = 1 - self.a
        self.cluster_layer = nn.Parameter(torch.empty(K, 20))
        nn.init.xavier_normal_(self.cluster_layer)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x, adj):
        h = x
        for l in self.enc:
            h = F.leaky_relu(l(h), 0.2)
        z_ae = self.z_layer(h)
        g = x
        for l in self.g_enc:
            g = l(g, adj)
        z_igae = g
        z_igae_adj = torch.sigmoid(torch.mm(z_igae, z_igae.t()))
        z_i = self.a * z_ae + self.b * z_igae
        z_l = torch.spmm(adj, z_i)
        s = F.softmax(torch.mm(z_l, z_l.t()), dim=1)
        z_g = torch.mm(s, z_l)
        z_tilde = self.gamma * z_g + z_l
        h = z_tilde
        for l in self.dec:
            h = F.leaky_relu(l(h), 0.2)
        x_hat = self.x_bar(h)
        g = z_tilde
        for l in self.g_dec:
            g = l(g, adj)
        z_hat = g
        z_hat_adj = torch.sigmoid(torch.mm(z_hat, z_hat.t()))
        adj_hat = z_igae_adj + z_hat_adj
        def student(z):
            q = 1.0 / (1.0 + torch.sum(torch.pow(z.unsqueeze(1) - self.cluster_layer, 2), 2))
            return (q.t() / torch.sum(q, 1)).t()
        return x_hat, z_hat, adj_hat, z_ae, z_igae, student(z_tilde), student(z_ae), student(z_igae), z_tilde

def target_distribution(q):
    w = q ** 2 / q.sum(0)
    return (w.t() / w.sum(1)).t()

model = DFCN()
opt = torch.optim.Adam(model.parameters(), lr=lr)
from sklearn.cluster import KMeans
with torch.no_grad():
    *_, z0 = model(x, adj)
km = KMeans(n_clusters=K, n_init=20).fit(z0.numpy())
model.cluster_layer.data = torch.tensor(km.cluster_centers_, dtype=torch.float32)
adj_x = torch.spmm(adj, x)

train_ms, eval_ms = [], []
for epoch in range(epochs):
    t0 = time.perf_counter()
    x_hat, z_hat, adj_hat, z_ae, z_igae, q, q1, q2, z_tilde = model(x, adj)
    p = target_distribution(q.data)
    loss_ae = F.mse_loss(x_hat, x)
    loss_w = F.mse_loss(z_hat, adj_x)
    loss_a = F.mse_loss(adj_hat, adj_dense)
    loss_igae = loss_w + 0.1 * loss_a
    loss_kl = F.kl_div((q.log() + q1.log() + q2.log()) / 3, p, reduction='batchmean')
    loss = loss_ae + loss_igae + 10 * loss_kl
    opt.zero_grad()
    loss.backward()
    opt.step()
    t1 = time.perf_counter()
    KMeans(n_clusters=K, n_init=20).fit(z_tilde.data.numpy())
    t2 = time.perf_counter()
    train_ms.append((t1 - t0) * 1e3)
    eval_ms.append((t2 - t1) * 1e3)

print(json.dumps({'N': N, 'n': n_input, 'K': K, 'epochs': epochs, 'threads': threads, 'torch': torch.__version__,
                  'trainMs': float(np.median(train_ms[1:] if len(train_ms) > 1 else train_ms)),
                  'evalMs': float(np.median(eval_ms[1:] if len(eval_ms) > 1 else eval_ms)),
                  'trainMsAll': [round(v, 2) for v in train_ms], 'evalMsAll': [round(v, 2) for v in eval_ms]}))
