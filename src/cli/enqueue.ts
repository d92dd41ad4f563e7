import type { Command } from 'commander';
import { createGiteaClient } from '../gitea/client.js';
import { reconcileIssue } from '../reconcile/reconcile.js';
import { triggerLabelOption } from '../setup/setupRepo.js';
import { CliError, commandContext, withDb } from './context.js';

/** OWNER/REPO#N → its parts, or a usage error. */
export function parseIssueRef(raw: string): { owner: string; name: string; number: number } {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)#(\d+)$/.exec(raw.trim());
  if (!m) throw new CliError(`expected OWNER/REPO#N, e.g. acme/widgets#12 (got ${JSON.stringify(raw)})`, 2);
  return { owner: m[1]!, name: m[2]!, number: Number(m[3]) };
}

export function registerEnqueue(program: Command): void {
  program
    .command('enqueue')
    .argument('<issue>', 'OWNER/REPO#N')
    .description('add the trigger label to an issue through the Gitea API (the same path as a person labelling it) and report the item id')
    .action(async (raw: string) => {
      const ref = parseIssueRef(raw);
      const { settings, log } = commandContext();
      if (!settings.giteaUrl || !settings.giteaToken) throw new CliError('GITEA_URL and GITEA_TOKEN must be set');
      const gitea = createGiteaClient({ baseUrl: settings.giteaUrl, token: settings.giteaToken, log });
      let labelId: number;
      try {
        const label = await gitea.ensureRepoLabel(ref.owner, ref.name, triggerLabelOption(settings.triggerLabel));
        labelId = label.id;
        await gitea.addIssueLabels(ref.owner, ref.name, ref.number, [labelId]);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      // The webhook will say the same; applying it here too reports the id at once and covers a
      // webhook that never arrives. Whichever comes second changes nothing.
      const outcome = await withDb(settings, (sql) => reconcileIssue({ sql, gitea, triggerLabel: settings.triggerLabel }, ref.owner, ref.name, ref.number));
      if (outcome.status !== 'recorded' || outcome.itemId === null)
        throw new CliError(`labelled ${raw}, but no item was created (${outcome.status === 'recorded' ? outcome.effect : 'duplicate'})`);
      console.log(
        `${raw}: item ${outcome.itemId} (${outcome.result.kind === 'created' || outcome.result.kind === 'reactivated' ? outcome.effect : 'already tracked'})`,
      );
    });
}
