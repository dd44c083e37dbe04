"""DEC and IDEC training in plain PyTorch, for timing against dgclust on the same machine (samples per second).

A faithful PyTorch version of the Keras code whose numbers later papers quote (XifengGuo/DEC-keras DEC.py and
XifengGuo/IDEC IDEC.py), MNIST settings:
  - network: autoencoder d-500-500-2000-10, ReLU on the hidden layers, linear embedding and reconstruction;
  - pretraining (DEC.pretrain): the whole autoencoder, MSE, SGD(lr 1, momentum 0.9), batches of 256, the rows
    shuffled every epoch (Keras fit);
  - clustering (DEC.fit / IDEC.fit): every `update_interval` (140) iterations a prediction on all rows
    (Q, one no-grad forward of the encoder), P = target_distribution(Q), labels = argmax Q, the metrics (acc with
    the Python contingency loop and linear_sum_assignment, NMI, ARI) and the label change (the tol test is
    disabled here so that both sides run the same number of iterations); between refreshes one optimizer step per
    batch of 256 rows taken in order: DEC: Keras 'kld' (p and q clipped to [1e-7, 1], Σ_j p log(p/q), mean over
    the batch), SGD(0.01, 0.9), encoder + μ; IDEC: 0.1·kld + MSE(x̂, x) (loss_weights [γ, 1]), SGD(0.1, 0.99),
    the whole autoencoder + μ; a final prediction after the last iteration.
Inputs (features already scaled by 1/255, the initial weights by name, labels) come from files written by
bench/dec-mnist/run.ts. μ: sklearn KMeans(n_clusters, n_init=20) on the embedding, as DEC-keras (not timed).
usage: python3 dec_torch.py DIR THREADS PRETRAIN_EPOCHS ITERATIONS
Prints one JSON line.
"""
import json, sys, time
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

d, threads, pre_epochs, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
torch.manual_seed(0)
np.random.seed(0)

x = torch.from_numpy(np.load(f'{d}/x.npy'))
y = np.load(f'{d}/labels.npy').astype(np.int64)
N, n_input = x.shape
K = int(y.max()) + 1
BATCH, INTERVAL = 256, 140


def status_kib(field):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def reset_hwm():
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


class AE(nn.Module):
    dims = [500, 500, 2000, 10]

    def __init__(self):
        super().__init__()
        enc = [n_input] + self.dims
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


def load_weights(ae):
    # run.ts names: ae.enc_1 … ae.z_layer, ae.dec_1 … ae.x_bar_layer ([out, in], as torch).
    names = ['enc_1', 'enc_2', 'enc_3', 'z_layer', 'dec_1', 'dec_2', 'dec_3', 'x_bar_layer']
    layers = list(ae.encoder) + list(ae.decoder)
    with torch.no_grad():
        for name, l in zip(names, layers):
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


def pretrain(ae):
    opt = torch.optim.SGD(ae.parameters(), lr=1.0, momentum=0.9)
    epoch_ms = []
    for _ in range(pre_epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(N)
        for s in range(0, N, BATCH):
            xb = x[perm[s:s + BATCH]]
            loss = F.mse_loss(ae.decode(ae.encode(xb)), xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        epoch_ms.append((time.perf_counter() - t0) * 1e3)
    return epoch_ms


def cluster(ae, improved):
    with torch.no_grad():
        z = ae.encode(x).numpy()
    km = KMeans(n_clusters=K, n_init=20).fit(z)
    mu = nn.Parameter(torch.tensor(km.cluster_centers_, dtype=torch.float32))
    if improved:
        params, lr, momentum = list(ae.parameters()) + [mu], 0.1, 0.99
    else:
        params, lr, momentum = list(ae.encoder.parameters()) + [mu], 0.01, 0.9
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    step_ms, refresh_ms, losses = [], [], []
    hwm = reset_hwm()
    rss0 = status_kib('VmRSS')
    t_start = time.perf_counter()
    index, y_last, p = 0, None, None

    def refresh():
        nonlocal y_last, p
        t0 = time.perf_counter()
        with torch.no_grad():
            q = soft_assign(ae.encode(x), mu)
        p = target_distribution(q)
        y_pred = q.argmax(1).numpy()
        a, nmi, ari = acc(y, y_pred), normalized_mutual_info_score(y, y_pred), adjusted_rand_score(y, y_pred)
        delta = float(np.sum(y_pred != y_last)) / N if y_last is not None else None
        y_last = y_pred.copy()
        refresh_ms.append((time.perf_counter() - t0) * 1e3)
        return a

    last_acc = None
    for ite in range(iterations):
        if ite % INTERVAL == 0:
            last_acc = refresh()
        t0 = time.perf_counter()
        idx = slice(index * BATCH, min((index + 1) * BATCH, N))
        xb, pb = x[idx], p[idx]
        z = ae.encode(xb)
        loss = kld(pb, soft_assign(z, mu))
        if improved:
            loss = 0.1 * loss + F.mse_loss(ae.decode(z), xb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        index = index + 1 if (index + 1) * BATCH <= N else 0
        step_ms.append((time.perf_counter() - t0) * 1e3)
        losses.append(float(loss.item()))
    last_acc = refresh()  # the final prediction
    wall_ms = (time.perf_counter() - t_start) * 1e3
    return {
        'iterations': iterations, 'stepMsTotal': sum(step_ms), 'stepMsMedian': float(np.median(step_ms)),
        'refreshMs': refresh_ms, 'wallMs': wall_ms, 'finalAcc': last_acc, 'firstLoss': losses[0] if losses else None,
        'peakGrowthBytes': (status_kib('VmHWM') - rss0) * 1024 if hwm else None,
    }


out = {'N': N, 'n': n_input, 'K': K, 'threads': threads, 'torchThreads': torch.get_num_threads(), 'torch': torch.__version__}
for name, improved in (('dec', False), ('idec', True)):
    ae = AE()
    load_weights(ae)
    pre = pretrain(ae)
    out[name] = {'pretrainEpochMs': pre, 'clustering': cluster(ae, improved)}
try:
    from threadpoolctl import threadpool_info
    out['threadpools'] = [{k: i.get(k) for k in ('internal_api', 'num_threads', 'version')} for i in threadpool_info()]
except Exception:
    out['threadpools'] = 'threadpoolctl not available'
print(json.dumps(out))
