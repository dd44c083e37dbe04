"""DEC and IDEC training in plain PyTorch, for timing against dgclust on the same machine (samples per second).

A faithful PyTorch version of the Keras code whose numbers later papers quote (XifengGuo/DEC-keras DEC.py and
XifengGuo/IDEC IDEC.py), MNIST settings:
  - network: autoencoder d-500-500-2000-10, ReLU on the hidden layers, linear embedding and reconstruction;
  - pretraining (DEC.pretrain): the whole autoencoder, MSE, SGD(lr 1, momentum 0.9), batches of 256, the rows
    shuffled every epoch (Keras fit);
  - clustering (DEC.fit / IDEC.fit): every `update_interval` (140) iterations a prediction on all rows
    (Q from one no-grad forward of the encoder), P = target_distribution(Q), labels = argmax Q, the metrics (acc
    with DEC-keras's Python contingency loop and linear_sum_assignment, NMI, ARI) and the label change (the tol
    test is left to the caller, which disables it so that both sides run the same iterations); between refreshes
    one optimizer step per batch of 256 rows taken in order: DEC: Keras 'kld' (p and q clipped to [1e-7, 1],
    Σ_j p log(p/q), mean over the batch), SGD(0.01, 0.9), encoder + μ; IDEC: 0.1·kld + MSE(x̂, x) (loss_weights
    [γ, 1]), SGD(0.1, 0.99), the whole autoencoder + μ.
Inputs (features already scaled by 1/255, the initial weights by name, labels) come from files written by
bench/dec-mnist/run.ts. μ: sklearn KMeans(n_clusters, n_init=20) on the embedding, as DEC-keras (not timed).

usage: python3 dec_torch.py DIR THREADS MODEL (dec | idec) — serve mode, one command per stdin line, one JSON line
back each, so that run.ts can interleave these chunks with dgclust's:
  pretrain      one pretraining epoch
  start         μ by k-means, then the first refresh (P, labels, metrics)
  interval N    N clustering steps, then a refresh
  done          peak memory, thread pools; exit
"""
import json, os, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

# reference_common lives in bench/torch/; the runners launch this file by its path, so that folder is not on sys.path.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'torch'))
from reference_common import reset_hwm, status_kib

d, threads, model_name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
improved = model_name == 'idec'
torch.set_num_threads(threads)
torch.manual_seed(0)
np.random.seed(0)

x = torch.from_numpy(np.load(f'{d}/x.npy'))
y = np.load(f'{d}/labels.npy').astype(np.int64)
N, n_input = x.shape
K = int(y.max()) + 1
BATCH = 256


class AE(nn.Module):
    def __init__(self):
        super().__init__()
        enc = [n_input, 500, 500, 2000, 10]
        self.encoder = nn.ModuleList([nn.Linear(enc[i], enc[i + 1]) for i in range(4)])
        dec = list(reversed(enc))
        self.decoder = nn.ModuleList([nn.Linear(dec[i], dec[i + 1]) for i in range(4)])

    def encode(self, h):
        for i, l in enumerate(self.encoder):
            h = l(h)
            if i < 3:
                h = F.relu(h)
        return h

    def decode(self, h):
        for i, l in enumerate(self.decoder):
            h = l(h)
            if i < 3:
                h = F.relu(h)
        return h


ae = AE()
# run.ts names: ae.enc_1 … ae.z_layer, ae.dec_1 … ae.x_bar_layer ([out, in], as torch).
with torch.no_grad():
    for name, l in zip(['enc_1', 'enc_2', 'enc_3', 'z_layer', 'dec_1', 'dec_2', 'dec_3', 'x_bar_layer'], list(ae.encoder) + list(ae.decoder)):
        l.weight.copy_(torch.from_numpy(np.load(f'{d}/w/ae.{name}.weight.npy')))
        l.bias.copy_(torch.from_numpy(np.load(f'{d}/w/ae.{name}.bias.npy')))


def soft_assign(z, mu):  # DEC-keras ClusteringLayer, alpha = 1
    q = 1.0 / (1.0 + torch.sum((z.unsqueeze(1) - mu) ** 2, dim=2))
    return q / q.sum(1, keepdim=True)


def target_distribution(q):
    weight = q ** 2 / q.sum(0)
    return (weight.T / weight.sum(1)).T


