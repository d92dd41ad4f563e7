import { readFileSync } from 'node:fs';
import { load } from 'js-yaml';
import { REVIEW_WORKFLOW_FILE, renderReviewWorkflow } from '../../src/gitea/reviewWorkflow.js';

type Step = { name?: string; uses?: string; run?: string; with?: Record<string, string> };
interface Workflow {
  on: { workflow_dispatch: { inputs: Record<string, { type: string; required: boolean; default?: string }> } };
  jobs: Record<string, { 'runs-on': string; steps: Step[] }>;
}
interface ActionManifest {
  inputs: Record<string, { required?: boolean; default?: string }>;
  runs: { using: string; main: string };
}

const ACTION_URL = 'https://gitea.example.com/damascus/review-action';
const ACTION_REF = '0123456789abcdef0123456789abcdef01234567';
const workflow = load(renderReviewWorkflow({ actionUrl: ACTION_URL, actionRef: ACTION_REF })) as Workflow;
const action = load(readFileSync('action/action.yml', 'utf8')) as ActionManifest;

test('the file name Damascus dispatches', () => {
  expect(REVIEW_WORKFLOW_FILE).toBe('damascus-review.yml');
});

test('workflow_dispatch declares the five string inputs, timeout-minutes defaulting to "30"', () => {
  const inputs = workflow.on.workflow_dispatch.inputs;
  expect(Object.keys(inputs).sort()).toEqual(['head-sha', 'orchestrator-url', 'test-command', 'timeout-minutes', 'work-item']);
  for (const input of Object.values(inputs)) expect(input.type).toBe('string');
  expect(inputs['timeout-minutes']!.default).toBe('30');
  expect(inputs['test-command']!.required).toBe(true);
});

test('one review job: check out the head, then the Action by full URL and ref', () => {
  expect(Object.keys(workflow.jobs)).toEqual(['review']);
  const job = workflow.jobs.review!;
  expect(job['runs-on']).toBe('ubuntu-latest');
  expect(job.steps).toHaveLength(2);
  expect(job.steps[0]!.uses).toBe('actions/checkout@v4');
  expect(job.steps[0]!.with!.ref).toBe('${{ inputs.head-sha }}');
  expect(String(job.steps[0]!.with!['persist-credentials'])).toBe('false');
  expect(job.steps[1]!.uses).toBe(`${ACTION_URL}@${ACTION_REF}`);
  expect(job.steps[1]!.with).toEqual({
    'test-command': '${{ inputs.test-command }}',
    'work-item': '${{ inputs.work-item }}',
    'head-sha': '${{ inputs.head-sha }}',
    'orchestrator-url': '${{ inputs.orchestrator-url }}',
    'timeout-minutes': '${{ inputs.timeout-minutes }}',
    token: '${{ secrets.DAMASCUS_CALLBACK_TOKEN }}',
  });
});

test('no run: step carries an ${{ inputs.* }} expression (nothing is spliced into a shell)', () => {
  const steps = Object.values(workflow.jobs).flatMap((j) => j.steps);
  for (const step of steps) {
    if (step.run !== undefined) expect(step.run).not.toMatch(/\$\{\{\s*(github\.event\.)?inputs\./);
  }
  // And the text as a whole has no run: key at all.
  expect(renderReviewWorkflow({ actionUrl: ACTION_URL, actionRef: ACTION_REF })).not.toMatch(/^\s*(-\s*)?run:/m);
});

test('the Action step passes only inputs action/action.yml declares, and every required one', () => {
  const passed = Object.keys(workflow.jobs.review!.steps[1]!.with!);
  for (const name of passed) expect(Object.keys(action.inputs)).toContain(name);
  const required = Object.entries(action.inputs).filter(([, v]) => v.required).map(([k]) => k);
  for (const name of required) expect(passed).toContain(name);
  expect(action.runs).toEqual({ using: 'node20', main: 'dist/index.js' });
  expect(action.inputs['gitea-token']!.default).toBe('${{ github.token }}');
  expect(action.inputs['fail-on-test-failure']!.default).toBe('true');
});

test('a trailing slash on the URL is dropped; a tag works as the ref', () => {
  const text = renderReviewWorkflow({ actionUrl: `${ACTION_URL}/`, actionRef: 'v1.2.0' });
  expect((load(text) as Workflow).jobs.review!.steps[1]!.uses).toBe(`${ACTION_URL}@v1.2.0`);
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
  expect(() => renderReviewWorkflow({ actionUrl, actionRef })).toThrow(/action(Url|Ref) must be/);
});
