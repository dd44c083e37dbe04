"""SDCN's official training epoch in plain PyTorch, for timing against dgclust on the same machine.

A faithful script of bdy9527/SDCN's sdcn.py (model and train loop) and evaluation.py:
  - the model: AE d-500-500-2000-10 (nn.Linear, ReLU), GNN layers spmm(Â, mm(h, W)) with ReLU but the last,
    the delivery operator (1 − σ)·h + σ·H with σ = 0.5, predict = softmax(h5), Q = Student-t (v = 1);
  - every epoch (update_interval 1): an extra forward pass with autograd on (`_, tmp_q, pred, _ = model(data, adj)`),
    P = target_distribution(tmp_q.data), and the argmax readouts of Q, Z (pred) and P each evaluated by eva()
    (cluster_acc: contingency counts by Python list comprehensions, Hungarian matching — scipy's
    linear_sum_assignment in place of munkres, which is not installed —, accuracy and the macro/micro
    precision/recall/F1 via sklearn; NMI (arithmetic) and ARI via sklearn);
  - then the training forward, loss 0.1·KL(P‖Q) + 0.01·KL(P‖pred) + MSE(x̄, x) (F.kl_div 'batchmean', F.mse_loss),
    zero_grad, backward, Adam step.
As in the official loop, `pred` of the extra forward pass stays referenced (and with it that pass's autograd
graph) until the training forward reassigns it: that is part of PyTorch's peak memory here.

Inputs come from files that bench/sdcn-epoch/run.ts writes (features, Â in CSR, labels, the initial weights by
the official parameter names, μ after k-means), so both sides train the same model from the same state on the
same graph. usage: python3 sdcn_torch.py DIR EPOCHS THREADS LR — EPOCHS epochs, then one JSON line: per-epoch times (ms) of
the refresh forward, the evaluation and the training step, the losses, and peak memory (VmHWM growth over the RSS
before the loop); EPOCHS = 0: serve mode, one epoch per 'epoch' line on stdin (see the end of this file).
"""
import json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parameter import Parameter
from scipy.optimize import linear_sum_assignment
from sklearn import metrics
from sklearn.metrics import adjusted_rand_score as ari_score
from sklearn.metrics.cluster import normalized_mutual_info_score as nmi_score

# reference_common lives in bench/torch/; the runners launch this file by its path, so that folder is not on sys.path.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'torch'))
from reference_common import AE, GNNLayer, reset_hwm, status_kib  # AE, GNNLayer: sdcn.py's own

d, epochs, threads, lr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
torch.set_num_threads(threads)


x_np = np.load(f'{d}/x.npy')
indptr, indices, values = np.load(f'{d}/adj_indptr.npy'), np.load(f'{d}/adj_indices.npy'), np.load(f'{d}/adj_values.npy')
y = np.load(f'{d}/labels.npy').astype(np.int64)
N, n_input = x_np.shape
K = int(y.max()) + 1
rows = np.repeat(np.arange(N), np.diff(indptr))
# utils.load_graph ends in sparse_mx_to_torch_sparse_tensor: a COO torch.sparse.FloatTensor.
adj = torch.sparse_coo_tensor(torch.from_numpy(np.vstack([rows, indices]).astype(np.int64)), torch.from_numpy(values), (N, N)).coalesce()
data = torch.from_numpy(x_np)


class SDCN(nn.Module):
    def __init__(self, n_enc_1, n_enc_2, n_enc_3, n_dec_1, n_dec_2, n_dec_3, n_input, n_z, n_clusters, v=1):
        super().__init__()
        self.ae = AE(n_input, n_z, n_enc_1, n_enc_2, n_enc_3, n_dec_1, n_dec_2, n_dec_3)
        self.gnn_1 = GNNLayer(n_input, n_enc_1)
        self.gnn_2 = GNNLayer(n_enc_1, n_enc_2)
        self.gnn_3 = GNNLayer(n_enc_2, n_enc_3)
        self.gnn_4 = GNNLayer(n_enc_3, n_z)
        self.gnn_5 = GNNLayer(n_z, n_clusters)
        self.cluster_layer = Parameter(torch.Tensor(n_clusters, n_z))
        torch.nn.init.xavier_normal_(self.cluster_layer.data)
        self.v = v

    def forward(self, x, adj):
        x_bar, tra1, tra2, tra3, z, _, _ = self.ae(x)
        sigma = 0.5
        h = self.gnn_1(x, adj)
        h = self.gnn_2((1 - sigma) * h + sigma * tra1, adj)
        h = self.gnn_3((1 - sigma) * h + sigma * tra2, adj)
        h = self.gnn_4((1 - sigma) * h + sigma * tra3, adj)
        h = self.gnn_5((1 - sigma) * h + sigma * z, adj, active=False)
        predict = F.softmax(h, dim=1)
        q = 1.0 / (1.0 + torch.sum(torch.pow(z.unsqueeze(1) - self.cluster_layer, 2), 2) / self.v)
        q = q.pow((self.v + 1.0) / 2.0)
        q = (q.t() / torch.sum(q, 1)).t()
        return x_bar, q, predict, z


def target_distribution(q):
    weight = q ** 2 / q.sum(0)
    return (weight.t() / weight.sum(1)).t()


