import type { Command } from 'commander';
import { loadSetupToken } from '../config/env.js';
import { createGiteaClient } from '../gitea/client.js';
import { checkBuilders } from '../agent/builderCheck.js';
import { probeSandbox } from '../agent/sandbox.js';
import { DOCTOR_CHECKS, formatCheck, plainUrlProblem, runDoctor, summarizeChecks, type DoctorFetch } from '../setup/doctor.js';
import { loadAppManifest } from '../setup/setupRepo.js';
import { CliError, commandContext } from './context.js';
import { parseRepoRef } from './setup.js';

interface DoctorOptions {
  json?: boolean;
  runnerWait: string;
  deliveryWait: string;
}

/** A whole number of seconds from an option, or a usage error. */
function seconds(option: string, raw: string): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n)) throw new CliError(`${option} must be a whole number of seconds (got ${JSON.stringify(raw)})`, 2);
  return n;
}

const CHECKS_HELP = [
  '',
  'Checks, in this order (without OWNER/REPO only settings, gitea reachable, token user and public URL run):',
  ...DOCTOR_CHECKS.map((c, i) => `  ${String(i + 1).padStart(2)}. ${c.check}: ${c.about}`),
  '',
  'Each line is `ok`, `FAIL` (with what to do), `warn` (cannot tell, or not fatal) or `skip` (a check it needs failed).',
  'Exit status: 0 when nothing failed, 1 when a check failed, 2 for bad arguments or missing settings.',
].join('\n');

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .argument('[repo]', 'OWNER/REPO to check as well (without it only the checks that need no repository run)')
    .description('check an installation against the real Gitea and Damascus: one line per check, ok or what to fix')
    .option('--json', 'print one JSON array of {check, status, detail} instead of text')
    .option('--runner-wait <seconds>', 'a review run queued longer than this means no runner takes it', '120')
    .option('--delivery-wait <seconds>', 'how long to wait for the hook test to reach serve', '10')
    .addHelpText('after', CHECKS_HELP)
    .action(async (raw: string | undefined, opts: DoctorOptions) => {
      const repo = raw === undefined ? null : parseRepoRef(raw);
      const runnerWaitSeconds = seconds('--runner-wait', opts.runnerWait);
      const deliveryWaitSeconds = seconds('--delivery-wait', opts.deliveryWait);
      const { settings, log } = commandContext();
      let events: string[];
      try {
        events = loadAppManifest().defaultEvents;
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      const setupToken = loadSetupToken();
      const client = (token: string) =>
        settings.giteaUrl && plainUrlProblem(settings.giteaUrl) === null
          ? // Few retries and a short timeout: a doctor that hangs on an unreachable Gitea helps nobody.
            createGiteaClient({ baseUrl: settings.giteaUrl, token, log, timeoutMs: 10_000, retries: 1 })
          : null;
      const gitea = client(settings.giteaToken ?? '');
      // The setup-rights check asks with the token `damascus setup` will use.
      const setupGitea = setupToken === undefined ? undefined : client(setupToken);
      // Plain fetch, never with credentials: the anonymous Action read must see what the runner sees.
      const plainFetch: DoctorFetch = (url, init) => fetch(url, { signal: init.signal });
      const checks = await runDoctor(
        {
          sandbox: () => probeSandbox(settings.sandbox),
          builders: () => checkBuilders(settings),
          gitea,
          setupGitea,
          fetch: plainFetch,
          now: () => Date.now(),
          sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        },
        { settings, repo, events, runnerWaitSeconds, deliveryWaitSeconds },
      );
      if (opts.json) {
        console.log(JSON.stringify(checks, null, 2));
      } else {
        for (const c of checks) console.log(formatCheck(c));
        console.log(summarizeChecks(checks));
      }
      const settingsCheck = checks.find((c) => c.check === 'settings');
      if (settingsCheck?.status === 'fail') throw new CliError(settingsCheck.detail, 2);
      if (checks.some((c) => c.status === 'fail')) process.exitCode = 1;
    });
}
