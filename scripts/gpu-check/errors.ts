// The GPU check's error paths (scripts/gpu-check.sh, stage "errors"):
//   * out of device memory: a tensor larger than the GPU, and an op whose output is larger than the GPU, each a
//     DGC_OOM error that names the op and the bytes; the process lives on, the CUDA tensor count is unchanged, and
//     the next op on the GPU gives the right answer;
//   * the fallback: with CUDA_VISIBLE_DEVICES='' (the driver hides the GPU) a child process loads dgclust, which must
//     pass the CUDA variant over with the reason ("no CUDA device") and run on the CPU binary; `dgclust info` says so.
// Without a GPU (--dry-run here) the out-of-memory part is skipped (it needs a device) and the fallback part runs:
// the reason is then this machine's (e.g. "no CUDA driver").
//
//   node dist/scripts/gpu-check/errors.js [--dry-run] [--json FILE]
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as dg from '../../lib';

interface Outcome {
  name: string;
  status: 'ok' | 'fail' | 'skipped';
  detail: string;
}

function caught(fn: () => unknown): { code?: string; message: string } | null {
  try {
    fn();
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
  return null;
}

function oomChecks(): Outcome[] {
  const out: Outcome[] = [];
  const cuda = dg.backends().find((b) => b.name === 'cuda');
  const total = cuda?.memoryBytes ?? 0;
  // Twice the device memory, in float32 elements, rounded to a power of two (a shape any tensor may have).
  const elements = 2 ** Math.ceil(Math.log2(Math.max(total, 2 ** 30) / 2));
  const before = dg.memory('cuda').tensors;
  const e1 = caught(() => dg.zeros([elements], { device: 'cuda' }));
  const want1 = new RegExp(`^full: out of cuda memory allocating ${elements * 4} bytes`);
  out.push({
    name: `a ${(elements * 4 / 2 ** 30).toFixed(0)} GiB tensor on a ${(total / 2 ** 30).toFixed(0)} GiB GPU → DGC_OOM naming the op and the bytes`,
    status: e1?.code === 'DGC_OOM' && want1.test(e1.message) ? 'ok' : 'fail',
    detail: e1 ? `${e1.code}: ${e1.message}` : 'no error',
  });
  // An op's output: [rows × 1]·[1 × cols] with rows·cols·4 bytes > the device.
  const rows = 2 ** 18;
  const cols = Math.max(2 ** 14, elements / rows);
  const e2 = caught(() =>
    dg.tidy(() => dg.matmul(dg.zeros([rows, 1], { device: 'cuda' }), dg.zeros([1, cols], { device: 'cuda' }))),
  );
  out.push({
    name: `matmul with a ${rows}×${cols} output → DGC_OOM naming matmul`,
    status: e2?.code === 'DGC_OOM' && /^matmul: out of cuda memory allocating \d+ bytes/.test(e2.message) ? 'ok' : 'fail',
    detail: e2 ? `${e2.code}: ${e2.message}` : 'no error',
  });
  const after = dg.memory('cuda').tensors;
  const next = caught(() => {
    const v = dg.tidy(() => dg.matmul(dg.tensor([[1, 2]], undefined, { device: 'cuda' }), dg.tensor([[3], [4]], undefined, { device: 'cuda' })).toArray());
    if (JSON.stringify(v) !== '[[11]]') throw new Error(`[[1, 2]]·[[3], [4]] gave ${JSON.stringify(v)}`);
  });
  out.push({
    name: 'afterwards: the process lives, no CUDA tensor leaked, the next op on the GPU is right',
    status: !next && after === before ? 'ok' : 'fail',
    detail: next ? `${next.code ?? ''} ${next.message}` : `CUDA tensors before ${before}, after ${after}`,
  });
  return out;
}

function fallbackCheck(root: string, dryRun: boolean): Outcome[] {
  const env: NodeJS.ProcessEnv = { ...process.env, CUDA_VISIBLE_DEVICES: '' };
  delete env.DGCLUST_NATIVE_PATH;
  delete env.DGCLUST_NATIVE;
  const script = `const dg = require(${JSON.stringify(path.join(root, 'dist', 'lib'))});
    const s = dg.nativeSelection; const cuda = dg.backends().find((b) => b.name === 'cuda');
    const v = dg.matmul(dg.tensor([[1, 2]]), dg.tensor([[3], [4]])).toArray();
    console.log(JSON.stringify({ variant: s.variant, reason: s.reason, attempts: s.attempts, cuda, v }));`;
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', timeout: 60000 });
  const outcomes: Outcome[] = [];
  let parsed: { variant: string; reason: string; attempts: { source: string; outcome: string; detail?: string }[]; cuda?: { reason?: string }; v: number[][] } | null = null;
  try {
    parsed = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    parsed = null;
  }
  // The GPU machine: the driver is there and hides the device. Here (dry run): whatever this machine lacks.
  const reason = dryRun ? /CUDA/ : /^the CUDA variant \(build-cuda\) loaded, but CUDA is unavailable: no CUDA device$/;
  const probed = parsed?.attempts.find((a) => a.source === 'build-cuda');
  outcomes.push({
    name: "CUDA_VISIBLE_DEVICES='': the CUDA variant is probed and passed over with the reason; the CPU binary runs",
    status:
      r.status === 0 && parsed && parsed.variant === 'cpu' && probed?.outcome === 'passed over' && reason.test(parsed.reason) &&
      JSON.stringify(parsed.v) === '[[11]]'
        ? 'ok'
        : 'fail',
    detail: parsed ? `${parsed.variant}: ${parsed.reason}; backends().cuda.reason = ${parsed.cuda?.reason}` : `exit ${r.status}: ${r.stderr.slice(-600)}`,
  });
  const info = spawnSync(process.execPath, [path.join(root, 'dist', 'lib', 'cli', 'main.js'), 'info'], { env, encoding: 'utf8', timeout: 60000 });
  outcomes.push({
    name: "CUDA_VISIBLE_DEVICES='': `dgclust info` names the CPU binary and the reason",
    status: info.status === 0 && /native binary: cpu/.test(info.stdout) && /why: the CUDA variant \(build-cuda\) loaded, but CUDA is unavailable: /.test(info.stdout) ? 'ok' : 'fail',
    detail: info.stdout.split('\n').slice(1, 3).join(' | ') || info.stderr.slice(-400),
  });
  return outcomes;
}

function main(argv: string[]): number {
  const dryRun = argv.includes('--dry-run');
  const jsonAt = argv.indexOf('--json');
  const root = path.resolve(__dirname, '..', '..', '..');
  const hasCuda = dg.backends().find((b) => b.name === 'cuda')?.available === true;
  const results: Outcome[] = [];
  if (hasCuda) {
    results.push(...oomChecks());
  } else {
    const why = dg.backends().find((b) => b.name === 'cuda')?.reason ?? 'no CUDA';
    results.push({ name: 'out of device memory', status: dryRun ? 'skipped' : 'fail', detail: `no CUDA device: ${why}` });
  }
  results.push(...fallbackCheck(root, dryRun));
  for (const o of results) console.log(`${o.status === 'ok' ? 'ok     ' : o.status === 'fail' ? 'FAIL   ' : 'skipped'} ${o.name}\n        ${o.detail}`);
  if (jsonAt >= 0) fs.writeFileSync(argv[jsonAt + 1], JSON.stringify({ dryRun, results }, null, 1));
  return results.some((o) => o.status === 'fail') ? 1 : 0;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
