/**
 * npm run bench — every benchmark, one table, one JSON file (issue 8).
 *
 * Figures: claim + verdict throughput vs single-row UPDATE (bench/claim.ts), claim latency at 1k vs 1M items
 * (bench/claim.ts), webhook intake vs a bare HMAC server (bench/webhooks.ts), enqueue → first phase started
 * (bench/latency.ts, several runs), relay throughput against the simulated Gitea (chaos/relay.bench.ts, run
 * through jest because the simulator is not compiled), peak RSS of a `damascus worker` idle and under load
 * (VmHWM from /proc), and `damascus init` on an empty database. Each is the median of BENCH_ROUNDS rounds
 * (default 3). Prints the table and writes bench/results/<date>.json. Asserts nothing.
 *
 * BENCH_ONLY=claim,latency,webhooks,e2s,relay,rss,init runs a subset.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { cpus, tmpdir, totalmem, hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { hrtime } from 'node:process';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { openDb, withDatabase } from '../src/db/connection.js';
import { openQueues } from '../src/queue/queues.js';
import { latency as claimLatency, throughput as claimThroughput } from './claim.js';
import { enqueueToStart } from './latency.js';
import { benchDb, fmt, median, printTable, SERVER_URL } from './util.js';
import { webhookIntake } from './webhooks.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ONLY = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'index.js');
const phasesModule = join(root, 'tests', 'fixtures', 'phases', 'scripted.mjs');
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const nowMs = () => Number(hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** The same-run baseline (null when the figure has none; `baselineName` says what it is). */
  baseline: number | null;
  baselineName: string | null;
  /** value / baseline. */
  ratio: number | null;
  target: string | null;
}

const figures: Figure[] = [];
function add(f: Omit<Figure, 'ratio'> & { ratio?: number | null }): void {
  const ratio = f.ratio !== undefined ? f.ratio : f.baseline ? f.value / f.baseline : null;
  figures.push({ ...f, ratio });
  console.error(`[bench] ${f.name}: ${fmt(f.value)} ${f.unit}${f.baseline !== null ? ` (baseline ${fmt(f.baseline)}, ratio ${fmt(ratio ?? NaN)})` : ''}`);
}
const want = (k: string) => !ONLY || ONLY.has(k);

// ───────────────────────── helpers for the process benchmarks ─────────────────────────

/** VmHWM (peak resident set) and VmRSS of a process, in MiB. */
function memOf(pid: number): { hwm: number; rss: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { hwm: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024 };
}

