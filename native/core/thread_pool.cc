#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace dgc {
namespace {

// A persistent pool running one parallelFor at a time.
//
// How a job runs, and why it cannot lose or double-count a worker:
//   1. run() publishes the job under mu_ (function, sizes, chunk counter), marks it open and bumps
//      generation_, then wakes the workers and takes chunks itself.
//   2. A worker takes part in a job only by *joining* it under mu_ while it is open (active_ += 1), and it
//      joins each generation at most once. It takes chunks, then leaves under mu_ (active_ -= 1).
//   3. When the calling thread finds no chunk left, it closes the job under mu_ (no worker can join after
//      that) and waits until active_ == 0: every chunk has been claimed, and every worker that claimed one
//      has left, so every chunk has finished.
// Each join is paired with exactly one leave by the same thread in the same loop iteration, so active_
// counts the workers inside the job, whatever the number of workers, whenever they were started, and
// however late they wake (a worker that wakes after the job closed just goes back to sleep). run() never
// depends on how many workers exist: with none awake the caller does every chunk itself.
//
// (The pool used to count down a `pending_` of nThreads−1 decrements per job. A worker started by
// resize() began at generation 0 instead of the current one, took a turn in a job that was not its own and
// decremented twice; pending_ reached −1 and run() waited forever. That hang cannot be written here.)
//
// Concurrency from several host threads (e.g. Node worker_threads each calling ops): jobs are serialized by
// runMu_; a caller that finds the pool busy runs its chunks serially on its own thread instead of waiting,
// so no caller ever blocks on another's job. A nested parallelFor (from inside a chunk) also runs serially.
class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool();  // leaked on purpose: worker threads must outlive static destructors
    return *pool;
  }

  int size() const { return nThreads_.load(); }

  void resize(int n) {
    n = std::max(1, std::min(256, n));
    if (insideJob_) return;  // from inside a chunk: the pool is in use by this very job; keep its size
    std::lock_guard<std::mutex> runLock(runMu_);  // never while a job runs
    if (n == nThreads_.load()) return;
    stopWorkers();
    nThreads_.store(n);
    startWorkers();
  }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    const int64_t chunks = numChunks(n, grain);
    if (chunks == 0) return;
    if (chunks == 1 || nThreads_.load() == 1 || insideJob_) return runSerial(n, grain, chunks, fn);
    std::unique_lock<std::mutex> runLock(runMu_, std::try_to_lock);
    if (!runLock.owns_lock() || workers_.empty()) return runSerial(n, grain, chunks, fn);

    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = &fn;
      n_ = n;
      grain_ = grain;
      chunks_ = chunks;
      next_.store(0);
      error_ = nullptr;
      open_ = true;
      ++generation_;
    }
    wakeCv_.notify_all();
    work();
    std::exception_ptr error;
    {
      std::unique_lock<std::mutex> lock(mu_);
      open_ = false;
      doneCv_.wait(lock, [&] { return active_ == 0; });
      fn_ = nullptr;
      std::swap(error, error_);
    }
    if (error) std::rethrow_exception(error);
  }

 private:
  Pool() {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("DGCLUST_NUM_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) n = v;
    }
    nThreads_.store(std::max(1, std::min(256, n)));
    startWorkers();
  }

  // Runs every chunk on the calling thread, in order; the first exception is rethrown after all chunks ran,
  // as on the parallel path, so a throwing chunk never changes which other chunks run.
  static void runSerial(int64_t n, int64_t grain, int64_t chunks, const std::function<void(int64_t, int64_t)>& fn) {
    const bool wasInside = insideJob_;
    insideJob_ = true;
    std::exception_ptr error;
    for (int64_t c = 0; c < chunks; ++c) {
      try {
        fn(c * grain, std::min(n, (c + 1) * grain));
      } catch (...) {
        if (!error) error = std::current_exception();
      }
    }
    insideJob_ = wasInside;
    if (error) std::rethrow_exception(error);
  }

  // Called with runMu_ held (or from the constructor), so no job is open.
  void startWorkers() {
    stop_ = false;
    for (int i = 1; i < nThreads_.load(); ++i) workers_.emplace_back([this] { loop(); });
  }

  void stopWorkers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    wakeCv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  // Takes chunks until none is left. Runs on workers (between join and leave) and on the calling thread.
  void work() {
    insideJob_ = true;
    for (;;) {
      const int64_t c = next_.fetch_add(1);
      if (c >= chunks_) break;
      try {
        (*fn_)(c * grain_, std::min(n_, (c + 1) * grain_));
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        if (!error_) error_ = std::current_exception();
      }
    }
    insideJob_ = false;
  }

  void loop() {
    uint64_t joined = 0;  // the last generation this worker joined; generations start at 1
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        wakeCv_.wait(lock, [&] { return stop_ || (open_ && generation_ != joined); });
        if (stop_) return;
        joined = generation_;
        ++active_;  // join
      }
      work();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--active_ == 0 && !open_) doneCv_.notify_one();  // leave
      }
    }
  }

  std::atomic<int> nThreads_{1};
  std::vector<std::thread> workers_;
  std::mutex runMu_;  // held for a whole job and for a resize
  std::mutex mu_;     // guards everything below but next_
  std::condition_variable wakeCv_, doneCv_;
  bool stop_ = false;
  bool open_ = false;  // a job is published and workers may join it
  uint64_t generation_ = 0;
  int active_ = 0;  // workers between join and leave
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, grain_ = 1, chunks_ = 0;
  std::atomic<int64_t> next_{0};
  std::exception_ptr error_;
  static thread_local bool insideJob_;
};

thread_local bool Pool::insideJob_ = false;

}  // namespace

int numThreads() { return Pool::get().size(); }
void setNumThreads(int n) { Pool::get().resize(n); }

void parallelFor(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  Pool::get().run(n, std::max<int64_t>(1, grain), fn);
}

int64_t grainFor(int64_t n, int64_t costPerItem) {
  const int64_t minItems = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, costPerItem));
  const int64_t perThread = (n + 4 * numThreads() - 1) / (4 * numThreads());
  return std::max(minItems, perThread);
}

}  // namespace dgc