def kld(p, q):  # keras.losses.kullback_leibler_divergence, averaged over the batch
    p = torch.clamp(p, 1e-7, 1)
    q = torch.clamp(q, 1e-7, 1)
    return torch.mean(torch.sum(p * torch.log(p / q), dim=1))


def acc(y_true, y_pred):  # DEC-keras metrics.acc
    D = max(y_pred.max(), y_true.max()) + 1
    w = np.zeros((D, D), dtype=np.int64)
    for i in range(y_pred.size):
        w[y_pred[i], y_true[i]] += 1
    r, c = linear_sum_assignment(-w)
    return sum(w[i, j] for i, j in zip(r, c)) * 1.0 / y_pred.size


pre_opt = torch.optim.SGD(ae.parameters(), lr=1.0, momentum=0.9)
state = {'mu': None, 'opt': None, 'p': None, 'index': 0, 'y_last': None, 'hwm': False, 'rss0': 0}


def pretrain_epoch():
    perm = torch.randperm(N)
    for s in range(0, N, BATCH):
        xb = x[perm[s:s + BATCH]]
        loss = F.mse_loss(ae.decode(ae.encode(xb)), xb)
        pre_opt.zero_grad()
        loss.backward()
        pre_opt.step()
    return {'loss': float(loss.item())}


def refresh():
    with torch.no_grad():
        q = soft_assign(ae.encode(x), state['mu'])
    state['p'] = target_distribution(q)
    y_pred = q.argmax(1).numpy()
    a, nmi, ari = acc(y, y_pred), normalized_mutual_info_score(y, y_pred), adjusted_rand_score(y, y_pred)
    delta = float(np.sum(y_pred != state['y_last'])) / N if state['y_last'] is not None else None
    state['y_last'] = y_pred.copy()
    return {'acc': a, 'nmi': nmi, 'ari': ari, 'labelChange': delta}


def start():
    with torch.no_grad():
        z = ae.encode(x).numpy()
    km = KMeans(n_clusters=K, n_init=20).fit(z)
    state['mu'] = nn.Parameter(torch.tensor(km.cluster_centers_, dtype=torch.float32))
    params = (list(ae.parameters()) if improved else list(ae.encoder.parameters())) + [state['mu']]
    state['opt'] = torch.optim.SGD(params, lr=0.1 if improved else 0.01, momentum=0.99 if improved else 0.9)
    state['hwm'] = reset_hwm()
    state['rss0'] = status_kib('VmRSS')
    t0 = time.perf_counter()
    r = refresh()
    return {**r, 'refreshMs': (time.perf_counter() - t0) * 1e3}


def interval(n):
    opt, mu, p = state['opt'], state['mu'], state['p']
    t0 = time.perf_counter()
    for _ in range(n):
        index = state['index']
        idx = slice(index * BATCH, min((index + 1) * BATCH, N))
        xb, pb = x[idx], p[idx]
        z = ae.encode(xb)
        loss = kld(pb, soft_assign(z, mu))
        if improved:
            loss = 0.1 * loss + F.mse_loss(ae.decode(z), xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        state['index'] = index + 1 if (index + 1) * BATCH <= N else 0
    t1 = time.perf_counter()
    r = refresh()
    return {**r, 'stepMs': (t1 - t0) * 1e3, 'refreshMs': (time.perf_counter() - t1) * 1e3, 'loss': float(loss.item())}


def done():
    try:
        from threadpoolctl import threadpool_info
        pools = [{k: i.get(k) for k in ('internal_api', 'num_threads', 'version')} for i in threadpool_info()]
    except Exception:
        pools = 'threadpoolctl not available'
    return {'N': N, 'n': n_input, 'K': K, 'threads': threads, 'torchThreads': torch.get_num_threads(), 'torch': torch.__version__,
            'threadpools': pools, 'peakGrowthBytes': (status_kib('VmHWM') - state['rss0']) * 1024 if state['hwm'] else None}


print(json.dumps({'ready': True}), flush=True)
for line in sys.stdin:
    cmd = line.split()
    c0, t0 = time.process_time(), time.perf_counter()
    if cmd[0] == 'pretrain':
        out = pretrain_epoch()
    elif cmd[0] == 'start':
        out = start()
    elif cmd[0] == 'interval':
        out = interval(int(cmd[1]))
    else:
        print(json.dumps(done()), flush=True)
        break
    out.update({'wallMs': (time.perf_counter() - t0) * 1e3, 'cpuMs': (time.process_time() - c0) * 1e3})
    print(json.dumps(out), flush=True)
