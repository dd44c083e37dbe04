#!/usr/bin/env bash
# The one prepared GPU check (issue #18): everything the CUDA backend has to prove on a GPU, in one command of at
# most 8 minutes that leaves one JSON and one markdown report (plus a log) in DIR.
#
#   scripts/gpu-check.sh --pack             here: build and pack what travels, check its size
#   scripts/gpu-check.sh --dry-run [--out DIR]
#                                           here: --pack, copy exactly what travels (no node_modules) to a scratch
#                                           folder, unpack there as the GPU machine does (checksums) and run the CPU
#                                           parts of the check (reports in DIR, default /tmp/dgclust-gpu-check-dry)
#   scripts/gpu-check.sh --out DIR [--budget SECONDS]
#                                           on the GPU machine, after `source .gpu/env.sh`: run the check
#
# What travels (the GPU machine has no Node, no node_modules, no network, and takes 64 MiB in all): the git working
# tree, plus two carried folders that git ignores —
#   .gpu/     node (xz, from ../shared/tools/gpu-prep.sh, with env.sh that unpacks it) and .gpu/check/: the CUDA
#             variant, the CPU binary and the standalone CUDA tests (each xz-compressed), build-info.json and a
#             manifest with sizes and checksums;
#   dist/     lib/ compiled, plus the parity table and runner (test/parity) and this check's scripts
#             (scripts/gpu-check/*.ts), compiled by tsconfig.gpucheck.json.
# The device call is then:  run(command "source .gpu/env.sh && bash scripts/gpu-check.sh --out $OUT",
#                              carry [".gpu", "dist"], timeout_s 600)
#
# The check (scripts/gpu-check/check.ts) runs, in order, stopping nothing on a failure: the CPU↔CUDA parity of every
# op (the shared table, test/parity/cases.ts) and the standalone cuda_*_test binaries; the error paths (out of
# device memory, the fallback under CUDA_VISIBLE_DEVICES=''); the kernels against the H100's limits and PyTorch;
# and DFCN on ACM (200 epochs) on CUDA and on the CPU.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
mode=""
cpu_only=0
out=""
budget=450
while [ $# -gt 0 ]; do
  case "$1" in
    --pack) mode="pack" ;;
    --dry-run) mode="dry-run" ;;
    --cpu-only) mode="run"; cpu_only=1 ;;   # (what --dry-run runs in its copy of the travelling tree)
    --out) out="${2:?--out needs a folder}"; shift ;;
    --budget) budget="${2:?--budget needs seconds}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu-check: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[ -n "$mode" ] || mode="run"
if [ "$mode" = "run" ] && [ -z "$out" ]; then echo "gpu-check: --out DIR is required on the GPU machine" >&2; exit 2; fi

LIMIT_BYTES=$((64 * 1024 * 1024))
BINARIES="dgclust-cuda.node dgclust-cpu.node cuda_parity_test cuda_fused_test"

# Where each packed binary goes on the machine that runs the check (relative to the unpack root).
dest_of() {
  case "$1" in
    dgclust-cuda.node) echo "build-cuda/Release/dgclust.node" ;;   # where lib/native.ts looks for the CUDA variant
    dgclust-cpu.node) echo "build/Release/dgclust.node" ;;         # where node-gyp-build finds the CPU binary
    *) echo ".gpu/bin/$1" ;;
  esac
}

pack() {
  echo "== gpu-check --pack"
  # 1. dist/: lib plus the parity runner and the check's scripts (plain JS: the GPU machine has no ts-node).
  node node_modules/typescript/bin/tsc -p tsconfig.gpucheck.json
  cp -r types dist/
  # 2. The CUDA variant and the standalone CUDA tests (build-cuda/, npm run build:cuda; the tests on demand).
  if [ ! -f build-cuda/build.ninja ] && [ ! -f build-cuda/Makefile ]; then
    CMAKE_BUILD_PARALLEL_LEVEL=2 npm run --silent build:cuda -- --parallel 2
  fi
  cmake --build build-cuda -j 2 --target dgclust cuda_parity_test cuda_fused_test
  node -e "if (!require('./build-cuda/build-info.json').cuda) { console.error('gpu-check: build-cuda/ has no CUDA backend (no nvcc?)'); process.exit(1); }"
  # 3. The CPU binary (the fallback the check exercises).
  local cpu
  cpu="$(node -e "process.stdout.write(require('node-gyp-build').resolve('.'))")"
  # 4. node: ../shared/tools/gpu-prep.sh when this checkout has it and it works here (it writes to .git/info/exclude,
  # which a git worktree does not have; .gitignore already ignores .gpu/), the same steps otherwise.
  if ! { [ -x ../shared/tools/gpu-prep.sh ] && ../shared/tools/gpu-prep.sh >/dev/null 2>&1; }; then
    mkdir -p .gpu
    if [ ! -s .gpu/node.xz ] || [ "$(command -v node)" -nt .gpu/node.xz ]; then xz -T2 -6 -c "$(command -v node)" > .gpu/node.xz; fi
    cat > .gpu/env.sh <<'ENV'
# Sourced on the GPU machine: puts node on PATH (unpacked to /tmp once per machine).
_gpu_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ ! -x /tmp/gpu-node/bin/node ]]; then
  mkdir -p /tmp/gpu-node/bin
  xz -dc "$_gpu_dir/node.xz" > /tmp/gpu-node/bin/node && chmod +x /tmp/gpu-node/bin/node
