// ESM through ts-jest: run with NODE_OPTIONS=--experimental-vm-modules (see package.json).
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // @actions/workflow-parser's schema import lacks `with { type: 'json' }`: see the target.
    '^\\.\\./workflow-v1\\.0\\.min\\.json$': '<rootDir>/test-support/workflow-schema.mjs'
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }]
  },
  testMatch: ['**/__tests__/**/*.test.ts'],
  // No workflow command and no key block in the test run's own output: see test-support/output-guard.mjs.
  setupFiles: ['<rootDir>/test-support/jest-setup.mjs'],
  // One temporary folder for the whole run, removed at its end (test-support/jest-temp-folder.mjs).
  globalSetup: '<rootDir>/test-support/jest-global-setup.mjs',
  globalTeardown: '<rootDir>/test-support/jest-global-teardown.mjs',
  reporters: ['<rootDir>/test-support/jest-output-reporter.mjs', 'default'],
  testTimeout: 60000,
  maxWorkers: 2,
  verbose: false
}
