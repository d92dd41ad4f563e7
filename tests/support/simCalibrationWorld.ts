/** The simulated Gitea as a CalibrationWorld (tests/support/calibration.ts): the same probes the live suite runs. */
import { randomBytes } from 'node:crypto';
import { createGiteaClient } from '../../src/gitea/client.js';
import type { CalibrationWorld } from './calibration.js';
import type { GiteaSim } from './giteaSim/index.js';

export function simCalibrationWorld(sim: GiteaSim): CalibrationWorld {
  const org = `calorg-${randomBytes(3).toString('hex')}`;
  return {
    url: sim.url,
    bot: createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: 0 }),
    botLogin: sim.botLogin,
    botToken: sim.token,
    async repo(name, opts) {
      await sim.createRepo(org, name, { botPermission: opts.botPermission, files: opts.files, ownerIsOrg: true });
      return { owner: org, name };
    },
    async writer(repo) {
      const login = `writer-${randomBytes(3).toString('hex')}`;
      sim.addUser(login, { permissions: { [`${repo.owner}/${repo.name}`]: 'write' } });
      const token = sim.createToken(login, ['write:issue', 'write:repository', 'read:user']);
      return { login, token, client: createGiteaClient({ baseUrl: sim.url, token, retries: 0 }) };
    },
    async botTokenWith(scopes) {
      return sim.createToken(sim.botLogin, scopes);
    },
  };
}
