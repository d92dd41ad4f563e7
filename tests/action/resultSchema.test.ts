import { parseReviewResult, type ReviewResult } from '../../src/domain/reviewResult.js';

const valid: ReviewResult = {
  version: 1,
  workItem: 42,
  repository: 'acme/widgets',
  headSha: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
  runId: '77-2',
  runUrl: 'https://gitea.example.com/acme/widgets/actions/runs/77',
  passed: false,
  exitCode: 1,
  timedOut: false,
  durationMs: 1234,
  outputTail: 'FAIL math.adds\n',
  outputTruncated: false,
  tests: { total: 3, failed: 1, skipped: 1, failing: ['math.adds'], skippedNames: ['math.later'] },
};

test('a valid result is returned as is (and survives a JSON round trip)', () => {
  const parsed = parseReviewResult(JSON.parse(JSON.stringify(valid)));
  expect(parsed).toEqual({ ok: true, value: valid });
  expect(parseReviewResult({ ...valid, tests: null, runUrl: null, exitCode: null, timedOut: true })).toMatchObject({ ok: true });
});

test.each<[string, unknown, RegExp]>([
  ['not an object', [valid], /JSON object/],
  ['null', null, /JSON object/],
  ['another version', { ...valid, version: 2 }, /version/],
  ['a string work item', { ...valid, workItem: '42' }, /workItem/],
  ['work item 0', { ...valid, workItem: 0 }, /workItem/],
  ['a repository without owner', { ...valid, repository: 'widgets' }, /repository/],
  ['a short SHA', { ...valid, headSha: 'a1b2c3d' }, /headSha/],
  ['an empty run id', { ...valid, runId: '' }, /runId/],
  ['a numeric run url', { ...valid, runUrl: 5 }, /runUrl/],
  ['a string passed', { ...valid, passed: 'false' }, /passed/],
  ['a fractional exit code', { ...valid, exitCode: 1.5 }, /exitCode/],
  ['a missing exit code', { ...valid, exitCode: undefined }, /exitCode/],
  ['a negative duration', { ...valid, durationMs: -1 }, /durationMs/],
  ['a non-string tail', { ...valid, outputTail: null }, /outputTail/],
  ['a missing tests field', (({ tests: _t, ...rest }) => rest)(valid), /tests is required/],
  ['tests with a non-string name', { ...valid, tests: { ...valid.tests!, failing: [1] } }, /tests\.failing/],
  ['tests with a negative count', { ...valid, tests: { ...valid.tests!, failed: -1 } }, /tests\.failed/],
  ['tests with an unknown field', { ...valid, tests: { ...valid.tests!, errors: 1 } }, /tests\.errors/],
  ['an unknown field', { ...valid, passd: true }, /passd is not a known field/],
  ['passed with a non-zero exit', { ...valid, passed: true, exitCode: 1 }, /passed is true/],
  ['passed after a timeout', { ...valid, passed: true, exitCode: null, timedOut: true }, /passed is true/],
])('refuses %s with a clear error', (_what, body, error) => {
  const parsed = parseReviewResult(body);
  expect(parsed.ok).toBe(false);
  if (!parsed.ok) expect(parsed.error).toMatch(error);
});
