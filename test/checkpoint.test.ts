// Crash-safe training: a run checkpointed every epoch, killed with SIGKILL (also in the middle of a checkpoint
// write), and resumed, ends with the same weights and metrics, bit for bit, as a run that was never interrupted.
// The runs are real `dgclust train` child processes (the compiled CLI in dist/, rebuilt here when stale).
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as dg from '../lib';
import { readCheckpoint, readCheckpointMeta, writeCheckpoint } from '../lib/io/checkpoint';
import { gaussianClusters, repoRoot } from './helpers/data';

const cli = path.join(repoRoot, 'dist', 'lib', 'cli', 'main.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dgc-ckpt-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Newest modification time of the TypeScript sources that dist/ is built from. */
function newestSource(folder: string): number {
  let t = 0;
  for (const e of fs.readdirSync(folder, { withFileTypes: true })) {
    const p = path.join(folder, e.name);
    t = Math.max(t, e.isDirectory() ? newestSource(p) : e.name.endsWith('.ts') ? fs.statSync(p).mtimeMs : 0);
  }
  return t;
}

beforeAll(() => {
  if (!fs.existsSync(cli) || fs.statSync(cli).mtimeMs < newestSource(path.join(repoRoot, 'lib'))) {
    const b = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build-ts.js')], { cwd: repoRoot, encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`building dist/ failed:\n${b.stdout}\n${b.stderr}`);
  }
  // Four Gaussian blobs with a ring graph, as the user's files.
  const b = gaussianClusters(21, 200, 8, 4, 2, 0.8);
  const rows: string[] = [];
  for (let i = 0; i < b.rows; i++) rows.push(Array.from(b.data.subarray(i * 8, i * 8 + 8)).map((v) => v.toFixed(5)).join(' '));
  fs.writeFileSync(path.join(dir, 'x.txt'), rows.join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'y.txt'), Array.from(b.labels).join('\n') + '\n');
  const edges: string[] = [];
  for (let i = 0; i < b.rows; i++) for (const j of [(i + 4) % b.rows, (i + 8) % b.rows]) edges.push(`${i} ${j}`, `${j} ${i}`);
  fs.writeFileSync(path.join(dir, 'g.txt'), edges.join('\n') + '\n');
}, 300000);

const data = () => ['--features', path.join(dir, 'x.txt'), '--labels', path.join(dir, 'y.txt'), '--graph', path.join(dir, 'g.txt')];
const SDCN = ['train', '--model', 'sdcn', '--epochs', '12', '--ae-epochs', '4', '--ae-batch-size', '32', '--threads', '1'];
const DEC = ['train', '--model', 'dec', '--pretrain-epochs', '3', '--pretrain-batch-size', '32', '--batch-size', '32', '--max-iterations', '120',
  '--update-interval', '10', '--tol', '0', '--threads', '1'];

function runCli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240000 });
  if (r.status !== 0) throw new Error(`dgclust ${args.join(' ')} exited ${r.status}:\n${r.stderr.slice(-3000)}`);
  return r;
}

/**
 * Starts a run and kills it with SIGKILL as soon as `when(stderrSoFar)` holds (checked as stderr arrives, and
 * also on a poll for conditions on files). Resolves with the stderr it printed.
 */
function killWhen(args: string[], when: (stderr: string) => boolean, env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env } });
    let err = '';
    let killed = false;
    const check = () => {
      if (!killed && when(err)) {
        killed = true;
        child.kill('SIGKILL');
      }
    };
    const poll = setInterval(check, 20);
    child.stderr.on('data', (d) => {
      err += d.toString();
      check();
    });
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      if (signal === 'SIGKILL' && killed) resolve(err);
      else reject(new Error(`the run ended (${code}, ${signal}) before it could be killed:\n${err.slice(-2000)}`));
    });
  });
}

function sameFinal(a: string, b: string, jsonA: string, jsonB: string) {
  // Final weights, byte for byte.
  expect(fs.readFileSync(b).equals(fs.readFileSync(a))).toBe(true);
  const ra = JSON.parse(fs.readFileSync(jsonA, 'utf8')).runs[0];
  const rb = JSON.parse(fs.readFileSync(jsonB, 'utf8')).runs[0];
  expect(rb.final).toEqual(ra.final);
  expect(rb.best).toEqual(ra.best);
  expect(rb.predicted).toEqual(ra.predicted);
  // Every epoch's losses and metrics (timings aside).
  const strip = (es: { losses: unknown; metrics: unknown; phase: string; epoch: number }[]) => es.map((e) => [e.phase, e.epoch, e.losses, e.metrics]);
  expect(strip(rb.epochs)).toEqual(strip(ra.epochs));
}

