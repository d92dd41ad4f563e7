/**
 * The simulator held to what the real Gitea 1.26.3 did, from our own captures in tests/fixtures/gitea-1.26.3/
 * (recorded by the live suite: DAMASCUS_LIVE_RECORD=1 npm run test:live):
 *   - behaviors.json: the calibration probes (tests/support/calibration.ts) as the real Gitea answered them; the same
 *     probes run here against the simulator and must observe the same;
 *   - api/: for each API route and status Damascus met in the live loop, Gitea's answer; the simulator, asked the same
 *     (same route, same query) in a world like the live one, must answer the same status, the same paging headers
 *     and a body of the same shape, field by field (support/captureShape.ts);
 *   - webhooks/: each kind of delivery Gitea sent serve; the simulator's delivery of the same event must carry the
 *     same headers and a payload of the same shape.
 * Where the two disagree, the capture wins and the simulator is fixed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAppManifest, WEBHOOK_TEST_BRANCH } from '../../src/setup/setupRepo.js';
import { observe, PROBES, type Observation } from '../support/calibration.js';
import { shapeDifferences } from '../support/captureShape.js';
import { ROOT } from '../support/cli.js';
import { startGiteaSim, startWebhookReceiver, type GiteaSim } from '../support/giteaSim/index.js';
import { simCalibrationWorld } from '../support/simCalibrationWorld.js';

const DIR = join(ROOT, 'tests', 'fixtures', 'gitea-1.26.3');
const readJson = <T>(...path: string[]) => JSON.parse(readFileSync(join(DIR, ...path), 'utf8')) as T;

interface ApiCapture {
  gitea: string;
  route: string;
  status: number;
  query: string;
  headers: { 'x-total-count': string | null; link: string | null };
  body: unknown;
}
interface DeliveryCapture {
  gitea: string;
  headers: Record<string, string>;
  payload: Record<string, unknown>;
}

const recorded = readJson<{ gitea: string; behaviors: Record<string, Observation> }>('behaviors.json');
const apiCaptures = readdirSync(join(DIR, 'api'))
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => readJson<ApiCapture>('api', f));
const deliveryCaptures = readdirSync(join(DIR, 'webhooks'))
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ file: f, ...readJson<DeliveryCapture>('webhooks', f) }));

describe('calibration probes', () => {
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
});

// ─────────────────────────── API answers ───────────────────────────

const O = 'acme';
const R = 'widgets';
const WORKFLOW = 'damascus-review.yml';
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** The simulated world the requests run in: like the live one (a story issue with comments, PRs, labels). */
interface World {
  sim: GiteaSim;
  story: number;
  botComment: number;
  pull: number;
  conflicting: number;
  labelId: number;
}

interface Request {
  method: string;
  path: string;
  body?: unknown /** Another token than the bot's full one. */;
  token?: string;
}

/**
 * For each captured `route status`, the same request in the simulated world (the capture's query is added). A
 * capture without an entry fails the test: a new route Damascus uses must be calibrated too.
 */
