import { randomBytes } from 'node:crypto';
import { latestCiResult, type CiResultRow } from '../db/ops/latestCiResult.js';
import { readApprovedTestCommands } from '../db/ops/readApprovedTestCommands.js';
import { testCommandSha256 } from '../domain/spec.js';
import { noteReviewHead } from '../db/ops/noteReviewHead.js';
import type { ClaimedItem } from '../db/types.js';
import { outboxEvent } from '../domain/events.js';
import { closedPrQuestion } from '../domain/transitions.js';
import type { ReviewDispatch } from '../domain/phaseState.js';
import { GiteaError } from '../gitea/errors.js';
import { reviewRunTitle } from '../gitea/reviewWorkflow.js';
import { sendOnce } from '../gitea/sendOnce.js';
import type { MergeStyle, PullRequest } from '../gitea/types.js';
import { withRepoInputs, type PhaseDeps } from './common.js';
import type { Phase, PhaseResult } from './types.js';

/** What the merge steps need of the claimed item and its repo. */
interface MergeContext {
  item: ClaimedItem;
  owner: string;
  name: string;
  mergeStyle: MergeStyle;
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export interface ReviewPhaseOptions {
  /** Wait between looks while Gitea re-checks a PR (`mergeable: false`, merge 405). */
  checkWaitMs?: number;
  /** Looks before a PR Gitea never finishes checking counts as an infrastructure error. */
  maxCheckWaits?: number;
}

/**
 * The reviewer. First run on a head: dispatch the review workflow (on the default branch, so a PR cannot change
 * its own review) and wait up to ci_timeout. When the Action's result for the current head is in: pass → merge
 * exactly that commit, close the issue, done; fail → back to build with the failing output. A head that moved is
 * reviewed again, never merged. No result by ci_timeout → dispatched once more, then an error.
 *
 * Only a head that contains its base's tip is merged, so the tree that lands is the tree that was tested. A PR
 * behind its base is brought up to date through Gitea (POST …/update) and its new head reviewed; one whose update
 * conflicts goes back to build, which starts again from the base. Gitea refuses (405) to merge a PR it has not
 * finished checking and answers 409 when the head or the base moved during the merge: the PR is read again, and
 * the head reviewed again, updated, or merged after a short, bounded wait; never merged again at once.
 */
export function reviewPhase(deps: PhaseDeps, opts: ReviewPhaseOptions = {}): Phase {
  const checkWaitMs = opts.checkWaitMs ?? 3000;
  const maxCheckWaits = opts.maxCheckWaits ?? 40;
  return withRepoInputs(deps, {
    async run(item: ClaimedItem, _ctx, { ctx, config }): Promise<PhaseResult> {
      const { owner, name, defaultBranch } = ctx.project;
      if (!item.prNumber) return { verdict: 'fail', reason: 'there is no pull request to review', details: { feedback: 'No pull request was opened.' } };
      const prNumber = item.prNumber;
      const pr = await deps.gitea.getPullRequest(owner, name, prNumber);
      if (pr.merged) return { verdict: 'pass', reason: `PR #${pr.number} was merged outside Damascus` };
      if (pr.state === 'closed') return closedPr(pr);
      const head = pr.head.sha;
      // The repo's test_command always wins; a spec's command runs only once a writer approved exactly it.
      const specCommand = item.details.testCommand ?? null;
      const testCommand = config.testCommand ?? specCommand;
      if (!testCommand) return { verdict: 'spec_wrong', reason: 'the spec has no test command and the repo config has no default' };
      if (config.testCommand === null && !(await readApprovedTestCommands(deps.sql, item.id)).includes(testCommandSha256(testCommand))) {
        return { verdict: 'spec_wrong', reason: "no writer approved the spec's test command: the spec phase asks for the approval" };
      }

      const { current, earlierFailingSets, newestId } = await latestCiResult(deps.sql, item.id, head);
      if (!current) {
        // The repo asks for its ci_timeout; the installation's ceiling bounds it.
        const ciMinutes = Math.min(config.ciTimeoutMinutes, deps.settings.ceilings.ciMinutes);
        const timeoutMs = ciMinutes * 60_000;
        const last = item.details.reviewDispatch;
        const forThisHead = last && last.sha === head;
        if (forThisHead && Date.now() - last.at < timeoutMs) {
          return {
            defer: { delayMs: timeoutMs - (Date.now() - last.at), reason: `waiting for the review run on ${head.slice(0, 10)}`, wakeIfResultAfter: newestId },
          };
        }
        if (forThisHead && last.count >= 2) {
          return { verdict: 'error', reason: `no review result for ${head.slice(0, 10)} within ci_timeout (${ciMinutes} min), twice` };
        }
        if (!deps.settings.publicUrl) return { verdict: 'error', reason: 'DAMASCUS_PUBLIC_URL is not set: the review Action cannot report back' };
        const nonce = randomBytes(8).toString('hex');
        // The nonce is stored first: only a result that names it is accepted, and it may arrive before this run ends.
        // `at: 0` and the old count until Gitea took the dispatch, so a dispatch that failed is sent again at once.
        const noted: ReviewDispatch = { sha: head, at: 0, count: forThisHead ? last.count : 0, nonce };
        if (!(await noteReviewHead(deps.sql, item.id, item.leaseToken, head, { ...noted }))) throw new Error('lease lost before the review dispatch');
        const title = reviewRunTitle(item.id, nonce);
        // The workflow file is read from the default branch (where setup wrote it), never from the PR's branch.
        const run = await sendOnce({
          send: () =>
            deps.gitea.dispatchWorkflow(owner, name, config.reviewWorkflow, {
              ref: defaultBranch,
              inputs: {
                'work-item': String(item.id),
                'head-sha': head,
                'pull-request': String(prNumber),
                'test-command': testCommand,
                'orchestrator-url': deps.settings.publicUrl!,
                'timeout-minutes': String(ciMinutes),
                dispatch: nonce,
              },
            }),
          // The answer was lost: the run exists if Gitea took the dispatch, and its title carries the nonce.
          lookup: async () => {
            const found = (await deps.gitea.listWorkflowRuns(owner, name, { event: 'workflow_dispatch' })).find((r) => r.display_title.includes(title));
            return found ? { workflow_run_id: found.id, run_url: '', html_url: found.html_url } : null;
          },
        });
        const dispatch: ReviewDispatch = {
          ...noted,
          at: Date.now(),
          count: noted.count + 1,
          runId: run?.workflow_run_id ?? null,
          runUrl: run?.html_url ?? null,
        };
        return {
          defer: {
            delayMs: timeoutMs,
            wakeIfResultAfter: newestId,
            reason: `review run dispatched for ${head.slice(0, 10)}`,
            patch: { headSha: head, details: { reviewDispatch: dispatch, ...(dispatch.runUrl ? { runUrl: dispatch.runUrl } : {}) } },
            event: outboxEvent('review.dispatched', {
              headSha: head,
              workflow: config.reviewWorkflow,
              attempt: dispatch.count,
              runUrl: dispatch.runUrl ?? null,
            }),
          },
        };
      }

      if (!current.passed) {
        const failing = [...current.failingTests].sort();
        const feedback = [
          `The review run on ${head.slice(0, 10)} failed${current.timedOut ? ' (timed out)' : ` (exit code ${current.exitCode ?? 'none'})`}.`,
          failing.length ? `Failing tests:\n${failing.map((t) => `- ${t}`).join('\n')}` : '',
          `Output (tail):\n${current.outputTail ?? ''}`,
        ]
          .filter(Boolean)
          .join('\n\n');
        if (failing.length > 0 && earlierFailingSets.some((s) => sameSet(s, failing))) {
          return {
            verdict: 'needs_human',
            reason: 'no progress: the same tests fail as in an earlier attempt',
            questions: [`The same tests failed as in an earlier attempt (${failing.join(', ')}), so another build is unlikely to help. What should change?`],
            details: { feedback, failing },
          };
        }
        return {
          verdict: 'fail',
          reason: `${failing.length || 'the'} failing test${failing.length === 1 ? '' : 's'} on ${head.slice(0, 10)}`,
          details: { feedback, failing, runId: current.runId },
        };
      }
      return mergeTested({ item, owner, name, mergeStyle: config.mergeStyle }, current, pr);
    },
  });

  /**
   * The review passed for `tested.headSha`: merge exactly that commit, and only while it contains its base's tip, so
   * that what lands is what was tested. A PR behind its base is brought up to date first and its new head reviewed.
   */
  async function mergeTested(m: MergeContext, tested: CiResultRow, pr: PullRequest): Promise<PhaseResult> {
    const { owner, name } = m;
    const n = pr.number;
    if (pr.head.sha !== tested.headSha) return reviewAgain(pr, `the head moved to ${pr.head.sha.slice(0, 10)} after the review passed`);
    if (await behindBase(m, pr)) return bringUpToDate(m, pr);
    if (!pr.mergeable) return waitForCheck(m, pr);
    try {
      await sendOnce({
        send: () => deps.gitea.mergePullRequest(owner, name, n, { style: m.mergeStyle, headCommitId: tested.headSha, deleteBranchAfterMerge: true }),
        lookup: async () => ((await deps.gitea.isPullRequestMerged(owner, name, n)) ? undefined : null),
      });
    } catch (err) {
      // 405: not mergeable (checking, or a conflict); 409: head out of date, a conflict found while merging, or the
      // base moved during the merge ("merge push out of date"). Which it is, Gitea shows afterwards.
      if (!(err instanceof GiteaError) || (err.status !== 405 && err.status !== 409)) throw err;
      const fresh = await deps.gitea.getPullRequest(owner, name, n);
      if (fresh.merged) return merged(m, n, tested);
      if (fresh.state === 'closed') return closedPr(fresh);
      if (fresh.head.sha !== tested.headSha)
        return reviewAgain(fresh, `Gitea refused the merge (${err.status}): the head moved to ${fresh.head.sha.slice(0, 10)}`);
      if (await behindBase(m, fresh)) return bringUpToDate(m, fresh);
      return waitForCheck(m, fresh);
    }
    return merged(m, n, tested);
  }

  async function merged(m: MergeContext, n: number, tested: CiResultRow): Promise<PhaseResult> {
    await deps.gitea.editIssue(m.owner, m.name, m.item.issueNumber, { state: 'closed' }).catch(() => {});
    return { verdict: 'pass', reason: `merged PR #${n} at ${tested.headSha.slice(0, 10)}`, details: { mergedSha: tested.headSha, runId: tested.runId } };
  }

  /** Whether the base has commits the PR's head lacks (asked of git through Gitea's compare; the PR's merge_base lags). */
  async function behindBase(m: MergeContext, pr: PullRequest): Promise<boolean> {
    return (await deps.gitea.countCommitsAhead(m.owner, m.name, { base: pr.head.sha, head: pr.base.ref })) > 0;
  }

  /**
   * The base moved on: Gitea merges it into the PR's branch (as the bot), and the new head is reviewed; if that
   * conflicts, the story goes back to build, which starts again from the base.
   */
  async function bringUpToDate(m: MergeContext, pr: PullRequest): Promise<PhaseResult> {
    try {
      await deps.gitea.updatePullRequest(m.owner, m.name, pr.number, 'merge');
    } catch (err) {
      if (err instanceof GiteaError && err.status === 409) return conflict(pr, `the branch conflicts with ${pr.base.ref}`);
      throw err;
    }
    const updated = await deps.gitea.getPullRequest(m.owner, m.name, pr.number);
    return reviewAgain(updated, `${pr.base.ref} moved on: Damascus merged it into the branch (now ${updated.head.sha.slice(0, 10)})`);
  }

  /** Up to date, yet not mergeable (yet): Gitea is still checking the PR. Look again shortly, a bounded number of times. */
  function waitForCheck(m: MergeContext, pr: PullRequest): PhaseResult {
    const waits = m.item.details.mergeWaits ?? 0;
    if (waits >= maxCheckWaits) {
      return { verdict: 'error', reason: `Gitea still refuses to merge PR #${pr.number} after ${waits} looks, though it is up to date with ${pr.base.ref}` };
    }
    return { defer: { delayMs: checkWaitMs, reason: `waiting for Gitea to finish checking PR #${pr.number}`, patch: { details: { mergeWaits: waits + 1 } } } };
  }

  /** The reviewed head no longer counts: review the PR's current head (its results are looked up by SHA). */
  function reviewAgain(pr: PullRequest, reason: string): PhaseResult {
    return { defer: { delayMs: 0, reason: `${reason}: reviewing again`, patch: { headSha: pr.head.sha, details: { mergeWaits: 0 } } } };
  }

  function conflict(pr: PullRequest, what: string): PhaseResult {
    return {
      verdict: 'fail',
      reason: `PR #${pr.number} cannot be merged: ${what}; the next build starts again from ${pr.base.ref}`,
      details: {
        conflict: true,
        feedback:
          `The pull request could not be merged: ${what} (${pr.base.ref} changed since the branch was made). ` +
          `This attempt starts from the current ${pr.base.ref}: make the change again on top of it.`,
      },
      patch: { details: { rebuildFromBase: true, mergeWaits: 0 } },
    };
  }
}

function closedPr(pr: PullRequest): PhaseResult {
  return {
    verdict: 'needs_human',
    reason: 'the pull request is closed',
    questions: [closedPrQuestion(pr.number)],
  };
}
