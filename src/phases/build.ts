import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { builderRun, chooseBuilder } from '../agent/builders.js';
import { agentCostUsd, describeCost } from '../agent/cost.js';
import { isCleanChange, reviewChanges } from '../agent/guard.js';
import { writeAgentInputs } from '../agent/inputs.js';
import { runAgent, verdictFilePath } from '../agent/runAgent.js';
import { probeSandbox } from '../agent/sandbox.js';
import { redactSecrets, secretValues } from '../agent/sanitizeEnv.js';
import {
  branchName,
  changedFiles,
  commitAll,
  diffFingerprint,
  diffSince,
  ensureClone,
  gitTampering,
  openWorktree,
  pushBranch,
  removeWorktree,
  resolveCommit,
} from '../agent/worktree.js';
import { heldSecrets } from '../config/env.js';
import { recordCost } from '../db/ops/recordCost.js';
import { deriveProjectSecret } from '../shared/signing.js';
import { gitRemoteUrl } from '../gitea/client.js';
import { sendOnce } from '../gitea/sendOnce.js';
import type { ClaimedItem } from '../db/types.js';
import type { ChangeApproval } from '../domain/phaseState.js';
import { parseSpec, specSummary } from '../domain/spec.js';
import { agentProgressPublisher } from './agentProgress.js';
import { withRepoInputs, type PhaseDeps } from './common.js';
import type { Phase, PhaseResult } from './types.js';

/** The latest feedback a build should see: what the last failing review or build said. */
function lastFeedback(verdicts: { phase: string; verdict: string; reason: string | null; details: Record<string, unknown> }[]): string | undefined {
  const v = verdicts.find((x) => x.verdict === 'fail' && (x.phase === 'review' || x.phase === 'build'));
  if (!v) return undefined;
  const feedback = v.details.feedback;
  return typeof feedback === 'string' ? feedback : (v.reason ?? undefined);
}

/**
 * The code-builder: a fresh worktree on the story's branch (continuing earlier attempts' commits),
 * the coding agent (a builder the operator defined) run in its sandbox, without a shell, without Gitea
 * credentials and with a wall-clock limit; git never reads what the agent could have written; then
 * Damascus commits as the bot, pushes with an auth header (never a token in a URL) and creates or
 * updates the pull request. No change → fail; out-of-scope or protected changes → a writer must
 * approve; a diff that repeats an earlier attempt's → parked before the budget is spent.
 */
