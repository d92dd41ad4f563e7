/**
 * The calibration probes (tests/support/calibration.ts) against the real Gitea and against the simulator, in one
 * run: the simulator must observe what Gitea observes. With DAMASCUS_LIVE_RECORD=1 the real observations are
 * written to tests/fixtures/gitea-1.26.3/behaviors.json, which npm test then holds the simulator to
 * (tests/gitea/captures.test.ts) without a Gitea.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { observe, type Observation } from '../support/calibration.js';
import { ROOT } from '../support/cli.js';
import { startGiteaSim, type GiteaSim } from '../support/giteaSim/index.js';
import { simCalibrationWorld } from '../support/simCalibrationWorld.js';
import { LiveGitea, liveCalibrationWorld, liveEnv } from './support/liveGitea.js';

const env = liveEnv();
const live = typeof env === 'string' ? describe.skip : describe;
if (typeof env === 'string') test.skip(env, () => {});

live('the simulator observes what the real Gitea observes', () => {
  let real: Record<string, Observation>;
  let simulated: Record<string, Observation>;
  let version = '';
  let sim: GiteaSim;

  beforeAll(async () => {
    const g = new LiveGitea(env as Exclude<typeof env, string>);
    await g.start();
    version = ((await (await fetch(`${g.url}/api/v1/version`)).json()) as { version: string }).version;
    real = await observe(await liveCalibrationWorld(g));
    sim = await startGiteaSim();
    simulated = await observe(simCalibrationWorld(sim));
    if (process.env.DAMASCUS_LIVE_RECORD) {
      const file = join(ROOT, 'tests', 'fixtures', `gitea-${version}`, 'behaviors.json');
      writeFileSync(file, `${JSON.stringify({ gitea: version, recorded: new Date().toISOString().slice(0, 10), behaviors: real }, null, 2)}\n`);
      process.stderr.write(`recorded ${Object.keys(real).length} behaviours of Gitea ${version} in ${file}\n`);
    }
  }, 300_000);
  afterAll(async () => {
    await sim?.close();
  });

  test('every probe observes the same in both', () => {
    process.stderr.write(`Gitea ${version}:\n${JSON.stringify(real, null, 2)}\n`);
    for (const name of Object.keys(real)) expect([name, simulated[name]]).toEqual([name, real[name]]);
  });
});
