import type { Command } from 'commander';
import { createGiteaClient } from '../gitea/client.js';
import { renderReviewWorkflow, runnerLabelProblem } from '../gitea/reviewWorkflow.js';
import { bundledActionFiles, formatStep, loadAppManifest, setupRepo, SetupError, type SetupInput, type SetupStep } from '../setup/setupRepo.js';
import { loadSetupToken } from '../config/env.js';
import { WEBHOOK_PATH } from '../shared/endpoints.js';
import { deriveProjectSecret, deriveWebhookSecret } from '../shared/signing.js';
import { CliError, commandContext } from './context.js';

interface SetupOptions {
  actionUrl?: string;
  actionRef?: string;
  runsOn?: string;
  publicUrl?: string;
  dryRun?: boolean;
}

/** OWNER/REPO → its parts, or a usage error. */
export function parseRepoRef(raw: string): { owner: string; name: string } {
  const m = /^([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/.exec(raw.trim());
  if (!m) throw new CliError(`expected OWNER/REPO, e.g. acme/widgets (got ${JSON.stringify(raw)})`, 2);
  return { owner: m[1]!, name: m[2]! };
}

/** `${publicUrl}/api/gitea/webhooks`; the public URL must be plain http(s) — no credentials, query or fragment. */
export function webhookUrlFor(publicUrl: string): string {
  let url: URL;
  try {
    url = new URL(publicUrl);
  } catch {
    throw new CliError(`the public URL is not a URL (got ${JSON.stringify(publicUrl)})`, 2);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash) {
    // Do not echo it: a URL with credentials would print them.
    throw new CliError('the public URL must be a plain http(s) URL without credentials, query or fragment', 2);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}${WEBHOOK_PATH}`;
}

export function registerSetup(program: Command): void {
  program
    .command('setup')
    .argument('<repo>', 'OWNER/REPO')
    .description(
      "prepare a repository for Damascus: check the rights it needs, publish the review Action to the bot's public repo " +
        'damascus-action on this Gitea, then set the DAMASCUS_CALLBACK_TOKEN Actions secret, the labels, the webhook (events ' +
        'from app.yml) and, last, the review workflow. Nothing is written unless every right is there. Safe to run again: ' +
        'only what differs is written.',
    )
    .option(
      '--action-url <url>',
      'use the review Action from this repository URL instead of publishing it (with --action-ref). The runner clones it without a token, so it must be readable anonymously',
    )
    .option('--action-ref <ref>', 'with --action-url: a tag or full 40-hex commit SHA of the Action (short SHAs are rejected by the runner)')
    .option('--runs-on <label>', 'runner label the review job asks for (default: DAMASCUS_RUNS_ON, else ubuntu-latest)')
    .option('--public-url <url>', 'URL at which Gitea reaches Damascus (default: DAMASCUS_PUBLIC_URL)')
    .option('--dry-run', 'print what would change and change nothing')
    .action(async (raw: string, opts: SetupOptions) => {
      const ref = parseRepoRef(raw);
      const { settings, log } = commandContext();
      // The stronger setup token, when there is one: the running services then need neither owner rights nor write:user.
      const setupToken = loadSetupToken();
      const { giteaUrl, callbackSecret, webhookSecret } = settings;
      const giteaToken = setupToken ?? settings.giteaToken;
      const missing = [
        ['GITEA_URL', giteaUrl],
        ['GITEA_TOKEN', giteaToken],
        ['DAMASCUS_CALLBACK_SECRET', callbackSecret],
        ['DAMASCUS_WEBHOOK_SECRET', webhookSecret],
      ]
        .filter(([, v]) => !v)
        .map(([name]) => name);
      if (missing.length > 0 || !giteaUrl || !giteaToken || !callbackSecret || !webhookSecret) {
        throw new CliError(`${missing.join(', ')} must be set`, 2);
      }
      const publicUrl = opts.publicUrl ?? settings.publicUrl;
      if (!publicUrl) throw new CliError('the URL Gitea reaches Damascus at is needed: set DAMASCUS_PUBLIC_URL or pass --public-url', 2);
      const webhookUrl = webhookUrlFor(publicUrl);

      if ((opts.actionUrl === undefined) !== (opts.actionRef === undefined)) {
        throw new CliError('--action-url and --action-ref go together (without both, setup publishes the bundled Action)', 2);
      }
      const runsOn = opts.runsOn ?? settings.runsOn;
      const workflow = (action: { url: string; ref: string }) => renderReviewWorkflow({ actionUrl: action.url, actionRef: action.ref, runsOn });
      // Bad arguments fail before anything is sent.
      const labelProblem = runnerLabelProblem(runsOn);
      if (labelProblem) throw new CliError(`--runs-on: ${labelProblem}`, 2);
      if (opts.actionUrl && opts.actionRef) {
        try {
          workflow({ url: opts.actionUrl, ref: opts.actionRef });
        } catch (err) {
          throw new CliError((err as Error).message, 2);
        }
      }
      const action: SetupInput['action'] =
        opts.actionUrl && opts.actionRef ? { url: opts.actionUrl, ref: opts.actionRef } : { publish: { giteaUrl, files: bundledActionFiles() } };
      let events: string[];
      try {
        events = loadAppManifest().defaultEvents;
      } catch (err) {
        throw new CliError((err as Error).message);
      }

      const dryRun = opts.dryRun === true;
      const gitea = createGiteaClient({ baseUrl: giteaUrl, token: giteaToken, log });
      let steps: SetupStep[];
      try {
        steps = await setupRepo(
          gitea,
          {
            owner: ref.owner,
            repo: ref.name,
            workflow,
            action,
            webhookUrl,
            webhookSecret: deriveWebhookSecret(webhookSecret, `${ref.owner}/${ref.name}`),
            callbackToken: deriveProjectSecret(callbackSecret, `${ref.owner}/${ref.name}`),
            triggerLabel: settings.triggerLabel,
            events,
            dryRun,
          },
          (s) => console.log(formatStep(s, dryRun)),
        );
      } catch (err) {
        if (err instanceof SetupError) throw new CliError(err.message);
        throw err;
      }
      const changed = steps.filter((s) => s.outcome === 'created' || s.outcome === 'updated').length;
      const full = `${ref.owner}/${ref.name}`;
      if (dryRun) console.log(`dry run: ${changed === 0 ? 'nothing would change' : `${changed} change(s) would be made`} in ${full}`);
      else console.log(changed === 0 ? `${full} was already set up; nothing changed` : `${full} is set up (${changed} change(s))`);
    });
}
