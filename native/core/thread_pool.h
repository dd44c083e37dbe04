// A small persistent thread pool and a deterministic parallel-for.
//
// Why our own pool: every op on the CPU backend splits work over rows or tiles. Creating threads per op
// would cost more than small ops take, and OpenMP is not portable across the toolchains node-gyp uses.
//
// Determinism: parallelFor hands out chunks [begin, end) whose boundaries depend only on n and the grain,
// never on timing. Reductions pick a grain that does not depend on the thread count either (a constant),
// write one partial per chunk and combine the partials in chunk order, so their results are bit-identical
// for any number of threads. grainFor() depends on the thread count: use it only where each output element
// is computed by exactly one chunk (elementwise ops, row-wise ops, GEMM tiles).
#pragma once
#include <cstdint>
#include <functional>

namespace dgc {

// Number of threads ops may use (the caller's thread included). Default: DGCLUST_NUM_THREADS if set,
// else std::thread::hardware_concurrency().
int numThreads();
// Sets the number of threads (clamped to [1, 256]). Safe at any time from any thread: it waits for a job in
// flight to finish; called from inside a chunk it does nothing.
void setNumThreads(int n);

// Calls fn(begin, end) over [0, n) in chunks of `grain` items (the last one may be shorter), in parallel.
// Chunks are the same for any thread count. If fn throws, the other chunks still run, and the first exception
// is rethrown on the calling thread once all chunks are done. A nested call (from inside fn), or a call from a
// second host thread while the pool is busy, runs its chunks serially on the calling thread.
void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Number of chunks parallelFor(n, grain, ...) makes: ceil(n / grain), at least 1 when n > 0.
inline int64_t numChunks(int64_t n, int64_t grain) { return n <= 0 ? 0 : (n + grain - 1) / grain; }

// A grain that gives each thread a few chunks for n items of roughly `costPerItem` flops each,
// but never chunks cheaper than about 32k flops (below that, threading costs more than it saves).
int64_t grainFor(int64_t n, int64_t costPerItem);

}  // namespace dgc
