#!/usr/bin/env python3
"""PyTorch side of dgclust's comparison bench (`npm run bench -- --torch`).

Runs the cases of a plan written by bench/compare/run-compare.ts (plan.json) on the inputs it stored (graphs,
features and weights as raw arrays + manifest.json), in plain PyTorch: torch.mm in the four transpose forms,
torch.sparse.mm with the COO adjacency (as the SDCN/DFCN code), dense softmax(Z Zᵀ) Z, Student-t / target
distribution / F.kl_div, and the DFCN and SDCN training steps written as the official code computes them.
Each timed part is printed as `@@RESULT {json}` (the format of bench/compare/child.ts).

    python3 bench/torch/bench_torch.py --plan PLAN --inputs DIR --group kernels|selfcorr|steps \
        [--quick] [--threads 2] [--device cpu|cuda] [--cases id,id]

--device cuda runs the same cases on the GPU (timings synchronize; peak memory is torch.cuda.max_memory_allocated).
"""
import argparse
import gc
import json
import os
import sys
import time

try:
    import numpy as np
except ImportError:  # pragma: no cover
    print('@@UNAVAILABLE numpy is not installed for this Python: apt-get install python3-numpy', flush=True)
    sys.exit(3)

try:
    import torch
    import torch.nn.functional as F
except ImportError as err:  # pragma: no cover
    print('@@UNAVAILABLE PyTorch is not installed for %s (%s). Install it with `apt-get install python3-torch` '
          '(Debian/Ubuntu, CPU build) or `pip install torch`, then rerun `npm run bench -- --torch`.' % (sys.executable, err), flush=True)
    sys.exit(3)


def emit(tag, payload):
    print('@@%s %s' % (tag, payload if isinstance(payload, str) else json.dumps(payload)), flush=True)


# ---- inputs --------------------------------------------------------------------------------------------------

class Store:
    def __init__(self, d):
        self.dir = d
        with open(os.path.join(d, 'manifest.json')) as f:
            self.manifest = json.load(f)

    def get(self, key):
        e = self.manifest['arrays'][key]
        a = np.fromfile(os.path.join(self.dir, e['file']), dtype=np.int32 if e['dtype'] == 'int32' else np.float32)
        return a.reshape(e['shape'])

    def keys(self, prefix):
        return [k for k in self.manifest['arrays'] if k.startswith(prefix)]

    def csr(self, key):
        indptr, indices, values = self.get(key + '/indptr'), self.get(key + '/indices'), self.get(key + '/values')
        return indptr, indices, values


def coo_adj(store, graph, device):
    """Â as a coalesced sparse COO tensor (what SDCN/DFCN's load_graph builds) and N."""
    indptr, indices, values = store.csr('graph/' + graph)
    n = len(indptr) - 1
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    idx = torch.from_numpy(np.stack([rows, indices.astype(np.int64)]))
    a = torch.sparse_coo_tensor(idx, torch.from_numpy(values), (n, n)).coalesce().to(device)
    return a, n


# ---- measurement ---------------------------------------------------------------------------------------------

def proc_status():
    out = {}
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(('VmRSS:', 'VmHWM:')):
                    k, v = line.split(':')
                    out[k] = int(v.split()[0]) * 1024
    except OSError:
        pass
    return out.get('VmRSS', float('nan')), out.get('VmHWM', float('nan'))


def mem_available():
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return float('inf')


class Peak:
    def __init__(self, device):
        self.device = device

    def begin(self):
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            # Reset VmHWM to the current RSS (Linux >= 4.0), so each case gets its own peak.
            try:
                with open('/proc/self/clear_refs', 'w') as f:
                    f.write('5')
                self.reset = True
            except OSError:
                self.reset = False
            self.rss0, self.hwm0 = proc_status()

    def read(self):
        if self.device == 'cuda':
            return (torch.cuda.max_memory_allocated() - self.base) / 1e6, True
        _, hwm = proc_status()
        return (hwm - self.rss0) / 1e6, self.reset or hwm > self.hwm0


def timing_options(quick):
    if quick:
        return dict(warmup=1, max_runs=5, budget_ms=1200, min_runs=2, cold_ms=1500)
    return dict(warmup=2, max_runs=11, budget_ms=5000, min_runs=3, cold_ms=10000)


