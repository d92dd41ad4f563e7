/**
 * A PRIVATE PostgreSQL cluster for the chaos runs that restart PostgreSQL: `initdb` into a temporary directory,
 * `pg_ctl start` on a free loopback port with its socket in that directory, `pg_ctl stop -m immediate|fast`.
 * The machine's shared server (127.0.0.1:5432) is never touched. initdb and postgres refuse to run as root, so
 * as root every command runs as `nobody` (`runuser -u nobody`), which owns the directory.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../tests/support/processes.js';

const run = promisify(execFile);

/** The newest installed server binaries (Debian layout), or PG_BIN. */
export function pgBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  for (const v of ['17', '16', '15', '14', '13']) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(join(dir, 'initdb'))) return dir;
  }
  throw new Error('no PostgreSQL server binaries found (set PG_BIN)');
}

export interface PrivatePostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/<db> */
  url(db: string): string;
  start(): Promise<void>;
  /** `pg_ctl stop -m immediate` (a crash: no checkpoint, recovery on the next start) or `fast`. */
  stop(mode?: 'immediate' | 'fast'): Promise<void>;
  /** Stop (immediate) and remove the directory. Safe to call twice. */
  destroy(): Promise<void>;
  log(): Promise<string>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = pgBin();
  const dir = await mkdtemp(join(tmpdir(), 'damascus-pg-'));
  const data = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'nobody']);
    const { stdout: gid } = await run('id', ['-g', 'nobody']);
    await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    await chmod(dir, 0o700);
  }
  const cmd = (tool: string, args: string[], timeout = 60_000) =>
    asRoot ? run('runuser', ['-u', 'nobody', '--', join(bin, tool), ...args], { timeout }) : run(join(bin, tool), args, { timeout });
  await cmd('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  let destroyed = false;
  const pg: PrivatePostgres = {
    port,
    url: (db) => `postgres://postgres@127.0.0.1:${port}/${db}`,
    async start() {
      await cmd('pg_ctl', ['-D', data, '-o', opts, '-l', logFile, '-w', '-t', '60', 'start'], 90_000);
    },
    async stop(mode = 'immediate') {
      await cmd('pg_ctl', ['-D', data, '-m', mode, '-w', '-t', '60', 'stop'], 90_000);
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await cmd('pg_ctl', ['-D', data, '-m', 'immediate', '-w', '-t', '30', 'stop'], 60_000).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
    log: () => readFile(logFile, 'utf8').catch(() => ''),
  };
  await pg.start();
  return pg;
}
