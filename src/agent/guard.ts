import { isCatchAllScope, isInScope } from '../domain/spec.js';

/** What in a build's change needs a human with write access to approve before it may pass. */
export interface ChangeReview {
  /** Changed files the spec's Scope does not cover. */
  outOfScope: string[];
  /** CI workflows, lint/format/type-check configuration and Damascus's own config. */
  touchesCi: string[];
  /** Existing test files whose diff removes lines with assertions, or that the change deletes. */
  weakenedAssertions: string[];
  /**
   * What decides which tests run and how: test-runner configuration (jest, vitest, mocha, karma, pytest,
   * tox, phpunit, rspec, nextest…), test scripts and runner settings in package.json or pyproject.toml, and
   * the scripts the test command runs (`bash scripts/ci.sh`, a Makefile for `make test`).
   */
  testConfig: string[];
  /** Files whose added lines skip, disable or focus tests (it.skip, xit, it.only, @pytest.mark.skip, t.Skip, @Disabled, #[ignore], …). */
  skippedTests: string[];
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
];

/** Test-runner configuration: a change here can make the review run fewer tests, or none. */
const TEST_CONFIG_PATTERNS: RegExp[] = [
  /(^|\/)(jest|vitest|vite|karma|ava|playwright|cypress|wdio|mocha)\.(config|conf|workspace)\.[cm]?[jt]s(on)?$/,
  /(^|\/)(jest|vitest)\.(setup|preset)[^/]*$/,
  /(^|\/)\.mocharc(\.[a-z]+)?$/,
  /(^|\/)\.(nycrc|c8rc)(\.[a-z]+)?$/,
  /(^|\/)\.?jest(rc)?\.json$/,
  /(^|\/)(pytest\.ini|setup\.cfg|tox\.ini|conftest\.py|noxfile\.py|\.coveragerc)$/,
  /(^|\/)phpunit(\.dist)?\.xml(\.dist)?$/,
  /(^|\/)\.rspec(-local)?$/,
  /(^|\/)\.cargo\/config(\.toml)?$/,
  /(^|\/)(\.config\/)?nextest\.toml$/,
];

/** Go-style test flag files (`*test*.flags|args`), by the file name: `[^/]*test[^/]*` as a regex is quadratic. */
function isTestFlagsFile(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1).toLowerCase();
  return (name.endsWith('.flags') || name.endsWith('.args')) && name.includes('test');
}

/** Lines of package.json / pyproject.toml that configure tests: test scripts and runner sections. */
const PACKAGE_JSON_TEST_LINE = /^\s*"((pre|post)?test[^"]*|scripts|jest|mocha|ava|vitest|c8|nyc|karma)"\s*:/;
const PYPROJECT_TEST_LINE =
  /^\s*(\[tool\.(pytest|coverage|tox|hatch\.envs\.test)[\].]|(addopts|testpaths|python_files|python_classes|python_functions|norecursedirs)\s*=)/;

