import { hostname } from 'node:os';
import type { Command } from 'commander';
import { ensureLeaseSlots } from '../db/ops/ensureLeaseSlots.js';
import { createGiteaClient } from '../gitea/client.js';
import { runTick } from '../tick/runTick.js';
import { CliError, backoffPolicy, commandContext, withDb } from './context.js';
import { configuredPhases } from './phases.js';

export function registerCycle(program: Command): void {
  program
    .command('cycle')
    .description('claim one item and run one phase inline, then print what happened (exit 0 when there is nothing to do)')
    .action(async () => {
      const { settings, log } = commandContext();
      const gitea = settings.giteaUrl && settings.giteaToken ? createGiteaClient({ baseUrl: settings.giteaUrl, token: settings.giteaToken, log }) : null;
      await withDb(settings, async (sql) => {
        const phases = await configuredPhases(settings, sql, log, gitea);
        await ensureLeaseSlots(sql, settings.concurrency);
        const outcome = await runTick({
          sql,
          phases,
          workerId: `cycle:${hostname()}:${process.pid}`,
          cap: settings.concurrency,
          leaseMs: settings.leaseMs,
          backoff: backoffPolicy(settings),
          log,
        });
        switch (outcome.kind) {
          case 'no-phases':
            throw new CliError(
              'no phases are configured: set GITEA_URL and GITEA_TOKEN for the built-in phases, or DAMASCUS_PHASES_MODULE to a module exporting { spec, build, review }',
            );
          case 'idle':
            console.log('nothing to do: no claimable item (or the concurrency cap is reached)');
            return;
          case 'deferred':
            console.log(`item ${outcome.itemId} (#${outcome.issueNumber}): ${outcome.phase} waits: ${outcome.reason}`);
            return;
          case 'released':
            console.log(`item ${outcome.itemId}: ${outcome.phase} interrupted (${outcome.reason}); lease handed back`);
            return;
          case 'ran':
            if (outcome.recorded) {
              console.log(`item ${outcome.itemId} (#${outcome.issueNumber}): ${outcome.phase} → ${outcome.verdict} → ${outcome.to} (${outcome.reason})`);
            } else {
              console.log(`item ${outcome.itemId} (#${outcome.issueNumber}): ${outcome.phase} → ${outcome.verdict}, not recorded: ${outcome.reason}`);
            }
        }
      });
    });
}
