/** @type {import('jest').Config} */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // Native tensors are process-global state (live-memory counters); run test files one per worker, in band
  // by default on this 2-core machine.
  maxWorkers: 2,
  testTimeout: 120000,
  // The long files first (scripts/jest-sequencer.js): on a fresh clone jest would order them by size.
  testSequencer: '<rootDir>/scripts/jest-sequencer.js',
  reporters: ['default', '<rootDir>/scripts/jest-summary.js', '<rootDir>/scripts/jest-watchdog.js'],
  // ts-jest, with the JavaScript built-ins bound once per module (scripts/jest-transform.js): inside jest's vm context
  // each global lookup of Math, Float32Array, … is hundreds of times slower than in plain node, and the tests' reference
  // loops and the library's JS loops are full of them.
  transform: { '^.+\\.ts$': ['<rootDir>/scripts/jest-transform.js', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
};
