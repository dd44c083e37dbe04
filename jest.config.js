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
  reporters: ['default', '<rootDir>/scripts/jest-summary.js', '<rootDir>/scripts/jest-watchdog.js'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
};
