import { latestCiResult } from '../db/ops/latestCiResult.js';
import { noteReviewHead } from '../db/ops/noteReviewHead.js';
import type { ClaimedItem } from '../db/types.js';
import { GiteaError } from '../gitea/errors.js';
import { isLoaded, loadPhaseInputs, overBudget, type PhaseDeps } from './common.js';
import type { Phase, PhaseResult } from './types.js';

interface Dispatch {
  sha: string;
  at: number;
  count: number;
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * The reviewer. First run on a head: dispatch the review workflow and wait (up to ci_timeout). When
 * the Action's result for the current head is in: pass → re-read the PR, merge pinned to the tested
 * SHA, close the issue, done; fail → back to build with the failing output. A head that moved is
 * reviewed again, never merged. No result by ci_timeout → dispatched once more, then an error.
 */
export function reviewPhase(deps: PhaseDeps, opts: { mergeRetries?: number; mergeBackoffMs?: number } = {}): Phase {
  const mergeRetries = opts.mergeRetries ?? 5;
  const mergeBackoffMs = opts.mergeBackoffMs ?? 1000;
  return {
    async run(item: ClaimedItem): Promise<PhaseResult> {
      const loaded = await loadPhaseInputs(deps, item);
      if (!isLoaded(loaded)) return loaded;
      const { ctx, config } = loaded;
      const budget = overBudget(item, config);
      if (budget) return { verdict: 'fail', block: budget, reason: budget };
      const { owner, name } = ctx.project;
      if (!item.prNumber) return { verdict: 'fail', reason: 'there is no pull request to review', details: { feedback: 'No pull request was opened.' } };
      const pr = await deps.gitea.getPullRequest(owner, name, item.prNumber);
      if (pr.merged) return { verdict: 'pass', reason: `PR #${pr.number} was merged outside Damascus` };
      if (pr.state === 'closed') return { verdict: 'needs_human', reason: 'the pull request is closed', questions: [`Pull request #${pr.number} is closed without merging. Reopen it and answer here to continue, or reply \`/damascus cancel\`.`] };
      const head = pr.head.sha;
      const testCommand = typeof item.details.testCommand === 'string' ? item.details.testCommand : config.testCommand;
      if (!testCommand) return { verdict: 'spec_wrong', reason: 'the spec has no test command and the repo config has no default' };

      const { current, earlierFailingSets, newestId } = await latestCiResult(deps.sql, item.id, head);
      if (!current) {
        const timeoutMs = config.ciTimeoutMinutes * 60_000;
        const last = item.details.reviewDispatch as Dispatch | undefined;
        const forThisHead = last && last.sha === head;
        if (forThisHead && Date.now() - last.at < timeoutMs) {
          return { defer: { delayMs: timeoutMs - (Date.now() - last.at), reason: `waiting for the review run on ${head.slice(0, 10)}`, wakeIfResultAfter: newestId } };
        }
        if (forThisHead && last.count >= 2) {
          return { verdict: 'error', reason: `no review result for ${head.slice(0, 10)} within ci_timeout (${config.ciTimeoutMinutes} min), twice` };
        }
        if (!deps.settings.publicUrl) return { verdict: 'error', reason: 'DAMASCUS_PUBLIC_URL is not set: the review Action cannot report back' };
        if (!(await noteReviewHead(deps.sql, item.id, item.leaseToken, head))) throw new Error('lease lost before the review dispatch');
        await deps.gitea.dispatchWorkflow(owner, name, config.reviewWorkflow, {
          ref: pr.head.ref,
          inputs: {
            'work-item': String(item.id), 'head-sha': head, 'test-command': testCommand,
            'orchestrator-url': deps.settings.publicUrl, 'timeout-minutes': String(config.ciTimeoutMinutes),
          },
        });
        const dispatch: Dispatch = { sha: head, at: Date.now(), count: forThisHead ? last.count + 1 : 1 };
        return {
          defer: {
            delayMs: timeoutMs,
            wakeIfResultAfter: newestId,
            reason: `review run dispatched for ${head.slice(0, 10)}`,
            patch: { headSha: head, details: { reviewDispatch: dispatch, prHead: head } },
            event: { type: 'review.dispatched', payload: { headSha: head, workflow: config.reviewWorkflow, attempt: dispatch.count } },
          },
        };
      }

      if (!current.passed) {
        const failing = [...current.failingTests].sort();
        const feedback = [
          `The review run on ${head.slice(0, 10)} failed${current.timedOut ? ' (timed out)' : ` (exit code ${current.exitCode ?? 'none'})`}.`,
          failing.length ? `Failing tests:\n${failing.map((t) => `- ${t}`).join('\n')}` : '',
          `Output (tail):\n${current.outputTail ?? ''}`,
        ].filter(Boolean).join('\n\n');
        if (failing.length > 0 && earlierFailingSets.some((s) => sameSet(s, failing))) {
          return {
            verdict: 'needs_human', reason: 'no progress: the same tests fail as in an earlier attempt',
            questions: [`The same tests failed as in an earlier attempt (${failing.join(', ')}), so another build is unlikely to help. What should change?`],
            details: { feedback, failing },
          };
        }
        return { verdict: 'fail', reason: `${failing.length || 'the'} failing test${failing.length === 1 ? '' : 's'} on ${head.slice(0, 10)}`, details: { feedback, failing, runId: current.runId } };
      }

      // Passed: merge exactly the commit that was tested, or nothing.
      for (let attempt = 0; ; attempt++) {
        const fresh = await deps.gitea.getPullRequest(owner, name, item.prNumber);
        if (fresh.merged) return { verdict: 'pass', reason: `PR #${fresh.number} is merged` };
        if (fresh.head.sha !== current.headSha) {
          return { defer: { delayMs: 0, reason: `the head moved to ${fresh.head.sha.slice(0, 10)} after the review passed: reviewing again` } };
        }
        try {
          await deps.gitea.mergePullRequest(owner, name, item.prNumber, { style: config.mergeStyle, headCommitId: current.headSha, deleteBranchAfterMerge: true });
          break;
        } catch (err) {
          if (err instanceof GiteaError && err.status === 409) {
            return { defer: { delayMs: 0, reason: 'Gitea refused the merge (head out of date or conflict): reviewing again' } };
          }
          if (err instanceof GiteaError && err.status === 405 && attempt < mergeRetries) {
            await new Promise((r) => setTimeout(r, mergeBackoffMs * 2 ** attempt));
            continue;
          }
          throw err;
        }
      }
      await deps.gitea.editIssue(owner, name, item.issueNumber, { state: 'closed' }).catch(() => {});
      return { verdict: 'pass', reason: `merged PR #${item.prNumber} at ${current.headSha.slice(0, 10)}`, details: { mergedSha: current.headSha, runId: current.runId } };
    },
  };
}
