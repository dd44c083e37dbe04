#!/usr/bin/env bash
# Packaging smoke test. Packs both packages and installs them from the packed tarballs into a fresh project:
#   * dgclust, with the prebuilt CPU binary (prebuildify) inside: npm does not run a dependency's install script
#     unless approved, so this proves the shipped binary loads on its own (from CommonJS, ESM and the CLI);
#   * @dgclust/linux-x64-cuda, the CUDA platform package (scripts/pack-cuda-package.sh, from build-cuda/), which
#     dgclust lists in optionalDependencies: the installed dgclust must find it, probe it, and either keep it (a GPU
#     machine) or load its CPU binary and name the reason (this machine: no GPU, no driver).
# From tarballs: the platform package is not on npm; dgclust's own dependencies are packed from this repository's
# node_modules and installed from those tarballs. --prefer-offline, not --offline: npm still resolves the version
# ranges of nested dependencies (d3-dsv's commander@7, …) from registry metadata, which a fresh machine's npm cache
# lacks after `npm ci` (it fetched tarballs, not metadata): --offline then fails with ENOTCACHED (seen on
# 2026-12-07 on a fresh VM). Errors are printed (--loglevel=error), not silenced.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
# The prebuilt binary: prebuildify (npm run build:prebuilt) compiles binding.gyp with node-gyp and moves the result to
# prebuilds/linux-x64/dgclust.node, stripped. When build/Release/dgclust.node is already node-gyp's build of the current
# sources (npm ci's install step made it: CI), that compile would make the same binary again, a minute or two on two
# cores: copy and strip it instead. DGCLUST_SMOKE_PREBUILDIFY=1 runs prebuildify regardless.
built=build/Release/dgclust.node
fresh=0
if [ -f "$built" ] && [ "${DGCLUST_SMOKE_PREBUILDIFY:-0}" != 1 ] &&
   [ -z "$(find binding.gyp native -newer "$built" -type f -print -quit)" ]; then fresh=1; fi
if [ "$fresh" = 1 ]; then
  echo "pack-smoke: using $built (node-gyp's build of the current sources) as the prebuilt binary"
  mkdir -p prebuilds/linux-x64
  cp "$built" prebuilds/linux-x64/dgclust.node
  strip --strip-all prebuilds/linux-x64/dgclust.node
else
  npm run --silent build:prebuilt >/dev/null
fi
ls prebuilds/linux-x64/dgclust.node >/dev/null
npm pack --silent --pack-destination "$work" >/dev/null
cuda_tgz="$(bash scripts/pack-cuda-package.sh "$work" | tail -1)"
# dgclust's production dependencies (the transitive closure npm installed here; not the workspace link), as tarballs,
# packed by one npm process (one per package took a minute: npm's start-up, a hundred times).
# --ignore-scripts: a dependency's prepack/prepare (ml-matrix, yargs: compile steps with their dev tools) must not run;
# its published files are already built.
dirs=()
while read -r dir; do
  case "$dir" in "$root/node_modules/"*) ;; *) continue ;; esac
  [ -L "$dir" ] && continue
  dirs+=("$dir")
done < <(npm ls --omit=dev --all --parseable 2>/dev/null)
mkdir "$work/deps"
npm pack --silent --ignore-scripts --pack-destination "$work/deps" "${dirs[@]}" >/dev/null
deps=("$work"/deps/*.tgz)
[ "${#deps[@]}" -gt 0 ] && [ -f "${deps[0]}" ]

mkdir "$work/app" && cd "$work/app"
npm init -y >/dev/null
npm install --prefer-offline --no-audit --no-fund --loglevel=error "$work"/dgclust-0*.tgz "$cuda_tgz" "${deps[@]}"
test ! -e node_modules/dgclust/build   # nothing was compiled: the prebuilt binary is what loads
test -f node_modules/@dgclust/linux-x64-cuda/dgclust.node
node -e "const dg = require('dgclust'); const a = dg.tensor([[1, 2], [3, 4]]); const v = dg.matmul(a, a).toArray(); if (JSON.stringify(v) !== '[[7,10],[15,22]]') throw new Error('bad result ' + JSON.stringify(v));"
printf "import { tidy, tensor, matmul } from 'dgclust';\nif (tidy(() => matmul(tensor([[2]]), tensor([[3]])).item()) !== 6) process.exit(1);\n" > t.mjs
node t.mjs
npx --no-install dgclust info > info.txt
cat info.txt
grep -q 'cpu   available' info.txt
# The platform package was found and probed; without a usable GPU the CPU binary is loaded and the reason named.
node -e "
const s = require('dgclust').nativeSelection;
const probe = s.attempts.find((a) => a.source === '@dgclust/linux-x64-cuda');
const ok = s.variant === 'cuda'
  ? probe && probe.outcome === 'loaded'
  : probe && probe.outcome === 'passed over' && s.path.includes('prebuilds') &&
    /^the CUDA variant \(@dgclust\/linux-x64-cuda\) loaded, but CUDA is unavailable: (no CUDA driver|no CUDA device|the CUDA driver|CUDA is not usable|CUDA device)/.test(s.reason);
if (!ok) { console.error('unexpected selection', JSON.stringify(s, null, 1)); process.exit(1); }
"
grep -q 'why: the CUDA variant (@dgclust/linux-x64-cuda)' info.txt
echo "packaging smoke test: ok (prebuilt CPU binary and the CUDA platform package install from tarballs; CJS, ESM and CLI work; the CUDA variant is probed and the fallback names its reason)"