# ---- evaluation.py (munkres → scipy) -------------------------------------------------------------------------
def cluster_acc(y_true, y_pred):
    y_true = y_true - np.min(y_true)
    l1 = list(set(y_true))
    numclass1 = len(l1)
    l2 = list(set(y_pred))
    numclass2 = len(l2)
    ind = 0
    if numclass1 != numclass2:
        for i in l1:
            if i in l2:
                pass
            else:
                y_pred[ind] = i
                ind += 1
    l2 = list(set(y_pred))
    numclass2 = len(l2)
    if numclass1 != numclass2:
        print('error', file=sys.stderr)
        return 0, 0
    cost = np.zeros((numclass1, numclass2), dtype=int)
    for i, c1 in enumerate(l1):
        mps = [i1 for i1, e1 in enumerate(y_true) if e1 == c1]
        for j, c2 in enumerate(l2):
            mps_d = [i1 for i1 in mps if y_pred[i1] == c2]
            cost[i][j] = len(mps_d)
    # match two clustering results by the Hungarian algorithm (Munkres on −cost in the official code)
    row, col = linear_sum_assignment(-cost)
    indexes = list(zip(row, col))
    new_predict = np.zeros(len(y_pred))
    for i, c in enumerate(l1):
        c2 = l2[indexes[i][1]]
        ai = [ind for ind, elm in enumerate(y_pred) if elm == c2]
        new_predict[ai] = c
    acc = metrics.accuracy_score(y_true, new_predict)
    f1_macro = metrics.f1_score(y_true, new_predict, average='macro')
    precision_macro = metrics.precision_score(y_true, new_predict, average='macro')
    recall_macro = metrics.recall_score(y_true, new_predict, average='macro')
    f1_micro = metrics.f1_score(y_true, new_predict, average='micro')
    precision_micro = metrics.precision_score(y_true, new_predict, average='micro')
    recall_micro = metrics.recall_score(y_true, new_predict, average='micro')
    return acc, f1_macro


def eva(y_true, y_pred, epoch=0):
    acc, f1 = cluster_acc(y_true, y_pred)
    nmi = nmi_score(y_true, y_pred, average_method='arithmetic')
    ari = ari_score(y_true, y_pred)
    return acc, nmi, ari, f1


# ---- the run ---------------------------------------------------------------------------------------------------
model = SDCN(500, 500, 2000, 2000, 500, 500, n_input=n_input, n_z=10, n_clusters=K, v=1.0)
state = {name: torch.from_numpy(np.load(f'{d}/w/{name}.npy')) for name, _ in model.named_parameters()}
model.load_state_dict(state, strict=True)
optimizer = torch.optim.Adam(model.parameters(), lr=lr)



def epoch():
    """One epoch of the official loop; returns its timings (ms), loss and the ACC of the Q, Z, P readouts."""
    global p
    c0 = time.process_time()
    t0 = time.perf_counter()
    _, tmp_q, pred, _ = model(data, adj)
    tmp_q = tmp_q.data
    p = target_distribution(tmp_q)
    t1 = time.perf_counter()
    res1 = tmp_q.cpu().numpy().argmax(1)       # Q
    res2 = pred.data.cpu().numpy().argmax(1)   # Z
    res3 = p.data.cpu().numpy().argmax(1)      # P
    r1 = eva(y, res1, 'Q')
    r2 = eva(y, res2, 'Z')
    r3 = eva(y, res3, 'P')
    t2 = time.perf_counter()
    x_bar, q, pred, _ = model(data, adj)
    kl_loss = F.kl_div(q.log(), p, reduction='batchmean')
    ce_loss = F.kl_div(pred.log(), p, reduction='batchmean')
    re_loss = F.mse_loss(x_bar, data)
    loss = 0.1 * kl_loss + 0.01 * ce_loss + re_loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    t3 = time.perf_counter()
    return {'cpuMs': (time.process_time() - c0) * 1e3, 'refreshMs': (t1 - t0) * 1e3, 'evalMs': (t2 - t1) * 1e3, 'stepMs': (t3 - t2) * 1e3, 'loss': float(loss.item()),
            'accQZP': [float(r1[0]), float(r2[0]), float(r3[0])]}


def summary():
    try:
        from threadpoolctl import threadpool_info
        pools = [{k: i.get(k) for k in ('internal_api', 'num_threads', 'version')} for i in threadpool_info()]
    except Exception:  # threadpoolctl missing: say so rather than guess
        pools = 'threadpoolctl not available'
    return {'N': N, 'n': n_input, 'K': K, 'nnz': int(values.shape[0]), 'threads': threads, 'torchThreads': torch.get_num_threads(),
            'threadpools': pools, 'torch': torch.__version__, 'rssBeforeBytes': rss_before * 1024,
            'peakRssBytes': status_kib('VmHWM') * 1024,
            'peakGrowthBytes': (status_kib('VmHWM') - rss_before) * 1024 if hwm_reset else None}


hwm_reset = reset_hwm()
rss_before = status_kib('VmRSS')
if epochs > 0:
    # Batch mode: all epochs, then one JSON line with the per-epoch records and the summary.
    records = [epoch() for _ in range(epochs)]
    print(json.dumps({**summary(), 'epochs': records}))
else:
    # Serve mode (EPOCHS = 0): one epoch per 'epoch' line on stdin, its record printed as a JSON line, so that
    # run.ts can interleave PyTorch's epochs with dgclust's (a load that drifts then hits both alike); 'done'
    # prints the summary and exits.
    print(json.dumps({'ready': True}), flush=True)
    for line in sys.stdin:
        if line.strip() == 'epoch':
            print(json.dumps(epoch()), flush=True)
        else:
            print(json.dumps(summary()), flush=True)
            break
