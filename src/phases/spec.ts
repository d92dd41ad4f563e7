import { checkSpec } from '../domain/spec.js';
import type { ClaimedItem } from '../db/types.js';
import { recordCost } from '../db/ops/recordCost.js';
import { LlmError } from '../llm/chat.js';
import { buildSpecPrompt, type RepoContext } from '../llm/prompt.js';
import type { GiteaClient } from '../gitea/client.js';
import { isLoaded, loadPhaseInputs, overBudget, type PhaseDeps } from './common.js';
import type { Phase, PhaseResult } from './types.js';

const MAX_WIKI_PAGES = 10;

/** README, top-level tree, configured context files and wiki pages, read through the Gitea API. */
async function readRepoContext(gitea: GiteaClient, owner: string, name: string, ref: string, contextFiles: string[]): Promise<RepoContext> {
  const [readme, root] = await Promise.all([gitea.getRawFile(owner, name, 'README.md', ref), gitea.getContents(owner, name, '', ref)]);
  // The root listing comes back as { type: 'dir', entries } (getContents), never as a bare array.
  const tree = root?.type === 'dir' ? root.entries.map((e) => (e.type === 'dir' ? `${e.name}/` : e.name)) : [];
  const files = [];
  for (const path of contextFiles) {
    const content = await gitea.getRawFile(owner, name, path, ref);
    if (content !== null) files.push({ path, content });
  }
  const wiki = [];
  for (const page of (await gitea.listWikiPages(owner, name)).slice(0, MAX_WIKI_PAGES)) {
    const full = await gitea.getWikiPage(owner, name, page.title ?? '');
    if (full) wiki.push({ title: page.title ?? '', content: full.content });
  }
  return { readme: readme ?? undefined, tree, contextFiles: files, wiki };
}

/**
 * The spec-refiner: one LLM call that turns the story (and the answers so far, and why the last
 * spec was rejected) into a spec with the required sections; the output checks itself: a missing
 * or empty section → spec_wrong; open questions → needs_human (one tagged question each); else pass,
 * and the spec is stored as a new version.
 */
export function specPhase(deps: PhaseDeps): Phase {
  return {
    async run(item: ClaimedItem, { signal }): Promise<PhaseResult> {
      if (!deps.llm) return { verdict: 'error', reason: 'LLM_BASE_URL and LLM_MODEL are not set' };
      const loaded = await loadPhaseInputs(deps, item);
      if (!isLoaded(loaded)) return loaded;
      const { ctx, config } = loaded;
      const budget = overBudget(item, config);
      if (budget) return { verdict: 'fail', block: budget, reason: budget };
      const { owner, name, defaultBranch } = ctx.project;
      // Who may steer (DESIGN §8): the trigger label counts only from a user with write access,
      // checked here rather than in the webhook request. A writer's answer vouches for the story.
      if (item.specVersion === 0 && ctx.answers.length === 0 && item.requestedBy) {
        const permission = await deps.gitea.getCollaboratorPermission(owner, name, item.requestedBy);
        if (!['write', 'admin', 'owner'].includes(permission)) {
          return {
            verdict: 'needs_human',
            reason: `@${item.requestedBy} has no write access to ${owner}/${name}`,
            questions: [`This story was labelled by a user without write access. A writer: reply here if Damascus should work on it.`],
          };
        }
      }
      const issue = await deps.gitea.getIssue(owner, name, item.issueNumber);
      const repo = await readRepoContext(deps.gitea, owner, name, defaultBranch, config.contextFiles);
      const lastRejection = ctx.verdicts.find((v) => v.verdict === 'spec_wrong');
      const messages = buildSpecPrompt({
        title: issue.title, body: issue.body ?? '', answers: ctx.answers, previousSpec: item.spec ?? undefined,
        rejection: lastRejection?.reason ?? undefined, repo, requiredSections: config.requiredSpecSections,
      });
      let completion;
      try {
        completion = await deps.llm.complete(messages, { signal });
      } catch (err) {
        // Any LLM failure (5xx, timeout, a rejected key) is infrastructure: backoff, no attempt consumed.
        return { verdict: 'error', reason: err instanceof LlmError ? err.message : `LLM call failed: ${(err as Error).message}` };
      }
      await recordCost(deps.sql, {
        itemId: item.id, phase: 'spec', kind: 'llm', model: completion.model, inputTokens: completion.inputTokens,
        outputTokens: completion.outputTokens, usd: completion.costUsd,
      });
      const check = checkSpec(completion.text, config.requiredSpecSections);
      if (check.verdict === 'spec_wrong') {
        return { verdict: 'spec_wrong', reason: check.problems.join('; '), details: { problems: check.problems, draft: completion.text } };
      }
      if (check.verdict === 'needs_human') {
        return { verdict: 'needs_human', reason: 'the spec has open questions', questions: check.questions, details: { draft: completion.text } };
      }
      return {
        verdict: 'pass',
        reason: `spec v${item.specVersion + 1}: ${check.spec.acceptanceCriteria.length} acceptance criteria`
          + (config.requireSpecApproval ? '; waiting for a writer to reply `/damascus approve`' : ''),
        openGate: config.requireSpecApproval ? { kind: 'spec_approval', reason: 'require_spec_approval is set for this repository' } : undefined,
        patch: { spec: completion.text, details: { testCommand: check.spec.testCommand ?? config.testCommand, scope: check.spec.scope } },
        details: { testCommand: check.spec.testCommand },
      };
    },
  };
}
