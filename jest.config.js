/** @type {import('jest').Config} */
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } } }] };

module.exports = {
  // Two files at a time. An integration file mostly waits (for Temporal timers and tasks, HSM workers, PostgreSQL): a
  // profile of keymap.test.ts found its process idle 62 % of the time, so one worker left a core of the two unused.
  // Files never share state (each has its own database, token labels, node ids and control task queue on the shared
  // Temporal server and PostgreSQL), so they may run side by side; the slowest go first (test/support/sequencer.js).
  maxWorkers: 2,
  testSequencer: '<rootDir>/test/support/sequencer.js',
  // Only integration tests come near this: they start real services and HSM workers.
  testTimeout: 180000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform,
      testMatch: ['<rootDir>/test/integration/**/*.test.ts', '<rootDir>/test/e2e/**/*.test.ts'],
      setupFiles: ['<rootDir>/test/support/quiet-runtime.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
