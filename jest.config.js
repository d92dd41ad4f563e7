import { availableParallelism } from 'node:os';

/** Jest runs the TypeScript sources through SWC (type errors are caught by `tsc --noEmit`). */
export default {
  // At least two workers, even on two cores (jest's default there is one, in band): the suite spends much of its
  // time waiting on the CLIs it spawns, PostgreSQL and git, so a second worker keeps both cores busy
  // (measured on 2 cores: 577 s in band, 337 s with two workers; docs/PERFORMANCE.md).
  maxWorkers: Math.max(2, availableParallelism() - 1),
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }],
  },
  // Sources import './x.js' (NodeNext style); map them back to the .ts files.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: ['<rootDir>/tests/**/*.test.ts'],
  // tests/live need a real Gitea and run only through `npm run test:live`, which lifts this.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/tests/live/'],
  testTimeout: 60000,
};
