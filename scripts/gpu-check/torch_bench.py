"""The GPU check's kernel benchmark, PyTorch side (stage "bench"; bench.ts is dgclust's side, with the same case
keys, and the report puts them side by side).

Each case is what PyTorch users would write for the same computation, on the GPU, in float32 with TF32 off (dgclust
computes in full FP32, so tensor-core TF32 would not be the same arithmetic):
  * GEMM: torch.mm at 3025x1870x500, 10000x500x2000, 10000x2000x10 (cuBLAS);
  * SpMM: torch.sparse.mm with a CSR matrix of N = 1,000,000 and ~10M nonzeros (a random graph built the same way:
    4.5M random edges, symmetrized, self loops, symmetric normalization), H of width 20 and 256;
  * self-correlation softmax(Z Z^T) Z, d = 20: the dense version where the N x N matrix fits in the free GPU memory
    (computed in place: S = Z Z^T, S -= rowmax, exp, / rowsum, S Z), and scaled_dot_product_attention (PyTorch picks
    its memory-efficient kernel for float32), forward and backward, at N = 100,000 and 1,000,000;
  * DFCN's Student-t soft assignment and KL(P||Q) with autograd, N = 1,000,000, d = 20, K = 10.
Prints one line "TORCH {json}" per result as it is measured, and writes them all to --json FILE.

  python3 torch_bench.py [--json FILE] [--deadline EPOCH_MS]
Without torch or a GPU it prints a reason and exits 3 (the check reports the stage as not run).
"""
import json
import math
import sys
import time


