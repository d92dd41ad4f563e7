import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DbError, databaseName, openDb, withDatabase, type Sql } from './connection.js';
import { packageFile } from '../shared/packageFile.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export interface InitReport {
  databaseCreated: boolean;
  applied: string[];
  version: number;
}

/** The migrations in `dir` (by default the package's schema/ folder), in version order. */
export function loadMigrations(dir = packageFile('schema')): Migration[] {
  const files = readdirSync(dir)
    .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
    .sort();
  const migrations = files.map((f) => ({
    version: Number(f.split('_')[0]),
    name: f.replace(/\.sql$/, ''),
    sql: readFileSync(join(dir, f), 'utf8'),
  }));
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new DbError(`schema migrations must be numbered 1, 2, 3…; ${m.name} is out of order`);
  });
  return migrations;
}

/** Create the database named in the URL when it does not exist (connects to the server's `postgres` db). */
async function ensureDatabase(url: string): Promise<boolean> {
  const name = databaseName(url);
  const admin = openDb(withDatabase(url, 'postgres'), { max: 1, applicationName: 'damascus-init' });
  try {
    const [row] = await admin`SELECT 1 AS present FROM pg_database WHERE datname = ${name}`;
    if (row) return false;
    try {
      await admin.unsafe(`CREATE DATABASE ${quoteIdent(name)}`);
    } catch (err) {
      // Another init created it between the check and here: that is the same outcome.
      const code = (err as { code?: string }).code;
      if (code === '42P04' || code === '23505') return false;
      throw err;
    }
    return true;
  } finally {
    await admin.end({ timeout: 5 });
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Apply every migration not yet recorded in schema_migrations, all in one transaction (a failure
 * leaves the schema as it was), under an advisory lock so concurrent inits apply each one once.
 */
export async function migrate(sql: Sql, migrations = loadMigrations()): Promise<{ applied: string[]; version: number }> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(hashtext('damascus.migrate'))`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`;
    const done = new Set((await tx<{ version: number }[]>`SELECT version FROM schema_migrations`).map((r) => r.version));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await tx.unsafe(m.sql);
      await tx`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`;
      applied.push(m.name);
    }
    return { applied, version: migrations.at(-1)?.version ?? 0 };
  });
}

/** `damascus init`: create the database if missing, then bring the schema up to date. */
export async function initDatabase(url: string): Promise<InitReport> {
  const databaseCreated = await ensureDatabase(url);
  const sql = openDb(url, { max: 1, applicationName: 'damascus-init' });
  try {
    const { applied, version } = await migrate(sql);
    return { databaseCreated, applied, version };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
