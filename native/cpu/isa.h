// Run-time choice of SIMD kernel sets, shared by the families that compile several instruction-set variants of
// their kernels (gemm, attention, recon): the addon is built without -march, so each variant carries a function-
// level target attribute and is only called after the CPU says it runs it.
//
// A family describes its sets best first, as (name, "does this CPU run it", the set); the choice is then:
//   1. a set forced by force(name) (tests and benchmarks), else
//   2. the set named by the family's environment variable (e.g. DGCLUST_GEMM_KERNEL=avx2), if this CPU runs it, else
//   3. the first set this CPU runs (the portable set, last, runs everywhere).
// The default (2 or 3) is decided once, on first use.
#pragma once
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <vector>

namespace dgc {
namespace cpu {

// AVX2 with FMA (what the AVX2 kernels use).
bool cpuHasAvx2Fma();
// AVX-512 F, VL, BW and DQ, plus AVX2 with FMA (what the AVX-512 kernels use).
bool cpuHasAvx512();
// AVX-512 F alone (the SpMM kernels use nothing else).
bool cpuHasAvx512F();
// Always true: for the portable set.
inline bool anyCpu() { return true; }

template <typename Set>
class KernelSetChoice {
 public:
  struct Option {
    const char* name;
    bool (*runsHere)();
    const Set* set;  // nullptr: not compiled into this build (non-x86, or a compiler without the target attribute)
  };

  KernelSetChoice(const char* envVar, std::initializer_list<Option> bestFirst) : envVar_(envVar), options_(bestFirst) {}

  // The set named `name` when this build has it and this CPU runs it; nullptr otherwise.
  const Set* byName(const char* name) const {
    for (const Option& o : options_)
      if (o.set && std::strcmp(o.name, name) == 0 && o.runsHere()) return o.set;
    return nullptr;
  }

  const Set& active() const {
    if (const Set* s = forced_.load(std::memory_order_acquire)) return *s;
    const Set* d = default_.load(std::memory_order_acquire);
    if (!d) {  // first use (threads racing here all compute the same pointer)
      d = chooseDefault();
      default_.store(d, std::memory_order_release);
    }
    return *d;
  }
  const char* activeName() const { return nameOf(&active()); }

  // Uses the named set from now on; false (changing nothing) when this CPU or build cannot run it. Not to be called
  // while a kernel of the family runs.
  bool force(const char* name) {
    const Set* s = name ? byName(name) : nullptr;
    if (!s) return false;
    forced_.store(s, std::memory_order_release);
    return true;
  }

 private:
  const Set* chooseDefault() const {
    if (const char* env = std::getenv(envVar_))
      if (const Set* s = byName(env)) return s;
    for (const Option& o : options_)
      if (o.set && o.runsHere()) return o.set;
    return options_.back().set;  // the portable set (families always list one last)
  }
  const char* nameOf(const Set* s) const {
    for (const Option& o : options_)
      if (o.set == s) return o.name;
    return "?";
  }

  const char* envVar_;
  std::vector<Option> options_;
  std::atomic<const Set*> forced_{nullptr};
  mutable std::atomic<const Set*> default_{nullptr};
};

}  // namespace cpu
}  // namespace dgc
