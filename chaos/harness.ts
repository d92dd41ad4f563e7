/**
 * The chaos runs' shared parts: a story fleet (real `damascus worker`/`scheduler` processes, a private Redis, a
 * private database, the simulated Gitea, chaos/phases.mjs), and the invariant check over the database and the
 * simulated Gitea that every run ends with.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createWorkItem } from '../src/db/ops/createWorkItem.js';
import { upsertProject } from '../src/db/ops/upsertProject.js';
import { findMarker } from '../src/gitea/render.js';
import { ROOT } from '../tests/support/cli.js';
import { createTestDb, type TestDb } from '../tests/support/db.js';
import { startGiteaSim, type GiteaSim } from '../tests/support/giteaSim/index.js';
import { spawnDamascus, startPrivateRedis, stopAll, tempDir, waitFor, type DamascusProcess, type PrivateRedis } from '../tests/support/processes.js';

export const OWNER = 'acme';
export const REPO = 'app';
export const CHAOS_PHASES = join(ROOT, 'chaos', 'phases.mjs');

export interface Fleet {
  db: TestDb;
  sim: GiteaSim;
  redis: PrivateRedis;
  dir: { path: string; remove(): Promise<void> };
  trace: string;
  env: Record<string, string>;
  procs: DamascusProcess[];
  /** pid → ms at which it was killed with SIGKILL */
  killedAt: Map<number, number>;
  projectId: number;
  spawn(role: 'worker' | 'scheduler' | 'serve', over?: Record<string, string>): DamascusProcess;
  kill9(p: DamascusProcess): Promise<void>;
  close(): Promise<void>;
}

/** The environment of every process a chaos run spawns: the scripted phases writing their trace, short leases and sweeps. */
export function chaosProcessEnv(o: {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  dataDir: string;
  sim: { url: string; token: string };
  trace: string;
}): Record<string, string> {
  return {
    DATABASE_URL: o.databaseUrl,
    REDIS_URL: o.redisUrl,
    DAMASCUS_QUEUE_PREFIX: o.prefix,
    DAMASCUS_DATA_DIR: o.dataDir,
    GITEA_URL: o.sim.url,
    GITEA_TOKEN: o.sim.token,
    DAMASCUS_PHASES_MODULE: CHAOS_PHASES,
    CHAOS_TRACE: o.trace,
    DAMASCUS_CONCURRENCY: '4',
    DAMASCUS_HEARTBEAT_MS: '300',
    DAMASCUS_LEASE_MS: '1500',
    DAMASCUS_RELAY_SWEEP_MS: '500',
    DAMASCUS_RECONCILE_SWEEP_MS: '3600000',
    DAMASCUS_ERROR_BACKOFF_MS: '200',
    DAMASCUS_ERROR_BACKOFF_MAX_MS: '2000',
    DAMASCUS_LOG_LEVEL: 'warn',
  };
}

export async function startFleet(name: string, over: Record<string, string> = {}): Promise<Fleet> {
  const [db, sim, redis, dir] = await Promise.all([createTestDb('dmchaos'), startGiteaSim(), startPrivateRedis(), tempDir(`damascus-chaos-${name}-`)]);
  await sim.createRepo(OWNER, REPO, { files: { 'README.md': '# app\n' } });
  const trace = join(dir.path, 'trace.log');
  const env = { ...chaosProcessEnv({ databaseUrl: db.url, redisUrl: redis.url, prefix: `chaos-${name}`, dataDir: dir.path, sim, trace }), ...over };
  const projectId = (await upsertProject(db.sql, { owner: OWNER, name: REPO, htmlUrl: `${sim.url}/${OWNER}/${REPO}` })).id;
  const procs: DamascusProcess[] = [];
  const killedAt = new Map<number, number>();
  return {
    db,
    sim,
    redis,
    dir,
    trace,
    env,
    procs,
    killedAt,
    projectId,
    spawn(role, o = {}) {
      const p = spawnDamascus([role], { ...env, ...o });
      procs.push(p);
      return p;
    },
    async kill9(p) {
      if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
      killedAt.set(p.proc.pid!, Date.now());
      p.kill('SIGKILL');
      await p.exited;
    },
    async close() {
      await stopAll(procs);
      await Promise.all([db.drop(), sim.close(), redis.stop(), dir.remove()]);
    },
  };
}

