// Writers of small binary test files: .npy (as numpy writes them) and .zip archives (as zipfile writes them, with
// CRC-32s), for the reader tests and the fuzzer's seeds.
import * as zlib from 'zlib';

/** A .npy as numpy writes it (version 1, 2 or 3): header padded to a multiple of 64 bytes, ending in '\n'. */
export function npyBytes(descr: string, shape: number[], body: Buffer, opts: { fortran?: boolean; version?: 1 | 2 | 3; header?: string } = {}): Buffer {
  const version = opts.version ?? 1;
  let header = opts.header ?? `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pre = version === 1 ? 10 : 12;
  header += ' '.repeat((64 - ((pre + header.length + 1) % 64)) % 64) + '\n';
  const h = Buffer.from(header, version === 3 ? 'utf8' : 'latin1');
  const p = Buffer.alloc(pre);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]).copy(p);
  if (version === 1) p.writeUInt16LE(h.length, 8);
  else p.writeUInt32LE(h.length, 8);
  return Buffer.concat([p, h, body]);
}

/** A zip archive (local headers with CRC-32, central directory, end record), members stored or deflated. */
export function zipBytes(members: [string, Buffer, boolean][]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data, deflate] of members) {
    const body = deflate ? zlib.deflateRawSync(data) : data;
    const crc = zlib.crc32(data);
    const nameB = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(deflate ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameB.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt16LE(deflate ? 8 : 0, 10);
    cd.writeUInt32LE(crc, 16);
    cd.writeUInt32LE(body.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(nameB.length, 28);
    cd.writeUInt32LE(offset, 42);
    parts.push(local, nameB, body);
    central.push(cd, nameB);
    offset += 30 + nameB.length + body.length;
  }
  const cdBuf = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cdBuf.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cdBuf, end]);
}

