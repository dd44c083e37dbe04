#!/usr/bin/env bash
# Packaging smoke test: prebuild the CPU binary (prebuildify), pack the package, install the tarball into a
# fresh project (npm does not run a dependency's install script unless approved, so this proves the shipped
# prebuilt binary loads on its own), then use it from CommonJS, ESM and the CLI.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$root"
npm run --silent build:prebuilt >/dev/null
ls prebuilds/linux-x64/*.node >/dev/null
npm pack --silent --pack-destination "$work" >/dev/null
mkdir "$work/app" && cd "$work/app"
npm init -y >/dev/null
npm install --no-audit --no-fund --silent "$work"/dgclust-*.tgz
test ! -e node_modules/dgclust/build   # nothing was compiled: the prebuilt binary is what loads
node -e "const dg = require('dgclust'); const a = dg.tensor([[1, 2], [3, 4]]); const v = dg.matmul(a, a).toArray(); if (JSON.stringify(v) !== '[[7,10],[15,22]]') throw new Error('bad result ' + JSON.stringify(v));"
printf "import { tidy, tensor, matmul } from 'dgclust';\nif (tidy(() => matmul(tensor([[2]]), tensor([[3]])).item()) !== 6) process.exit(1);\n" > t.mjs
node t.mjs
npx --no-install dgclust info | grep -q 'cpu   available'
echo "packaging smoke test: ok (prebuilt binary loads from the packed tarball; CJS, ESM and CLI work)"
