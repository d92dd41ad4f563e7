import postgres from 'postgres';

export type Sql = postgres.Sql<Record<string, never>>;
export type TxSql = postgres.TransactionSql<Record<string, never>>;
/** Either a pool or an open transaction: operations that can run inside a caller's transaction take this. */
export type Queryable = Sql | TxSql;

/** A database problem described in one line for a person (no stack, no password). */
export class DbError extends Error {
  override name = 'DbError';
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface DbOptions {
  max?: number;
  /** Seconds to wait for a connection before giving up. */
  connectTimeout?: number;
  applicationName?: string;
}

/** Parse DATABASE_URL up front so a malformed one fails with a clear message, not a driver stack. */
export function parseDatabaseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DbError('DATABASE_URL is not a valid URL (expected postgres://user@host:port/database)');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new DbError(`DATABASE_URL must start with postgres:// (got ${u.protocol}//)`);
  }
  const db = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (db === '' || db.includes('/')) {
    throw new DbError('DATABASE_URL must name a database, e.g. postgres://postgres@127.0.0.1:5432/damascus');
  }
  return u;
}

export function databaseName(url: string): string {
  return decodeURIComponent(parseDatabaseUrl(url).pathname.replace(/^\//, ''));
}

/** The same server, another database (used by init to create the target database). */
export function withDatabase(url: string, db: string): string {
  const u = parseDatabaseUrl(url);
  u.pathname = `/${encodeURIComponent(db)}`;
  return u.toString();
}

export function openDb(url: string, opts: DbOptions = {}): Sql {
  parseDatabaseUrl(url);
  return postgres(url, {
    max: opts.max ?? 10,
    connect_timeout: opts.connectTimeout ?? 10,
    idle_timeout: 60,
    onnotice: () => {},
    transform: postgres.camel,
    connection: { application_name: opts.applicationName ?? 'damascus', plan_cache_mode: 'force_generic_plan' },
    types: {
      // BIGSERIAL ids and counts as numbers: they stay far below 2^53 here.
      int8: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
      numeric: { to: 1700, from: [1700], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    },
  }) as unknown as Sql;
}

/** Turn a driver or network error into one line a person can act on. */
export function describeDbError(err: unknown, url?: string): string {
  if (err instanceof DbError) return err.message;
  const e = err as { code?: string; message?: string; errno?: string; hostname?: string };
  let where = '';
  if (url) {
    try {
      const u = parseDatabaseUrl(url);
      where = ` at ${u.hostname}:${u.port || '5432'}`;
    } catch {
      /* the URL itself is the problem; message below says so */
    }
  }
  switch (e.code) {
    case 'ECONNREFUSED':
      return `cannot connect to PostgreSQL${where}: connection refused (is the server running?)`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot connect to PostgreSQL${where}: host not found`;
    case 'CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return `cannot connect to PostgreSQL${where}: timed out`;
    case '28P01':
    case '28000':
      return `PostgreSQL${where} refused the login: ${e.message}`;
    case '3D000':
      return `PostgreSQL${where}: ${e.message} (run \`damascus init\` first)`;
    case '42P01':
      return `PostgreSQL${where}: ${e.message} (the schema is missing: run \`damascus init\`)`;
    default:
      return `PostgreSQL${where}: ${e.message ?? String(err)}`;
  }
}