/** Markers that skip, disable or focus (skip all others) tests, in the languages Damascus meets. */
const SKIP_MARKERS: RegExp[] = [
  /\b(it|test|describe|context|suite|specify|Deno\.test)\.(skip|todo|only|ignore|fails)\b/,
  /\b(xit|xtest|xdescribe|xcontext|xspecify|fit|fdescribe|ftest)\s*\(/,
  /@pytest\.mark\.(skip|skipif|xfail)\b/,
  /\bpytest\.(skip|xfail|importorskip)\s*\(/,
  /@unittest\.(skip|skipIf|skipUnless|expectedFailure)\b/,
  /\b(t|b|s)\.Skip(Now|f)?\s*\(/,
  /\b(this|t)\.skip\s*\(/,
  /@(Disabled|Ignore)\b/,
  /\[(Ignore|Skip)[\]("]/,
  /\bSkip\s*=\s*"/,
  /#\[ignore\b/,
  /\bmarkTest(Skipped|Incomplete)\s*\(/,
];
/** Generic `skip: true` / `skip "reason"` forms: counted in test files only (elsewhere they are ordinary options). */
const TEST_FILE_SKIP_MARKERS: RegExp[] = [/(^|[\s{(,])(skip|ignore|pending)\s*:\s*(true|yes|1|["'`])/, /^\s*(skip|pending)(\s+["']|\s*\(\s*["'])/];

/**
 * Test files by common naming (*.test.*, *.spec.*, *_test.*, *_spec.*, test_*.py, FooTest.java, FooTests.cs,
 * snapshots) and anything under a test folder (test/, tests/, __tests__/, spec/, specs/, testdata/, e2e/,
 * __snapshots__/, __mocks__/, fixtures/, testing/, cypress/).
 */
export function isTestFile(path: string): boolean {
  return (
    /(^|\/)(tests?|__tests__|specs?|testdata|test-?data|e2e|__snapshots__|__mocks__|fixtures|testing|cypress)\//i.test(path) ||
    /\.(test|spec)\.[a-z0-9]+$/i.test(path) ||
    /_(test|spec)\.[a-z0-9]+$/i.test(path) ||
    /(^|\/)test_[^/]+\.py$/.test(path) ||
    /[a-z0-9](Test|Tests|Spec|IT)\.(java|kt|kts|scala|groovy|cs|php|swift)$/.test(path) ||
    /\.snap$/.test(path)
  );
}

export function isTestRunnerConfig(path: string): boolean {
  return isTestFlagsFile(path) || TEST_CONFIG_PATTERNS.some((re) => re.test(path));
}

export function isCiOrLintConfig(path: string): boolean {
  return CI_PATTERNS.some((re) => re.test(path));
}

const ASSERTION = /\b(assert\w*|expect|should|t\.(is|equal|deepEqual|true|false|throws|Error|Errorf|Fatal|Fatalf|Fail|FailNow))\b/;

/** Per file (by its path after the change, or before for a deletion), the lines the diff adds and removes. */
export function changedLinesByFile(diffText: string): Map<string, { added: string[]; removed: string[]; deleted: boolean }> {
  const out = new Map<string, { added: string[]; removed: string[]; deleted: boolean }>();
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
      if (line === '+++ /dev/null' && current !== null) out.set(current, { added: [], removed: [], deleted: true });
    } else if (line.startsWith('@@')) {
      inHunk = true;
    } else if (inHunk && current !== null && (line.startsWith('-') || line.startsWith('+'))) {
      const entry = out.get(current) ?? { added: [], removed: [], deleted: false };
      (line.startsWith('+') ? entry.added : entry.removed).push(line.slice(1));
      out.set(current, entry);
    }
  }
  return out;
}

/** Per file, the lines the diff removes (files that only gain lines are absent). */
export function removedLinesByFile(diffText: string): Map<string, string[]> {
  return new Map([...changedLinesByFile(diffText)].filter(([, l]) => l.removed.length > 0).map(([path, l]) => [path, l.removed]));
}

const INTERPRETERS = new Set(['sh', 'bash', 'zsh', 'dash', 'node', 'python', 'python3', 'ruby', 'perl', 'php', 'deno', 'bun', 'tsx', 'ts-node', 'source', '.']);

/**
 * The scripts the test command runs (`./run-tests.sh`, `bash scripts/test.sh`, and the Makefile for `make …`):
 * the program of each command in it, and the script an interpreter is given. Files it merely reads are not scripts.
 */
function scriptsOfTestCommand(testCommand: string | null | undefined): (path: string) => boolean {
  if (!testCommand) return () => false;
  const scripts = new Set<string>();
  let make = false;
  for (const segment of testCommand.split(/&&|\|\||[;|&()]/)) {
    const words = segment
      .trim()
      .split(/\s+/)
      .filter((w) => w !== '' && !/^\w+=/.test(w))
      .map((w) => w.replace(/^["']|["']$/g, '').replace(/^\.\//, ''));
    const [program, ...rest] = words;
    if (!program) continue;
    if (/^(g?make|just)$/.test(program)) make = true;
    scripts.add(program);
    const script = INTERPRETERS.has(program) ? rest.find((w) => !w.startsWith('-')) : undefined;
    if (script) scripts.add(script);
  }
  return (path) => scripts.has(path) || (make && /^(GNUmakefile|makefile|Makefile|[Jj]ustfile)$/.test(path));
}

/**
 * Pure check of a build's change against the spec's Scope and the files a builder must not touch silently.
 * A catch-all Scope entry (`.`, `**`, `*`, `/`) covers nothing unless the repo allows it (allow_catch_all_scope).
 */
export function reviewChanges(o: {
  changedFiles: readonly string[];
  diffText: string;
  scope: readonly string[];
  testCommand?: string | null;
  allowCatchAllScope?: boolean;
}): ChangeReview {
  const lines = changedLinesByFile(o.diffText);
  const scope = o.allowCatchAllScope ? o.scope : o.scope.filter((s) => !isCatchAllScope(s));
  const namedByCommand = scriptsOfTestCommand(o.testCommand);
  const weakenedAssertions: string[] = [];
  const skippedTests: string[] = [];
  const testConfig = o.changedFiles.filter((f) => isTestRunnerConfig(f) || namedByCommand(f));
  for (const [path, { added, removed, deleted }] of lines) {
    const testFile = isTestFile(path);
    // A deleted test file is a weakened test whatever its assertions look like.
    if (testFile && (deleted || removed.some((l) => ASSERTION.test(l)))) weakenedAssertions.push(path);
    const markers = testFile ? [...SKIP_MARKERS, ...TEST_FILE_SKIP_MARKERS] : SKIP_MARKERS;
    if (added.some((l) => markers.some((re) => re.test(l)))) skippedTests.push(path);
    const base = path.split('/').pop();
    const testLine = base === 'package.json' ? PACKAGE_JSON_TEST_LINE : base === 'pyproject.toml' ? PYPROJECT_TEST_LINE : null;
    if (testLine && [...added, ...removed].some((l) => testLine.test(l)) && !testConfig.includes(path)) testConfig.push(path);
  }
  return {
    outOfScope: o.changedFiles.filter((f) => !isInScope(f, scope)),
    touchesCi: o.changedFiles.filter(isCiOrLintConfig),
    weakenedAssertions,
    testConfig,
    skippedTests,
  };
}

/** True when nothing in the review needs a human. */
export function isCleanChange(r: ChangeReview): boolean {
  return r.outOfScope.length === 0 && r.touchesCi.length === 0 && r.weakenedAssertions.length === 0 && r.testConfig.length === 0 && r.skippedTests.length === 0;
}
