// Jest test sequencer: the long test files first, longest first, then jest's own order.
//
// Why: jest orders files by the durations in its cache, and without a cache (a fresh clone: CI) by file size. Some
// of the longest files are short texts (test/native.test.ts compiles and runs the C++ kernel tests: 2-3 minutes),
// so on a fresh clone they started last and ran alone while the other worker sat idle. Starting them first lets
// the two workers finish together. Durations: one full run on the 2-core development machine, 2026-12-07.
const path = require('path');
const Sequencer = require('@jest/test-sequencer').default;

const LONGEST_FIRST = [
  'native', // ~120-180 s
  'cdc', // ~120 s
  'caegcn', // ~100 s
  'agcn', // ~95 s
  'checkpoint', // ~75 s
  'reproduce', // ~65 s
  'cli', // ~45 s
  'dfcn', // ~40 s
  'trainer', // ~40 s
  'fuzz', 'kmeans', 'report', 'dccf', 'sdcn', // ~30 s each
];

class LongestFirstSequencer extends Sequencer {
  async sort(tests) {
    const rank = (t) => {
      const i = LONGEST_FIRST.indexOf(path.basename(t.path).replace(/\.test\.ts$/, ''));
      return i < 0 ? LONGEST_FIRST.length : i;
    };
    const known = tests.filter((t) => rank(t) < LONGEST_FIRST.length).sort((a, b) => rank(a) - rank(b));
    const rest = await super.sort(tests.filter((t) => rank(t) === LONGEST_FIRST.length));
    return [...known, ...rest];
  }
}

module.exports = LongestFirstSequencer;
