/** Makes sure the tests run on the commit they will be reported for. */
import { spawnSync } from 'node:child_process';

export type CheckoutCheck = { kind: 'match' } | { kind: 'mismatch'; actual: string } | { kind: 'unknown'; reason: string };

/** Compare `git rev-parse HEAD` in `cwd` with the expected head SHA (lowercase). */
export function checkCheckedOutHead(cwd: string, headSha: string): CheckoutCheck {
  const res = spawnSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', timeout: 30_000 });
  if (res.error) return { kind: 'unknown', reason: res.error.message };
  if (res.status !== 0) return { kind: 'unknown', reason: (res.stderr || `git exited ${res.status}`).trim() };
  const actual = res.stdout.trim().toLowerCase();
  return actual === headSha ? { kind: 'match' } : { kind: 'mismatch', actual };
}
