import type { Command } from 'commander';
import { createGiteaClient } from '../gitea/client.js';
import { renderReviewWorkflow } from '../gitea/reviewWorkflow.js';
import { formatStep, loadAppManifest, setupRepo, SetupError, type SetupStep } from '../gitea/setupRepo.js';
import { WEBHOOK_PATH } from '../http/webhooks.js';
import { deriveProjectSecret } from '../signing.js';
import { CliError, commandContext } from './context.js';

interface SetupOptions {
  actionUrl?: string;
  actionRef: string;
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
      'prepare a repository for Damascus: the review workflow file, the DAMASCUS_CALLBACK_TOKEN Actions secret, the labels ' +
        'and the webhook (events from app.yml). Safe to run again: only what differs is written.',
    )
    .option(
      '--action-url <url>',
      'URL of the review Action repository (default: $GITEA_URL/damascus/damascus-action). The runner clones it without a token, so it must be readable anonymously',
    )
    .option('--action-ref <ref>', 'tag, branch or full 40-hex commit SHA of the Action (short SHAs are rejected by the runner)', 'main')
    .option('--public-url <url>', 'URL at which Gitea reaches Damascus (default: DAMASCUS_PUBLIC_URL)')
    .option('--dry-run', 'print what would change and change nothing')
    .action(async (raw: string, opts: SetupOptions) => {
      const ref = parseRepoRef(raw);
      const { settings, log } = commandContext();
      const { giteaUrl, giteaToken, callbackSecret, webhookSecret } = settings;
      const missing = [
        ['GITEA_URL', giteaUrl],
        ['GITEA_TOKEN', giteaToken],
        ['DAMASCUS_CALLBACK_SECRET', callbackSecret],
        ['DAMASCUS_WEBHOOK_SECRET', webhookSecret],
      ].filter(([, v]) => !v).map(([name]) => name);
      if (missing.length > 0 || !giteaUrl || !giteaToken || !callbackSecret || !webhookSecret) {
        throw new CliError(`${missing.join(', ')} must be set`, 2);
      }
      const publicUrl = opts.publicUrl ?? settings.publicUrl;
      if (!publicUrl) throw new CliError('the URL Gitea reaches Damascus at is needed: set DAMASCUS_PUBLIC_URL or pass --public-url', 2);
      const webhookUrl = webhookUrlFor(publicUrl);

      let workflow: string;
      try {
        const actionUrl = opts.actionUrl ?? `${giteaUrl.replace(/\/+$/, '')}/damascus/damascus-action`;
        workflow = renderReviewWorkflow({ actionUrl, actionRef: opts.actionRef });
      } catch (err) {
        throw new CliError((err as Error).message, 2);
      }
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
            webhookUrl,
            webhookSecret,
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
