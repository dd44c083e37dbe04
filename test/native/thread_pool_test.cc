// Standalone stress test of native/core/thread_pool (no Node). Every job must run each of its chunks exactly
// once and return, whatever happens between jobs:
//   - resizes between 1..4 threads interleaved with thousands of tiny jobs (the pattern that hung CI: a
//     worker started by a resize took a turn in a job posted before it existed and counted it twice);
//   - jobs whose chunks throw (the first exception reaches the caller, every other chunk still runs);
//   - nested parallelFor from inside a chunk (runs serially, never deadlocks);
//   - two host threads issuing jobs at once while a third resizes the pool (Node worker_threads can do this);
//   - setNumThreads from inside a chunk (ignored, no deadlock).
// A watchdog turns a hang into a failure (exit 2) naming the phase, instead of a test run that never ends.
//   g++ -O2 -std=c++17 -pthread -Inative test/native/thread_pool_test.cc native/core/thread_pool.cc -o /tmp/tp
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace {

std::atomic<const char*> phase{"start"};
std::atomic<long> progress{0};
int failures = 0;

void fail(const std::string& what) {
  if (failures++ < 10) std::fprintf(stderr, "FAIL [%s]: %s\n", phase.load(), what.c_str());
}

// Runs parallelFor over n items in chunks of `grain` and checks that every item was visited exactly once.
void checkedJob(int64_t n, int64_t grain, const char* label) {
  std::vector<std::atomic<int>> hits(n);
  for (auto& h : hits) h.store(0);
  dgc::parallelFor(n, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
  });
  for (int64_t i = 0; i < n; ++i)
    if (hits[i].load() != 1) {
      fail(std::string(label) + ": item " + std::to_string(i) + " of " + std::to_string(n) + " ran " +
           std::to_string(hits[i].load()) + " times");
      break;
    }
  progress.fetch_add(1);
}

void resizeAndTinyJobs() {
  phase = "resize 1..4 between tiny jobs";
  for (int r = 0; r < 20000; ++r) {
    dgc::setNumThreads(1 + (r * 7) % 4);  // 1, 4, 3, 2, 1, ...: every transition, workers stopped and started
    if (dgc::numThreads() != 1 + (r * 7) % 4) fail("numThreads() does not report the size just set");
    for (int job = 0; job < 3; ++job) checkedJob(8 + job * 29, 1 + job, "tiny job");
  }
}

void throwingJobs() {
  phase = "jobs that throw";
  for (int r = 0; r < 3000; ++r) {
    dgc::setNumThreads(2 + r % 3);
    std::vector<std::atomic<int>> hits(64);
    for (auto& h : hits) h.store(0);
    bool caught = false;
    try {
      dgc::parallelFor(64, 4, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
        if (b == 8 || b == 40) throw std::runtime_error("chunk " + std::to_string(b));
      });
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "chunk 8" || std::string(e.what()) == "chunk 40";
    }
    if (!caught) fail("the chunk's exception did not reach the caller");
    for (int i = 0; i < 64; ++i)
      if (hits[i].load() != 1) {
        fail("after a throw, item " + std::to_string(i) + " ran " + std::to_string(hits[i].load()) + " times");
        break;
      }
    checkedJob(100, 3, "job after a throwing job");  // the pool still works
  }
}

void nestedJobs() {
  phase = "nested parallelFor";
  for (int r = 0; r < 2000; ++r) {
    dgc::setNumThreads(1 + r % 4);
    std::atomic<int64_t> total{0};
    dgc::parallelFor(16, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        std::atomic<int64_t> inner{0};
        dgc::parallelFor(32, 2, [&](int64_t ib, int64_t ie) { inner += ie - ib; });
        if (inner != 32) fail("nested job lost items");
        dgc::setNumThreads(3);  // from inside a chunk: ignored, must not deadlock
        total += inner;
      }
    });
    if (total != 16 * 32) fail("nested: " + std::to_string(total.load()) + " items, expected 512");
    if (dgc::numThreads() != 1 + r % 4) fail("setNumThreads inside a chunk changed the pool's size");
  }
}

void concurrentCallers() {
  phase = "two host threads + a resizing thread";
  std::atomic<bool> stop{false};
  auto caller = [&](int seed) {
    for (int r = 0; r < 4000; ++r) checkedJob(50 + (r + seed) % 200, 1 + (r + seed) % 7, "concurrent job");
  };
  std::thread resizer([&] {
    for (int r = 0; !stop; ++r) {
      dgc::setNumThreads(1 + r % 4);
      std::this_thread::yield();
    }
  });
  std::thread a(caller, 0), b(caller, 3);
  a.join();
  b.join();
  stop = true;
  resizer.join();
}

}  // namespace

int main() {
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    // Hang detection: fail if no job finishes for 60 s (the whole test takes a few seconds).
    long last = -1;
    for (int idle = 0; !done; std::this_thread::sleep_for(std::chrono::milliseconds(100))) {
      const long now = progress.load();
      idle = now == last ? idle + 1 : 0;
      last = now;
      if (idle >= 600) {
        std::fprintf(stderr, "FAIL [%s]: no job finished for 60 s after %ld jobs (pool hang)\n", phase.load(), now);
        std::_Exit(2);
      }
    }
  });
  const auto t0 = std::chrono::steady_clock::now();
  resizeAndTinyJobs();
  throwingJobs();
  nestedJobs();
  concurrentCallers();
  done = true;
  watchdog.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("thread_pool: %ld checked jobs in %.1f s, %d failure(s)\n", progress.load(), s, failures);
  return failures == 0 ? 0 : 1;
}