const REQUESTS: Record<string, (w: World) => Request | Promise<Request>> = {
  'GET /repos/{o}/{r} 200': () => ({ method: 'GET', path: `/repos/${O}/${R}` }),
  'GET /repos/{o}/{r} 404': () => ({ method: 'GET', path: `/repos/${O}/no-such-repo` }),
  // doctor's runner lookups: a token without read:organization is refused the org's runners
  'GET /orgs/{owner}/actions/runners 403': (w) => ({
    method: 'GET',
    path: `/orgs/${O}/actions/runners`,
    token: w.sim.createToken(w.sim.botLogin, ['write:issue', 'write:repository', 'write:user']),
  }),
  'GET /repos/{o}/{r}/actions/runners 200': () => ({ method: 'GET', path: `/repos/${O}/${R}/actions/runners` }),
  'GET /repos/{o}/{r}/actions/runs 200': () => ({ method: 'GET', path: `/repos/${O}/${R}/actions/runs` }),
  'GET /repos/{o}/{r}/actions/workflows 200': () => ({ method: 'GET', path: `/repos/${O}/${R}/actions/workflows` }),
  'GET /repos/{o}/{r}/collaborators/{user}/permission 200': (w) => ({ method: 'GET', path: `/repos/${O}/${R}/collaborators/${w.sim.botLogin}/permission` }),
  'GET /repos/{o}/{r}/compare/{basehead} 200': (w) => ({ method: 'GET', path: `/repos/${O}/${R}/compare/${w.sim.issue(O, R, w.pull).pull!.headSha}...main` }),
  'GET /repos/{o}/{r}/contents 200': () => ({ method: 'GET', path: `/repos/${O}/${R}/contents` }),
  'GET /repos/{o}/{r}/contents/{path} 200': () => ({ method: 'GET', path: `/repos/${O}/${R}/contents/.gitea/workflows/${WORKFLOW}` }),
  'GET /repos/{o}/{r}/contents/{path} 404': () => ({ method: 'GET', path: `/repos/${O}/${R}/contents/no/such/file.txt` }),
  'GET /repos/{o}/{r}/hooks 200': () => ({ method: 'GET', path: `/repos/${O}/${R}/hooks` }),
  'GET /repos/{o}/{r}/issues 200': () => ({ method: 'GET', path: `/repos/${O}/${R}/issues` }),
  'GET /repos/{o}/{r}/issues/{n} 200': (w) => ({ method: 'GET', path: `/repos/${O}/${R}/issues/${w.story}` }),
  'GET /repos/{o}/{r}/issues/{n}/comments 200': (w) => ({ method: 'GET', path: `/repos/${O}/${R}/issues/${w.story}/comments` }),
  'GET /repos/{o}/{r}/issues/{n}/labels 200': (w) => ({ method: 'GET', path: `/repos/${O}/${R}/issues/${w.story}/labels` }),
  'GET /repos/{o}/{r}/issues/{n}/timeline 200': (w) => ({ method: 'GET', path: `/repos/${O}/${R}/issues/${w.story}/timeline` }),
  'GET /repos/{o}/{r}/labels 200': () => ({ method: 'GET', path: `/repos/${O}/${R}/labels` }),
  'GET /repos/{o}/{r}/pulls 200': () => ({ method: 'GET', path: `/repos/${O}/${R}/pulls` }),
  'GET /repos/{o}/{r}/pulls/{n} 200': (w) => ({ method: 'GET', path: `/repos/${O}/${R}/pulls/${w.pull}` }),
  'GET /repos/{o}/{r}/raw/{path} 404': () => ({ method: 'GET', path: `/repos/${O}/${R}/raw/CONTRIBUTING.md` }),
  'GET /repos/{o}/{r}/wiki/pages 404': () => ({ method: 'GET', path: `/repos/${O}/${R}/wiki/pages` }),
  'GET /user 200': () => ({ method: 'GET', path: '/user' }),
  'GET /version 200': () => ({ method: 'GET', path: '/version' }),
  // setup's scope probes: an edit of hook 0 is refused for a missing scope (403) before it is not found (404)
  'PATCH /repos/{o}/{r}/hooks/{id} 404': () => ({ method: 'PATCH', path: `/repos/${O}/${R}/hooks/0`, body: {} }),
  'PATCH /repos/{o}/{r}/issues/comments/{id} 200': (w) => ({
    method: 'PATCH',
    path: `/repos/${O}/${R}/issues/comments/${w.botComment}`,
    body: { body: 'status: review' },
  }),
  'PATCH /repos/{o}/{r}/issues/{n} 201': (w) => ({
    method: 'PATCH',
    path: `/repos/${O}/${R}/issues/${w.sim.createIssue(O, R, { title: 'to close', user: 'alice' })}`,
    body: { state: 'closed' },
  }),
  'POST /repos/{o}/{r}/actions/workflows/{file}/dispatches 200': (w) => ({
    method: 'POST',
    path: `/repos/${O}/${R}/actions/workflows/${WORKFLOW}/dispatches`,
    body: { ref: 'main', inputs: { 'pull-request': String(w.pull), 'head-sha': w.sim.issue(O, R, w.pull).pull!.headSha } },
  }),
  'POST /repos/{o}/{r}/contents 201': () => ({
    method: 'POST',
    path: `/repos/${O}/${R}/contents`,
    body: {
      branch: 'main',
      message: 'Publish the Action',
      files: [
        { operation: 'create', path: 'action/action.yml', content: b64('name: x\n') },
        { operation: 'create', path: 'action/dist/index.js', content: b64('// bundle\n') },
      ],
    },
  }),
  'POST /repos/{o}/{r}/contents/{path} 201': () => ({
    method: 'POST',
    path: `/repos/${O}/${R}/contents/.gitea/workflows/other.yml`,
    body: { branch: 'main', message: 'Add a workflow', content: b64('on: push\n') },
  }),
  'POST /repos/{o}/{r}/hooks 201': () => ({
    method: 'POST',
    path: `/repos/${O}/${R}/hooks`,
    body: {
      type: 'gitea',
      active: true,
      events: loadAppManifest().defaultEvents,
      branch_filter: WEBHOOK_TEST_BRANCH,
      config: { url: 'http://127.0.0.1:9/api/gitea/webhooks', content_type: 'json', secret: 's' },
    },
  }),
  'POST /repos/{o}/{r}/issues/{n}/comments 201': (w) => ({ method: 'POST', path: `/repos/${O}/${R}/issues/${w.story}/comments`, body: { body: 'a verdict' } }),
  'POST /repos/{o}/{r}/issues/{n}/comments 422': (w) => ({ method: 'POST', path: `/repos/${O}/${R}/issues/${w.story}/comments`, body: {} }),
  'POST /repos/{o}/{r}/issues/{n}/labels 200': (w) => ({ method: 'POST', path: `/repos/${O}/${R}/issues/${w.story}/labels`, body: { labels: [w.labelId] } }),
  'POST /repos/{o}/{r}/labels 201': () => ({
    method: 'POST',
    path: `/repos/${O}/${R}/labels`,
    body: { name: 'damascus/blocked', color: '#b60205', description: 'Damascus: blocked' },
  }),
  'POST /repos/{o}/{r}/pulls 201': async (w) => {
    await w.sim.pushToBranch(O, R, 'damascus/9-another', { files: { 'other.txt': 'other\n' } });
    return { method: 'POST', path: `/repos/${O}/${R}/pulls`, body: { base: 'main', head: 'damascus/9-another', title: 'Another story', body: 'Closes #9' } };
  },
  'POST /repos/{o}/{r}/pulls/{n}/update 409': (w) => ({ method: 'POST', path: `/repos/${O}/${R}/pulls/${w.conflicting}/update` }),
  'POST /user/repos 201': () => ({
    method: 'POST',
    path: '/user/repos',
    body: { name: 'damascus-action', description: 'The Damascus review Action', private: false, auto_init: false },
  }),
  // setup's write:user probe: a repo without a name
  'POST /user/repos 422': () => ({ method: 'POST', path: '/user/repos', body: { name: '' } }),
};

