/**
 * The JSON body the review Action posts to POST /api/v1/review-results (version 1).
 * Plain TypeScript checks, no dependencies: the Action bundles this file too.
 */

export interface ReviewTests {
  total: number;
  failed: number;
  skipped: number;
  /** Names of failing tests ("classname.name" or "name"). */
  failing: string[];
  skippedNames: string[];
}

export interface ReviewResult {
  version: 1;
  workItem: number;
  /** "owner/repo" */
  repository: string;
  /** The commit the tests ran on: 40 lowercase-or-uppercase hex digits. */
  headSha: string;
  /** GITHUB_RUN_ID and the execution (its task): a re-run of a run is a new result. */
  runId: string;
  runUrl: string | null;
  /** Damascus's nonce of the dispatch that started the run: a result is accepted only for the item's current nonce, once. */
  dispatch?: string | null;
  passed: boolean;
  /** null when the command was killed (timeout) or could not start. */
  exitCode: number | null;
  timedOut: boolean;
  durationMs: number;
  /** The last 64 KiB of the command's output, secrets masked. */
  outputTail: string;
  outputTruncated: boolean;
  tests: ReviewTests | null;
}

export type ParseResult = { ok: true; value: ReviewResult } | { ok: false; error: string };

const REPO_SHAPE = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
const SHA_SHAPE = /^[0-9a-fA-F]{40}$/;
const RUN_ID_SHAPE = /^[\x21-\x7e]{1,200}$/;
const KEYS: readonly (keyof ReviewResult)[] = [
  'version', 'workItem', 'repository', 'headSha', 'runId', 'runUrl', 'dispatch', 'passed', 'exitCode',
  'timedOut', 'durationMs', 'outputTail', 'outputTruncated', 'tests',
];
const TEST_KEYS: readonly (keyof ReviewTests)[] = ['total', 'failed', 'skipped', 'failing', 'skippedNames'];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

function checkTests(t: unknown): string | null {
  if (t === null) return null;
  if (!isRecord(t)) return 'tests must be an object or null';
  for (const k of Object.keys(t)) if (!TEST_KEYS.includes(k as keyof ReviewTests)) return `tests.${k} is not a known field`;
  for (const k of ['total', 'failed', 'skipped'] as const) {
    if (!isCount(t[k])) return `tests.${k} must be a non-negative integer`;
  }
  if (!isStringArray(t.failing)) return 'tests.failing must be an array of strings';
  if (!isStringArray(t.skippedNames)) return 'tests.skippedNames must be an array of strings';
  return null;
}

function firstError(v: Record<string, unknown>): string | null {
  for (const k of Object.keys(v)) if (!KEYS.includes(k as keyof ReviewResult)) return `${k} is not a known field`;
  if (v.version !== 1) return 'version must be 1';
  if (!Number.isSafeInteger(v.workItem) || (v.workItem as number) <= 0) return 'workItem must be a positive integer';
  if (typeof v.repository !== 'string' || !REPO_SHAPE.test(v.repository)) return 'repository must be "owner/repo"';
  if (typeof v.headSha !== 'string' || !SHA_SHAPE.test(v.headSha)) return 'headSha must be 40 hex digits';
  if (typeof v.runId !== 'string' || !RUN_ID_SHAPE.test(v.runId)) return 'runId must be 1 to 200 printable ASCII characters';
  if (v.runUrl !== null && typeof v.runUrl !== 'string') return 'runUrl must be a string or null';
  if (v.dispatch !== undefined && v.dispatch !== null && (typeof v.dispatch !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(v.dispatch))) {
    return 'dispatch must be a plain nonce or null';
  }
  if (typeof v.passed !== 'boolean') return 'passed must be a boolean';
  if (v.exitCode !== null && !Number.isSafeInteger(v.exitCode)) return 'exitCode must be an integer or null';
  if (typeof v.timedOut !== 'boolean') return 'timedOut must be a boolean';
  if (!isCount(v.durationMs)) return 'durationMs must be a non-negative integer';
  if (typeof v.outputTail !== 'string') return 'outputTail must be a string';
  if (typeof v.outputTruncated !== 'boolean') return 'outputTruncated must be a boolean';
  if (!('tests' in v)) return 'tests is required (null when no JUnit XML was found)';
  const testsError = checkTests(v.tests);
  if (testsError) return testsError;
  // A result that claims to pass must not contradict itself.
  if (v.passed && (v.timedOut || v.exitCode !== 0)) return 'passed is true but the command timed out or exited non-zero';
  return null;
}

const withoutNul = (s: string): string => s.replaceAll('\u0000', '');

/**
 * The result with NUL characters removed from its free text (output tail, test names, run URL): PostgreSQL can
 * store none in TEXT or JSONB, and test output may well contain them.
 */
export function stripNul(r: ReviewResult): ReviewResult {
  const tests = r.tests && { ...r.tests, failing: r.tests.failing.map(withoutNul), skippedNames: r.tests.skippedNames.map(withoutNul) };
  return { ...r, outputTail: withoutNul(r.outputTail), runUrl: r.runUrl === null ? null : withoutNul(r.runUrl), tests };
}

/**
 * Validate an already JSON-parsed body (NULs stripped from its free text). Unknown fields are refused so a typo
 * is loud, not ignored.
 */
export function parseReviewResult(json: unknown): ParseResult {
  if (!isRecord(json)) return { ok: false, error: 'the body must be a JSON object' };
  const error = firstError(json);
  if (error) return { ok: false, error };
  return { ok: true, value: stripNul(json as unknown as ReviewResult) };
}
