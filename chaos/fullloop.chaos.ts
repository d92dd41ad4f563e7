/**
 * Chaos over the BUILT-IN phases: the end-to-end world of tests/e2e/world.ts (real `damascus setup`, `serve`, a
 * scheduler and TWO `damascus worker` processes; the simulated Gitea with real bare repos and real merges; the
 * scripted LLM; the scripted coding agent; the real bundled review Action run on every workflow dispatch) takes
 * CHAOS_STORIES stories (default 50) through spec → build → review → merge while workers are killed with SIGKILL
 * and replaced at once. Kill points, in turn: inside a spec run, inside a build run (the agent is running), inside
 * a review run, while a merge is in progress (the simulator has just received `POST …/pulls/N/merge` from the
 * worker that holds that story's lease: the worker dies, the merge goes through, and the worker never hears of
 * it), and right after a verdict committed (before that worker's relay job could mirror it).
 *
 * Afterwards, per story: `done` (or parked with an open human issue that says why); exactly one PR; exactly one
 * merge (successful merge requests the simulator answered, per PR); its file on main; one status comment that shows
 * the final state; one comment per `work.verdict` event (by hidden marker); exactly one `damascus/*` label. Globally:
 * no verdict under a stale lease (a sampler records every claim's token and `leased_at`; a verdict's token must
 * not have been superseded by another claim of the item before the verdict was recorded, and no two verdicts
 * share a token); the outbox fully delivered, nothing parked; no simulator schema violation; no runner error.
 */
import { startLlmServer, type LlmRequest, type LlmScript } from '../tests/support/llmServer.js';
import { spawnDamascus, stopAll, waitFor, type DamascusProcess } from '../tests/support/processes.js';
import { findMarker } from '../src/gitea/render.js';
import { OWNER, REPO, specText, World } from '../tests/e2e/world.js';
import type { SimIssue } from '../tests/support/giteaSim/index.js';

const STORIES = Number(process.env.CHAOS_STORIES ?? 50);
const KILLS = Number(process.env.CHAOS_KILLS ?? 10);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const world = new World();
const procs: DamascusProcess[] = [];
afterAll(async () => {
  await stopAll(procs);
  await world.stop();
}, 120_000);

const key = (i: number) => `CHAOS-STORY-${i}-KEY`;
const fileOf = (i: number) => `story-${i}.txt`;

function llmAnswer(req: LlmRequest): LlmScript {
  const prompt = req.messages.map((m) => m.content).join('\n');
  const m = /CHAOS-STORY-(\d+)-KEY/.exec(prompt);
  if (!m) return { status: 400, message: 'the scripted LLM does not know this story' };
  const i = Number(m[1]);
  return {
    promptTokens: 1000,
    completionTokens: 200,
    text: specText({
      summary: `Add ${fileOf(i)}.`,
      criterion: `\`${fileOf(i)}\` says story ${i}.`,
      testCommand: `test "$(cat ${fileOf(i)})" = "story ${i}"`,
      scope: fileOf(i),
    }),
  };
}

const pidOf = (worker: string | null | undefined) =>
  Number(
    String(worker ?? '')
      .split(':')
      .at(-1),
  );

