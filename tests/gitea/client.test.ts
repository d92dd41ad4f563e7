import { createGiteaClient, missingFeatures, nextLink } from '../../src/gitea/client.js';
import { GiteaError } from '../../src/gitea/errors.js';
import { startGiteaSim, type GiteaSim } from '../support/giteaSim/index.js';

let sim: GiteaSim;
const client = (o: { retries?: number; timeoutMs?: number } = {}) =>
  createGiteaClient({ baseUrl: sim.url, token: sim.token, retries: o.retries ?? 3, minBackoffMs: 1, timeoutMs: o.timeoutMs ?? 10_000 });
const since = (start: number) => sim.requests.slice(start).map((r) => `${r.method} ${r.path} ${r.status}`);

beforeAll(async () => {
  sim = await startGiteaSim();
  await sim.createRepo('acme', 'app');
});
afterAll(async () => {
  await sim.close();
});
afterEach(() => {
  sim.faults.clear();
  expect(sim.responseViolations).toEqual([]);
});

describe('retries', () => {
  it('retries 5xx with backoff and then succeeds', async () => {
    sim.faults.add({ method: 'GET', path: '/repos/acme/app', status: 502, times: 2 });
    const start = sim.requests.length;
    const repo = await client().getRepo('acme', 'app');
    expect(repo.full_name).toBe('acme/app');
    expect(since(start)).toEqual(['GET /repos/acme/app 502', 'GET /repos/acme/app 502', 'GET /repos/acme/app 200']);
  });

  it('retries a timed-out attempt', async () => {
    sim.faults.add({ path: '/user', timeoutMs: 3000, times: 1 });
    const start = sim.requests.length;
    expect((await client({ timeoutMs: 1000 }).getCurrentUser()).login).toBe('damascus-bot');
    expect(since(start)).toEqual(['GET /user null', 'GET /user 200']);
  });

  it('gives up with a GiteaError carrying status, method and path, and never the token', async () => {
    sim.faults.add({ path: '/repos/acme/app/labels', status: 500 });
    const start = sim.requests.length;
    const err = (await client({ retries: 2 })
      .listRepoLabels('acme', 'app')
      .catch((e: unknown) => e)) as GiteaError;
    expect(err).toBeInstanceOf(GiteaError);
    expect(err).toMatchObject({ status: 500, method: 'GET', path: '/repos/acme/app/labels', retryable: true });
    expect(err.message).toContain('Gitea GET /repos/acme/app/labels → 500');
    expect(err.message).not.toContain(sim.token);
    expect(JSON.stringify(err)).not.toContain(sim.token);
    expect(sim.requests.length - start).toBe(3);
  });

  it('never sends a POST twice on its own: a 5xx or a timeout may have come after Gitea did the work', async () => {
    const n = sim.createIssue('acme', 'app', { title: 'lost answers', user: 'alice' });
    // Gitea made the comment; the answer never came back.
    sim.faults.add({ method: 'POST', path: `/repos/acme/app/issues/${n}/comments`, status: 502, applied: true, times: 1 });
    const start = sim.requests.length;
    const err = (await client()
      .createIssueComment('acme', 'app', n, 'only once')
      .catch((e: unknown) => e)) as GiteaError;
    expect(err).toMatchObject({ status: 502, method: 'POST', retryable: true });
    expect(since(start)).toEqual([`POST /repos/acme/app/issues/${n}/comments 502`]);
    expect(sim.comments('acme', 'app', n).map((c) => c.body)).toEqual(['only once']);
    // A POST that does the same when repeated (adding a label) is retried like a GET.
    sim.createLabel('acme', 'app', { name: 'again' });
    const label = sim.labels('acme', 'app').find((l) => l.name === 'again')!;
    sim.faults.add({ method: 'POST', path: `/repos/acme/app/issues/${n}/labels`, status: 502, times: 1 });
    await client().addIssueLabels('acme', 'app', n, [label.id]);
    expect(sim.issueLabels('acme', 'app', n)).toEqual(['again']);
  });

  it('does not retry other 4xx, and exposes merge 405 for the caller to retry', async () => {
    let start = sim.requests.length;
    const missing = (await client()
      .getIssue('acme', 'app', 999)
      .catch((e: unknown) => e)) as GiteaError;
    expect(missing).toMatchObject({ status: 404, retryable: false });
    expect(sim.requests.length - start).toBe(1);

    sim.faults.add({ path: /\/pulls\/\d+\/merge$/, status: 405, times: 1 });
    start = sim.requests.length;
    const notYet = (await client()
      .mergePullRequest('acme', 'app', 1, { style: 'merge', headCommitId: 'abc' })
      .catch((e: unknown) => e)) as GiteaError;
    expect(notYet).toMatchObject({ status: 405, retryable: false });
    expect(notYet.message).toContain('Please try again later');
    expect(sim.requests.length - start).toBe(1);
  });
});

