/**
 * The simulated Gitea for tests. Usage:
 *
 *   const sim = await startGiteaSim();
 *   await sim.createRepo('acme', 'app', { files: { 'README.md': '# app\n' } });
 *   const client = createGiteaClient({ baseUrl: sim.url, token: sim.token });
 *   ...
 *   await sim.close();
 *
 * Every API request is checked against Gitea's swagger (404 unknown operation, 401 no token, 422 bad input);
 * every response is checked against the spec's response schema (`sim.responseViolations` must stay empty).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSimServer } from './server.js';
import { GiteaSim, type GiteaSimOptions } from './sim.js';
import { giteaValidator } from './validate.js';

export { GiteaSim, SimHttpError, type GiteaSimOptions, type RecordedRequest, type DispatchHandler } from './sim.js';
export type { FaultSpec } from './faults.js';
export type { WebhookDelivery } from './webhooks.js';
export { deliveryHeaders, groupedEvent } from './webhooks.js';
export { startWebhookReceiver, type ReceivedWebhook } from './receiver.js';
export type { SimComment, SimDispatch, SimIssue, SimLabel, SimPull, SimStatus } from './state.js';

/** Starts a simulated Gitea on 127.0.0.1 (random port). The swagger validator is built once per process. */
export async function startGiteaSim(opts: GiteaSimOptions = {}): Promise<GiteaSim> {
  await giteaValidator();
  const dataDir = await mkdtemp(join(tmpdir(), 'giteasim-'));
  const sim = new GiteaSim(dataDir, opts, randomBytes(20).toString('hex'));
  const server = createSimServer(sim);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('giteaSim: no TCP address');
  sim.server = server;
  sim.url = `http://127.0.0.1:${address.port}`;
  sim.apiUrl = `${sim.url}/api/v1`;
  return sim;
}
