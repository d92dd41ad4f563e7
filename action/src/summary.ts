/** The step summary (GITHUB_STEP_SUMMARY, which Gitea also calls GITEA_STEP_SUMMARY). */
import * as core from '@actions/core';
import type { ReviewResult } from '../../src/domain/reviewResult.js';

const SUMMARY_TAIL_BYTES = 8 * 1024;
const SUMMARY_MAX_NAMES = 50;

/** Test output and test names are untrusted text: escape them before they become HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export async function writeSummary(result: ReviewResult, delivery: string): Promise<void> {
  const verdict = result.passed ? 'passed' : result.timedOut ? 'timed out' : 'failed';
  const tests = result.tests;
  const rows = [
    ['Work item', `#${result.workItem}`],
    ['Head', result.headSha],
    ['Exit code', result.exitCode === null ? '(none)' : String(result.exitCode)],
    ['Duration', `${(result.durationMs / 1000).toFixed(1)} s`],
    ['Tests', tests ? `${tests.total} total, ${tests.failed} failed, ${tests.skipped} skipped` : 'no JUnit XML found'],
    ['Result', escapeHtml(delivery)],
  ];
  const s = core.summary.addHeading(`Damascus review: ${verdict}`, 2).addTable(rows.map(([k, v]) => [k!, v!]));
  if (tests && tests.failing.length > 0) {
    s.addHeading('Failing tests', 3).addList(tests.failing.slice(0, SUMMARY_MAX_NAMES).map(escapeHtml));
  }
  const tail = result.outputTail.slice(-SUMMARY_TAIL_BYTES);
  if (tail !== '') s.addHeading('End of the output', 3).addCodeBlock(escapeHtml(tail));
  await s.write();
}
