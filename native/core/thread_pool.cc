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

// One job at a time: ops are called from the single JS thread, so there is never more than one
// parallelFor in flight (a nested call from inside a chunk runs serially, see below).
class Pool {
 public:
  static Pool& get() {
    static Pool* pool = new Pool();  // leaked on purpose: worker threads must outlive static destructors
    return *pool;
  }

  int size() const { return nThreads_; }

  void resize(int n) {
    n = std::max(1, std::min(256, n));
    if (n == nThreads_) return;
    stopWorkers();
    nThreads_ = n;
    startWorkers();
  }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    const int64_t chunks = numChunks(n, grain);
    if (chunks == 0) return;
    // Serial path: one chunk, one thread, or a nested call from a worker.
    if (chunks == 1 || nThreads_ == 1 || insideJob_) {
      for (int64_t c = 0; c < chunks; ++c) fn(c * grain, std::min(n, (c + 1) * grain));
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      fn_ = &fn;
      n_ = n;
      grain_ = grain;
      chunks_ = chunks;
      next_.store(0);
      pending_ = nThreads_ - 1;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mu_);
    doneCv_.wait(lock, [&] { return pending_ == 0; });
    fn_ = nullptr;
    if (error_) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  Pool() {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("DGCLUST_NUM_THREADS")) {
      int v = std::atoi(env);
      if (v > 0) n = v;
    }
    nThreads_ = std::max(1, std::min(256, n));
    startWorkers();
  }

  void startWorkers() {
    stop_ = false;
    for (int i = 1; i < nThreads_; ++i) workers_.emplace_back([this] { loop(); });
  }

  void stopWorkers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  // Takes chunks until none is left. Runs on workers and on the calling thread.
  void work() {
    insideJob_ = true;
    for (;;) {
      int64_t c = next_.fetch_add(1);
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
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      work();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (--pending_ == 0) doneCv_.notify_one();
      }
    }
  }

  int nThreads_ = 1;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, doneCv_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, grain_ = 1, chunks_ = 0;
  std::atomic<int64_t> next_{0};
  int pending_ = 0;
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