def main(argv):
    json_path = argv[argv.index("--json") + 1] if "--json" in argv else None
    deadline = float(argv[argv.index("--deadline") + 1]) / 1000 if "--deadline" in argv else math.inf
    try:
        import torch
    except ImportError as e:
        print(f"torch_bench: no torch ({e})")
        return 3
    if not torch.cuda.is_available():
        print("torch_bench: torch sees no CUDA device")
        return 3
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device("cuda")
    results = []
    errors = []

    def emit(key, label, ms, work, notes=None):
        r = {"key": key, "label": label, "ms": round(ms, 3), "work": work, "notes": notes}
        results.append(r)
        print("TORCH " + json.dumps(r), flush=True)

    def time_it(fn, min_ms=300.0, max_reps=30, warmup=True):
        if warmup:
            fn()
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        once = (time.perf_counter() - t0) * 1000
        reps = max(1, min(max_reps, int(min_ms / max(once, 1e-3))))
        if reps == 1:
            return once
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        torch.cuda.synchronize()
        return (time.perf_counter() - t0) * 1000 / reps

    def case(name, fn):
        try:
            fn()
        except Exception as e:  # one case failing (memory, an unsupported kernel) must not stop the others
            errors.append({"key": name, "message": f"{type(e).__name__}: {e}"[:500]})
            print("TORCH-ERROR " + json.dumps(errors[-1]), flush=True)
        finally:
            torch.cuda.empty_cache()

    g = torch.Generator(device=dev).manual_seed(7)

    def gemm():
        for m, k, n in [(3025, 1870, 500), (10000, 500, 2000), (10000, 2000, 10)]:
            a = torch.rand(m, k, device=dev, generator=g) * 2 - 1
            b = torch.rand(k, n, device=dev, generator=g) * 2 - 1
            ms = time_it(lambda: torch.mm(a, b))
            emit(f"gemm {m}x{k}x{n}", f"torch.mm {m}x{k}x{n}", ms, {"flops": 2 * m * k * n})

    def spmm():
        n, edges = 1_000_000, 4_500_000
        src = torch.randint(0, n, (edges,), device=dev, generator=g)
        dst = torch.randint(0, n, (edges,), device=dev, generator=g)
        loops = torch.arange(n, device=dev)
        rows = torch.cat([src, dst, loops])
        cols = torch.cat([dst, src, loops])
        vals = torch.ones(rows.numel(), device=dev)
        a = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (n, n)).coalesce()
        idx = a.indices()
        v = torch.ones_like(a.values())  # a 0/1 pattern (coalesce summed the duplicates); the values do not matter here
        deg = torch.zeros(n, device=dev).index_add_(0, idx[0], v)
        v = v * deg[idx[0]].rsqrt() * deg[idx[1]].rsqrt()
        csr = torch.sparse_coo_tensor(idx, v, (n, n)).coalesce().to_sparse_csr()
        nnz = csr.values().numel()
        for d in (20, 256):
            h = torch.rand(n, d, device=dev, generator=g) * 2 - 1
            ms = time_it(lambda: torch.sparse.mm(csr, h))
            emit(f"spmm d={d}", f"torch.sparse.mm (CSR), N = {n:,}, {nnz:,} nonzeros, d = {d}", ms,
                 {"bytes": (n + 1) * 4 + nnz * 8 + nnz * d * 4 + n * d * 4})
            del h

    def selfcorr():
        d = 20
        for n in (100_000, 1_000_000):
            z = (torch.rand(n, d, device=dev, generator=g) * 0.6 - 0.3)
            free, _ = torch.cuda.mem_get_info()
            if 4 * n * n * 1.1 < free:
                def dense():
                    s = z @ z.T
                    s -= s.max(dim=1, keepdim=True).values
                    s.exp_()
                    out = (s @ z) / s.sum(dim=1, keepdim=True)
                    del s
                    return out
                ms = time_it(dense, max_reps=5)
                emit(f"selfcorr fwd N={n}", f"dense in place, N = {n:,} (N x N = {4 * n * n / 2**30:.0f} GiB)", ms,
                     {"flops": 4 * n * n * d}, "dense forward only: its backward would need the N x N matrix twice")
            q = z[None, None]  # (batch, heads, N, d)
            big = n >= 1_000_000
            if big and time.time() > deadline - 60:
                print(f"TORCH-SKIP selfcorr N={n}: too little time left", flush=True)
                continue
            ms = time_it(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q, scale=1.0),
                         max_reps=1 if big else 30, warmup=not big)
            emit(f"selfcorr fwd N={n}", f"scaled_dot_product_attention (float32), N = {n:,}", ms, {"flops": 4 * n * n * d},
                 "sdpa")
            zq = q.detach().clone().requires_grad_(True)
            out = torch.nn.functional.scaled_dot_product_attention(zq, zq, zq, scale=1.0)
            gout = torch.rand_like(out)
            ms = time_it(lambda: torch.autograd.grad(out, zq, gout, retain_graph=True), max_reps=1 if big else 30,
                         warmup=not big)
            emit(f"selfcorr bwd N={n}", f"scaled_dot_product_attention backward (float32), N = {n:,}", ms,
                 {"flops": 10 * n * n * d}, "sdpa")
            del z, q, zq, out, gout

    def studentt_kl():
        n, d, k = 1_000_000, 20, 10
        z = (torch.rand(n, d, device=dev, generator=g) * 2 - 1).requires_grad_(True)
        mu = (torch.rand(k, d, device=dev, generator=g) * 2 - 1).requires_grad_(True)
        with torch.no_grad():
            q0 = 1.0 / (1.0 + torch.cdist(z, mu) ** 2)
            q0 = q0 / q0.sum(1, keepdim=True)
            p = q0 ** 2 / q0.sum(0)
            p = p / p.sum(1, keepdim=True)

        def step():
            q = 1.0 / (1.0 + ((z[:, None, :] - mu[None]) ** 2).sum(2))
            q = q / q.sum(1, keepdim=True)
            loss = (p * (p.log() - q.log())).sum() / n
            return torch.autograd.grad(loss, (z, mu))

        ms = time_it(step)
        emit("studentt-kl", f"Student-t + KL with autograd, N = {n:,}, d = {d}, K = {k}", ms,
             {"bytes": n * d * 4 * 2 + n * k * 4 + n * k * 8 * 2})

    for name, fn in (("gemm", gemm), ("spmm", spmm), ("selfcorr", selfcorr), ("studentt-kl", studentt_kl)):
        case(name, fn)
    report = {"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "results": results, "errors": errors}
    if json_path:
        with open(json_path, "w") as f:
            json.dump(report, f, indent=1)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
