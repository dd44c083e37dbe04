// Compiles lib/ to dist/lib and copies the native module's declaration (types/) beside it, so that
// dist/lib/*.d.ts can import '../types/native'.
const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], {
  stdio: 'inherit',
});
fs.cpSync(path.join(root, 'types'), path.join(root, 'dist', 'types'), { recursive: true });
