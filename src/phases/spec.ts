import { fenceFor, type RepoConfig } from '../config/repoConfig.js';
import { checkSpec, testCommandSha256 } from '../domain/spec.js';
import type { ClaimedItem } from '../db/types.js';
import { readApprovedTestCommands } from '../db/ops/readApprovedTestCommands.js';
import { recordCost } from '../db/ops/recordCost.js';
import type { ItemPatch, VerdictRecord } from '../db/ops/recordVerdict.js';
import type { GateApproval } from '../domain/events.js';
import type { HumanAnswer } from '../domain/answers.js';
import { type Completion, LlmError } from '../llm/chat.js';
import { buildSpecPrompt, type RepoContext } from '../llm/prompt.js';
import type { GiteaClient } from '../gitea/client.js';
import { isWriter } from '../gitea/permissions.js';
import { withRepoInputs, type PhaseDeps } from './common.js';
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
  const llm = deps.llm;
  if (!llm) return { run: async () => ({ verdict: 'error', reason: 'LLM_BASE_URL and LLM_MODEL are not set' }) };
  return withRepoInputs(deps, {
    async run(item: ClaimedItem, { signal }, { ctx, config }): Promise<PhaseResult> {
      const { owner, name, defaultBranch } = ctx.project;
      const story = await vouchedStory(deps, item, ctx.answers, owner, name);
      if ('verdict' in story) return story;
      const repo = await readRepoContext(deps.gitea, owner, name, defaultBranch, config.contextFiles);
      const lastRejection = ctx.verdicts.find((v) => v.verdict === 'spec_wrong');
      const messages = buildSpecPrompt({
        title: story.title,
        body: story.body,
        answers: ctx.answers,
        previousSpec: item.spec ?? undefined,
        rejection: lastRejection?.reason ?? undefined,
        repo,
        requiredSections: config.requiredSpecSections,
      });
      let completion: Completion;
      try {
        completion = await llm.complete(messages, { signal });
      } catch (err) {
        // Any LLM failure (5xx, timeout, a rejected key) is infrastructure: backoff, no attempt consumed.
        return { verdict: 'error', reason: err instanceof LlmError ? err.message : `LLM call failed: ${(err as Error).message}` };
      }
      await recordCost(deps.sql, {
        itemId: item.id,
        phase: 'spec',
        kind: 'llm',
        model: completion.model,
        inputTokens: completion.inputTokens,
        outputTokens: completion.outputTokens,
        usd: completion.costUsd,
      });
      const check = checkSpec(completion.text, config.requiredSpecSections, { allowCatchAllScope: config.allowCatchAllScope });
      if (check.verdict === 'spec_wrong') {
        return {
          verdict: 'spec_wrong',
          reason: check.problems.join('; '),
          details: { problems: check.problems, draft: completion.text },
          patch: { story: story.patch },
        };
      }
      if (check.verdict === 'needs_human') {
        return {
          verdict: 'needs_human',
          reason: 'the spec has open questions',
          questions: check.questions,
          details: { draft: completion.text },
          patch: { story: story.patch },
        };
      }
      const proposed = check.spec.testCommand;
      const gate = await approvalGate(deps, item.id, config, proposed);
      return {
        verdict: 'pass',
        reason:
          `spec v${item.specVersion + 1}: ${check.spec.acceptanceCriteria.length} acceptance criteria` +
          (gate ? `; waiting for a writer to reply \`/damascus approve\` (${gate.reason})` : '') +
          (config.testCommand !== null && proposed !== null && proposed !== config.testCommand
            ? "; the spec's test command is ignored: the repository's test_command runs"
            : ''),
        openGate: gate ?? undefined,
        patch: { spec: completion.text, story: story.patch, details: { testCommand: config.testCommand ?? proposed, scope: check.spec.scope } },
        details: { testCommand: proposed, ...(story.vouchedBy ? { storyVouchedBy: story.vouchedBy } : {}) },
      };
    },
  });
}