test(`kill -9 of workers (inside spec/build/review, during a merge, after a commit) over ${STORIES} stories through the built-in phases: every invariant holds`, async () => {
  const t0 = Date.now();
  await world.start();
  await world.llm.close();
  world.llm = await startLlmServer({ responses: (req) => llmAnswer(req) });
  await world.setup();
  const over = {
    DAMASCUS_CONCURRENCY: '4',
    DAMASCUS_LEASE_MS: '3000',
    DAMASCUS_LOG_LEVEL: 'warn',
    DAMASCUS_ERROR_BACKOFF_MS: '300',
    DAMASCUS_ERROR_BACKOFF_MAX_MS: '3000',
  };
  const spawn = (role: string, n = '') => {
    const p = spawnDamascus([role], { ...world.env(`${role}${n}`), ...over });
    procs.push(p);
    return p;
  };
  const alive = (p: DamascusProcess) => p.proc.exitCode === null && p.proc.signalCode === null;
  const serve = spawn('serve');
  await waitFor('damascus serve ready', async () => (await fetch(`${world.publicUrl}/readyz`).catch(() => null))?.ok ?? false, 60_000, 100);
  const scheduler = spawn('scheduler');
  const workers = [spawn('worker', '-a'), spawn('worker', '-b')];
  const killedAt = new Map<number, number>();

  // sampler: every claim (token, item, owner, leased_at) and, for the merge hook, who holds each PR's review lease
  const claims = new Map<string, { item: number; owner: string; leasedAt: number }>();
  const reviewHolder = new Map<number, number>(); // pr number → pid
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      try {
        const rows = await world.db.sql<{ id: number; state: string; prNumber: number | null; leaseOwner: string; leaseToken: string; leasedAt: Date }[]>`
          SELECT id::int, state::text, pr_number::int, lease_owner, lease_token::text, leased_at FROM work_items WHERE lease_token IS NOT NULL`;
        reviewHolder.clear();
        for (const r of rows) {
          if (!claims.has(r.leaseToken)) claims.set(r.leaseToken, { item: r.id, owner: r.leaseOwner, leasedAt: r.leasedAt.getTime() });
          if (r.state === 'review' && r.prNumber !== null) reviewHolder.set(r.prNumber, pidOf(r.leaseOwner));
        }
      } catch {
        /* keep sampling */
      }
      await sleep(40);
    }
  })();

  // the merge hook: the simulator just received a merge request; kill the worker holding that PR's review lease
  let mergeArmed = false;
  let mergeVictim: number | null = null;
  const take = world.sim.faults.take.bind(world.sim.faults);
  world.sim.faults.take = (method, path) => {
    const m = /\/pulls\/(\d+)\/merge$/.exec(path);
    if (mergeArmed && method === 'POST' && m) {
      const pid = reviewHolder.get(Number(m[1]));
      const w = workers.find((x) => x.proc.pid === pid && alive(x));
      if (w) {
        mergeArmed = false;
        mergeVictim = pid!;
        killedAt.set(pid!, Date.now());
        w.kill('SIGKILL'); // synchronous: the worker dies while its merge request is being handled
      }
    }
    return take(method, path);
  };

  // the stories: alice opens and labels each; the agent (the real Claude Code, about a second a build) writes the story's file
  const issues: number[] = [];
  for (let i = 0; i < STORIES; i++) {
    const n = world.openIssue(`Chaos story ${i}`, `Please add ${fileOf(i)} that says "story ${i}". ${key(i)}`);
    await world.scriptAgent(n, { writes: { [fileOf(i)]: `story ${i}\n` } });
    issues.push(n);
  }
  for (const n of issues) world.label(n);
  // No test_command in the repo: alice approves each spec's test command (`/damascus approve`) once it is asked for.
  const approved = new Set<number>();
  const approver = setInterval(() => {
    void world.db.sql`SELECT w.issue_number FROM coordination_gates g JOIN work_items w ON w.id = g.item_id WHERE g.is_open AND g.kind = 'spec_approval'`
      .then((rows) => {
        for (const r of rows)
          if (!approved.has(r.issueNumber as number)) {
            approved.add(r.issueNumber as number);
            world.approve(r.issueNumber as number);
          }
      })
      .catch(() => {});
  }, 200);
  approver.unref();

  const points = ['spec', 'build', 'merge', 'review', 'after-commit'] as const;
  const hits: string[] = [];
  let lastVerdict = 0;
  const replace = async (victim: DamascusProcess) => {
    await victim.exited;
    const i = workers.indexOf(victim);
    workers[i] = spawn('worker', `-${hits.length}`);
  };
  for (let k = 0; k < KILLS; k++) {
    const point = points[k % points.length]!;
    let victim: DamascusProcess | null = null;
    if (point === 'merge') {
      mergeVictim = null;
      mergeArmed = true;
      await waitFor('a merge to kill', () => mergeVictim !== null || null, 60_000, 20).catch(() => null);
      mergeArmed = false;
      victim = workers.find((w) => w.proc.pid === mergeVictim) ?? null;
      if (victim) {
        hits.push('merge');
        await replace(victim);
      }
    } else {
      for (let waited = 0; waited < 30_000 && !victim; waited += 30) {
        if (point === 'after-commit') {
          const [row] = await world.db.sql<{ id: number; worker: string }[]>`SELECT id::int, worker FROM verdicts ORDER BY id DESC LIMIT 1`;
          if (row && row.id > lastVerdict) {
            lastVerdict = row.id;
            victim = workers.find((w) => w.proc.pid === pidOf(row.worker) && alive(w)) ?? null;
          }
        } else {
          const rows = await world.db.sql<
            { leaseOwner: string }[]
          >`SELECT lease_owner FROM work_items WHERE state = ${point}::work_state AND lease_token IS NOT NULL`;
          victim = workers.find((w) => alive(w) && rows.some((r) => pidOf(r.leaseOwner) === w.proc.pid)) ?? null;
        }
        if (!victim) await sleep(30);
      }
      if (victim) {
        killedAt.set(victim.proc.pid!, Date.now());
        victim.kill('SIGKILL');
        hits.push(point);
        await replace(victim);
      }
    }
    await sleep(500 + Math.random() * 1000);
  }
  const killsDoneAt = Date.now();

  // every story settled (done, or parked with an open human issue) and the outbox delivered (a relay killed
  // part-way keeps its claimed events for claimMs = 120 s)
  await waitFor(
    `all ${STORIES} stories settled and the outbox delivered`,
    async () => {
      for (const p of [serve, scheduler])
        if (!alive(p)) throw new Error(`a ${p === serve ? 'serve' : 'scheduler'} process exited:\n${p.output().slice(-3000)}`);
      const [r] = await world.db.sql<{ settled: number; pending: number }[]>`
      SELECT (SELECT count(*)::int FROM work_items WHERE state = 'done' OR (state IN ('blocked', 'awaiting_human') AND EXISTS (SELECT 1 FROM human_issues h WHERE h.item_id = work_items.id AND h.status = 'open'))) AS settled,
             (SELECT count(*)::int FROM events_outbox WHERE delivered_at IS NULL) AS pending`;
      return r!.settled === STORIES && r!.pending === 0;
    },
    420_000,
    500,
  ).catch(async (err: Error) => {
    sampling = false;
    const states = await world.db
      .sql`SELECT state::text, count(*)::int AS n, count(*) FILTER (WHERE lease_token IS NOT NULL)::int AS leased FROM work_items GROUP BY 1`;
    const stuck = await world.db
      .sql`SELECT w.id, w.state::text, w.attempts, w.error_count, w.run_after, (SELECT string_agg(phase || ':' || verdict || ' ' || coalesce(reason, ''), ' | ' ORDER BY id) FROM verdicts v WHERE v.item_id = w.id) AS history FROM work_items w WHERE state <> 'done' LIMIT 5`;
    const [ob] = await world.db
      .sql`SELECT count(*) FILTER (WHERE delivered_at IS NULL)::int AS pending, count(*) FILTER (WHERE parked_at IS NOT NULL)::int AS parked FROM events_outbox`;
    throw new Error(
      `${err.message}: ${JSON.stringify({ hits, states, stuck, outbox: ob, actionRuns: world.actionRuns.length, actionErrors: world.actionErrors.slice(0, 3) })}\n${workers.map((w) => w.output().slice(-1500)).join('\n---\n')}`,
    );
  });
  clearInterval(approver);
  sampling = false;
  await sampler;
  world.sim.faults.take = take;

  // ---- the invariants ----
  const v: string[] = [];
  const sql = world.db.sql;
  const items = await sql<{ id: number; issueNumber: number; state: string; prNumber: number | null; leaseToken: string | null }[]>`
    SELECT id::int, issue_number::int, state::text, pr_number::int, lease_token::text FROM work_items ORDER BY issue_number`;
  if (JSON.stringify(items.map((i) => i.issueNumber)) !== JSON.stringify([...issues].sort((a, b) => a - b)))
    v.push(`items for issues ${items.map((i) => i.issueNumber)}, expected ${issues}`);
  const parked = items.filter((i) => i.state !== 'done');
  for (const it of items) if (it.leaseToken !== null) v.push(`item ${it.id} still holds a lease`);

  // no verdict under a stale lease
  const verdicts = await sql<
    {
      id: number;
      itemId: number;
      phase: string;
      verdict: string;
      fromState: string;
      toState: string;
      worker: string;
      leaseToken: string | null;
      createdAt: Date;
    }[]
  >`
    SELECT id::int, item_id::int, phase::text, verdict::text, from_state::text, to_state::text, worker, lease_token::text, created_at FROM verdicts ORDER BY id`;
  const byToken = new Map<string, number>();
  let observed = 0;
  for (const x of verdicts) {
    if (!x.leaseToken) {
      v.push(`verdict ${x.id} (item ${x.itemId} ${x.phase}) has no lease token`);
      continue;
    }
    if (byToken.has(x.leaseToken)) v.push(`verdicts ${byToken.get(x.leaseToken)} and ${x.id} share lease ${x.leaseToken}`);
    byToken.set(x.leaseToken, x.id);
    const c = claims.get(x.leaseToken);
    if (!c) continue; // a claim shorter than the sampling interval
    observed += 1;
    if (c.item !== x.itemId) v.push(`verdict ${x.id} for item ${x.itemId} under the lease of item ${c.item}`);
    if (c.owner !== x.worker) v.push(`verdict ${x.id} recorded by ${x.worker}, lease held by ${c.owner}`);
    const k = killedAt.get(pidOf(x.worker));
    if (k !== undefined && x.createdAt.getTime() > k + 1000) v.push(`verdict ${x.id} recorded by killed worker ${x.worker} after it died`);
    for (const [tok, o] of claims) {
      if (tok !== x.leaseToken && o.item === x.itemId && o.leasedAt > c.leasedAt && o.leasedAt < x.createdAt.getTime()) {
        v.push(`verdict ${x.id} (item ${x.itemId} ${x.phase}) under a stale lease: item re-claimed by ${o.owner} before it was recorded`);
      }
    }
  }
  // each item's verdicts form one chain of transitions ending in its state
  const chains = new Map<number, (typeof verdicts)[number][]>();
  for (const x of verdicts) chains.set(x.itemId, [...(chains.get(x.itemId) ?? []), x]);
  for (const it of items) {
    const chain = chains.get(it.id) ?? [];
    for (let i = 1; i < chain.length; i++)
      if (chain[i]!.fromState !== chain[i - 1]!.toState)
        v.push(`item ${it.id}: verdict ${chain[i]!.id} from ${chain[i]!.fromState} after a verdict to ${chain[i - 1]!.toState}`);
    // (an item can also become done without a verdict: the PR-merged webhook of a merge whose worker was killed)
  }

  // outbox
  const [ob] = await sql<{ pending: number; parked: number; total: number }[]>`
    SELECT count(*) FILTER (WHERE delivered_at IS NULL)::int AS pending, count(*) FILTER (WHERE parked_at IS NOT NULL)::int AS parked, count(*)::int AS total FROM events_outbox`;
  if (ob!.pending > 0) v.push(`${ob!.pending} outbox events not delivered`);
  if (ob!.parked > 0) v.push(`${ob!.parked} outbox events parked`);

  // Gitea, per story
  const pulls: { number: number; head: string; merged: boolean }[] = [];
  for (let n = 1; ; n++) {
    let iss: SimIssue;
    try {
      iss = world.sim.issue(OWNER, REPO, n);
    } catch {
      if (n > issues.length * 3 + 20) break;
      continue;
    }
    if (iss.pull) pulls.push({ number: n, head: iss.pull.headBranch, merged: iss.pull.merged });
  }
  const merges = new Map<number, number>();
  for (const r of world.sim.requests) {
    const m = /^\/repos\/[^/]+\/[^/]+\/pulls\/(\d+)\/merge$/.exec(r.path);
    if (m && r.method === 'POST' && r.status !== null && r.status >= 200 && r.status < 300) merges.set(Number(m[1]), (merges.get(Number(m[1])) ?? 0) + 1);
  }
  const verdictEvents = await sql<
    { itemId: number; id: number }[]
  >`SELECT item_id::int, id::int FROM events_outbox WHERE type = 'work.verdict' OR type LIKE 'reply.%'`; // each gets one comment
  for (const it of items) {
    const i = issues.indexOf(it.issueNumber);
    const mine = pulls.filter((p) => p.head.startsWith(`damascus/${it.issueNumber}-`));
    const done = it.state === 'done';
    if (done && mine.length !== 1) v.push(`issue ${it.issueNumber}: ${mine.length} PRs`);
    if (mine.length > 1) v.push(`issue ${it.issueNumber}: ${mine.length} PRs`);
    const mergeCount = mine.reduce((s, p) => s + (merges.get(p.number) ?? 0), 0);
    if (done && (mergeCount !== 1 || !mine[0]?.merged)) v.push(`issue ${it.issueNumber}: ${mergeCount} merges (PR merged: ${mine[0]?.merged})`);
    if (!done && mergeCount !== 0) v.push(`issue ${it.issueNumber} (${it.state}): ${mergeCount} merges`);
    if (done && world.fileOnMain(fileOf(i)) !== `story ${i}\n`) v.push(`issue ${it.issueNumber}: ${fileOf(i)} is not on main`);
    const bot = world.sim.comments(OWNER, REPO, it.issueNumber).filter((c) => c.user === world.sim.botLogin);
    const markers = bot.map((c) => findMarker(c.body));
    const status = bot.filter((_c, j) => markers[j]?.kind === 'status');
    if (status.length !== 1) v.push(`issue ${it.issueNumber}: ${status.length} status comments`);
    else if (!status[0]!.body.includes(`\`damascus/${it.state}\``)) v.push(`issue ${it.issueNumber}: the status comment does not show ${it.state}`);
    const got = markers
      .filter((m) => m?.kind === 'event')
      .map((m) => String(m!.id))
      .sort();
    const want = verdictEvents
      .filter((e) => e.itemId === it.id)
      .map((e) => String(e.id))
      .sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) v.push(`issue ${it.issueNumber}: verdict comments [${got}], expected [${want}]`);
    const labels = world.sim.issueLabels(OWNER, REPO, it.issueNumber).filter((l) => l.startsWith('damascus/'));
    if (labels.length !== 1 || labels[0] !== `damascus/${it.state}`)
      v.push(`issue ${it.issueNumber}: state labels ${JSON.stringify(labels)} (state ${it.state})`);
  }
  for (const x of world.sim.responseViolations) v.push(`simulator: ${x.slice(0, 200)}`);
  for (const x of world.actionErrors) v.push(`runner: ${x.slice(0, 200)}`);

  const why = parked.length ? await sql`SELECT item_id, question FROM human_issues WHERE status = 'open'` : [];
  console.log(
    JSON.stringify({
      scenario: 'kill -9 over the built-in phases',
      stories: STORIES,
      kills: hits.length,
      killPoints: hits,
      done: items.length - parked.length,
      parked: parked.map((p) => `${p.id}:${p.state}`),
      parkedWhy: why,
      verdicts: verdicts.length,
      verdictsObservedBySampler: observed,
      claimsSampled: claims.size,
      prs: pulls.length,
      merges: [...merges.values()].reduce((a, b) => a + b, 0),
      mergeRequests: world.sim.requests.filter((r) => r.method === 'POST' && /\/merge$/.test(r.path)).length,
      reviewRuns: world.actionRuns.length,
      events: ob!.total,
      secondsKills: Math.round((killsDoneAt - t0) / 1000),
      secondsTotal: Math.round((Date.now() - t0) / 1000),
      violations: v.length,
    }),
  );
  expect(v).toEqual([]);
  expect(hits).toContain('merge');
  expect(hits.length).toBeGreaterThanOrEqual(Math.min(KILLS, 6));
  expect(alive(serve) && alive(scheduler)).toBe(true);
}, 600_000);
