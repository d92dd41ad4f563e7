import { ConfigError, loadSettings, type Settings } from '../config/env.js';
import { DbError, describeDbError, openDb, type Sql } from '../db/connection.js';
import { createLogger, type Logger } from '../shared/log.js';
import type { BackoffPolicy } from '../domain/routing.js';

/** A failure a command reports as one line and a non-zero exit (no stack trace). */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export interface CommandContext {
  settings: Settings;
  log: Logger;
}

export function commandContext(): CommandContext {
  const settings = loadSettings();
  return { settings, log: createLogger(settings.logLevel) };
}

export function backoffPolicy(s: Settings): BackoffPolicy {
  return { baseMs: s.errorBackoffMs, maxMs: s.errorBackoffMaxMs };
}

/** Run fn with a database connection, closing it afterwards; driver errors become one line. */
export async function withDb<T>(settings: Settings, fn: (sql: Sql) => Promise<T>, max = 4): Promise<T> {
  let sql: Sql;
  try {
    sql = openDb(settings.databaseUrl, { max, connectTimeout: 10 });
  } catch (err) {
    throw new CliError(describeDbError(err, settings.databaseUrl));
  }
  try {
    return await fn(sql);
  } catch (err) {
    if (err instanceof CliError || err instanceof ConfigError) throw err;
    if (err instanceof DbError || isDriverError(err)) throw new CliError(describeDbError(err, settings.databaseUrl));
    throw err;
  } finally {
    await sql.end({ timeout: 5 }).catch(() => {});
  }
}

function isDriverError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (/^[0-9A-Z]{5}$/.test(code) || /^E[A-Z]+$/.test(code) || code === 'CONNECT_TIMEOUT');
}

export function parseItemId(raw: string): number {
  const id = Number(raw);
  if (!Number.isInteger(id) || id <= 0) throw new CliError(`item id must be a positive whole number (got ${JSON.stringify(raw)})`, 2);
  return id;
}

/** Who an operator command is attributed to in the history. */
export function operatorName(): string {
  return `cli:${process.env.USER ?? process.env.LOGNAME ?? 'operator'}`;
}
