/**
 * One git operation at a time on a project's clone cache. Builds of several stories of one project share the bare
 * cache; two fetches at once fail on the remote-tracking refs ("cannot lock ref … is at X but expected Y"), and a
 * `remote add` racing a fetch leaves "No such remote 'origin'" (both seen in the live suite). The lock is a
 * directory beside the cache (mkdir is atomic, also between processes sharing DAMASCUS_DATA_DIR), taken after an
 * in-process queue; one left by a crashed process is taken over once it is older than `staleMs`.
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

const queues = new Map<string, Promise<unknown>>();

export interface CacheLockOptions {
  /** A lock older than this belonged to a process that died holding it (default 10 min: a fetch never takes that long). */
  staleMs?: number;
  /** Give up waiting after this long (default 15 min). */
  timeoutMs?: number;
}

export async function withCacheLock<T>(cache: string, fn: () => Promise<T>, o: CacheLockOptions = {}): Promise<T> {
  const previous = queues.get(cache) ?? Promise.resolve();
  const run = previous.catch(() => {}).then(() => withLockDir(`${cache}.lock`, fn, o));
  queues.set(cache, run);
  try {
    return await run;
  } finally {
    if (queues.get(cache) === run) queues.delete(cache);
  }
}

async function withLockDir<T>(lock: string, fn: () => Promise<T>, o: CacheLockOptions): Promise<T> {
  const staleMs = o.staleMs ?? 10 * 60_000;
  const until = Date.now() + (o.timeoutMs ?? 15 * 60_000);
  await mkdir(dirname(lock), { recursive: true });
  for (let wait = 50; ; wait = Math.min(wait * 2, 1000)) {
    try {
      await mkdir(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const held = await stat(lock).catch(() => null);
      if (held && Date.now() - held.mtimeMs > staleMs) {
        await rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > until) throw new Error(`the clone cache is locked by another build (${lock}); gave up waiting`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
  try {
    await writeFile(`${lock}/owner`, `${process.pid}\n`).catch(() => {});
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}