/**
 * The spec_approval gate this spec needs, if any: the repo asks for every spec to be approved, or the test
 * command comes from the spec (no `test_command` in .gitea/damascus.yml, which always wins) and no writer has
 * approved exactly this command for this item yet. Issue text steers the LLM, so the command it writes is
 * untrusted until a writer has seen it verbatim.
 */
async function approvalGate(
  deps: PhaseDeps,
  itemId: number,
  config: RepoConfig,
  proposed: string | null,
): Promise<NonNullable<VerdictRecord['openGate']> | null> {
  const reasons: string[] = [];
  const approval: GateApproval = { reasons };
  if (config.requireSpecApproval) reasons.push('require_spec_approval is set for this repository');
  if (config.testCommand === null && proposed !== null) {
    const sha = testCommandSha256(proposed);
    if (!(await readApprovedTestCommands(deps.sql, itemId)).includes(sha)) {
      reasons.push('the test command comes from the spec, and this repository configures no test_command');
      approval.testCommand = proposed;
      approval.testCommandSha256 = sha;
    }
  }
  return reasons.length === 0 ? null : { kind: 'spec_approval', reason: reasons.join('; '), approval };
}

/** The story the LLM may read, and who vouched for it; or the verdict that asks a writer to vouch first. */
type Story = { title: string; body: string; vouchedBy: string | null; patch: ItemPatch['story'] };

/** How much of the body the vouching question shows (a comment must stay postable). */
const MAX_SHOWN_BODY = 8000;

/**
 * Who may steer (DESIGN §8): the story is the snapshot of the issue taken when the trigger label was added
 * (schema/008), never the issue as it reads now, so its author cannot change it after a writer labelled it.
 * The label counts only from a user with write access, checked here rather than in the webhook request;
 * otherwise a writer's answer to a question that shows the snapshot verbatim vouches for exactly that text.
 * Items from before the snapshot existed take it from the issue on their first run.
 */
async function vouchedStory(deps: PhaseDeps, item: ClaimedItem, answers: readonly HumanAnswer[], owner: string, name: string): Promise<Story | VerdictRecord> {
  let title = item.title;
  let body = item.storyBody;
  let taken = false;
  if (body === null) {
    const issue = await deps.gitea.getIssue(owner, name, item.issueNumber);
    title = issue.title;
    body = issue.body ?? '';
    taken = true;
  }
  let vouchedBy = item.storyVouchedBy;
  if (vouchedBy === null && item.requestedBy) {
    const question = vouchQuestion(item.requestedBy, owner, name, title, body);
    if (await isWriter(deps.gitea, owner, name, item.requestedBy)) vouchedBy = item.requestedBy;
    // The inbox takes answers from writers only; the answer must be to this question, i.e. to this very text.
    else vouchedBy = answers.find((a) => a.question.trim() === question.trim() && a.by)?.by ?? null;
    if (vouchedBy === null) {
      return {
        verdict: 'needs_human',
        reason: `@${item.requestedBy} has no write access to ${owner}/${name}`,
        questions: [question],
        patch: taken ? { story: { title, body, vouchedBy: null } } : undefined,
      };
    }
  }
  const changed = taken || vouchedBy !== item.storyVouchedBy;
  return { title, body, vouchedBy, patch: changed ? { title, body, vouchedBy } : undefined };
}

function vouchQuestion(login: string, owner: string, name: string, title: string, body: string): string {
  const shown = body.length > MAX_SHOWN_BODY ? `${body.slice(0, MAX_SHOWN_BODY)}\n… (${body.length - MAX_SHOWN_BODY} more characters)` : body;
  const fence = fenceFor(shown);
  return [
    `This story was labelled by @${login}, a user without write access to ${owner}/${name}. A writer: reply here if Damascus should work on it.`,
    `Damascus reads the issue as it was when labelled, not later edits: title "${title.replace(/\s+/g, ' ').slice(0, 200)}" and this body:`,
    `${fence}text\n${shown}\n${fence}`,
  ].join('\n\n');
}
