import type { Command } from 'commander';
import { cancelItem, type OperatorResult } from '../db/ops/cancelItem.js';
import { retryItem } from '../db/ops/retryItem.js';
import type { Sql } from '../db/connection.js';
import { CliError, commandContext, operatorName, parseItemId, withDb } from './context.js';

export function registerItemCommands(program: Command): void {
  onOneItem(program.command('retry').description('resume a blocked or cancelled item at its last active phase with a fresh attempt budget'), retryItem);
  onOneItem(program.command('cancel').description('cancel an item; a running phase loses its lease and its verdict is discarded'), cancelItem);
}

/** An operator's command on one item: one database operation, reported as the item's transition. */
function onOneItem(command: Command, run: (sql: Sql, id: number, by: string) => Promise<OperatorResult>): void {
  command.argument('<id>', 'work item id (see `damascus status`)').action(async (raw: string) => {
    const id = parseItemId(raw);
    const { settings } = commandContext();
    const r = await withDb(settings, (sql) => run(sql, id, operatorName()));
    if (!r.ok) throw new CliError(r.error);
    console.log(`item ${id}: ${r.from} → ${r.to}`);
  });
}