fi
export PATH=/tmp/gpu-node/bin:$PATH
ENV
  fi
  # 5. .gpu/node_modules/: the pure-JS packages the CLI needs at run time (commander, cli-progress and what they
  # depend on; a few hundred kB), found through NODE_PATH on the GPU machine. Not the project's node_modules: that is
  # hundreds of MiB of build tools. (vega and umap-js load only when a report is drawn, which the check never does.)
  rm -rf .gpu/node_modules && mkdir -p .gpu/node_modules
  node - commander cli-progress <<'EOF'
const fs = require('fs'), path = require('path');
const seen = new Set();
const copy = (name) => {
  if (seen.has(name)) return;
  seen.add(name);
  const dir = path.join('node_modules', name);   // npm hoists them all to the top (npm ci; checked below)
  if (!fs.existsSync(path.join(dir, 'package.json'))) { console.error(`gpu-check: ${dir} is missing (npm ci first)`); process.exit(1); }
  fs.cpSync(dir, path.join('.gpu/node_modules', name), { recursive: true });
  for (const dep of Object.keys(JSON.parse(fs.readFileSync(`${dir}/package.json`, 'utf8')).dependencies ?? {})) copy(dep);
};
for (const name of process.argv.slice(2)) copy(name);
console.log(`   vendored for the CLI: ${[...seen].join(', ')}`);
EOF
  # 6. .gpu/check/: the binaries, xz-compressed, with a manifest.
  rm -rf .gpu/check && mkdir -p .gpu/check
  declare -A src=([dgclust-cuda.node]=build-cuda/Release/dgclust.node [dgclust-cpu.node]="$cpu"
                  [cuda_parity_test]=build-cuda/cuda_parity_test [cuda_fused_test]=build-cuda/cuda_fused_test)
  for name in $BINARIES; do xz -T2 -6 -c "${src[$name]}" > ".gpu/check/$name.xz"; done
  cp build-cuda/build-info.json .gpu/check/build-info.json
  node - "$BINARIES" <<'EOF'
const fs = require('fs'), crypto = require('crypto'), { execSync } = require('child_process');
const names = process.argv[2].split(' ');
const sha = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const src = { 'dgclust-cuda.node': 'build-cuda/Release/dgclust.node', 'dgclust-cpu.node': require('node-gyp-build').resolve('.'),
  cuda_parity_test: 'build-cuda/cuda_parity_test', cuda_fused_test: 'build-cuda/cuda_fused_test' };
const git = (c) => { try { return execSync(c, { encoding: 'utf8' }).trim(); } catch { return ''; } };
const info = JSON.parse(fs.readFileSync('build-cuda/build-info.json', 'utf8'));
const files = {};
for (const n of names) files[n] = { bytes: fs.statSync(src[n]).size, xzBytes: fs.statSync(`.gpu/check/${n}.xz`).size, sha256: sha(src[n]) };
fs.writeFileSync('.gpu/check/manifest.json', JSON.stringify({
  commit: git('git rev-parse HEAD'), dirty: git('git status --porcelain --untracked-files=no') !== '',
  packed: new Date().toISOString(), architectures: info.architectures, nvcc: info.nvcc, files }, null, 1) + '\n');
EOF
  # 7. Size: what travels must stay under the limit.
  node - "$LIMIT_BYTES" <<'EOF'
