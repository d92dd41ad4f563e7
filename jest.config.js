/** Jest runs the TypeScript sources through SWC (type errors are caught by `tsc --noEmit`). */
export default {
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