def time_calls(fn, sync, warmup, max_runs, budget_ms, min_runs, cold_ms):
    """Median and min-max after warm-up; a first call slower than cold_ms is the only sample (as measure.ts)."""
    def call():
        t0 = time.perf_counter()
        fn()
        sync()
        return (time.perf_counter() - t0) * 1e3
    first = call()
    if first >= cold_ms:
        return dict(medianMs=first, minMs=first, maxMs=first, runs=1, cold=True)
    for _ in range(1, warmup):
        if first >= budget_ms / 4:
            break
        call()
    samples = []
    start = time.perf_counter()
    while len(samples) < max_runs:
        samples.append(call())
        if len(samples) >= min_runs and (time.perf_counter() - start) * 1e3 > budget_ms:
            break
    samples.sort()
    m = len(samples) // 2
    median = samples[m] if len(samples) % 2 else (samples[m - 1] + samples[m]) / 2
    return dict(medianMs=median, minMs=samples[0], maxMs=samples[-1], runs=len(samples), cold=False)


# ---- the computations ----------------------------------------------------------------------------------------

def student_t(z, mu, v=1.0):
    # SDCN / DFCN code: q = 1 / (1 + ‖z − μ‖²/v), q^((v+1)/2), rows normalised
    q = 1.0 / (1.0 + torch.sum(torch.pow(z.unsqueeze(1) - mu, 2), 2) / v)
    q = q.pow((v + 1.0) / 2.0)
    return (q.t() / torch.sum(q, 1)).t()


def target_distribution(q):
    weight = q ** 2 / q.sum(0)
    return (weight.t() / weight.sum(1)).t()


def self_correlation(z):
    return F.softmax(torch.mm(z, z.t()), dim=1).mm(z)


class StepModel:
    """DFCN / SDCN training step in plain PyTorch (functional, parameters by the official names)."""

    def __init__(self, kind, store, device):
        self.kind = kind
        prefix = kind + '/w/'
        self.P = {k[len(prefix):]: torch.from_numpy(store.get(k).copy()).to(device).requires_grad_() for k in store.keys(prefix)}
        self.x = torch.from_numpy(store.get(kind + '/x').copy()).to(device)
        graph = 'acm' if kind == 'dfcn' else 'usps'
        self.adj, self.n = coo_adj(store, graph, device)
        if kind == 'dfcn':
            self.adj_x = torch.spmm(self.adj, self.x)  # L_w's constant target ÂX
            self.adj_dense = self.adj.to_dense()        # L_a's target, dense N×N as in DFCN's train.py
            lr = 5e-5
        else:
            lr = 1e-3
        self.opt = torch.optim.Adam(list(self.P.values()), lr=lr)

    def lin(self, h, name):
        return F.linear(h, self.P[name + '.weight'], self.P[name + '.bias'])

    def dfcn_loss(self):
        P, A, x = self.P, self.adj, self.x
        leaky = lambda t: F.leaky_relu(t, 0.2)

        def gnn(h, name, active):  # IGAE layer: Â · tanh(H W) (activation before propagation)
            s = torch.mm(h, P[name + '.weight'])
            return torch.spmm(A, torch.tanh(s) if active else s)

        h = leaky(self.lin(x, 'ae.encoder.enc_1'))
        h = leaky(self.lin(h, 'ae.encoder.enc_2'))
        h = leaky(self.lin(h, 'ae.encoder.enc_3'))
        z_ae = self.lin(h, 'ae.encoder.z_layer')
        g = gnn(x, 'gae.encoder.gnn_1', True)
        g = gnn(g, 'gae.encoder.gnn_2', True)
        z_igae = gnn(g, 'gae.encoder.gnn_3', False)
        z_i = 0.5 * z_ae + 0.5 * z_igae
        z_l = torch.spmm(A, z_i)
        z_g = self_correlation(z_l)
        z_tilde = P['gamma'] * z_g + z_l
        d = leaky(self.lin(z_tilde, 'ae.decoder.dec_1'))
        d = leaky(self.lin(d, 'ae.decoder.dec_2'))
        d = leaky(self.lin(d, 'ae.decoder.dec_3'))
        x_hat = self.lin(d, 'ae.decoder.x_bar_layer')
        e = gnn(z_tilde, 'gae.decoder.gnn_4', True)
        e = gnn(e, 'gae.decoder.gnn_5', True)
        z_hat = gnn(e, 'gae.decoder.gnn_6', True)
        a_hat = torch.sigmoid(torch.mm(z_igae, z_igae.t())) + torch.sigmoid(torch.mm(z_hat, z_hat.t()))
        mu = P['cluster_layer']
        q, q1, q2 = student_t(z_tilde, mu), student_t(z_ae, mu), student_t(z_igae, mu)
        p = target_distribution(q.data)
        loss_ae = F.mse_loss(x_hat, x)
        loss_w = F.mse_loss(z_hat, self.adj_x)
        loss_a = F.mse_loss(a_hat, self.adj_dense)
        loss_kl = F.kl_div((q.log() + q1.log() + q2.log()) / 3, p, reduction='batchmean')
        return loss_ae + loss_w + 0.1 * loss_a + 10 * loss_kl

    def sdcn_loss(self):
        P, A, x = self.P, self.adj, self.x
        sigma = 0.5
        h1 = F.relu(self.lin(x, 'ae.enc_1'))
        h2 = F.relu(self.lin(h1, 'ae.enc_2'))
        h3 = F.relu(self.lin(h2, 'ae.enc_3'))
        z = self.lin(h3, 'ae.z_layer')
        d = F.relu(self.lin(z, 'ae.dec_1'))
        d = F.relu(self.lin(d, 'ae.dec_2'))
        d = F.relu(self.lin(d, 'ae.dec_3'))
        x_bar = self.lin(d, 'ae.x_bar_layer')

        def gnn(h, name, active=True):  # SDCN's GNNLayer: act(Â (H W))
            out = torch.spmm(A, torch.mm(h, P[name + '.weight']))
            return F.relu(out) if active else out

        h = gnn(x, 'gnn_1')
        h = gnn((1 - sigma) * h + sigma * h1, 'gnn_2')
        h = gnn((1 - sigma) * h + sigma * h2, 'gnn_3')
        h = gnn((1 - sigma) * h + sigma * h3, 'gnn_4')
        h = gnn((1 - sigma) * h + sigma * z, 'gnn_5', active=False)
        pred = F.softmax(h, dim=1)
        q = student_t(z, P['cluster_layer'])
        p = target_distribution(q.data)
        kl_loss = F.kl_div(q.log(), p, reduction='batchmean')
        ce_loss = F.kl_div(pred.log(), p, reduction='batchmean')
        re_loss = F.mse_loss(x_bar, x)
        return 0.1 * kl_loss + 0.01 * ce_loss + re_loss

    def step(self):
        loss = self.dfcn_loss() if self.kind == 'dfcn' else self.sdcn_loss()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return loss.item()


