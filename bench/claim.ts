/**
 * npm run bench:claim — claim + verdict throughput against a same-run baseline of single-row
 * UPDATE … RETURNING transactions, and claim latency as the table grows (issue 2).
 * Prints figures; asserts nothing (these machines are shared and noisy). Medians of several rounds.
 */
import { argv, hrtime } from 'node:process';
import { pathToFileURL } from 'node:url';
import { openDb, type Sql } from '../src/db/connection.js';
import { claimNextItem } from '../src/db/ops/claimNextItem.js';
import { ensureLeaseSlots } from '../src/db/ops/ensureLeaseSlots.js';
import { recordVerdict } from '../src/db/ops/recordVerdict.js';
import { releaseLease } from '../src/db/ops/releaseLease.js';
import { benchDb, fmt, median, percentile, printTable } from './util.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const LATENCY_SAMPLES = Number(process.env.BENCH_SAMPLES ?? 2000);
const backoff = { baseMs: 1000, maxMs: 60_000 };
const nowMs = () => Number(hrtime.bigint()) / 1e6;

async function seed(sql: Sql, n: number, state = 'spec', extra = ''): Promise<void> {
  const [p] = await sql`INSERT INTO projects (owner, name) VALUES ('bench', ${`r${Math.random().toString(36).slice(2)}`}) RETURNING id`;
  // in chunks, so a million rows do not make one huge transaction
  for (let done = 0; done < n; done += 100_000) {
    const k = Math.min(100_000, n - done);
    await sql.unsafe(`INSERT INTO work_items (project_id, issue_number, state, budget_cycles ${extra ? `, ${extra.split('=')[0]}` : ''})
      SELECT ${p!.id}, g, '${state}', 1000000000 ${extra ? `, ${extra.split('=')[1]}` : ''} FROM generate_series(${done + 1}, ${done + k}) g`);
  }
  await sql`VACUUM ANALYZE work_items`;
}

/** Run `op` on `workers` connections for SECONDS; return ops/s and per-op latency percentiles. */
async function drive(url: string, workers: number, op: (sql: Sql, w: number) => Promise<boolean>) {
  const conns = Array.from({ length: workers }, () => openDb(url, { max: 1 }));
  await Promise.all(conns.map((c) => c`SELECT 1`));
  const lat: number[] = [];
  const until = nowMs() + SECONDS * 1000;
  const start = nowMs();
  await Promise.all(
    conns.map(async (c, w) => {
      while (nowMs() < until) {
        const t0 = nowMs();
        if (await op(c, w)) lat.push(nowMs() - t0);
      }
    }),
  );
  const elapsed = (nowMs() - start) / 1000;
  await Promise.all(conns.map((c) => c.end()));
  lat.sort((a, b) => a - b);
  return { perSec: lat.length / elapsed, p50: percentile(lat, 50), p99: percentile(lat, 99) };
}

export interface ThroughputRow {
  workers: number;
  perSec: number;
  p50: number;
  p99: number;
  baselinePerSec: number;
  ratio: number;
}
export interface LatencyRow {
  name: string;
  p50: number;
  p99: number;
  vs1k: number;
}

