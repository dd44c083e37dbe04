// CPU feature detection for the run-time kernel choice (isa.h).
#include "isa.h"

namespace dgc {
namespace cpu {

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
bool cpuHasAvx2Fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
bool cpuHasAvx512() {
  __builtin_cpu_init();
  return cpuHasAvx2Fma() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}
bool cpuHasAvx512F() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}
#else
bool cpuHasAvx2Fma() { return false; }
bool cpuHasAvx512() { return false; }
bool cpuHasAvx512F() { return false; }
#endif

}  // namespace cpu
}  // namespace dgc