def setup(case, store, device):
    """Returns ({part: fn}, info) for a case."""
    p = case['params']
    k = case['kernel']
    g = torch.Generator(device='cpu').manual_seed(5)
    rand = lambda *shape: (torch.rand(*shape, generator=g) * 2 - 1).to(device)
    if k == 'gemm':
        m, kk, n, form = int(p['m']), int(p['k']), int(p['n']), p['form']
        ta, tb = form[0] == 'T', form[1] == 'T'
        a = rand(kk, m) if ta else rand(m, kk)
        b = rand(n, kk) if tb else rand(kk, n)
        return {'call': lambda: torch.mm(a.t() if ta else a, b.t() if tb else b)}, {}
    if k == 'spmm':
        adj, n = coo_adj(store, p['graph'], device)
        h = rand(n, int(p['d']))
        if p['variant'] == 'dense':
            dense = adj.to_dense()
            return {'call': lambda: torch.mm(dense, h)}, {}
        return {'call': lambda: torch.sparse.mm(adj, h)}, {}
    if k == 'selfcorr':
        n, d = int(p['n']), int(p['d'])
        z = (rand(n, d) * 0.3).requires_grad_()
        w = rand(n, d)

        def fwd():
            with torch.no_grad():
                self_correlation(z)

        def fwd_bwd():
            (self_correlation(z) * w).sum().backward()
            z.grad = None
        return {'fwd': fwd, 'fwd+bwd': fwd_bwd}, {}
    if k == 'cluster':
        n, kk, d = int(p['n']), int(p['k']), int(p['d'])
        z = torch.randn(n, d, generator=g).to(device).requires_grad_()
        mu = torch.randn(kk, d, generator=g).to(device).requires_grad_()

        def fwd():
            with torch.no_grad():
                q = student_t(z, mu)
                F.kl_div(q.log(), target_distribution(q), reduction='batchmean')

        def fwd_grad():
            with torch.no_grad():
                pt = target_distribution(student_t(z, mu))
            loss = F.kl_div(student_t(z, mu).log(), pt, reduction='batchmean')
            torch.autograd.grad(loss, [z, mu])
        return {'fwd': fwd, 'fwd+grad': fwd_grad}, {}
    if k in ('dfcn', 'sdcn'):
        model = StepModel(k, store, device)
        info = {}

        def step():
            loss = model.step()
            if 'loss' not in info:
                info['loss'] = loss
        return {'step': step}, info
    raise ValueError('torch: no implementation of case %s' % case['id'])