/** n labelled issues on the simulated Gitea, each with its work item (what the webhook would have written). */
export async function seedStories(f: Fleet, n: number): Promise<{ itemId: number; issue: number }[]> {
  const out = [];
  for (let i = 0; i < n; i++) {
    const issue = f.sim.createIssue(OWNER, REPO, { title: `chaos story ${i}`, user: 'alice', labels: ['damascus'] });
    const { item } = await createWorkItem(f.db.sql, { projectId: f.projectId, issueNumber: issue, title: `chaos story ${i}` });
    out.push({ itemId: item.id, issue });
  }
  return out;
}

export interface Run {
  item: number;
  phase: string;
  pid: number;
  start: number;
  end: number | null;
  token: string;
}

export async function readRuns(trace: string): Promise<Run[]> {
  const text = await readFile(trace, 'utf8').catch(() => '');
  const runs: Run[] = [];
  const open = new Map<string, Run>();
  for (const line of text.split('\n')) {
    const [kind, item, phase, pid, at, token] = line.split(' ');
    if (!kind || !item || !phase || !pid || !at || !token) continue;
    const key = `${item}:${phase}:${pid}:${token}`;
    if (kind === 'start') {
      const r = { item: Number(item), phase, pid: Number(pid), start: Number(at), end: null, token };
      runs.push(r);
      open.set(key, r);
    } else {
      const r = open.get(key);
      if (r) r.end = Number(at);
    }
  }
  return runs;
}

/** A phase run in progress right now in a live process of the fleet (for "kill inside phase X"). */
export async function openRun(f: Fleet, phase: string): Promise<{ run: Run; proc: DamascusProcess } | null> {
  const runs = await readRuns(f.trace);
  for (const r of runs.reverse()) {
    if (r.phase !== phase || r.end !== null) continue;
    const proc = f.procs.find((p) => p.proc.pid === r.pid && p.proc.exitCode === null && p.proc.signalCode === null);
    if (proc) return { run: r, proc };
  }
  return null;
}

export async function waitForAllDone(f: Fleet, n: number, timeoutMs: number): Promise<void> {
  await waitFor(
    `all ${n} stories done and the outbox delivered`,
    async () => {
      const [r] = await f.db.sql<{ done: number; pending: number }[]>`
      SELECT (SELECT count(*)::int FROM work_items WHERE state = 'done') AS done,
             (SELECT count(*)::int FROM events_outbox WHERE delivered_at IS NULL) AS pending`;
      return r!.done === n && r!.pending === 0;
    },
    timeoutMs,
    500,
  );
}

export interface InvariantReport {
  stories: number;
  verdicts: number;
  runs: number;
  killedRuns: number;
  events: number;
  violations: string[];
}

/**
 * Every story ends `done` (these runs script only passes; nothing may be parked); exactly one verdict per
 * (story, phase), each recorded under the lease of a run that finished (no verdict under a stale lease: a killed
 * run's token has no verdict); no two runs of a story overlap (a killed run ends when its process died); the
 * outbox fully delivered, nothing parked; on the simulated Gitea exactly one status comment, one comment per
 * verdict event (one per marker), exactly one `damascus/<state>` label per story and it is `damascus/done`;
 * and the simulator saw no response that breaks Gitea's schema.
 */