describe('kill -9 and resume', () => {
  let straight: { save: string; json: string };
  beforeAll(() => {
    straight = { save: path.join(dir, 'straight.dgc'), json: path.join(dir, 'straight.json') };
    runCli([...SDCN, ...data(), '--save', straight.save, '--json', straight.json]);
  }, 300000);

  test('killed after training epoch 5 and resumed: the same final weights and every epoch as the straight run', async () => {
    const ck = path.join(dir, 'a.ckpt');
    const err = await killWhen([...SDCN, ...data(), '--checkpoint', ck, '--checkpoint-every', '1'], (e) => /\(after training epoch 5\)/.test(e));
    expect(err).toMatch(/checkpoint: wrote .*a\.ckpt \(after training epoch 5\)/);
    const save = path.join(dir, 'a.dgc');
    const json = path.join(dir, 'a.json');
    const r = runCli([...SDCN, ...data(), '--resume', ck, '--save', save, '--json', json]);
    expect(r.stderr).not.toMatch(/pretrain-ae/);
    sameFinal(straight.save, save, straight.json, json);
  }, 300000);

  test('killed in the middle of pretraining: resumed from the pretraining epoch, the same results', async () => {
    const ck = path.join(dir, 'b.ckpt');
    await killWhen([...SDCN, ...data(), '--checkpoint', ck], (e) => /\(after pretrain-ae epoch 2\)/.test(e));
    expect(readCheckpoint(ck).meta.position).toEqual({ phase: 'pretrain', stage: 0, epoch: 2 });
    const save = path.join(dir, 'b.dgc');
    const json = path.join(dir, 'b.json');
    runCli([...SDCN, ...data(), '--resume', ck, '--save', save, '--json', json]);
    sameFinal(straight.save, save, straight.json, json);
  }, 300000);

  test('killed while a checkpoint is being written: the previous checkpoint stays whole, and resuming from it gives the same results', async () => {
    const ck = path.join(dir, 'c.ckpt');
    // The write pauses 4 s between its complete temporary file and the rename; the kill lands in that pause.
    const tmpOf = (pidDir: string) => fs.readdirSync(pidDir).filter((f) => f.startsWith('.c.ckpt.') && f.endsWith('.tmp'));
    const err = await killWhen([...SDCN, ...data(), '--checkpoint', ck],
      (e) => /\(after training epoch 3\)/.test(e) && tmpOf(dir).length > 0, { DGCLUST_CHECKPOINT_WRITE_DELAY_MS: '4000' });
    expect(err).toMatch(/\(after training epoch 3\)/);
    expect(err).not.toMatch(/\(after training epoch 4\)/);
    // The torn write is the leftover temporary file; the checkpoint itself is the one of epoch 3, whole.
    expect(tmpOf(dir).length).toBeGreaterThan(0);
    const c = readCheckpoint(ck);
    expect((c.meta.position as { epoch: number }).epoch).toBe(3);
    for (const t of c.tensors.values()) t.dispose();
    const save = path.join(dir, 'c.dgc');
    const json = path.join(dir, 'c.json');
    runCli([...SDCN, ...data(), '--resume', ck, '--save', save, '--json', json]);
    sameFinal(straight.save, save, straight.json, json);
  }, 300000);

  test('a mini-batch model (DEC): killed after two refreshes, resumed, the same labels and weights', async () => {
    const save0 = path.join(dir, 'dec0.dgc');
    const json0 = path.join(dir, 'dec0.json');
    runCli([...DEC, ...data(), '--save', save0, '--json', json0]);
    const ck = path.join(dir, 'd.ckpt');
    await killWhen([...DEC, ...data(), '--checkpoint', ck], (e) => /\(after training iteration 20\)/.test(e));
    const save = path.join(dir, 'd.dgc');
    const json = path.join(dir, 'd.json');
    runCli([...DEC, ...data(), '--resume', ck, '--save', save, '--json', json]);
    sameFinal(save0, save, json0, json);
  }, 300000);
});

