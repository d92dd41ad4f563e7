import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { readStatus, type StatusReport } from '../db/ops/readStatus.js';
import { STATES } from '../domain/states.js';
import { commandContext, withDb } from './context.js';

/** What `damascus status` shows: the database's report and the retention setting (DAMASCUS_RETENTION_DAYS, 0: keep everything). */
export interface StatusView extends StatusReport {
  retentionDays: number;
}

/** Write the report to $DAMASCUS_DATA_DIR/status.json atomically (temp file + rename). */
export async function writeStatusFile(dataDir: string, report: StatusView): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const target = join(dataDir, 'status.json');
  const tmp = `${target}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(report, null, 2)}\n`);
  await rename(tmp, target);
  return target;
}

export function renderStatus(r: StatusView): string {
  const lines: string[] = [];
  lines.push(`items: ${STATES.map((s) => `${s} ${r.items[s]}`).join(', ')}`);
  lines.push(`live leases: ${r.leases.length}`);
  for (const l of r.leases) lines.push(`  item ${l.itemId} ${l.issue} ${l.state} held by ${l.holder} for ${l.ageSeconds}s (expires in ${l.expiresInSeconds}s)`);
  lines.push(`open questions: ${r.openHumanIssues.length}`);
  for (const h of r.openHumanIssues) lines.push(`  ${h.tag} item ${h.itemId} ${h.issue} (${h.kind}, ${h.ageSeconds}s): ${h.question}`);
  lines.push(`blocked: ${r.blocked.length}`);
  for (const b of r.blocked) lines.push(`  item ${b.itemId} ${b.issue} since ${b.since}: ${b.reason ?? '(no reason recorded)'}`);
  lines.push(`outbox: ${r.outbox.pending} pending, ${r.outbox.parked} parked`);
  lines.push('tables (rows, size on disk with indexes):');
  for (const t of r.tables) lines.push(`  ${t.name}: ${t.rows} ${t.rows === 1 ? 'row' : 'rows'}, ${byteSize(t.bytes)}`);
  lines.push(
    r.retentionDays === 0
      ? 'retention: everything is kept (DAMASCUS_RETENTION_DAYS=0)'
      : `retention: processed webhook deliveries and delivered outbox events go after ${r.retentionDays} days (DAMASCUS_RETENTION_DAYS)`,
  );
  lines.push(`recent verdicts: ${r.recentVerdicts.length}`);
  for (const v of r.recentVerdicts)
    lines.push(`  #${v.id} ${v.at} item ${v.itemId} ${v.issue} ${v.phase} ${v.verdict} → ${v.toState}${v.reason ? ` (${v.reason})` : ''}`);
  return lines.join('\n');
}

/** Bytes in binary units, one decimal from KiB up. */
function byteSize(bytes: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  if (bytes < 1024) return `${bytes} B`;
  let n = bytes / 1024;
  let unit = 0;
  while (n >= 1024 && unit < units.length - 1) {
    n /= 1024;
    unit++;
  }
  return `${n.toFixed(1)} ${units[unit]}`;
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'items per state, live leases, open questions, blocked items, recent verdicts, table sizes and retention (also written to $DAMASCUS_DATA_DIR/status.json)',
    )
    .option('--json', 'print JSON instead of text')
    .action(async (opts: { json?: boolean }) => {
      const { settings } = commandContext();
      const report: StatusView = { ...(await withDb(settings, (sql) => readStatus(sql))), retentionDays: settings.retentionDays };
      await writeStatusFile(settings.dataDir, report);
      console.log(opts.json ? JSON.stringify(report, null, 2) : renderStatus(report));
    });
}