describe('API answers: the simulator answers like the captured Gitea, field by field', () => {
  let w: World;
  beforeAll(async () => {
    const sim = await startGiteaSim({ version: '1.26.3' });
    await sim.createRepo(O, R, {
      files: {
        'README.md': '# widgets\n',
        'shared.txt': 'line0\n',
        [`.gitea/workflows/${WORKFLOW}`]:
          'name: Damascus review\non:\n  workflow_dispatch:\n    inputs:\n      head-sha:\n        required: true\njobs:\n  review:\n    runs-on: damascus\n    steps:\n      - run: "true"\n',
      },
    });
    sim.addUser('alice', { permissions: { [`${O}/${R}`]: 'write' } });
    const label = sim.createLabel(O, R, { name: 'damascus', color: '0e8a16', description: 'Damascus: carry this story' });
    sim.createLabel(O, R, { name: 'damascus/spec', color: '1d76db', description: 'Damascus: writing the spec' });
    const story = sim.createIssue(O, R, { title: 'Sign the guest book', body: 'Please add A to shared.txt.', user: 'alice', labels: ['damascus'] });
    sim.comment(O, R, story, 'A question, please?', { by: 'alice' });
    const posted = await fetch(`${sim.apiUrl}/repos/${O}/${R}/issues/${story}/comments`, {
      method: 'POST',
      headers: { authorization: `token ${sim.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ body: '<!-- damascus:status:1 -->\nstatus' }),
    });
    const botComment = ((await posted.json()) as { id: number }).id;
    sim.labelIssue(O, R, story, ['damascus/spec'], { by: sim.botLogin });
    const pull = async (branch: string, content: string) => {
      await sim.pushToBranch(O, R, branch, { files: { 'shared.txt': content } });
      const res = await fetch(`${sim.apiUrl}/repos/${O}/${R}/pulls`, {
        method: 'POST',
        headers: { authorization: `token ${sim.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ base: 'main', head: branch, title: branch, body: `Closes #${story}` }),
      });
      return ((await res.json()) as { number: number }).number;
    };
    const first = await pull(`damascus/${story}-guest-a`, 'line0\nA\n');
    const conflicting = await pull('damascus/8-guest-b', 'line0\nB\n');
    await sim.pushToBranch(O, R, 'main', { files: { 'shared.txt': 'line0\nC\n' }, from: 'refs/heads/main' });
    // a review run, as the live loop left several
    const run = await fetch(`${sim.apiUrl}/repos/${O}/${R}/actions/workflows/${WORKFLOW}/dispatches`, {
      method: 'POST',
      headers: { authorization: `token ${sim.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ref: 'main', inputs: { 'head-sha': 'a'.repeat(40) } }),
    });
    expect(run.status).toBe(204);
    w = { sim, story, botComment, pull: first, conflicting, labelId: label.id };
  }, 60_000);
  afterAll(async () => {
    await w?.sim.close();
  });

  test('every capture is of Gitea 1.26.3 and has its request here', () => {
    for (const c of apiCaptures) expect([c.route, c.gitea]).toEqual([c.route, '1.26.3']);
    expect(apiCaptures.map((c) => `${c.route} ${c.status}`).filter((k) => !REQUESTS[k])).toEqual([]);
    expect(apiCaptures.length).toBeGreaterThan(20);
  });

  test.each(apiCaptures.map((c) => [`${c.route} ${c.status}`, c] as const))('%s', async (key, capture) => {
    const make = REQUESTS[key];
    if (!make) return; // reported by the test above
    const req = await make(w);
    const url = `${w.sim.apiUrl}${req.path}${capture.query ? `?${capture.query}` : ''}`;
    const res = await fetch(url, {
      method: req.method,
      headers: { authorization: `token ${req.token ?? w.sim.token}`, ...(req.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
    });
    const text = await res.text();
    expect([key, res.status]).toEqual([key, capture.status]);
    expect({ 'x-total-count': res.headers.get('x-total-count') !== null, link: res.headers.get('link') !== null }).toEqual({
      'x-total-count': capture.headers['x-total-count'] !== null,
      link: capture.headers.link !== null,
    });
    expect(shapeDifferences(capture.body, JSON.parse(text))).toEqual([]);
    expect(w.sim.responseViolations).toEqual([]);
  });

  test("a hook subscribed to app.yml's events lists, created and listed, the events Gitea listed for it", async () => {
    const captured = (route: string) => apiCaptures.find((c) => c.route === route && c.status < 300)!.body;
    const gitea = [
      (captured('POST /repos/{o}/{r}/hooks') as { events: string[] }).events,
      ...(captured('GET /repos/{o}/{r}/hooks') as { events: string[] }[]).map((h) => h.events),
    ];
    const req = await REQUESTS['POST /repos/{o}/{r}/hooks 201']!(w);
    const res = await fetch(`${w.sim.apiUrl}${req.path}`, {
      method: 'POST',
      headers: { authorization: `token ${w.sim.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(req.body),
    });
    const hook = (await res.json()) as { id: number; events: string[] };
    const listed = (await (await fetch(`${w.sim.apiUrl}/repos/${O}/${R}/hooks`, { headers: { authorization: `token ${w.sim.token}` } })).json()) as {
      id: number;
      events: string[];
    }[];
    const sorted = (events: string[]) => [...events].sort();
    expect(gitea.map(sorted)).toEqual([sorted(gitea[0]!), sorted(gitea[0]!)]);
    expect(sorted(hook.events)).toEqual(sorted(gitea[0]!));
    expect(sorted(listed.find((h) => h.id === hook.id)!.events)).toEqual(sorted(gitea[0]!));
  });
});

// ─────────────────────────── webhook deliveries ───────────────────────────

describe('webhook deliveries: the simulator sends what the captured Gitea sent, headers and payload', () => {
  let sim: GiteaSim;
  let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
  beforeAll(async () => {
    sim = await startGiteaSim({ version: '1.26.3' });
    receiver = await startWebhookReceiver();
    await sim.createRepo(O, R, { files: { 'README.md': '# widgets\n' } });
    sim.addUser('alice', { permissions: { [`${O}/${R}`]: 'write' } });
    const hook = await fetch(`${sim.apiUrl}/repos/${O}/${R}/hooks`, {
      method: 'POST',
      headers: { authorization: `token ${sim.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        type: 'gitea',
        active: true,
        events: loadAppManifest().defaultEvents,
        branch_filter: WEBHOOK_TEST_BRANCH,
        config: { url: receiver.url, content_type: 'json', secret: 's' },
      }),
    });
    expect(hook.status).toBe(201);
    // doctor's test delivery: a push of the hook's test branch
    const tested = await fetch(`${sim.apiUrl}/repos/${O}/${R}/hooks/${((await hook.json()) as { id: number }).id}/tests?ref=${WEBHOOK_TEST_BRANCH}`, {
      method: 'POST',
      headers: { authorization: `token ${sim.token}` },
    });
    expect(tested.status).toBe(204);
    const api = (method: string, path: string, body: unknown) =>
      fetch(`${sim.apiUrl}/repos/${O}/${R}${path}`, {
        method,
        headers: { authorization: `token ${sim.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // What the live loop did: alice opens and labels a story, asks and answers; the bot comments and edits its
    // status comment, opens a PR, pushes to it, merges it and closes the issue.
    const story = sim.createIssue(O, R, { title: 'Say hello', body: 'Please add a greeting file.', user: 'alice' });
    sim.labelIssue(O, R, story, ['damascus'], { by: 'alice' });
    sim.comment(O, R, story, 'English, please.', { by: 'alice' });
    const status = (await (await api('POST', `/issues/${story}/comments`, { body: 'status' })).json()) as { id: number };
    await api('PATCH', `/issues/comments/${status.id}`, { body: 'status: build' });
    await sim.pushToBranch(O, R, `damascus/${story}-say-hello`, { files: { 'greeting.txt': 'hello\n' } });
    const pr = (await (
      await api('POST', '/pulls', { base: 'main', head: `damascus/${story}-say-hello`, title: 'Say hello', body: `Closes #${story}` })
    ).json()) as { number: number };
    await sim.pushToBranch(O, R, `damascus/${story}-say-hello`, { files: { 'greeting.txt': 'hello!\n' }, from: `refs/heads/damascus/${story}-say-hello` });
    const merged = await api('POST', `/pulls/${pr.number}/merge`, { do: 'merge' });
    expect([merged.status, await merged.text()]).toEqual([200, '']);
    await api('PATCH', `/issues/${story}`, { state: 'closed' });
    await sim.waitForDeliveries();
  }, 60_000);
  afterAll(async () => {
    await sim?.close();
    await receiver?.close();
  });

  const keyOf = (h: Record<string, unknown>, payload: Record<string, unknown>) =>
    `${String(h['x-gitea-event'])}.${String(h['x-gitea-event-type'])}.${String(payload.action)}`;

  test.each(deliveryCaptures.map((c) => [c.file, c] as const))('%s', (_file, capture) => {
    expect(capture.gitea).toBe('1.26.3');
    const key = keyOf(capture.headers, capture.payload);
    const got = receiver.received
      .map((r) => ({ headers: r.headers, payload: JSON.parse(r.body) as Record<string, unknown>, body: r.body }))
      .find((r) => keyOf(r.headers, r.payload) === key);
    expect([key, got !== undefined]).toEqual([key, true]);
    const names = (h: Record<string, unknown>) =>
      Object.keys(h)
        .filter((k) => k !== 'host' && k !== 'connection')
        .sort();
    expect(names(got!.headers)).toEqual(names(capture.headers));
    // the values that are the same in every delivery of this kind
    for (const h of [
      'user-agent',
      'content-type',
      'accept-encoding',
      'x-gitea-event',
      'x-gitea-event-type',
      'x-gogs-event',
      'x-github-event',
      'x-gitea-hook-installation-target-type',
    ]) {
      expect([h, got!.headers[h]]).toEqual([h, capture.headers[h]]);
    }
    expect(got!.headers['x-gitea-delivery']).toMatch(/^[0-9a-f-]{36}$/);
    expect(got!.headers['content-length']).toBe(String(Buffer.byteLength(got!.body)));
    expect(shapeDifferences(capture.payload, got!.payload)).toEqual([]);
  });
});