describe('a checkpoint of another run is refused, naming the file and the mismatch', () => {
  let ck: string;
  beforeAll(() => {
    ck = path.join(dir, 'e.ckpt');
    runCli([...SDCN.map((a) => (a === '12' ? '2' : a)), ...data(), '--checkpoint', ck]);
  }, 300000);

  const refuse = (args: string[], pattern: RegExp) => {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(pattern);
  };

  test('another model', () => {
    refuse(['train', '--model', 'ae', ...data(), '--resume', ck], /DGC_DATA: resume: .*e\.ckpt is a checkpoint of model 'sdcn', not 'ae'/);
  });
  test('other data (another shape)', () => {
    const x = path.join(dir, 'x5.txt');
    fs.writeFileSync(x, fs.readFileSync(path.join(dir, 'x.txt'), 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').slice(0, 5).join(' ')).join('\n') + '\n');
    refuse(['train', '--model', 'sdcn', '--features', x, '--labels', path.join(dir, 'y.txt'), '--graph', path.join(dir, 'g.txt'), '--resume', ck],
      /DGC_DATA: resume: .*e\.ckpt was written for other data \(x-200x8-[0-9a-f]+.*\); this run's data is x5-200x5-/);
  });
  test('other settings', () => {
    refuse([...SDCN, ...data(), '--sigma', '0.3', '--resume', ck], /DGC_DATA: resume: .*e\.ckpt does not match this run's settings: option '--sigma' is 0\.5 in the checkpoint but 0\.3 now/);
    // Named as the flag typed, not the API's camelCase name ('klQ').
    refuse([...SDCN, ...data(), '--kl-q', '0.2', '--resume', ck], /does not match this run's settings: option '--kl-q' is 0\.1 in the checkpoint but 0\.2 now/);
  });
  test('a newer format version', () => {
    const newer = path.join(dir, 'newer.ckpt');
    const buf = fs.readFileSync(ck);
    buf.writeUInt32LE(2, 8);
    fs.writeFileSync(newer, buf);
    refuse([...SDCN, ...data(), '--resume', newer], /DGC_DATA: checkpoint: .*newer\.ckpt is not a valid dgclust checkpoint: format version 2; this dgclust reads version 1/);
  });
  test('a truncated file', () => {
    const cut = path.join(dir, 'cut.ckpt');
    fs.writeFileSync(cut, fs.readFileSync(ck).subarray(0, 3000));
    refuse([...SDCN, ...data(), '--resume', cut], /DGC_DATA: checkpoint: .*cut\.ckpt is not a valid dgclust checkpoint: .*(truncated|past the end)/);
  });
});

test('writeCheckpoint leaves no temporary file behind and reads back what it wrote', () => {
  const f = path.join(dir, 'w.ckpt');
  const a = dg.tensor([1, 2, 3, 4], [2, 2]);
  writeCheckpoint(f, { hello: 'world' }, [['a', a]]);
  const c = readCheckpoint(f);
  expect(c.meta).toEqual({ hello: 'world' });
  expect(Array.from(c.tensors.get('a')!.data() as Float32Array)).toEqual([1, 2, 3, 4]);
  for (const t of c.tensors.values()) t.dispose();
  a.dispose();
  expect(fs.readdirSync(dir).filter((x) => x.startsWith('.w.ckpt'))).toEqual([]);
});

test('readCheckpointMeta reads the header alone, and still refuses a file cut short; a non-finite value is refused on the full read', () => {
  const f = path.join(dir, 'm.ckpt');
  const a = dg.tensor([1, 2, 3, 4], [2, 2]);
  const b = dg.tensor([5, 6], [2]);
  writeCheckpoint(f, { seed: 7, position: { phase: 'train', epoch: 3 } }, [['a', a], ['b', b]]);
  a.dispose();
  b.dispose();
  const before = dg.memory().tensors;
  expect(readCheckpointMeta(f)).toEqual({ seed: 7, position: { phase: 'train', epoch: 3 } });
  expect(dg.memory().tensors).toBe(before); // no tensor was made
  const buf = fs.readFileSync(f);
  // Cut inside the last tensor's data: the header alone shows it.
  const cut = path.join(dir, 'm-cut.ckpt');
  fs.writeFileSync(cut, buf.subarray(0, buf.length - 4));
  expect(() => readCheckpointMeta(cut)).toThrow(/m-cut\.ckpt is not a valid dgclust checkpoint: tensor 'b' runs past the end of the file/);
  expect(() => readCheckpointMeta(path.join(dir, 'absent.ckpt'))).toThrow(/checkpoint: cannot read .*absent\.ckpt: ENOENT/);
  // A NaN written over a's third value: the metadata still reads; the full read names the tensor and element.
  const damaged = path.join(dir, 'm-nan.ckpt');
  const hlen = buf.readUInt32LE(12);
  const header = JSON.parse(buf.toString('utf8', 16, 16 + hlen));
  const entry = header.tensors.find((e: { name: string }) => e.name === 'a');
  const nan = Buffer.from(buf);
  nan.writeFloatLE(NaN, 16 + hlen + entry.offset + 2 * 4);
  fs.writeFileSync(damaged, nan);
  expect(readCheckpointMeta(damaged).seed).toBe(7);
  expect(() => readCheckpoint(damaged)).toThrow(/m-nan\.ckpt is not a valid dgclust checkpoint: tensor 'a' element 2 is NaN/);
  expect(dg.memory().tensors).toBe(before);
});
