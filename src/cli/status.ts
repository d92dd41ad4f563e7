import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { readStatus, type StatusReport } from '../db/ops/readStatus.js';
import { STATES } from '../domain/states.js';
import { commandContext, withDb } from './context.js';

/** Write the report to $DAMASCUS_DATA_DIR/status.json atomically (temp file + rename). */
export async function writeStatusFile(dataDir: string, report: StatusReport): Promise<string> {
  await mkdir(dataDir, { recursive: true });
  const target = join(dataDir, 'status.json');
  const tmp = `${target}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(report, null, 2)}\n`);
  await rename(tmp, target);
  return target;
}

export function renderStatus(r: StatusReport): string {
  const lines: string[] = [];
  lines.push(`items: ${STATES.map((s) => `${s} ${r.items[s]}`).join(', ')}`);
  lines.push(`live leases: ${r.leases.length}`);
  for (const l of r.leases) lines.push(`  item ${l.itemId} ${l.issue} ${l.state} held by ${l.holder} for ${l.ageSeconds}s (expires in ${l.expiresInSeconds}s)`);
  lines.push(`open questions: ${r.openHumanIssues.length}`);
  for (const h of r.openHumanIssues) lines.push(`  ${h.tag} item ${h.itemId} ${h.issue} (${h.kind}, ${h.ageSeconds}s): ${h.question}`);
  lines.push(`blocked: ${r.blocked.length}`);
  for (const b of r.blocked) lines.push(`  item ${b.itemId} ${b.issue} since ${b.since}: ${b.reason ?? '(no reason recorded)'}`);
  lines.push(`outbox: ${r.outbox.pending} pending, ${r.outbox.parked} parked`);
  lines.push(`recent verdicts: ${r.recentVerdicts.length}`);
  for (const v of r.recentVerdicts) lines.push(`  #${v.id} ${v.at} item ${v.itemId} ${v.issue} ${v.phase} ${v.verdict} → ${v.toState}${v.reason ? ` (${v.reason})` : ''}`);
  return lines.join('\n');
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('items per state, live leases, open questions, blocked items and recent verdicts (also written to $DAMASCUS_DATA_DIR/status.json)')
    .option('--json', 'print JSON instead of text')
    .action(async (opts: { json?: boolean }) => {
      const { settings } = commandContext();
      const report = await withDb(settings, (sql) => readStatus(sql));
      await writeStatusFile(settings.dataDir, report);
      console.log(opts.json ? JSON.stringify(report, null, 2) : renderStatus(report));
    });
}
