import { openDb, withDatabase, type Sql } from '../src/db/connection.js';
import { initDatabase } from '../src/db/migrate.js';

export const SERVER_URL = process.env.BENCH_DATABASE_SERVER ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** A fresh database for one benchmark, dropped by the returned function. */
export async function benchDb(name: string): Promise<{ url: string; sql: Sql; drop: () => Promise<void> }> {
  const url = withDatabase(SERVER_URL, name);
  const admin = openDb(SERVER_URL, { max: 1 });
  await admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
  await initDatabase(url);
  const sql = openDb(url, { max: 4 });
  return {
    url,
    sql,
    drop: async () => {
      await sql.end();
      const a = openDb(SERVER_URL, { max: 1 });
      await a.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await a.end();
    },
  };
}

export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

export function printTable(headers: string[], rows: (string | number)[][]): void {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  for (const [n, r] of cells.entries()) {
    console.log(r.map((c, i) => c.padStart(widths[i]!)).join('  '));
    if (n === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
}
