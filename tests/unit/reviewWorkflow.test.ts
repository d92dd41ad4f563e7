import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { REVIEW_WORKFLOW_FILE, renderReviewWorkflow, reviewRunTitle } from '../../src/gitea/reviewWorkflow.js';
import { runName } from '../support/giteaSim/handlers.js';

type Step = { name?: string; uses?: string; run?: string; with?: Record<string, string> };
interface Workflow {
  'run-name': string;
  permissions: Record<string, string>;
  on: { workflow_dispatch: { inputs: Record<string, { type: string; required: boolean; default?: string }> } };
  jobs: Record<string, { 'runs-on': string; steps: Step[] }>;
}
interface ActionManifest {
  inputs: Record<string, { required?: boolean; default?: string }>;
  runs: { using: string; main: string };
}

const ACTION_URL = 'https://gitea.example.com/damascus/review-action';
const ACTION_REF = '0123456789abcdef0123456789abcdef01234567';
const render = (o: { actionUrl?: string; actionRef?: string; runsOn?: string } = {}) =>
  renderReviewWorkflow({ actionUrl: o.actionUrl ?? ACTION_URL, actionRef: o.actionRef ?? ACTION_REF, runsOn: o.runsOn ?? 'damascus' });
const workflow = parse(render()) as Workflow;
const action = parse(readFileSync('action/action.yml', 'utf8')) as ActionManifest;

test('the job token gets code write (the commit status) and nothing else: every scope Gitea 1.26 knows is named, since unnamed ones keep the repository default', () => {
  expect(workflow.permissions).toEqual({
    contents: 'write',
    releases: 'none',
    issues: 'none',
    'pull-requests': 'none',
    packages: 'none',
    actions: 'none',
    wiki: 'none',
    projects: 'none',
  });
});

test('the file name Damascus dispatches', () => {
  expect(REVIEW_WORKFLOW_FILE).toBe('damascus-review.yml');
});

test('workflow_dispatch declares string inputs; the PR number and the dispatch nonce are optional', () => {
  const inputs = workflow.on.workflow_dispatch.inputs;
  expect(Object.keys(inputs).sort()).toEqual(['dispatch', 'head-sha', 'orchestrator-url', 'pull-request', 'test-command', 'timeout-minutes', 'work-item']);
  for (const input of Object.values(inputs)) expect(input.type).toBe('string');
  expect(inputs['timeout-minutes']!.default).toBe('30');
  expect(inputs['test-command']!.required).toBe(true);
  expect(inputs.dispatch).toMatchObject({ required: false, default: '' });
});

test('the run title Gitea shows (run-name) is the one Damascus looks a lost dispatch up by', () => {
  // The simulator evaluates run-name the way Gitea's jobparser does for ${{ inputs.* }}.
  expect(runName(render(), { 'work-item': '42', dispatch: 'n0nce' })).toBe(reviewRunTitle(42, 'n0nce'));
  expect(reviewRunTitle(42, 'n0nce')).toBe('damascus review of item 42 (dispatch n0nce)');
});

test('one review job, one step: the Action by full URL and pinned ref; nothing from the internet (no actions/checkout)', () => {
  expect(Object.keys(workflow.jobs)).toEqual(['review']);
  const job = workflow.jobs.review!;
  expect(job['runs-on']).toBe('damascus');
  expect(job.steps).toHaveLength(1);
  expect(job.steps[0]!.uses).toBe(`${ACTION_URL}@${ACTION_REF}`);
  expect(render()).not.toMatch(/actions\/checkout|github\.com/);
  expect(job.steps[0]!.with).toEqual({
    'head-sha': '${{ inputs.head-sha }}',
    'pull-request': '${{ inputs.pull-request }}',
    'test-command': '${{ inputs.test-command }}',
    'work-item': '${{ inputs.work-item }}',
    'orchestrator-url': '${{ inputs.orchestrator-url }}',
    'timeout-minutes': '${{ inputs.timeout-minutes }}',
    dispatch: '${{ inputs.dispatch }}',
    token: '${{ secrets.DAMASCUS_CALLBACK_TOKEN }}',
  });
});

test('no run: step carries an ${{ inputs.* }} expression (nothing is spliced into a shell)', () => {
  const steps = Object.values(workflow.jobs).flatMap((j) => j.steps);
  for (const step of steps) {
    if (step.run !== undefined) expect(step.run).not.toMatch(/\$\{\{\s*(github\.event\.)?inputs\./);
  }
  // And the text as a whole has no run: key at all.
  expect(render()).not.toMatch(/^\s*(-\s*)?run:/m);
});

test('the Action step passes only inputs action/action.yml declares, and every required one', () => {
  const passed = Object.keys(workflow.jobs.review!.steps[0]!.with!);
  for (const name of passed) expect(Object.keys(action.inputs)).toContain(name);
  const required = Object.entries(action.inputs)
    .filter(([, v]) => v.required)
    .map(([k]) => k);
  for (const name of required) expect(passed).toContain(name);
  expect(action.runs).toEqual({ using: 'node20', main: 'dist/index.js' });
  expect(action.inputs['gitea-token']!.default).toBe('${{ github.token }}');
  expect(action.inputs['fail-on-test-failure']!.default).toBe('true');
});

test('a trailing slash on the URL is dropped; a tag works as the ref', () => {
  const text = render({ actionUrl: `${ACTION_URL}/`, actionRef: 'v1.2.0' });
  expect((parse(text) as Workflow).jobs.review!.steps[0]!.uses).toBe(`${ACTION_URL}@v1.2.0`);
});

test.each([
  ['a URL with credentials', 'https://user:pw@gitea.example.com/d/a', ACTION_REF],
  ['a URL with a ref already in it', `${ACTION_URL}@v1`, ACTION_REF],
  ['a URL that is not http(s)', 'git@gitea.example.com:d/a', ACTION_REF],
  ['a URL that breaks the YAML line', `${ACTION_URL}\n        run: curl evil`, ACTION_REF],
  ['a ref with a space', ACTION_URL, 'v1 run: x'],
  ['a ref with a newline', ACTION_URL, 'v1\nrun: x'],
  ['an empty ref', ACTION_URL, ''],
])('refuses %s', (_what, actionUrl, actionRef) => {
  expect(() => render({ actionUrl, actionRef })).toThrow(/action(Url|Ref) must be/);
});

test.each([
  ['a label with a space', 'ubuntu latest'],
  ['a label with a newline', 'x\n    run: curl evil'],
  ['an empty label', ''],
])('refuses %s for runs-on', (_what, runsOn) => {
  expect(() => render({ runsOn })).toThrow(/runsOn must be a runner label/);
});
