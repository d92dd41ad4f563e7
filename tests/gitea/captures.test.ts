/**
 * The simulator against what the real Gitea 1.26.3 was seen to do: tests/fixtures/gitea-1.26.3/behaviors.json holds
 * the observations of the calibration probes (tests/support/calibration.ts) on a real Gitea, recorded by the live
 * suite (DAMASCUS_LIVE_RECORD=1 npm run test:live). The same probes run here against the simulator, and every
 * observation must be the same: where the two disagree, the capture wins and the simulator is fixed.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { observe, PROBES, type Observation } from '../support/calibration.js';
import { ROOT } from '../support/cli.js';
import { startGiteaSim, type GiteaSim } from '../support/giteaSim/index.js';
import { simCalibrationWorld } from '../support/simCalibrationWorld.js';

const recorded = JSON.parse(readFileSync(join(ROOT, 'tests', 'fixtures', 'gitea-1.26.3', 'behaviors.json'), 'utf8')) as {
  gitea: string;
  behaviors: Record<string, Observation>;
};

let sim: GiteaSim;
let simulated: Record<string, Observation>;

beforeAll(async () => {
  sim = await startGiteaSim({ version: recorded.gitea });
  simulated = await observe(simCalibrationWorld(sim), Object.keys(recorded.behaviors));
}, 120_000);
afterAll(async () => {
  await sim.close();
});

test('the captures are of Gitea 1.26.3 and cover every probe', () => {
  expect(recorded.gitea).toBe('1.26.3');
  expect(Object.keys(recorded.behaviors).sort()).toEqual(Object.keys(PROBES).sort());
});

test.each(Object.keys(recorded.behaviors))('%s: the simulator observes what Gitea did', (name) => {
  expect(simulated[name]).toEqual(recorded.behaviors[name]);
});
