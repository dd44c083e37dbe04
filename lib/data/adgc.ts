// ADGC-style datasets (the zips of yueliu1999's "Awesome Deep Graph Clustering" collection): a zip of
// <name>_feat.npy (N×D), <name>_label.npy (N) and <name>_adj.npy (a DENSE N×N 0/1 matrix), sometimes under a
// <name>/ folder. The adjacency is converted to an edge list while it streams out of the archive, one chunk at
// a time, so the N² matrix is never held in memory (citeseer's is 44 MB, a 100k-node one would be 40 GB).
import { dataError } from './text';
import { decodeNpyElements, npyHeaderLength, npyNumel, parseNpyHeader } from './npy';
import type { NpyHeader } from './npy';
import { listZip, readZipMember, streamZipMember } from './zip';
import { parseNpy } from './npy';
import type { Dataset } from './embedded';

export interface StreamedEdges {
  n: number;
  src: Int32Array;
  dst: Int32Array;
  /** Nonzero diagonal entries (kept as edges; the graph builder adds self-loops anyway). */
  selfLoops: number;
}

/** Nonzero entries (i, j) of a square .npy matrix read from `stream`, in row-major order. */
export function denseAdjacencyEdges(stream: NodeJS.ReadableStream, source: string): Promise<StreamedEdges> {
  return new Promise((resolve, reject) => {
    let head: Buffer = Buffer.alloc(0);
    let header: NpyHeader | null = null;
    let n = 0;
    let total = 0;
    let index = 0; // next element index
    let carry: Buffer = Buffer.alloc(0);
    let src = new Int32Array(1024);
    let dst = new Int32Array(1024);
    let count = 0;
    let selfLoops = 0;
    let failed = false;
    const scratch = new Float32Array(1 << 16);
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      (stream as unknown as { destroy?: () => void }).destroy?.();
      reject(err);
    };
    const push = (i: number, j: number): void => {
      if (count === src.length) {
        const s2 = new Int32Array(src.length * 2);
        s2.set(src);
        src = s2;
        const d2 = new Int32Array(dst.length * 2);
        d2.set(dst);
        dst = d2;
      }
      src[count] = i;
      dst[count] = j;
      count++;
      if (i === j) selfLoops++;
    };
    const consume = (buf: Buffer): void => {
      const h = header!;
      const usable = Math.floor(buf.length / h.itemSize);
      let done = 0;
      while (done < usable) {
        const m = Math.min(usable - done, scratch.length, total - index);
        if (m <= 0) break;
        decodeNpyElements(buf, done * h.itemSize, h.kind, m, scratch, 0, source, index);
        for (let q = 0; q < m; q++) {
          if (scratch[q] !== 0) {
            const e = index + q;
            const r = Math.floor(e / n);
            const c = e - r * n;
            if (h.fortranOrder) push(c, r);
            else push(r, c);
          }
        }
        index += m;
        done += m;
      }
      if (index >= total && done < usable) throw dataError(source, null, `data continues after the ${n}×${n} matrix ends`);
      carry = buf.subarray(usable * h.itemSize);
    };
    stream.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        if (!header) {
          head = Buffer.concat([head, chunk]);
          if (head.length < 12) return;
          // Wait for the whole header (its length field is bounded, so this never buffers the matrix).
          const major = head[6];
          const magic = head.subarray(0, 6).toString('latin1') === '\x93NUMPY';
          const hlen = magic ? (major === 1 ? 10 : 12) + npyHeaderLength(head, source) : 0;
          if (!magic || head.length >= hlen) {
            header = parseNpyHeader(head, source);
            if (header.shape.length !== 2 || header.shape[0] !== header.shape[1]) {
              throw dataError(source, null, `an adjacency matrix must be square; this one has shape (${header.shape.join(', ')})`);
            }
            n = header.shape[0];
            total = npyNumel(header.shape);
            const rest = head.subarray(header.dataOffset);
            head = Buffer.alloc(0);
            consume(rest);
          }
          return;
        }
        consume(carry.length ? Buffer.concat([carry, chunk]) : chunk);
      } catch (err) {
        fail(err as Error);
      }
    });
    stream.on('error', (err: Error) => fail((err as { code?: string }).code === 'DGC_DATA' ? err : dataError(source, null, `read failed (${err.message})`)));
    stream.on('end', () => {
      if (failed) return;
      if (!header) return fail(head.length ? dataError(source, null, 'the .npy header is truncated') : dataError(source, null, 'the file is empty'));
      if (index < total || carry.length) {
        return fail(dataError(source, null, `truncated: ${index} of the ${n}×${n} = ${total} elements are present`));
      }
      resolve({ n, src: src.slice(0, count), dst: dst.slice(0, count), selfLoops });
    });
  });
}

/** Loads an ADGC zip: features, labels (0- or 1-based → 0-based ids) and the graph streamed from the dense adjacency. */
export async function loadAdgcZip(name: string, file: string): Promise<Dataset> {
  const entries = listZip(file);
  const member = (suffix: string): string => {
    const e = entries.find((x) => x.name === `${name}_${suffix}.npy` || x.name.endsWith(`/${name}_${suffix}.npy`));
    if (!e) throw dataError(file, null, `no member ${name}_${suffix}.npy in the archive (members: ${entries.map((x) => x.name).join(', ')})`);
    return e.name;
  };
  const featName = member('feat');
  const labelName = member('label');
  const adjName = member('adj');
  const feat = parseNpy(readZipMember(file, featName, entries), `${file}:${featName}`);
  if (feat.shape.length !== 2) throw dataError(`${file}:${featName}`, null, `features must be a matrix; shape (${feat.shape.join(', ')})`);
  const lab = parseNpy(readZipMember(file, labelName, entries), `${file}:${labelName}`);
  if (lab.shape.length !== 1) throw dataError(`${file}:${labelName}`, null, `labels must be a vector; shape (${lab.shape.join(', ')})`);
  const rows = feat.shape[0];
  if (lab.data.length !== rows) throw dataError(`${file}:${labelName}`, null, `has ${lab.data.length} labels but the features have ${rows} rows`);
  const raw = Array.from(lab.data);
  if (raw.some((v) => !Number.isInteger(v))) throw dataError(`${file}:${labelName}`, null, 'labels must be integers');
  const original = [...new Set(raw)].sort((a, b) => a - b);
  const id = new Map(original.map((v, i) => [v, i]));
  const edges = await denseAdjacencyEdges(streamZipMember(file, adjName, entries), `${file}:${adjName}`);
  if (edges.n !== rows) throw dataError(`${file}:${adjName}`, null, `is ${edges.n}×${edges.n} but the features have ${rows} rows`);
  const data = feat.data instanceof Float32Array ? feat.data : Float32Array.from(feat.data);
  return {
    name,
    features: { rows, cols: feat.shape[1], data },
    labels: { labels: Int32Array.from(raw, (v) => id.get(v)!), k: original.length, original },
    edges: { src: edges.src, dst: edges.dst },
  };
}
