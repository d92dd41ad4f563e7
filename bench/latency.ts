/**
 * npm run bench:latency — time from "a story is enqueued" (the webhook handler's own calls:
 * createWorkItem, then enqueueTicks) to "its first phase has started", over 200 stories, with a
 * real `damascus worker` and `damascus scheduler` (heartbeat 30 s) as separate processes.
 * A heartbeat-only design would wait up to the interval. Prints figures; asserts nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { argv } from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { createWorkItem } from '../src/db/ops/createWorkItem.js';
import { upsertProject } from '../src/db/ops/upsertProject.js';
import { enqueueTicks, openQueues } from '../src/queue/queues.js';
import { benchDb, fmt, percentile, printTable } from './util.js';

const STORIES = Number(process.env.BENCH_STORIES ?? 200);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'src', 'cli', 'index.js');
const phases = join(root, 'tests', 'fixtures', 'phases', 'scripted.mjs');

export interface EnqueueToStart {
  stories: number;
  started: number;
  p50: number;
  p99: number;
  max: number;
}

/** Enqueue → first phase started over STORIES stories (one run; the figures are percentiles over the stories). */
export async function enqueueToStart(print = true): Promise<EnqueueToStart> {
  const db = await benchDb('damascus_bench_latency_e2s');
  const dir = await mkdtemp(join(tmpdir(), 'damascus-bench-'));
  const trace = join(dir, 'trace.log');
  const prefix = `bench-latency-${process.pid}`;
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const env = {
    ...process.env,
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl,
    DAMASCUS_QUEUE_PREFIX: prefix,
    DAMASCUS_CONCURRENCY: '8',
    DAMASCUS_HEARTBEAT_MS: '30000',
    DAMASCUS_PHASES_MODULE: phases,
    SCRIPTED_TRACE: trace,
    DAMASCUS_DATA_DIR: dir,
    // each story runs its spec phase once and parks on a question, so stories do not queue behind each other's later phases
    SCRIPTED_PHASES: JSON.stringify({ spec: 'needs_human' }),
    DAMASCUS_LOG_LEVEL: 'warn',
  };
  const procs: ChildProcess[] = [
    spawn(process.execPath, [cli, 'scheduler'], { env, stdio: 'ignore' }),
    spawn(process.execPath, [cli, 'worker'], { env, stdio: 'ignore' }),
  ];
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queues = openQueues(redis, prefix);
  try {
    await new Promise((r) => setTimeout(r, 2000)); // let the worker connect
    const project = await upsertProject(db.sql, { owner: 'bench', name: 'latency' });
    const enqueuedAt = new Map<number, number>();
    for (let i = 1; i <= STORIES; i++) {
      const t0 = Date.now();
      const { item } = await createWorkItem(db.sql, { projectId: project.id, issueNumber: i, title: `story ${i}` });
      await enqueueTicks(queues, 1, 'story');
      enqueuedAt.set(item.id, t0);
      await new Promise((r) => setTimeout(r, 10));
    }
    const starts = new Map<number, number>();
    for (let waited = 0; starts.size < STORIES && waited < 60_000; waited += 200) {
      await new Promise((r) => setTimeout(r, 200));
      const text = await readFile(trace, 'utf8').catch(() => '');
      for (const line of text.split('\n')) {
        const [kind, item, , , at] = line.split(' ');
        if (kind === 'start' && !starts.has(Number(item))) starts.set(Number(item), Number(at));
      }
    }
    const lat = [...enqueuedAt]
      .filter(([id]) => starts.has(id))
      .map(([id, t0]) => starts.get(id)! - t0)
      .sort((a, b) => a - b);
    if (print) {
      console.log(`\nenqueue → first phase started, ${lat.length} of ${STORIES} stories, heartbeat 30 s`);
      printTable(
        ['p50 ms', 'p99 ms', 'max ms', 'target'],
        [[fmt(percentile(lat, 50), 1), fmt(percentile(lat, 99), 1), fmt(lat.at(-1) ?? NaN, 1), 'p50 < 100, p99 < 500']],
      );
    }
    return { stories: STORIES, started: lat.length, p50: percentile(lat, 50), p99: percentile(lat, 99), max: lat.at(-1) ?? NaN };
  } finally {
    for (const p of procs) p.kill('SIGTERM');
    await queues.ticks.obliterate({ force: true }).catch(() => {});
    await queues.close();
    redis.disconnect();
    await new Promise((r) => setTimeout(r, 1000));
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
}

// Run as a script (npm run bench:latency); imported by bench/all.ts it only exports.
if (argv[1] && import.meta.url === pathToFileURL(argv[1]).href) await enqueueToStart();
