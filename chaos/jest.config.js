/**
 * `npm run chaos`: bounded, loopback-only fault runs (not part of `npm test`). Jest, so that the runs can use the
 * simulated Gitea and the other helpers in tests/support (TypeScript through SWC, like the main suite) and end
 * in ordinary assertions (the invariant checks). `bench/all.ts` also runs chaos/relay.bench.ts through this
 * config (DAMASCUS_JEST_BENCH=1), because the relay benchmark needs the simulated Gitea, which is not compiled.
 */
import base from '../jest.config.js';

export default {
  ...base,
  rootDir: '..',
  testMatch: process.env.DAMASCUS_JEST_BENCH ? ['<rootDir>/chaos/**/*.bench.ts'] : ['<rootDir>/chaos/**/*.chaos.ts'],
  testTimeout: 600_000,
  // the runs share 2 cores and one PostgreSQL; one file at a time keeps their timings and faults apart
  maxWorkers: 1,
};