async function waitUntil(what: string, fn: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

function spawnCli(args: string[], env: Record<string, string>) {
  const proc = spawn(process.execPath, [cli, ...args], { env: { ...process.env, DAMASCUS_LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  return {
    proc,
    output: () => out,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

async function clearQueues(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const q = openQueues(redis, prefix);
  for (const queue of [q.ticks, q.relay, q.reconcile]) await queue.obliterate({ force: true }).catch(() => {});
  await q.close();
  redis.disconnect();
}

/** Peak RSS of a bare Node process that only waits (the floor any Node worker starts from). */
async function bareNodeHwm(): Promise<number> {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await sleep(1500);
  const m = memOf(p.pid!);
  p.kill('SIGKILL');
  return m.hwm;
}

/** One round: a worker idle for a few seconds (its VmHWM), then 150 stories through spec → build → review (its VmHWM). */
async function workerRssRound(round: number): Promise<{ idle: number; load: number; phases: number }> {
  const STORIES = Number(process.env.BENCH_RSS_STORIES ?? 150);
  const db = await benchDb(`damascus_bench_rss_${round}`);
  const dir = mkdtempSync(join(tmpdir(), 'damascus-bench-rss-'));
  const prefix = `bench-rss-${process.pid}-${round}`;
  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl,
    DAMASCUS_QUEUE_PREFIX: prefix,
    DAMASCUS_CONCURRENCY: '8',
    DAMASCUS_HEARTBEAT_MS: '500',
    DAMASCUS_PHASES_MODULE: phasesModule,
    SCRIPTED_DELAY_MS: '5',
    DAMASCUS_DATA_DIR: dir,
  };
  const worker = spawnCli(['worker'], env);
  const scheduler = spawnCli(['scheduler'], env);
  try {
    await waitUntil('the worker to start', () => /worker started/.test(worker.output()), 30_000);
    await sleep(3000);
    const idle = memOf(worker.proc.pid!).hwm;
    await db.sql`INSERT INTO projects (owner, name) VALUES ('bench', 'rss')`;
    await db.sql`INSERT INTO work_items (project_id, issue_number, title)
                 SELECT (SELECT id FROM projects WHERE name = 'rss'), g, 'story ' || g FROM generate_series(1, ${STORIES}) g`;
    await waitUntil(
      'every story done',
      async () => {
        const [r] = await db.sql`SELECT count(*)::int AS n FROM work_items WHERE state = 'done'`;
        return r!.n === STORIES;
      },
      300_000,
      250,
    );
    const [v] = await db.sql`SELECT count(*)::int AS n FROM verdicts`;
    return { idle, load: memOf(worker.proc.pid!).hwm, phases: v!.n as number };
  } finally {
    await worker.stop();
    await scheduler.stop();
    await clearQueues(prefix);
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Wall time of a process run to completion, in ms. */
function timeProcess(args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = nowMs();
    const p = spawn(process.execPath, args, { env: { ...process.env, DAMASCUS_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'pipe'], cwd: root });
    let err = '';
    p.stderr!.on('data', (d) => (err += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(nowMs() - t0);
      else reject(new Error(`${args.join(' ')} exited ${code}: ${err.slice(0, 500)}`));
    });
  });
}

async function dropDatabase(name: string): Promise<void> {
  const admin = openDb(SERVER_URL, { max: 1 });
  await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
}

// ───────────────────────── the benchmarks ─────────────────────────

if (want('claim')) {
  for (const r of await claimThroughput([1, 8, 32], false)) {
    add({
      name: `claim+verdict throughput, ${r.workers} worker${r.workers > 1 ? 's' : ''}`,
      value: r.perSec,
      unit: 'phases/s',
      baseline: r.baselinePerSec,
      baselineName: 'single-row UPDATE … RETURNING/s',
      target: r.workers === 8 ? 'ratio >= 0.4' : null,
    });
    add({
      name: `claim+verdict p99, ${r.workers} worker${r.workers > 1 ? 's' : ''}`,
      value: r.p99,
      unit: 'ms',
      baseline: null,
      baselineName: null,
      target: null,
    });
  }
}

if (want('latency')) {
  const rows = await claimLatency(false);
  const base = rows[0]!;
  for (const [i, r] of rows.entries()) {
    add({
      name: `claim latency p50, ${r.name}`,
      value: r.p50,
      unit: 'ms',
      baseline: i === 0 ? null : base.p50,
      baselineName: i === 0 ? null : 'claim p50 on 1,000 items',
      target: i === 0 ? null : 'ratio <= 1.5',
    });
  }
}

if (want('webhooks')) {
  const w = await webhookIntake(false);
  add({
    name: 'webhook intake (durable before 2xx), 50 connections',
    value: w.intake.perSec,
    unit: 'deliveries/s',
    baseline: w.bare.perSec,
    baselineName: 'bare node:http HMAC check/s',
    target: 'ratio >= 0.5',
  });
  add({ name: 'webhook intake p99', value: w.intake.p99, unit: 'ms', baseline: w.bare.p99, baselineName: 'bare server p99', target: '< 50 ms' });
  add({
    name: 'webhook intake, issues that already have a story (general path)',
    value: w.known.perSec,
    unit: 'deliveries/s',
    baseline: w.bare.perSec,
    baselineName: 'bare node:http HMAC check/s',
    target: null,
  });
  add({ name: 'webhook intake p99, general path', value: w.known.p99, unit: 'ms', baseline: w.bare.p99, baselineName: 'bare server p99', target: null });
}

if (want('e2s')) {
  const runs = [];
  for (let r = 0; r < ROUNDS; r++) runs.push(await enqueueToStart(false));
  // a heartbeat-only design waits up to one interval (30 s here): the configured figure, not a measurement
  add({
    name: 'enqueue → first phase started p50',
    value: median(runs.map((x) => x.p50)),
    unit: 'ms',
    baseline: 30_000,
    baselineName: 'heartbeat interval (worst wait of a heartbeat-only design)',
    target: '< 100 ms',
  });
  add({
    name: 'enqueue → first phase started p99',
    value: median(runs.map((x) => x.p99)),
    unit: 'ms',
    baseline: 30_000,
    baselineName: 'heartbeat interval (worst wait of a heartbeat-only design)',
    target: '< 500 ms',
  });
}

if (want('relay')) {
  const out = join(mkdtempSync(join(tmpdir(), 'damascus-bench-relay-')), 'relay.json');
  execFileSync(
    process.execPath,
    ['--experimental-vm-modules', join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '-c', join(root, 'chaos', 'jest.config.js'), '--silent'],
    {
      cwd: root,
      env: { ...process.env, DAMASCUS_JEST_BENCH: '1', DAMASCUS_BENCH_OUT: out, BENCH_ROUNDS: String(ROUNDS) },
      stdio: ['ignore', 'ignore', 'inherit'],
      timeout: 600_000,
    },
  );
  const r = JSON.parse(readFileSync(out, 'utf8')) as { events: number; relayPerSec: number; barePerSec: number };
  rmSync(dirname(out), { recursive: true, force: true });
  add({
    name: `relay outbox → simulated Gitea (${r.events} events per round)`,
    value: r.relayPerSec,
    unit: 'events/s',
    baseline: r.barePerSec,
    baselineName: 'bare POST …/comments per event/s',
    target: null,
  });
}

if (want('rss')) {
  const bare = [];
  const idle = [];
  const load = [];
  for (let r = 0; r < ROUNDS; r++) {
    bare.push(await bareNodeHwm());
    const x = await workerRssRound(r);
    idle.push(x.idle);
    load.push(x.load);
  }
  const bareMed = median(bare);
  add({ name: 'worker peak RSS, idle', value: median(idle), unit: 'MiB', baseline: bareMed, baselineName: 'bare idle node process', target: null });
  add({
    name: 'worker peak RSS, 150 stories at concurrency 8',
    value: median(load),
    unit: 'MiB',
    baseline: bareMed,
    baselineName: 'bare idle node process',
    target: null,
  });
}

if (want('init')) {
  const init = [];
  const base = [];
  const bareScript = `import postgres from 'postgres'; const s = postgres(process.env.BARE_SERVER, { max: 1, onnotice: () => {} });
    await s.unsafe('CREATE DATABASE "' + process.env.BARE_DB + '"'); await s.end();`;
  for (let r = 0; r < ROUNDS; r++) {
    const name = `damascus_bench_init_${process.pid}_${r}`;
    await dropDatabase(name);
    init.push(await timeProcess([cli, 'init'], { DATABASE_URL: withDatabase(SERVER_URL, name) }));
    await dropDatabase(name);
    base.push(await timeProcess(['--input-type=module', '-e', bareScript], { BARE_SERVER: SERVER_URL, BARE_DB: name }));
    await dropDatabase(name);
  }
  add({
    name: 'damascus init on an empty database (process wall time)',
    value: median(init),
    unit: 'ms',
    baseline: median(base),
    baselineName: 'node process that only runs CREATE DATABASE',
    target: null,
  });
}

// ───────────────────────── report ─────────────────────────

console.log(`\nnpm run bench: medians of ${ROUNDS} rounds (${new Date().toISOString()})`);
printTable(
  ['figure', 'value', 'unit', 'baseline', 'ratio', 'target'],
  figures.map((f) => [f.name, fmt(f.value), f.unit, f.baseline === null ? '-' : fmt(f.baseline), f.ratio === null ? '-' : fmt(f.ratio), f.target ?? '']),
);
let pgVersion = '';
try {
  const s = openDb(SERVER_URL, { max: 1 });
  const [v] = await s`SHOW server_version`;
  pgVersion = String(v!.serverVersion);
  await s.end();
} catch {
  /* reported as empty */
}
const cpu = cpus();
const date = new Date().toISOString().slice(0, 10);
const result = {
  date: new Date().toISOString(),
  command: `npm run bench${ONLY ? ` (BENCH_ONLY=${[...ONLY].join(',')})` : ''}`,
  rounds: ROUNDS,
  machine: {
    host: hostname(),
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? '',
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres: pgVersion,
  },
  figures,
};
const dir = join(root, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${date}${ONLY ? '-partial' : ''}.json`);
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
console.log(`\nwritten to ${file}`);
process.exit(0);
