/** The JSON body the review Action posts to POST /api/v1/review-results (version 1). The Action bundles this file too. */
import * as v from 'valibot';
import { check, strictMapping } from '../shared/schema.js';

const COUNT = v.message(v.pipe(v.number(), v.safeInteger(), v.minValue(0)), '{key} must be a non-negative integer');
const NAMES = v.message(v.array(v.string()), '{key} must be an array of strings');
const FLAG = v.message(v.boolean(), '{key} must be a boolean');
/** Unknown fields are refused so a typo is loud, not ignored. */
const NOT_KNOWN = '{key} is not a known field';

const TESTS = strictMapping(
  {
    total: COUNT,
    failed: COUNT,
    skipped: COUNT,
    /** Names of failing tests ("classname.name" or "name"). */
    failing: NAMES,
    skippedNames: NAMES,
  },
  { notMapping: '{key} must be an object or null', unknownKey: NOT_KNOWN },
);

const REVIEW_RESULT = v.pipe(
  strictMapping(
    {
      version: v.literal(1, '{key} must be 1'),
      workItem: v.message(v.pipe(v.number(), v.safeInteger(), v.minValue(1)), '{key} must be a positive integer'),
      /** "owner/repo" */
      repository: v.message(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/)), '{key} must be "owner/repo"'),
      /** The commit the tests ran on: 40 lowercase-or-uppercase hex digits. */
      headSha: v.message(v.pipe(v.string(), v.regex(/^[0-9a-fA-F]{40}$/)), '{key} must be 40 hex digits'),
      /** GITHUB_RUN_ID and the execution (its task): a re-run of a run is a new result. */
      runId: v.message(v.pipe(v.string(), v.regex(/^[\x21-\x7e]{1,200}$/)), '{key} must be 1 to 200 printable ASCII characters'),
      runUrl: v.message(v.nullable(v.string()), '{key} must be a string or null'),
      /** Damascus's nonce of the dispatch that started the run: a result is accepted only for the item's current nonce, once. */
      dispatch: v.message(v.optional(v.nullable(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/)))), '{key} must be a plain nonce or null'),
      passed: FLAG,
      /** null when the command was killed (timeout) or could not start. */
      exitCode: v.message(v.nullable(v.pipe(v.number(), v.safeInteger())), '{key} must be an integer or null'),
      timedOut: FLAG,
      durationMs: COUNT,
      /** The last 64 KiB of the command's output, secrets masked. */
      outputTail: v.message(v.string(), '{key} must be a string'),
      outputTruncated: FLAG,
      tests: v.nullable(TESTS),
    },
    {
      notMapping: 'the body must be a JSON object',
      unknownKey: NOT_KNOWN,
      missingKey: (key) => (key === 'tests' ? '{key} is required (null when no JUnit XML was found)' : '{key} is required'),
    },
  ),
  // A result that claims to pass must not contradict itself.
  v.check((r) => !r.passed || (!r.timedOut && r.exitCode === 0), 'passed is true but the command timed out or exited non-zero'),
);

export type ReviewResult = v.InferOutput<typeof REVIEW_RESULT>;
export type ReviewTests = v.InferOutput<typeof TESTS>;

export type ParseResult = { ok: true; value: ReviewResult } | { ok: false; error: string };

const withoutNul = (s: string): string => s.replaceAll('\u0000', '');

/**
 * The result with NUL characters removed from its free text (output tail, test names, run URL): PostgreSQL can
 * store none in TEXT or JSONB, and test output may well contain them.
 */
export function stripNul(r: ReviewResult): ReviewResult {
  const tests = r.tests && { ...r.tests, failing: r.tests.failing.map(withoutNul), skippedNames: r.tests.skippedNames.map(withoutNul) };
  return { ...r, outputTail: withoutNul(r.outputTail), runUrl: r.runUrl === null ? null : withoutNul(r.runUrl), tests };
}

/** Validate an already JSON-parsed body (NULs stripped from its free text). */
export function parseReviewResult(json: unknown): ParseResult {
  const checked = check(REVIEW_RESULT, json);
  return checked.ok ? { ok: true, value: stripNul(checked.value) } : { ok: false, error: checked.error };
}