const fs = require('fs'), path = require('path'), { execSync } = require('child_process');
const limit = Number(process.argv[2]);
const list = (c) => execSync(c, { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\0').filter(Boolean);
const sizeOf = (files) => files.reduce((a, f) => { try { const s = fs.lstatSync(f); return a + (s.isFile() ? s.size : 0); } catch { return a; } }, 0);
const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
const parts = {
  'tracked files': sizeOf(list('git ls-files -z')),
  'untracked files git does not ignore': sizeOf(list('git ls-files -z --others --exclude-standard')),
  '.gpu (carried)': sizeOf(walk('.gpu')),
  'dist (carried)': sizeOf(walk('dist')),
};
const total = Object.values(parts).reduce((a, b) => a + b, 0);
for (const [k, v] of Object.entries(parts)) console.log(`   ${(v / 2 ** 20).toFixed(1).padStart(6)} MiB  ${k}`);
console.log(`   ${(total / 2 ** 20).toFixed(1).padStart(6)} MiB  in all, of ${(limit / 2 ** 20).toFixed(0)} MiB`);
fs.writeFileSync('.gpu/check/size.json', JSON.stringify({ parts, total, limit }, null, 1) + '\n');
if (total > limit) { console.error('gpu-check: what travels is over the limit'); process.exit(1); }
EOF
  echo "packed: carry [\".gpu\", \"dist\"] and run: source .gpu/env.sh && bash scripts/gpu-check.sh --out \$OUT"
}

# Unpacks .gpu/check/*.xz under $1 (the checkout on the GPU machine; a scratch folder in a dry run) and checks each
# against the manifest's checksum.
unpack() {
  local dest="$1" name target
  for name in $BINARIES; do
    target="$dest/$(dest_of "$name")"
    mkdir -p "$(dirname "$target")"
    xz -dc ".gpu/check/$name.xz" > "$target"
    chmod +x "$target"
  done
  node - "$dest" "$BINARIES" <<'EOF'
const fs = require('fs'), crypto = require('crypto'), path = require('path');
const [dest, names] = [process.argv[2], process.argv[3].split(' ')];
const m = JSON.parse(fs.readFileSync('.gpu/check/manifest.json', 'utf8'));
const where = { 'dgclust-cuda.node': 'build-cuda/Release/dgclust.node', 'dgclust-cpu.node': 'build/Release/dgclust.node' };
for (const n of names) {
  const f = path.join(dest, where[n] ?? `.gpu/bin/${n}`);
  const sum = crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
  if (sum !== m.files[n].sha256) { console.error(`gpu-check: ${f} does not match the manifest`); process.exit(1); }
}
console.log(`unpacked ${names.length} binaries (checksums match the manifest of commit ${m.commit.slice(0, 12)}${m.dirty ? ', uncommitted changes' : ''})`);
EOF
}

# The CUDA runtime finds cuBLAS by dlopen: the toolkit's and PyTorch's copies, when the machine has them.
cublas_path() {
  local dirs="" d
  for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib \
           "$(python3 -c 'import nvidia.cublas, os; print(os.path.join(os.path.dirname(nvidia.cublas.__file__), "lib"))' 2>/dev/null || true)"; do
    [ -n "$d" ] && [ -d "$d" ] && dirs="${dirs:+$dirs:}$d"
  done
  echo "$dirs"
}

case "$mode" in
  pack)
    pack
    ;;
  dry-run)
    pack
    out="${out:-/tmp/dgclust-gpu-check-dry}"
    # A copy of exactly what travels — the tracked files and the untracked ones git does not ignore, as they are now,
    # plus the carried .gpu and dist — and no node_modules, as on the GPU machine; the check runs there, CPU parts only.
    scratch="$(mktemp -d)"
    trap 'rm -rf "$scratch"' EXIT
    git ls-files -z --cached --others --exclude-standard |
      while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
      tar --null -T - -cf - | tar -C "$scratch" -xf -
    cp -r .gpu dist "$scratch/"
    rm -rf "$out"
    (cd "$scratch" && bash scripts/gpu-check.sh --cpu-only --out "$out")
    ;;
  run)
    command -v node >/dev/null || { echo "gpu-check: no node on PATH (source .gpu/env.sh first)" >&2; exit 2; }
    [ -f .gpu/check/manifest.json ] && [ -f dist/scripts/gpu-check/check.js ] || { echo "gpu-check: run --pack first and carry .gpu and dist" >&2; exit 2; }
    mkdir -p "$out"
    unpack "$root"
    export LD_LIBRARY_PATH="$(cublas_path)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export NODE_PATH="$root/.gpu/node_modules${NODE_PATH:+:$NODE_PATH}"
    if [ "$cpu_only" = 1 ]; then
      node dist/scripts/gpu-check/check.js --dry-run --out "$out" --tests "$root/.gpu/bin" --budget 900
    else
      node dist/scripts/gpu-check/check.js --out "$out" --tests "$root/.gpu/bin" --budget "$budget"
    fi
    ;;
esac
