import { isInScope } from '../domain/spec.js';

/** What in a build's change needs a human with write access to approve before it may pass. */
export interface ChangeReview {
  /** Changed files the spec's Scope does not cover. */
  outOfScope: string[];
  /** CI workflows, lint/format/type-check configuration and Damascus's own config. */
  touchesCi: string[];
  /** Existing test files whose diff removes lines with assertions. */
  weakenedAssertions: string[];
}

const CI_PATTERNS: RegExp[] = [
  /^\.gitea\/workflows\//,
  /^\.github\/workflows\//,
  /^\.gitea\/damascus\.ya?ml$/,
  /^\.gitlab-ci\.ya?ml$/,
  /^\.woodpecker(\/|\.ya?ml$)/,
  /^\.drone\.ya?ml$/,
  /(^|\/)\.eslintrc(\.[a-z]+)?$/,
  /(^|\/)eslint\.config\.[cm]?[jt]s$/,
  /(^|\/)\.eslintignore$/,
  /(^|\/)\.prettierrc(\.[a-z]+)?$/,
  /(^|\/)prettier\.config\.[cm]?[jt]s$/,
  /(^|\/)\.prettierignore$/,
  /(^|\/)biome\.jsonc?$/,
  /(^|\/)\.stylelintrc(\.[a-z]+)?$/,
  /(^|\/)tsconfig[^/]*\.json$/,
  /(^|\/)\.editorconfig$/,
  /(^|\/)(ruff|\.ruff)\.toml$/,
  /(^|\/)\.flake8$/,
  /(^|\/)\.pylintrc$/,
  /(^|\/)\.golangci\.ya?ml$/,
  /(^|\/)\.pre-commit-config\.ya?ml$/,
  /(^|\/)\.husky\//,
  /(^|\/)(jest|vitest)\.config\.[cm]?[jt]s$/,
];

/** Test files by common naming: *.test.*, *.spec.*, *_test.*, test_*.py, and anything under tests/ or __tests__/. */
export function isTestFile(path: string): boolean {
  return (
    /(^|\/)(tests?|__tests__|spec)\//.test(path) ||
    /\.(test|spec)\.[a-z0-9]+$/i.test(path) ||
    /_test\.[a-z0-9]+$/i.test(path) ||
    /(^|\/)test_[^/]+\.py$/.test(path)
  );
}

export function isCiOrLintConfig(path: string): boolean {
  return CI_PATTERNS.some((re) => re.test(path));
}

const ASSERTION = /\b(assert\w*|expect|should|t\.(is|equal|deepEqual|true|false|throws))\b/;

/** Per file (by its path after the change, or before for a deletion), the lines the diff removes. */
export function removedLinesByFile(diffText: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let oldPath: string | null = null;
  let current: string | null = null;
  let inHunk = false;
  for (const line of diffText.split('\n')) {
    if (line.startsWith('diff --git ')) {
      current = null;
      oldPath = null;
      inHunk = false;
    } else if (!inHunk && line.startsWith('--- ')) {
      oldPath = line === '--- /dev/null' ? null : line.slice(4).replace(/^a\//, '');
    } else if (!inHunk && line.startsWith('+++ ')) {
      current = line === '+++ /dev/null' ? oldPath : line.slice(4).replace(/^b\//, '');
    } else if (line.startsWith('@@')) {
      inHunk = true;
    } else if (inHunk && current !== null && line.startsWith('-')) {
      const list = out.get(current) ?? [];
      list.push(line.slice(1));
      out.set(current, list);
    }
  }
  return out;
}

/** Pure check of a build's change against the spec's Scope and the files a builder must not touch silently. */
export function reviewChanges(o: { changedFiles: readonly string[]; diffText: string; scope: readonly string[] }): ChangeReview {
  const removed = removedLinesByFile(o.diffText);
  const weakenedAssertions = [...removed.entries()]
    .filter(([path, lines]) => isTestFile(path) && lines.some((l) => ASSERTION.test(l)))
    .map(([path]) => path);
  return {
    outOfScope: o.changedFiles.filter((f) => !isInScope(f, o.scope)),
    touchesCi: o.changedFiles.filter(isCiOrLintConfig),
    weakenedAssertions,
  };
}

/** True when nothing in the review needs a human. */
export function isCleanChange(r: ChangeReview): boolean {
  return r.outOfScope.length === 0 && r.touchesCi.length === 0 && r.weakenedAssertions.length === 0;
}