/** Claim + verdict throughput at each worker count, with the same-run baseline (medians of ROUNDS rounds). */
export async function throughput(workerCounts: number[] = [1, 8, 32], print = true): Promise<ThroughputRow[]> {
  const out: ThroughputRow[] = [];
  const db = await benchDb('damascus_bench_claim');
  try {
    await seed(db.sql, 20_000);
    await ensureLeaseSlots(db.sql, 64);
    await db.sql`CREATE TABLE bench_counter (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)`;
    await db.sql`INSERT INTO bench_counter (id) SELECT generate_series(1, 20000)`;
    const rows: (string | number)[][] = [];
    for (const workers of workerCounts) {
      const claimRounds = [];
      const baseRounds = [];
      for (let r = 0; r < ROUNDS; r++) {
        // a phase that fails at once: the item is claimable again, the table stays the same size
        claimRounds.push(
          await drive(db.url, workers, async (sql, w) => {
            const item = await claimNextItem(sql, `bench-${w}`, { cap: 64, leaseMs: 60_000 });
            if (!item) return false;
            const res = await recordVerdict(sql, item, { verdict: 'fail', reason: 'bench' }, { backoff });
            return res.recorded;
          }),
        );
        baseRounds.push(
          await drive(db.url, workers, async (sql) => {
            const id = 1 + Math.floor(Math.random() * 20_000);
            await sql`UPDATE bench_counter SET n = n + 1 WHERE id = ${id} RETURNING n`;
            return true;
          }),
        );
      }
      const c = { perSec: median(claimRounds.map((x) => x.perSec)), p50: median(claimRounds.map((x) => x.p50)), p99: median(claimRounds.map((x) => x.p99)) };
      const b = { perSec: median(baseRounds.map((x) => x.perSec)) };
      out.push({ workers, perSec: c.perSec, p50: c.p50, p99: c.p99, baselinePerSec: b.perSec, ratio: c.perSec / b.perSec });
      rows.push([workers, fmt(c.perSec, 0), fmt(c.p50), fmt(c.p99), fmt(b.perSec, 0), fmt(c.perSec / b.perSec), workers === 8 ? '>= 0.4' : '']);
    }
    if (print) {
      console.log(`\nclaim + verdict (phases/s) vs single-row UPDATE … RETURNING, median of ${ROUNDS} rounds of ${SECONDS}s`);
      printTable(['workers', 'phases/s', 'p50 ms', 'p99 ms', 'baseline/s', 'ratio', 'target'], rows);
    }
  } finally {
    await db.drop();
  }
  return out;
}

/** Median and p99 of a lone claim (claim, then hand the lease back) on the given table. */
async function claimLatency(sql: Sql): Promise<{ p50: number; p99: number }> {
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const lat: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const t0 = nowMs();
      const item = await claimNextItem(sql, 'lat', { cap: 128, leaseMs: 60_000 });
      lat.push(nowMs() - t0);
      if (!item) throw new Error('nothing to claim');
      await releaseLease(sql, item.id, item.leaseToken);
    }
    lat.sort((a, b) => a - b);
    rounds.push({ p50: percentile(lat, 50), p99: percentile(lat, 99) });
  }
  return { p50: median(rounds.map((x) => x.p50)), p99: median(rounds.map((x) => x.p99)) };
}

/** Claim latency on 1k items, 1M items, and 1k items next to 10k waiting + 64 leased. */
export async function latency(print = true): Promise<LatencyRow[]> {
  const results: { name: string; p50: number; p99: number }[] = [];
  const scenario = async (name: string, setup: (sql: Sql) => Promise<void>) => {
    const db = await benchDb('damascus_bench_latency');
    try {
      await ensureLeaseSlots(db.sql, 128);
      await setup(db.sql);
      const conn = openDb(db.url, { max: 1 });
      const r = await claimLatency(conn);
      await conn.end();
      results.push({ name, ...r });
    } finally {
      await db.drop();
    }
  };
  await scenario('1,000 items', (sql) => seed(sql, 1_000));
  await scenario('1,000,000 items', (sql) => seed(sql, 1_000_000));
  await scenario('1,000 items + 10,000 waiting on CI + 64 live leases', async (sql) => {
    await seed(sql, 1_000);
    await seed(sql, 10_000, 'review', "run_after=now() + interval '1 hour'");
    for (let i = 0; i < 64; i++) await claimNextItem(sql, `holder-${i}`, { cap: 128, leaseMs: 3_600_000 });
  });
  const base = results[0]!;
  if (print) {
    console.log(`\nclaim latency (one connection, median of ${ROUNDS} rounds × ${LATENCY_SAMPLES} claims)`);
    printTable(
      ['table', 'p50 ms', 'p99 ms', 'p50 vs 1k', 'target'],
      results.map((r, i) => [r.name, fmt(r.p50, 3), fmt(r.p99, 3), fmt(r.p50 / base.p50), i === 0 ? '' : '<= 1.5']),
    );
  }
  return results.map((r) => ({ ...r, vs1k: r.p50 / base.p50 }));
}

// Run as a script (npm run bench:claim); imported by bench/all.ts it only exports.
if (argv[1] && import.meta.url === pathToFileURL(argv[1]).href) {
  const only = argv[2];
  if (!only || only === 'throughput') await throughput();
  if (!only || only === 'latency') await latency();
}
