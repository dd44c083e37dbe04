// Seeded mutations for the reader fuzzer (test/fuzz.test.ts). Every mutation is a pure function of its input and
// of the Rng's state, so a case is reproduced from (fuzz seed, reader, case index) alone.
//
// Generic byte mutations apply to every file; text mutations apply to the decoded text of a text file (gzip-
// decoded first for .gz) and are encoded again, so the parser behind gunzip is reached too.
import { Rng } from '../helpers/reference';

export interface Mutation {
  /** What was done, for a failure message: 'truncate@123', 'bitflip@40.3', 'token@7:1e39', … */
  name: string;
  bytes: Buffer;
}

/** Little-endian integers that break size arithmetic: zero, sign bits, all-ones, past 2^31 / 2^32 / 2^53. */
const HUGE_U32 = [0, 1, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const HUGE_U64 = [2n ** 31n, 2n ** 32n + 1n, 2n ** 40n, 2n ** 53n + 1n, 2n ** 62n, 2n ** 63n - 1n, 2n ** 64n - 1n];

/** IEEE special values: NaN (quiet and signalling), ±Inf, the largest finite, a subnormal. */
const F32_SPECIAL = [NaN, Infinity, -Infinity, 3.4028234663852886e38, 1e-45];
const F64_SPECIAL = [NaN, Infinity, -Infinity, 1e39, -1e300, Number.MAX_VALUE];

/**
 * Truncation points for a file of `size` bytes: every offset when the file is small (so every region of it is
 * cut somewhere), else every offset near the start and the end, the region boundaries ±1 and an even spread.
 */
export function truncationPoints(size: number, boundaries: readonly number[] = [], every = 1024): number[] {
  const pts = new Set<number>();
  if (size <= every) {
    for (let k = 0; k < size; k++) pts.add(k);
  } else {
    for (let k = 0; k < 256; k++) pts.add(k);
    for (let k = Math.max(0, size - 64); k < size; k++) pts.add(k);
    for (const b of boundaries) for (const d of [-1, 0, 1]) if (b + d >= 0 && b + d < size) pts.add(b + d);
    const step = Math.max(1, Math.floor(size / 512));
    for (let k = 0; k < size; k += step) pts.add(k);
  }
  return [...pts].sort((a, b) => a - b);
}

/** One random generic byte-level mutation of `buf`. */
export function byteMutation(buf: Buffer, rng: Rng): Mutation {
  const n = buf.length;
  const pos = (align = 1): number => (n === 0 ? 0 : Math.floor(rng.int(n) / align) * align);
  const out = Buffer.from(buf);
  switch (rng.int(11)) {
    case 0: {
      // Several single-bit flips.
      const flips = 1 + rng.int(3);
      const at: string[] = [];
      for (let k = 0; k < flips && n > 0; k++) {
        const p = pos();
        const b = rng.int(8);
        out[p] ^= 1 << b;
        at.push(`${p}.${b}`);
      }
      return { name: `bitflip@${at.join(',')}`, bytes: out };
    }
    case 1: {
      const p = pos();
      const v = [0x00, 0xff, 0x7f, 0x80, 0x20, 0x0a, 0x0d, 0x30, 0x2d][rng.int(9)];
      if (n > 0) out[p] = v;
      return { name: `byte@${p}=0x${v.toString(16)}`, bytes: out };
    }
    case 2: {
      // A 16- or 32-bit size field set to a huge or zero value (any alignment: formats pack fields tightly).
      const p = pos();
      const v = HUGE_U32[rng.int(HUGE_U32.length)];
      if (rng.next() < 0.3 && p + 2 <= n) {
        out.writeUInt16LE(v & 0xffff, p);
        return { name: `u16@${p}=${v & 0xffff}`, bytes: out };
      }
      if (p + 4 <= n) out.writeUInt32LE(v, p);
      return { name: `u32@${p}=${v}`, bytes: out };
    }
    case 3: {
      const p = pos();
      const v = HUGE_U64[rng.int(HUGE_U64.length)];
      if (p + 8 <= n) out.writeBigUInt64LE(v, p);
      return { name: `u64@${p}=${v}`, bytes: out };
    }
    case 4: {
      // NaN / Inf written over float data (4- or 8-byte aligned from the end, where array data sits).
      if (rng.next() < 0.5) {
        const p = n - 4 * (1 + rng.int(Math.max(1, Math.floor(n / 4))));
        const v = F32_SPECIAL[rng.int(F32_SPECIAL.length)];
        if (p >= 0) out.writeFloatLE(v, p);
        return { name: `f32@${p}=${v}`, bytes: out };
      }
      const p = n - 8 * (1 + rng.int(Math.max(1, Math.floor(n / 8))));
      const v = F64_SPECIAL[rng.int(F64_SPECIAL.length)];
      if (p >= 0) out.writeDoubleLE(v, p);
      return { name: `f64@${p}=${v}`, bytes: out };
    }
    case 5: {
      // A text-mode transfer of a binary file: LF → CRLF, or CRLF → LF.
      if (rng.next() < 0.5) return { name: 'lf->crlf', bytes: Buffer.from(buf.toString('latin1').replace(/\n/g, '\r\n'), 'latin1') };
      return { name: 'crlf->lf', bytes: Buffer.from(buf.toString('latin1').replace(/\r\n/g, '\n'), 'latin1') };
    }
    case 6: {
      const p = pos();
      const len = 1 + rng.int(16);
      return { name: `delete@${p}+${len}`, bytes: Buffer.concat([buf.subarray(0, p), buf.subarray(p + len)]) };
    }
    case 7: {
      const p = pos();
      const ins = Buffer.from(Array.from({ length: 1 + rng.int(16) }, () => rng.int(256)));
      return { name: `insert@${p}+${ins.length}`, bytes: Buffer.concat([buf.subarray(0, p), ins, buf.subarray(p)]) };
    }
    case 8: {
      // A region repeated (a duplicated record, a doubled chunk).
      const p = pos();
      const len = 1 + rng.int(64);
      return { name: `dup@${p}+${len}`, bytes: Buffer.concat([buf.subarray(0, p + len), buf.subarray(p, p + len), buf.subarray(p + len)]) };
    }
    case 9: {
      const len = 1 + rng.int(64);
      return { name: `append+${len}`, bytes: Buffer.concat([buf, Buffer.from(Array.from({ length: len }, () => rng.int(256)))]) };
    }
    default: {
      // A random run of bytes overwritten.
      const p = pos();
      const len = 1 + rng.int(8);
      for (let k = p; k < Math.min(n, p + len); k++) out[k] = rng.int(256);
      return { name: `scramble@${p}+${len}`, bytes: out };
    }
  }
}

/** Tokens a text reader must refuse, or read exactly: overflow, NaN/Inf spellings, huge integers, odd forms. */
const BAD_TOKENS = [
  'nan', 'NaN', '-nan', 'inf', '-inf', 'Infinity', '-Infinity', '1e39', '-1e39', '3.5e38', '1e400', '-1e400',
  '1e-50', '0x10', '1,5', '1e', '.', '+', '-', '--1', '1..2', '١', '１', '99999999999', '4294967297', '-2147483649',
  '2147483648', '-1', '1e2', '0.0', '-0', '007', '\u00a0', '\u200b1',
];

/** One random mutation of a text file's content (lines, tokens, line endings). */
export function textMutation(text: string, rng: Rng): { name: string; text: string } {
  const lines = text.split('\n');
  const li = rng.int(Math.max(1, lines.length));
  switch (rng.int(9)) {
    case 0: case 1: {
      // A token replaced by a hostile one.
      const toks = lines[li].split(/([ \t]+)/);
      const words = toks.map((t, i) => (i % 2 === 0 && t.trim() !== '' ? i : -1)).filter((i) => i >= 0);
      const tok = BAD_TOKENS[rng.int(BAD_TOKENS.length)];
      if (words.length > 0) toks[words[rng.int(words.length)]] = tok;
      lines[li] = toks.join('');
      return { name: `token@${li + 1}:${JSON.stringify(tok)}`, text: lines.join('\n') };
    }
    case 2: {
      // Mixed line endings: some LF become CRLF, some CRLF lose their CR, a lone CR, a CR CR LF.
      const kind = rng.int(4);
      const out = lines.map((l, i) => {
        if (rng.next() > 0.3) return l;
        if (kind === 0) return l.endsWith('\r') ? l : `${l}\r`;
        if (kind === 1) return l.replace(/\r$/, '');
        if (kind === 2) return l.replace(' ', '\r');
        return `${l}\r\r`;
      });
      return { name: `eol-mix${kind}`, text: out.join('\n') };
    }
    case 3: {
      lines.splice(li, 1);
      return { name: `drop-line@${li + 1}`, text: lines.join('\n') };
    }
    case 4: {
      lines.splice(li, 0, ['', ' ', '\t', '\r', '#', '0'][rng.int(6)]);
      return { name: `insert-line@${li + 1}`, text: lines.join('\n') };
    }
    case 5: {
      lines[li] = rng.next() < 0.5 ? `${lines[li]} 7` : lines[li].replace(/[^ \t]+[ \t]*$/, '');
      return { name: `ragged@${li + 1}`, text: lines.join('\n') };
    }
    case 6: {
      const forms = ['\ufeff', '\u0000', '\t', '  '];
      const f = forms[rng.int(forms.length)];
      return { name: `prefix:${JSON.stringify(f)}`, text: f + text };
    }
    case 7:
      return { name: 'no-final-eol', text: text.replace(/\r?\n+$/, '') };
    default: {
      // A very long line (a hostile line length must not cost more than linear time).
      lines[li] = `${lines[li]} ${'1 '.repeat(2000 + rng.int(2000))}`;
      return { name: `long-line@${li + 1}`, text: lines.join('\n') };
    }
  }
}
