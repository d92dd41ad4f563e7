import type { Command } from 'commander';
import { cancelItem } from '../db/ops/cancelItem.js';
import { retryItem } from '../db/ops/retryItem.js';
import { CliError, commandContext, operatorName, parseItemId, withDb } from './context.js';

export function registerItemCommands(program: Command): void {
  program
    .command('retry')
    .argument('<id>', 'work item id (see `damascus status`)')
    .description('resume a blocked or cancelled item at its last active phase with a fresh attempt budget')
    .action(async (raw: string) => {
      const id = parseItemId(raw);
      const { settings } = commandContext();
      const r = await withDb(settings, (sql) => retryItem(sql, id, operatorName()));
      if (!r.ok) throw new CliError(r.error);
      console.log(`item ${id}: ${r.from} → ${r.to}`);
    });
  program
    .command('cancel')
    .argument('<id>', 'work item id (see `damascus status`)')
    .description('cancel an item; a running phase loses its lease and its verdict is discarded')
    .action(async (raw: string) => {
      const id = parseItemId(raw);
      const { settings } = commandContext();
      const r = await withDb(settings, (sql) => cancelItem(sql, id, operatorName()));
      if (!r.ok) throw new CliError(r.error);
      console.log(`item ${id}: ${r.from} → cancelled`);
    });
}
