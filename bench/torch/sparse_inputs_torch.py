"""PyTorch's own products with ACM's sparse features, for comparison with bench/sparse-inputs.ts (run it just before
or after, on the same machine): X·W with X dense, as a CSR tensor, and as COO through torch.sparse.mm, and Xᵀ·G dense
and with Xᵀ as CSR (X 3025 × 1870, 4.5% nonzero; W 1870 × 500; G 3025 × 500). Median of 9 runs, one thread.

Usage: OPENBLAS_CORETYPE=<your CPU's> /usr/bin/python3 bench/torch/sparse_inputs_torch.py [path/to/acm.txt.gz]
"""
import gzip
import sys
import time
import warnings

import numpy as np
import torch

from reference_common import openblas_core

warnings.filterwarnings('ignore', message='Sparse CSR tensor support is in beta')
torch.set_num_threads(1)
path = sys.argv[1] if len(sys.argv) > 1 else 'data/acm/acm.txt.gz'
X = torch.from_numpy(np.loadtxt(gzip.open(path)).astype(np.float32))
gen = torch.Generator().manual_seed(0)
W = torch.randn(X.shape[1], 500, generator=gen)
G = torch.randn(X.shape[0], 500, generator=gen)
x_csr, x_coo, xt_csr = X.to_sparse_csr(), X.to_sparse(), X.t().contiguous().to_sparse_csr()


def median_ms(f, reps=9):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append(1000 * (time.perf_counter() - t0))
    return sorted(ts)[reps // 2]


print(f'torch {torch.__version__}, 1 thread, OpenBLAS kernels {openblas_core()}, X {tuple(X.shape)}, '
      f'{100 * float((X != 0).float().mean()):.1f}% nonzero')
for name, f in [('X·W dense', lambda: X @ W), ('X·W, X as CSR', lambda: x_csr @ W),
                ('X·W, torch.sparse.mm (COO)', lambda: torch.sparse.mm(x_coo, W)),
                ('Xᵀ·G dense', lambda: X.t() @ G), ('Xᵀ·G, Xᵀ as CSR', lambda: xt_csr @ G)]:
    print(f'| {name} | {median_ms(f):.1f} ms |')
