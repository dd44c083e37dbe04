// Checkpoints as a folder of .npy files plus manifest.json (the form the official DFCN weights were converted
// to: shared data README §13): { "tensors": { "<name>": { "shape": [...], "file": "<name>.npy", "sha256": "…" } } }.
// Every file is checked against the manifest (shape, and the hash when given) before anything is returned.
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

/** Loads every tensor of the checkpoint folder `dir` (name → tensor). The caller owns the tensors. */
export function loadNpyCheckpoint(dir: string, device: Device = 'cpu'): Map<string, Tensor> {
  const manifestFile = path.join(dir, 'manifest.json');
  let manifest: { tensors?: Record<string, ManifestEntry> };
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DgcError('DGC_DATA', `${manifestFile}: ${code === 'ENOENT' ? 'not found (a checkpoint folder needs manifest.json beside its .npy files)' : `unreadable manifest (${(err as Error).message})`}`);
  }
  const entries = manifest.tensors;
  if (!entries || typeof entries !== 'object') throw new DgcError('DGC_DATA', `${manifestFile}: no "tensors" object`);
  const out = new Map<string, Tensor>();
  try {
    for (const [name, e] of Object.entries(entries)) {
      if (!e || typeof e.file !== 'string' || !Array.isArray(e.shape)) throw new DgcError('DGC_DATA', `${manifestFile}: entry '${name}' needs "file" and "shape"`);
      const file = path.join(dir, e.file);
      let buf: Buffer;
      try {
        buf = fs.readFileSync(file);
      } catch (err) {
        throw new DgcError('DGC_DATA', `${file}: cannot read the tensor '${name}' (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
      }
      if (e.sha256) {
        const h = crypto.createHash('sha256').update(buf).digest('hex');
        if (h !== e.sha256) throw new DgcError('DGC_DATA', `${file}: sha256 ${h} differs from the manifest's ${e.sha256}`);
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
