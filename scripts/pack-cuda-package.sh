#!/usr/bin/env bash
# Packs the CUDA platform package @dgclust/linux-x64-cuda (packages/linux-x64-cuda) with the cmake-js build from
# build-cuda/ (built first when missing), after checking that the binary is what the package promises:
#   * a CUDA build (its 'cuda' backend entry names a machine reason, not "this build has no CUDA backend"),
#   * GPU code for sm_80 and sm_90 plus PTX (the architectures CMake compiled, from build-cuda/build-info.json),
#   * the CUDA runtime linked statically (no libcudart.so among its dynamic dependencies),
#   * the same version as dgclust.
# The repository's workspace folder never holds the binary: a staged copy does (so a stale copy can never shadow a
# fresh build-cuda/ in development).
# Usage: scripts/pack-cuda-package.sh DEST_DIR    (prints the tarball's path on the last line)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$(mkdir -p "${1:?usage: pack-cuda-package.sh DEST_DIR}" && cd "$1" && pwd)"
bin="$root/build-cuda/Release/dgclust.node"
info="$root/build-cuda/build-info.json"
cd "$root"
if [ ! -f "$bin" ] || [ ! -f "$info" ]; then
  echo "pack-cuda-package: no CUDA build in build-cuda/: building it (npm run build:cuda)" >&2
  CMAKE_BUILD_PARALLEL_LEVEL=2 npm run --silent build:cuda -- --parallel 2 >&2
fi

node - "$bin" "$info" "$root/package.json" "$root/packages/linux-x64-cuda/package.json" <<'EOF'
const [bin, infoFile, mainPkg, cudaPkg] = process.argv.slice(2);
const fs = require('fs');
const fail = (m) => { console.error(`pack-cuda-package: ${m}`); process.exit(1); };
const info = JSON.parse(fs.readFileSync(infoFile, 'utf8'));
if (!info.cuda) fail(`${bin} is a CPU-only cmake build (nvcc was not found when build-cuda/ was configured)`);
for (const arch of ['80-real', '90-real', '90-virtual']) {
  if (!String(info.architectures).split(';').includes(arch)) fail(`build-cuda/ was compiled for '${info.architectures}', not ${arch}`);
}
if (info.cudaRuntime !== 'static') fail('the CUDA runtime is not linked statically');
const cuda = require(bin).backends().find((b) => b.name === 'cuda');
if (!cuda || (!cuda.available && /no CUDA backend/.test(cuda.reason || ''))) fail(`${bin} has no CUDA backend: ${JSON.stringify(cuda)}`);
const v1 = JSON.parse(fs.readFileSync(mainPkg, 'utf8')).version, v2 = JSON.parse(fs.readFileSync(cudaPkg, 'utf8')).version;
if (v1 !== v2) fail(`packages/linux-x64-cuda is version ${v2}, dgclust is ${v1}`);
EOF
if ldd "$bin" | grep -q 'libcudart'; then
  echo "pack-cuda-package: $bin links libcudart dynamically" >&2
  exit 1
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp -r packages/linux-x64-cuda/. "$stage/"
cp "$bin" "$stage/dgclust.node"
strip --strip-unneeded "$stage/dgclust.node"   # host symbols only: the GPU code is data to strip
commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
node -e "
const fs = require('fs');
const info = JSON.parse(fs.readFileSync(process.argv[1], 'utf8'));
const pkg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
fs.writeFileSync(process.argv[3], JSON.stringify({ dgclust: pkg.version, commit: process.argv[4], ...info }, null, 1) + '\n');
" "$info" "$root/package.json" "$stage/build-info.json" "$commit"
tarball="$(npm pack --silent "$stage" --pack-destination "$dest" | tail -1)"
echo "$dest/$tarball"