export async function checkInvariants(f: Fleet, stories: { itemId: number; issue: number }[]): Promise<InvariantReport> {
  const v: string[] = [];
  const sql = f.db.sql;
  const items = await sql<{ id: number; state: string; leaseToken: string | null }[]>`SELECT id, state::text, lease_token FROM work_items ORDER BY id`;
  for (const it of items) {
    if (it.state !== 'done') v.push(`item ${it.id} ended in ${it.state}`);
    if (it.leaseToken !== null) v.push(`item ${it.id} still holds a lease`);
  }
  if (items.length !== stories.length) v.push(`${items.length} items for ${stories.length} stories`);
  const verdicts = await sql<{ itemId: number; phase: string; verdict: string; leaseToken: string | null }[]>`
    SELECT item_id, phase::text, verdict::text, lease_token::text FROM verdicts ORDER BY id`;
  const runs = await readRuns(f.trace);
  const finished = new Map(runs.filter((r) => r.end !== null).map((r) => [r.token, r]));
  const seen = new Set<string>();
  for (const x of verdicts) {
    const key = `${x.itemId}:${x.phase}`;
    if (seen.has(key)) v.push(`two verdicts for item ${x.itemId} phase ${x.phase}`);
    seen.add(key);
    if (x.verdict !== 'pass') v.push(`item ${x.itemId} ${x.phase}: verdict ${x.verdict}`);
    const run = x.leaseToken ? finished.get(x.leaseToken) : undefined;
    if (!run) v.push(`verdict for item ${x.itemId} ${x.phase} under lease ${x.leaseToken} that no finished run held (stale lease)`);
    else if (run.item !== x.itemId || run.phase !== x.phase) v.push(`verdict for item ${x.itemId} ${x.phase} under the lease of item ${run.item} ${run.phase}`);
  }
  for (const s of stories) for (const p of ['spec', 'build', 'review']) if (!seen.has(`${s.itemId}:${p}`)) v.push(`item ${s.itemId} has no ${p} verdict`);
  // overlap: a run that never ended lasted until its process was killed
  const byItem = new Map<number, { start: number; end: number; pid: number }[]>();
  let killedRuns = 0;
  for (const r of runs) {
    let end = r.end;
    if (end === null) {
      killedRuns += 1;
      end = f.killedAt.get(r.pid) ?? Number.POSITIVE_INFINITY; // unfinished, not killed: still running (a violation below)
      if (!f.killedAt.has(r.pid)) v.push(`run of item ${r.item} ${r.phase} in pid ${r.pid} never ended and was not killed`);
    }
    byItem.set(r.item, [...(byItem.get(r.item) ?? []), { start: r.start, end, pid: r.pid }]);
  }
  for (const [item, list] of byItem) {
    list.sort((a, b) => a.start - b.start);
    for (let i = 1; i < list.length; i++)
      if (list[i]!.start < list[i - 1]!.end) v.push(`item ${item}: two runs overlap (pids ${list[i - 1]!.pid}, ${list[i]!.pid})`);
  }
  const [ob] = await sql<{ pending: number; parked: number; total: number }[]>`
    SELECT count(*) FILTER (WHERE delivered_at IS NULL)::int AS pending, count(*) FILTER (WHERE parked_at IS NOT NULL)::int AS parked, count(*)::int AS total FROM events_outbox`;
  if (ob!.pending > 0) v.push(`${ob!.pending} outbox events not delivered`);
  if (ob!.parked > 0) v.push(`${ob!.parked} outbox events parked`);
  const verdictEvents = await sql<
    { itemId: number; id: number }[]
  >`SELECT item_id, id::int FROM events_outbox WHERE type = 'work.verdict' OR type LIKE 'reply.%'`; // each gets one comment
  for (const s of stories) {
    const mine = f.sim.comments(OWNER, REPO, s.issue).filter((c) => c.user === f.sim.botLogin);
    const markers = mine.map((c) => findMarker(c.body));
    const status = markers.filter((m) => m?.kind === 'status');
    const events = markers.filter((m) => m?.kind === 'event').map((m) => String(m!.id));
    if (status.length !== 1) v.push(`issue ${s.issue}: ${status.length} status comments`);
    const want = verdictEvents
      .filter((e) => e.itemId === s.itemId)
      .map((e) => String(e.id))
      .sort();
    if (JSON.stringify([...events].sort()) !== JSON.stringify(want))
      v.push(`issue ${s.issue}: verdict comments for events [${events.join(',')}], expected [${want.join(',')}]`);
    const stateLabels = f.sim.issueLabels(OWNER, REPO, s.issue).filter((l) => l.startsWith('damascus/'));
    if (stateLabels.length !== 1 || stateLabels[0] !== 'damascus/done') v.push(`issue ${s.issue}: state labels ${JSON.stringify(stateLabels)}`);
    const status0 = mine[markers.findIndex((m) => m?.kind === 'status')];
    if (status0 && !status0.body.includes('`damascus/done`')) v.push(`issue ${s.issue}: the status comment does not show done`);
  }
  for (const x of f.sim.responseViolations) v.push(`simulator: ${x.slice(0, 200)}`);
  return { stories: stories.length, verdicts: verdicts.length, runs: runs.length, killedRuns, events: ob!.total, violations: v };
}
