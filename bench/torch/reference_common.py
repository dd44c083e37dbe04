"""What the PyTorch reference scripts of the dgclust-vs-PyTorch benchmarks (bench/<model>/*_torch.py) share.

  - reading the inputs their runners write (bench/torch-side.ts, writeEdgeListInputs);
  - this process's memory figures from /proc, for the peak-memory columns;
  - SDCN's autoencoder and GNN layer (bdy9527/SDCN, sdcn.py), which the official CaEGCN and AGCN code build on
    (AGCN's GNN layer with LeakyReLU in place of ReLU).

The scripts run as `python3 bench/<model>/<name>_torch.py …` (never as a package), so each one puts this folder
on sys.path itself before importing from here.
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def openblas_core():
    """The kernel set PyTorch's OpenBLAS runs ('Cooperlake', 'Haswell', ...), or None when no OpenBLAS is loaded.
    OpenBLAS 0.3.21 (Debian 12) does not know some recent CPUs and falls back to 'Prescott' (SSE3) kernels, a third of
    the speed of its AVX-512 ones: the benchmarks print it so that such a comparison is not taken for a fair one
    (OPENBLAS_CORETYPE=Cooperlake or SkylakeX selects the right kernels on those CPUs)."""
    import ctypes
    try:
        with open('/proc/self/maps') as maps:
            paths = {line.split()[-1] for line in maps if 'openblas' in line and '.so' in line.split()[-1]}
        for path in sorted(paths):
            try:
                lib = ctypes.CDLL(path)
                lib.openblas_get_corename.restype = ctypes.c_char_p
                return lib.openblas_get_corename().decode()
            except (OSError, AttributeError):
                continue
    except OSError:
        pass
    return None


def load_edge_list_inputs(d):
    """x.npy (float32), edges.npy ([row, column] pairs of Â's nonzeros) and labels.npy from folder d."""
    return np.load(f'{d}/x.npy').astype(np.float32), np.load(f'{d}/edges.npy'), np.load(f'{d}/labels.npy')


def status_kib(field):
    """A kB field of /proc/self/status (VmRSS, VmHWM = peak RSS); 0 where it is missing."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    return 0


def reset_hwm():
    """Resets VmHWM to the current RSS (Linux >= 4.0), so a later VmHWM is the peak of what ran in between."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


class AE(nn.Module):
    """SDCN's autoencoder. forward also returns the decoder's first and third hidden layers (CaEGCN adds them
    into its GNN decoder); SDCN and AGCN use the first five values."""

    def __init__(self, n_input, n_z=10, n_enc_1=500, n_enc_2=500, n_enc_3=2000, n_dec_1=2000, n_dec_2=500, n_dec_3=500):
        super().__init__()
        self.enc_1 = nn.Linear(n_input, n_enc_1)
        self.enc_2 = nn.Linear(n_enc_1, n_enc_2)
        self.enc_3 = nn.Linear(n_enc_2, n_enc_3)
        self.z_layer = nn.Linear(n_enc_3, n_z)
        self.dec_1 = nn.Linear(n_z, n_dec_1)
        self.dec_2 = nn.Linear(n_dec_1, n_dec_2)
        self.dec_3 = nn.Linear(n_dec_2, n_dec_3)
        self.x_bar_layer = nn.Linear(n_dec_3, n_input)

    def forward(self, x):
        enc_h1 = F.relu(self.enc_1(x))
        enc_h2 = F.relu(self.enc_2(enc_h1))
        enc_h3 = F.relu(self.enc_3(enc_h2))
        z = self.z_layer(enc_h3)
        dec_h1 = F.relu(self.dec_1(z))
        dec_h2 = F.relu(self.dec_2(dec_h1))
        dec_h3 = F.relu(self.dec_3(dec_h2))
        x_bar = self.x_bar_layer(dec_h3)
        return x_bar, enc_h1, enc_h2, enc_h3, z, dec_h1, dec_h3


class GNNLayer(nn.Module):
    """SDCN's GNN layer: act(spmm(Â, H W)), no activation when active=False, xavier_uniform_ weights. act is
    ReLU in SDCN and CaEGCN, LeakyReLU(0.2) in AGCN."""

    def __init__(self, in_features, out_features, act=F.relu):
        super().__init__()
        self.weight = nn.Parameter(torch.FloatTensor(in_features, out_features))
        nn.init.xavier_uniform_(self.weight)
        self.act = act

    def forward(self, features, adj, active=True):
        support = torch.mm(features, self.weight)
        output = torch.spmm(adj, support)
        return self.act(output) if active else output