export function buildPhase(deps: PhaseDeps): Phase {
  return withRepoInputs(deps, {
    async run(item: ClaimedItem, { signal, log }, { ctx, config }): Promise<PhaseResult> {
      if (!item.spec) return { verdict: 'spec_wrong', reason: 'there is no spec to build from' };
      const spec = parseSpec(item.spec);
      const { owner, name, defaultBranch } = ctx.project;
      const settings = deps.settings;
      if (!settings.giteaUrl) return { verdict: 'error', reason: 'GITEA_URL is not set' };
      const builder = chooseBuilder(settings, config.builder.name);
      if ('error' in builder) {
        return {
          verdict: 'needs_human',
          reason: builder.error,
          questions: [
            `This repository's \`.gitea/damascus.yml\` cannot be used: ${builder.error}. Fix \`builder.name\` on the default branch, then comment \`/damascus retry\`.`,
          ],
        };
      }
      // The operator's fault, found before anything is spent: an infrastructure error, no attempt used.
      const missing = builder.preset?.missingCredentials(process.env) ?? null;
      if (missing) return { verdict: 'error', reason: `the ${builder.name} builder cannot run: ${missing}` };
      // No sandbox, no agent: unless the operator said DAMASCUS_SANDBOX=off, an unsandboxed run is refused.
      const sandbox = await probeSandbox(settings.sandbox);
      if (!sandbox.ok) return { verdict: 'error', reason: `the coding agent cannot run: ${sandbox.detail}` };
      // The repo asks; the installation's ceilings decide.
      const timeoutMinutes = Math.min(config.builder.timeoutMinutes, settings.ceilings.agentMinutes);
      const maxTurns = Math.min(config.builder.maxTurns, settings.ceilings.agentTurns);
      // Never the payload's clone_url: it comes from Gitea's ROOT_URL and, in a forged payload, from anyone.
      const remoteUrl = gitRemoteUrl(settings.giteaUrl, owner, name);
      const authHeader = settings.giteaToken ? `token ${settings.giteaToken}` : undefined;
      const cache = await ensureClone({ dataDir: settings.dataDir, projectKey: `${owner}/${name}`, remoteUrl, authHeader });
      const branch = item.branch ?? branchName(item.issueNumber, item.title);
      // The review found the branch in conflict with the base: this attempt starts again from the base.
      const rebuild = item.details.rebuildFromBase === true;
      const wt = await openWorktree({ cache, branch, base: defaultBranch, dataDir: settings.dataDir, fresh: rebuild });
      // The run's private directory: input/ (read-only to the agent), home/ and out/ (its verdict file).
      const runDir = await mkdtemp(join(settings.dataDir, 'agent-'));
      const inputDir = join(runDir, 'input');
      // The guard's diff base, pinned before the agent runs: the agent can move any ref (origin/<branch> included), not a SHA.
      const base = await resolveCommit(wt, `origin/${defaultBranch}`);
      const seen = item.details.buildFingerprints ?? [];
      const openPr = async (
        head: string,
        fingerprint: string,
        changed: string[],
        costUsd: number | null,
        approvedBy?: ChangeApproval,
      ): Promise<PhaseResult> => {
        const find = () => deps.gitea.findOpenPullRequest(owner, name, { base: defaultBranch, head: branch });
        const body = `Closes #${item.issueNumber}\n\n${specSummary(spec)}\n\n_Opened by Damascus from the spec on the issue._`;
        const pr =
          (await find()) ??
          (await sendOnce({
            send: () =>
              deps.gitea.createPullRequest(owner, name, { head: branch, base: defaultBranch, title: item.title || `Story #${item.issueNumber}`, body }),
            lookup: find,
          }));
        return {
          verdict: 'pass',
          reason: `pushed ${head.slice(0, 10)} to ${branch} (PR #${pr.number})`,
          patch: {
            branch,
            prNumber: pr.number,
            headSha: head,
            details: {
              prUrl: pr.html_url,
              buildFingerprints: [...seen, fingerprint],
              pendingApproval: null,
              approvalQuestion: null,
              changeApproval: null,
              rebuildFromBase: null,
            },
          },
          details: { changed, fingerprint, costUsd, ...(approvedBy ? { approvedBy } : {}) },
        };
      };
      // Every secret Damascus holds: a change carrying one is never pushed, whatever put it there (the agent, the issue).
      const heldSecretValues = (): string[] => [
        ...new Set([
          ...secretValues(process.env),
          ...heldSecrets(settings),
          ...(settings.callbackSecret ? [deriveProjectSecret(settings.callbackSecret, `${owner}/${name}`)] : []),
        ]),
      ];
      /**
       * An agent stopped at a limit has been paid for: what it changed is committed and pushed to the story's branch
       * (no pull request yet), and the next attempt continues from it. The same checks as a finished run's apply first.
       */
      const keepStoppedWork = async (limit: string, costUsd: number | null): Promise<PhaseResult> => {
        const stopped = `the coding agent was stopped at ${limit} after ${describeCost(costUsd)}`;
        const feedback = `The previous attempt was stopped at ${limit} before it finished. Its changes are already in your working directory: continue from them, and finish sooner.`;
        if ((await gitTampering(wt)).length > 0)
          return { verdict: 'fail', reason: `${stopped}; it had tampered with git's files, so its changes were discarded`, details: { feedback, costUsd } };
        await commitAll({
          tree: wt,
          message: `damascus: ${item.title} (#${item.issueNumber}), attempt ${item.attempts + 1} (stopped at ${limit})`,
          author: deps.botIdentity,
        });
        const changed = await changedFiles(wt, base);
        if (changed.length === 0) return { verdict: 'fail', reason: `${stopped}, having changed nothing`, details: { feedback, costUsd } };
        const secrets = heldSecretValues();
        const rawDiff = await diffSince(wt, base);
        if (secrets.some((x) => rawDiff.includes(x)))
          return {
            verdict: 'fail',
            reason: `${stopped}; its change contains a secret value Damascus holds, so it was not pushed`,
            details: { feedback, costUsd },
          };
        await pushBranch({ tree: wt, branch, remoteUrl, authHeader, force: rebuild });
        return {
          verdict: 'fail',
          reason: `${stopped}; its work so far (${changed.length} file${changed.length === 1 ? '' : 's'}) is pushed to ${branch}, and the next attempt continues from it`,
          patch: { branch, details: { rebuildFromBase: null } },
          details: { feedback, changed, costUsd, stoppedAt: limit },
        };
      };
      try {
        // A writer's `/damascus approve` of the guarded change (src/db/ops/recordChangeApproval.ts) is bound to its
        // fingerprint; the change is already on the branch. Prose ("approve", "do not approve") is feedback, never approval.
        const approval = item.details.changeApproval;
        if (approval && wt.continued && approval.fingerprint === item.details.pendingApproval) {
          const fingerprint = await diffFingerprint(wt, base);
          if (fingerprint === approval.fingerprint) return await openPr(wt.headBefore, fingerprint, await changedFiles(wt, base), 0, approval);
        }
        const files = await writeAgentInputs(
          inputDir,
          { spec: item.spec, feedback: lastFeedback(ctx.verdicts), answers: ctx.answers },
          verdictFilePath(runDir),
        );
        const start = builderRun(builder, { promptFile: files.promptFile, inputDir, cwd: wt.path, home: join(runDir, 'home'), maxTurns, env: process.env });
        if ('error' in start) return { verdict: 'error', reason: start.error };
        const progress = agentProgressPublisher({ sql: deps.sql, item, builder: builder.name, intervalMs: settings.progressIntervalMs, log });
        const run = await runAgent({
          command: start.argv,
          cwd: wt.path,
          inputDir,
          stateDir: runDir,
          env: process.env,
          allowEnv: builder.env,
          extraEnv: start.env,
          homeFiles: start.homeFiles,
          ...(start.reader ? { reader: start.reader } : {}),
          turnLimit: start.turnLimit,
          onProgress: (r) => progress.update(r),
          sandbox: settings.sandbox.enabled
            ? { settings: settings.sandbox, allowHosts: builder.allowHosts.concat(settings.sandbox.allowHosts), readPaths: [...start.read, cache] }
            : null,
          timeoutMs: timeoutMinutes * 60_000,
          log,
          signal,
        }).finally(() => progress.close());
        const costUsd = agentCostUsd(run.report);
        if (!run.spawnError) {
          await recordCost(deps.sql, {
            itemId: item.id,
            phase: 'build',
            kind: 'agent',
            model: run.report.model,
            usd: costUsd,
            inputTokens: run.report.inputTokens ?? 0,
            outputTokens: run.report.outputTokens ?? 0,
            details: {
              builder: builder.name,
              turns: run.numTurns,
              stop: run.report.stop,
              costSource: run.report.costUsd !== null ? 'reported' : costUsd !== null ? 'tokens' : 'unknown',
            },
          });
        }
        if (run.spawnError) return { verdict: 'error', reason: `the coding agent could not start: ${run.spawnError}` };
        // Its model API failed (rate limit, 5xx, credentials): not the agent's doing, so no attempt is used.
        if (run.report.stop === 'model_api') {
          return {
            verdict: 'error',
            reason: `the ${builder.name} builder's model API failed: ${(run.report.error ?? run.result).slice(0, 400)} (spent ${describeCost(costUsd)})`,
          };
        }
        if (run.verdictFile) {
          return run.verdictFile.verdict === 'spec_wrong'
            ? { verdict: 'spec_wrong', reason: run.verdictFile.reason ?? 'the coding agent found the spec unimplementable' }
            : { verdict: 'needs_human', reason: run.verdictFile.reason ?? 'the coding agent has questions', questions: run.verdictFile.questions ?? [] };
        }
        if (run.timedOut || run.turnLimited) {
          const limit = run.timedOut
            ? `its ${timeoutMinutes >= 1 ? `${timeoutMinutes}-minute` : `${Math.round(timeoutMinutes * 60)}-second`} limit`
            : `its turn limit (${maxTurns} turns)`;
          return await keepStoppedWork(limit, costUsd);
        }
        if (run.isError) {
          const said = run.result.trim() || run.stderrTail.trim() || `exit code ${run.exitCode}`;
          return {
            verdict: 'fail',
            reason: `the coding agent reported an error (after ${describeCost(costUsd)}): ${said.slice(-300)}`,
            details: { feedback: said.slice(-4000), costUsd },
          };
        }
        // git never reads a .git the agent could have written; one it touched means its work is not taken at all.
        const tampered = await gitTampering(wt);
        if (tampered.length > 0) {
          log.warn({ item: item.id, tampered }, "the coding agent tampered with git's files in its worktree");
          return {
            verdict: 'fail',
            reason: `the coding agent tampered with git's files (${tampered.join('; ').slice(0, 300)}): its changes were discarded`,
            details: { feedback: "The previous attempt changed `.git` files. Never touch `.git`; change only the project's files." },
          };
        }

        const commit = await commitAll({
          tree: wt,
          message: `damascus: ${item.title} (#${item.issueNumber}), attempt ${item.attempts + 1}`,
          author: deps.botIdentity,
        });
        const changed = await changedFiles(wt, base);
        if (changed.length === 0)
          return { verdict: 'fail', reason: 'the coding agent changed nothing', details: { feedback: 'The previous attempt made no change at all.' } };
        const fingerprint = await diffFingerprint(wt, base);
        // Only attempts that reached a verdict count: a run killed after pushing left its change on the
        // branch, and finding it there again (no new commit) is not a lack of progress. A rebuild on a base that
        // moved may well make the same change again: that is the point of it.
        if (seen.includes(fingerprint) && !rebuild) {
          return {
            verdict: 'needs_human',
            reason: 'no progress: this attempt produced the same change as an earlier one',
            questions: [
              `The build produced exactly the same change as an earlier attempt, so retrying will not help. What should change? (Answer here; the build resumes with your answer.)`,
            ],
          };
        }
        const rawDiff = await diffSince(wt, base);
        // A change that carries a secret Damascus holds is never pushed, whatever put it there (the agent, the issue).
        const secrets = heldSecretValues();
        if (secrets.some((x) => rawDiff.includes(x))) {
          log.warn({ item: item.id }, 'the change contains a secret value Damascus holds: not pushed');
          return {
            verdict: 'fail',
            reason: 'the change contains a secret value Damascus holds; it was not pushed',
            details: { feedback: 'The previous attempt wrote a credential into the change. Never write tokens, keys or secrets into files.' },
          };
        }
        const diffText = redactSecrets(rawDiff, secrets);
        const guard = reviewChanges({
          changedFiles: changed,
          diffText,
          scope: spec.scope,
          testCommand: config.testCommand ?? spec.testCommand,
          allowCatchAllScope: config.allowCatchAllScope,
        });
        if (!isCleanChange(guard)) {
          const parts = [
            guard.outOfScope.length ? `files outside the spec's Scope: ${guard.outOfScope.join(', ')}` : '',
            guard.touchesCi.length ? `CI or lint configuration: ${guard.touchesCi.join(', ')}` : '',
            guard.testConfig.length ? `test-runner configuration or test scripts: ${guard.testConfig.join(', ')}` : '',
            guard.weakenedAssertions.length ? `assertions removed from existing tests: ${guard.weakenedAssertions.join(', ')}` : '',
            guard.skippedTests.length ? `tests skipped, disabled or focused: ${guard.skippedTests.join(', ')}` : '',
          ].filter(Boolean);
          // Keep the work on the branch (no PR yet): `/damascus approve` continues from exactly this change.
          await pushBranch({ tree: wt, branch, remoteUrl, authHeader, force: rebuild });
          const question =
            `The build changed ${parts.join('; ')}. A writer: reply \`/damascus approve ${fingerprint.slice(0, 12)}\` ` +
            `to accept exactly this change (change ${fingerprint.slice(0, 12)}; the build then opens the pull request), or say what to do instead.`;
          return {
            verdict: 'needs_human',
            reason: "the change needs a writer's approval",
            questions: [question],
            patch: { branch, details: { pendingApproval: fingerprint, approvalQuestion: question, changeApproval: null } },
          };
        }
        // A rebuild replaces the branch's history (it no longer contains the old commits): a forced push.
        await pushBranch({ tree: wt, branch, remoteUrl, authHeader, force: rebuild });
        return await openPr(commit ?? wt.headBefore, fingerprint, changed, costUsd);
      } finally {
        await removeWorktree({ cache, path: wt.path }).catch(() => {});
        await rm(runDir, { recursive: true, force: true }).catch(() => {});
      }
    },
  });
}
