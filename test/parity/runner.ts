// The GPU check's parity runner: the table and checks of test/parity/cases.ts (the same ones test/cuda.parity.test.ts
// runs under jest) in plain node, for a machine with a GPU but without node_modules. scripts/gpu-check.sh --pack
// compiles it into dist/test/parity/runner.js.
//
//   node dist/test/parity/runner.js [--dry-run] [--json FILE] [--only REGEX]
//
// Prints one line per case or check (ok / FAIL / skipped) and writes a JSON report. With a CUDA device every group
// runs. Without one, --dry-run runs each case's forward and backward on the CPU (the table and the runner work; the
// numbers are not compared) and marks the GPU groups skipped; without --dry-run a missing device is a failure (the
// GPU check expects one). Exit code: 0 when nothing failed, 1 otherwise.
import * as fs from 'fs';
import * as dg from '../../lib';
import type { BackendInfo } from '../../types/native';
import {
  checkCase,
  checkCaseCpuOnly,
  determinismChecks,
  disposeGraphs,
  errorChecks,
  gpuGradChecks,
  NamedCheck,
  parityCases,
  parityChecks,
  setupGraphs,
} from './cases';

export interface ParityResult {
  group: string;
  name: string;
  status: 'ok' | 'fail' | 'skipped';
  ms: number;
  message?: string;
}

export interface ParityReport {
  dryRun: boolean;
  cuda: BackendInfo | undefined;
  native: { variant: string; path: string; reason: string };
  counts: { ok: number; fail: number; skipped: number };
  results: ParityResult[];
}

export interface ParityOptions {
  dryRun?: boolean;
  only?: RegExp;
  /** Called after each result (the CLI prints a line). */
  onResult?: (r: ParityResult) => void;
}

/** The groups of checks, in the order they run. */
export function parityGroups(): { group: string; checks: NamedCheck[]; cpuOnly?: (name: string) => void }[] {
  return [
    {
      group: 'op parity (forward and backward)',
      checks: parityCases.map((c) => ({ name: c.name, run: () => checkCase(c) })),
      cpuOnly: (name) => checkCaseCpuOnly(parityCases.find((c) => c.name === name)!),
    },
    { group: 'ops without gradients', checks: parityChecks },
    { group: 'gradient checks on the GPU', checks: gpuGradChecks },
    { group: 'device errors', checks: errorChecks },
    { group: 'determinism (SM count, split count)', checks: determinismChecks },
  ];
}

export function runParity(opts: ParityOptions = {}): ParityReport {
  const cuda = dg.backends().find((b) => b.name === 'cuda');
  const hasCuda = cuda?.available === true;
  const dryRun = opts.dryRun === true;
  const results: ParityResult[] = [];
  const record = (r: ParityResult) => {
    results.push(r);
    opts.onResult?.(r);
  };
  setupGraphs(hasCuda);
  try {
    for (const { group, checks, cpuOnly } of parityGroups()) {
      for (const c of checks) {
        if (opts.only && !opts.only.test(c.name)) continue;
        const t0 = performance.now();
        const ms = () => Math.round((performance.now() - t0) * 10) / 10;
        if (!hasCuda) {
          const why = `no CUDA device (${cuda?.reason ?? 'no cuda entry in backends()'})`;
          if (!dryRun) {
            record({ group, name: c.name, status: 'fail', ms: 0, message: why });
          } else if (cpuOnly) {
            try {
              cpuOnly(c.name);
              record({ group, name: c.name, status: 'ok', ms: ms(), message: 'dry run: forward and backward on the CPU only' });
            } catch (e) {
              record({ group, name: c.name, status: 'fail', ms: ms(), message: (e as Error).message });
            }
          } else {
            record({ group, name: c.name, status: 'skipped', ms: 0, message: `skipped: ${why}` });
          }
          continue;
        }
        try {
          c.run();
          record({ group, name: c.name, status: 'ok', ms: ms() });
        } catch (e) {
          record({ group, name: c.name, status: 'fail', ms: ms(), message: (e as Error).message });
        }
      }
    }
  } finally {
    disposeGraphs();
  }
  const count = (s: ParityResult['status']) => results.filter((r) => r.status === s).length;
  const sel = dg.nativeSelection;
  return {
    dryRun,
    cuda,
    native: { variant: sel.variant, path: sel.path, reason: sel.reason },
    counts: { ok: count('ok'), fail: count('fail'), skipped: count('skipped') },
    results,
  };
}

function main(argv: string[]): number {
  let json: string | undefined;
  let only: RegExp | undefined;
  let dryRun = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dry-run') dryRun = true;
    else if (a === '--json') json = argv[++i];
    else if (a === '--only') only = new RegExp(argv[++i]);
    else {
      console.error(`parity runner: unknown argument '${a}' (known: --dry-run, --json FILE, --only REGEX)`);
      return 2;
    }
  }
  const report = runParity({
    dryRun,
    only,
    onResult: (r) => console.log(`${r.status === 'ok' ? 'ok     ' : r.status === 'fail' ? 'FAIL   ' : 'skipped'} [${r.group}] ${r.name} (${r.ms} ms)${r.status === 'fail' && r.message ? `\n        ${r.message.split('\n').join('\n        ')}` : ''}`),
  });
  console.log(`parity: ${report.counts.ok} ok, ${report.counts.fail} failed, ${report.counts.skipped} skipped (${report.native.variant} binary: ${report.native.reason})`);
  if (json) fs.writeFileSync(json, JSON.stringify(report, null, 1));
  return report.counts.fail === 0 ? 0 : 1;
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