describe('pagination', () => {
  it('pages by X-Total-Count: labels come without a Link header (Gitea 1.26), issues with one', async () => {
    await sim.createRepo('acme', 'many');
    for (let i = 0; i < 120; i++) sim.createLabel('acme', 'many', { name: `label-${i}` });
    for (let i = 0; i < 55; i++) sim.createIssue('acme', 'many', { title: `issue ${i}`, user: 'alice', labels: i % 2 === 0 ? ['even'] : [] });
    const start = sim.requests.length;
    const labels = [...(await client().listRepoLabels('acme', 'many'))].sort((a, b) => a.id - b.id);
    expect(labels.map((l) => l.name).filter((n) => n.startsWith('label-'))).toEqual(Array.from({ length: 120 }, (_, i) => `label-${i}`));
    expect(new Set(labels.map((l) => l.id)).size).toBe(labels.length);
    expect(since(start).filter((r) => r.startsWith('GET /repos/acme/many/labels'))).toHaveLength(3);

    const issues = await client().listIssues('acme', 'many', { state: 'open', type: 'issues' });
    expect(issues).toHaveLength(55);
    expect(new Set(issues.map((i) => i.number)).size).toBe(55);
    const even = await client().listIssues('acme', 'many', { labels: ['even'] });
    expect(even).toHaveLength(28);
  });

  it('parses Gitea Link headers (comma, no space)', () => {
    expect(nextLink('<http://g/api/v1/x?page=3&limit=50>; rel="next",<http://g/api/v1/x?page=4&limit=50>; rel="last"')).toBe(
      'http://g/api/v1/x?page=3&limit=50',
    );
    expect(nextLink('<http://g/api/v1/x?page=1>; rel="first",<http://g/api/v1/x?page=1>; rel="prev"')).toBeNull();
    expect(nextLink(null)).toBeNull();
  });
});

describe('look before you create', () => {
  it('ensureRepoLabel creates a missing label once and reuses it afterwards', async () => {
    await sim.createRepo('acme', 'labels');
    const first = await client().ensureRepoLabel('acme', 'labels', { name: 'damascus/spec', color: '#00aabb', description: 'phase' });
    const start = sim.requests.length;
    const second = await client().ensureRepoLabel('acme', 'labels', { name: 'damascus/spec', color: '#00aabb', description: 'phase' });
    expect(second.id).toBe(first.id);
    expect(first.color).toBe('00aabb');
    expect(sim.labels('acme', 'labels').filter((l) => l.name === 'damascus/spec')).toHaveLength(1);
    expect(since(start).some((r) => r.startsWith('POST'))).toBe(false);
  });

  it('findOpenPullRequest is null before the PR exists and finds it afterwards', async () => {
    await sim.createRepo('acme', 'find');
    await sim.pushToBranch('acme', 'find', 'damascus/item-1', { files: { 'x.txt': 'x\n' } });
    const c = client();
    expect(await c.findOpenPullRequest('acme', 'find', { base: 'main', head: 'damascus/item-1' })).toBeNull();
    const created = await c.createPullRequest('acme', 'find', { head: 'damascus/item-1', base: 'main', title: 'Item 1', body: 'spec' });
    const found = await c.findOpenPullRequest('acme', 'find', { base: 'main', head: 'damascus/item-1' });
    expect(found?.number).toBe(created.number);
    const dup = (await c.createPullRequest('acme', 'find', { head: 'damascus/item-1', base: 'main', title: 'again' }).catch((e: unknown) => e)) as GiteaError;
    expect(dup.status).toBe(409);
  });

  it('findOpenPullRequest skips an old closed PR of the same branches, which GET …/pulls/{base}/{head} returns first', async () => {
    await sim.createRepo('acme', 'reuse');
    await sim.pushToBranch('acme', 'reuse', 'damascus/7-x', { files: { 'x.txt': 'one\n' } });
    const c = client();
    const old = await c.createPullRequest('acme', 'reuse', { head: 'damascus/7-x', base: 'main', title: 'first try' });
    sim.closeIssue('acme', 'reuse', old.number, { by: 'alice' });
    const current = await c.createPullRequest('acme', 'reuse', { head: 'damascus/7-x', base: 'main', title: 'second try' });
    // What Gitea's base/head lookup answers (the first row): the closed one.
    const res = await fetch(`${sim.apiUrl}/repos/acme/reuse/pulls/main/${encodeURIComponent('damascus/7-x')}`, {
      headers: { Authorization: `token ${sim.token}` },
    });
    expect(((await res.json()) as { number: number }).number).toBe(old.number);
    expect((await c.findOpenPullRequest('acme', 'reuse', { base: 'main', head: 'damascus/7-x' }))?.number).toBe(current.number);
  });
});

describe('server version', () => {
  it('reports what an old server lacks, and nothing for 1.26.3', async () => {
    expect(await client().checkServer()).toEqual({ version: '1.26.3', missing: [] });
    const old = await startGiteaSim({ version: '1.22.0' });
    try {
      await old.createRepo('acme', 'app', { files: { '.gitea/workflows/review.yml': 'on: workflow_dispatch\n' } });
      const c = createGiteaClient({ baseUrl: old.url, token: old.token, retries: 0 });
      const check = await c.checkServer();
      expect(check.version).toBe('1.22.0');
      expect(check.missing).toHaveLength(2);
      expect(check.missing.join('\n')).toMatch(/dispatches.*1\.24/);
      expect(check.missing.join('\n')).toMatch(/label names.*1\.23/);
      // And the old server really lacks the dispatch endpoint.
      const err = (await c.dispatchWorkflow('acme', 'app', 'review.yml', { ref: 'main' }).catch((e: unknown) => e)) as GiteaError;
      expect(err.status).toBe(404);
    } finally {
      await old.close();
    }
    expect(missingFeatures('7.0.0+gitea-1.21.11')).toHaveLength(2);
    expect(missingFeatures('development')).toEqual([]);
  });
});
