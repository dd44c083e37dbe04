// Deliberately broken readers, one per fault the fuzzer must catch (DGCLUST_FUZZ_SELFTEST=1 runs these instead of
// the real table): test/fuzz.test.ts checks that each one is reported, so a fuzzer that stopped looking would fail.
import * as fs from 'fs';
import * as path from 'path';
import * as dg from '../../lib';
import type { FuzzReader, ReadContext } from './readers';

const seeds = (): Record<string, Buffer>[] => [{ 'x.bin': Buffer.from('0123456789') }];
const file = (ctx: ReadContext): string => path.join(ctx.dir, 'x.bin');
const content = (ctx: ReadContext): Buffer => fs.readFileSync(file(ctx));
/** Fails on some inputs only (as a real bug would): those that no longer start with '0'. */
const hostile = (ctx: ReadContext): boolean => content(ctx)[0] !== 0x30;

function dataError(message: string): Error {
  return Object.assign(new Error(message), { code: 'DGC_DATA' });
}

const base = { seeds, randomPerFile: 5 };

export const brokenReaders: FuzzReader[] = [
  {
    ...base,
    name: 'broken: throws a TypeError',
    read: (ctx) => {
      if (hostile(ctx)) (null as unknown as { x: number }).x;
      return 1;
    },
  },
  {
    ...base,
    name: 'broken: error without the file name',
    read: (ctx) => {
      if (hostile(ctx)) throw dataError('bad header');
      return 1;
    },
  },
  {
    ...base,
    name: 'broken: error with another code',
    read: (ctx) => {
      if (hostile(ctx)) throw Object.assign(new Error(`${file(ctx)}: bad`), { code: 'DGC_SHAPE' });
      return 1;
    },
  },
  {
    ...base,
    name: 'broken: throws a string',
    read: (ctx) => {
      if (hostile(ctx)) throw `${file(ctx)}: a string`;
      return 1;
    },
  },
  {
    ...base,
    name: 'broken: believes a declared size',
    read: (ctx) => (hostile(ctx) ? new Float32Array(64 << 20).length : 1),
  },
  {
    ...base,
    name: 'broken: believes a declared size, natively',
    read: (ctx) => {
      if (hostile(ctx)) dg.zeros([32, 1 << 20]).dispose(); // 128 MiB of native memory, freed again
      return 1;
    },
  },
  {
    ...base,
    name: 'broken: reads NaN',
    read: (ctx) => Float32Array.of(hostile(ctx) ? NaN : 1),
    check: (v) => ((v as Float32Array)[0] === (v as Float32Array)[0] ? null : 'element 0 is NaN'),
  },
  {
    ...base,
    name: 'broken: leaks a tensor on error',
    read: (ctx) => {
      if (hostile(ctx)) {
        dg.keep(dg.zeros([2]));
        throw dataError(`${file(ctx)}: bad`);
      }
      return 1;
    },
  },
  {
    ...base,
    name: 'broken: a promise that never settles',
    read: (ctx) => (hostile(ctx) ? new Promise(() => {}) : Promise.resolve(1)),
  },
  {
    ...base,
    name: 'broken: slow',
    read: (ctx) => {
      if (hostile(ctx)) {
        const until = Date.now() + Number(process.env.DGCLUST_FUZZ_CASE_MS ?? 2000) + 100;
        while (Date.now() < until);
      }
      return 1;
    },
  },
];

/** Readers that take the process down: run one per campaign (the parent must name the case). */
export const fatalReaders: FuzzReader[] = [
  {
    ...base,
    name: 'fatal: hangs',
    read: (ctx) => {
      if (hostile(ctx)) for (;;);
      return 1;
    },
  },
  {
    ...base,
    name: 'fatal: crashes',
    read: (ctx) => {
      if (hostile(ctx)) process.kill(process.pid, 'SIGSEGV');
      return 1;
    },
  },
];
