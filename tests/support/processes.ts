import { spawn, type ChildProcess } from 'node:child_process';
import { Socket, createServer } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './cli.js';
import { createTestDb, type TestDb } from './db.js';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs = 60_000,
  everyMs = 50,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as T;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A private redis-server for tests that stop and start Redis (the shared one is left alone). */
export interface PrivateRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'damascus-redis-'));
  let proc: ChildProcess | null = null;
  const start = async () => {
    proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    await waitFor(
      'redis to accept connections',
      () =>
        new Promise<boolean>((resolve) => {
          const c = new Socket();
          c.once('error', () => resolve(false));
          c.connect(port, '127.0.0.1', () => {
            c.end();
            resolve(true);
          });
        }),
      10_000,
    );
  };
  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
    proc = null;
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    async stop() {
      await stop();
    },
  };
}

export interface DamascusProcess {
  proc: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

/** Start a long-running `damascus` command (worker, scheduler, serve…) as a real OS process. */
export function spawnDamascus(args: string[], env: Record<string, string | undefined>): DamascusProcess {
  const proc = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, DAMASCUS_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    output: () => out,
    exited,
    kill: (s = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(s);
    },
  };
}

export async function stopAll(ps: DamascusProcess[]): Promise<void> {
  for (const p of ps) p.kill('SIGKILL');
  await Promise.all(ps.map((p) => p.exited));
}

export async function tempDir(prefix: string): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** What a test file of real processes runs against: its own database, Redis and temp dir, and the processes it started. */
export interface ProcessWorld {
  db: TestDb;
  redis: PrivateRedis;
  dir: { path: string; remove(): Promise<void> };
  procs: DamascusProcess[];
}

/** A ProcessWorld made before the file's tests and removed after them, its processes killed first. */
export function processWorld(tempPrefix: string): ProcessWorld {
  const world = { procs: [] as DamascusProcess[] } as ProcessWorld;
  beforeAll(async () => {
    world.db = await createTestDb();
    world.redis = await startPrivateRedis();
    world.dir = await tempDir(tempPrefix);
  });
  afterAll(async () => {
    await stopAll(world.procs);
    await world.redis.stop();
    await world.db.drop();
    await world.dir.remove();
  });
  return world;
}
