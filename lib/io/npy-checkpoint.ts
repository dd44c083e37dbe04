// Checkpoints as a folder of .npy files plus manifest.json (the form the official DFCN weights were
// converted to, and the form data/pretrained/ ships): { "tensors": { "<name>": { "shape": [...], "file": "<name>.npy", "sha256": "…" } } }.
// Every file is checked against the manifest (shape, and the hash when given) before anything is returned.
// Every failure is a DGC_DATA error naming the manifest or the .npy file at fault.
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { DgcError, Tensor } from '../tensor';
import { tensor } from '../ops';
import { parseNpy } from '../data/npy';
import type { Device } from '../tensor';

interface ManifestEntry {
  shape: number[];
  file: string;
  sha256?: string;
}

const isPlainObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Loads every tensor of the checkpoint folder `dir` (name → tensor). The caller owns the tensors. */
export function loadNpyCheckpoint(dir: string, device: Device = 'cpu'): Map<string, Tensor> {
  const manifestFile = path.join(dir, 'manifest.json');
  const bad = (message: string): never => {
    throw new DgcError('DGC_DATA', `${manifestFile}: ${message}`);
  };
  let manifest: unknown;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    bad(code === 'ENOENT' ? 'not found (a checkpoint folder needs manifest.json beside its .npy files)' : `unreadable manifest (${(err as Error).message})`);
  }
  const entries = isPlainObject(manifest) ? manifest.tensors : undefined;
  if (!isPlainObject(entries)) return bad('no "tensors" object');
  const root = path.resolve(dir);
  const out = new Map<string, Tensor>();
  try {
    for (const [name, raw] of Object.entries(entries)) {
      const e = raw as ManifestEntry;
      if (!isPlainObject(e) || typeof e.file !== 'string' || !Array.isArray(e.shape)) bad(`entry '${name}' needs "file" and "shape"`);
      if (e.shape.length > 4 || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
        bad(`entry '${name}' has shape ${JSON.stringify(e.shape).slice(0, 80)}: up to 4 non-negative integers`);
      }
      if (e.sha256 !== undefined && (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(e.sha256))) {
        bad(`entry '${name}' has sha256 ${JSON.stringify(e.sha256).slice(0, 80)}, not 64 hex digits`);
      }
      // The tensors live in the folder: a name that leads out of it (absolute, '..') is refused, not followed.
      const file = path.resolve(root, e.file);
      const rel = path.relative(root, file);
      if (path.isAbsolute(e.file) || rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
        bad(`entry '${name}' names the file ${JSON.stringify(e.file)}, which is not inside the checkpoint folder`);
      }
      let buf: Buffer;
      try {
        buf = fs.readFileSync(file);
      } catch (err) {
        return bad(`entry '${name}': cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      if (e.sha256) {
        const h = crypto.createHash('sha256').update(buf).digest('hex');
        if (h !== e.sha256.toLowerCase()) throw new DgcError('DGC_DATA', `${file}: sha256 ${h} differs from the manifest's ${e.sha256}`);
      }
      const arr = parseNpy(buf, file);
      if (arr.shape.join() !== e.shape.join()) {
        throw new DgcError('DGC_DATA', `${file}: shape (${arr.shape.join(', ')}) differs from the manifest's [${e.shape.join(', ')}]`);
      }
      out.set(name, tensor(arr.data, arr.shape, { device }));
    }
  } catch (err) {
    for (const t of out.values()) t.dispose();
    throw err;
  }
  return out;
}
