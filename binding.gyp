{
  # The CPU build of the addon (node-gyp): the npm-install fallback and what prebuildify packages.
  # Sources are every .cc under native/ (core, cpu, addon); the CUDA build is CMakeLists.txt (cmake-js).
  # No -march flags: the binary must run on any x86-64; SIMD kernels pick AVX2 / AVX-512 at run time.
  # -fno-trapping-math: dgclust never reads or traps floating-point exception flags, and under the default
  # (-ftrapping-math) GCC keeps a conditional float expression such as the leaky ReLU's `x > 0 ? x : s*x` as a
  # branch per element (the multiply "might trap") instead of vectorising it: 20x slower on random signs. Values are
  # unchanged (no reassociation, no finite-math or signed-zero assumptions).
  "targets": [
    {
      "target_name": "dgclust",
      "sources": [
        "<!@(node -p \"['core','cpu','addon'].flatMap(d => require('fs').readdirSync('native/' + d).filter(f => f.endsWith('.cc')).sort().map(f => 'native/' + d + '/' + f)).join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-O2"],
      "cflags": ["-O3", "-fno-trapping-math", "-fvisibility=hidden"],
      "cflags_cc": ["-O3", "-fno-trapping-math", "-std=c++17", "-fexceptions", "-frtti", "-fvisibility=hidden", "-Wall", "-Wno-unused-parameter"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CFLAGS": ["-O3", "-fno-trapping-math"]
      },
      "msvs_settings": {"VCCLCompilerTool": {"ExceptionHandling": 1}}
    }
  ]
}