def is_oom(err):
    s = str(err).lower()
    return isinstance(err, MemoryError) or 'out of memory' in s or "can't allocate memory" in s or 'alloc' in s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--plan', required=True)
    ap.add_argument('--inputs', required=True)
    ap.add_argument('--group', required=True)
    ap.add_argument('--quick', action='store_true')
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--cases', default=None)
    a = ap.parse_args()

    device = a.device
    if device == 'cuda' and not torch.cuda.is_available():
        print('@@UNAVAILABLE --device cuda: this PyTorch build (%s) has no CUDA or sees no GPU' % torch.__version__, flush=True)
        sys.exit(3)
    torch.set_num_threads(a.threads)
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    with open(a.plan) as f:
        plan = json.load(f)
    store = Store(a.inputs)
    only = a.cases.split(',') if a.cases else None
    cases = [c for c in plan if c['group'] == a.group and 'torch' in c['impls'] and (only is None or c['id'] in only)]
    info = {'impl': 'torch', 'torch': torch.__version__, 'device': device, 'threads': torch.get_num_threads(),
            'python': sys.version.split()[0], 'blas': 'mkl' if torch.backends.mkl.is_available() else 'system'}
    if device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(0)
    emit('INFO', info)

    topts = timing_options(a.quick)
    peak = Peak(device)
    stop = None
    for c in cases:
        emit('START', c['id'])
        if stop:
            for part in c['parts']:
                emit('RESULT', {'caseId': c['id'], 'impl': 'torch', 'part': part, 'status': 'skipped', 'note': stop})
            continue
        if c['kernel'] == 'selfcorr':
            # Dense softmax(ZZᵀ)Z forward + backward peaks at ~3 N×N float32 matrices (measured: 4.8 GB at N = 20,000);
            # do not start a case that would push the machine into the OOM killer (it shares the machine with other jobs).
            n = int(c['params']['n'])
            need = 3.5 * n * n * 4
            avail = torch.cuda.mem_get_info()[0] if device == 'cuda' else mem_available()
            if need > 0.6 * avail:
                note = 'dense N×N needs ≈%.0f GB, %.0f GB available' % (need / 1e9, avail / 1e9)
                for part in c['parts']:
                    emit('RESULT', {'caseId': c['id'], 'impl': 'torch', 'part': part, 'status': 'skipped', 'note': note})
                stop = 'not run: a smaller N did not fit in memory'
                continue
        gc.collect()
        peak.begin()
        try:
            parts, extra = setup(c, store, device)
        except Exception as err:  # noqa: BLE001 (report, go on)
            for part in c['parts']:
                emit('RESULT', {'caseId': c['id'], 'impl': 'torch', 'part': part, 'status': 'failed', 'note': 'setup failed: %s' % str(err).splitlines()[0][:160]})
            continue
        for part in c['parts']:
            if stop:
                emit('RESULT', {'caseId': c['id'], 'impl': 'torch', 'part': part, 'status': 'skipped', 'note': stop})
                continue
            try:
                t = time_calls(parts[part], sync, **topts)
                mb, exact = peak.read()
                emit('RESULT', dict(caseId=c['id'], impl='torch', part=part, status='ok', peakMB=mb, peakExact=exact, info=extra, **t))
            except Exception as err:  # noqa: BLE001
                oom = is_oom(err)
                emit('RESULT', {'caseId': c['id'], 'impl': 'torch', 'part': part, 'status': 'failed',
                                'note': ('out of memory (%s)' if oom else 'error: %s') % str(err).splitlines()[0][:160]})
                if oom:
                    stop = 'not run: %s ran out of memory' % c['shape']
        del parts
        if device == 'cuda':
            torch.cuda.empty_cache()
    emit('DONE', {'loadavg': list(os.getloadavg())})


if __name__ == '__main__':
    main()
